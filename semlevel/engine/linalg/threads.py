"""BLAS on one thread for evaluations made of small products.

A threaded BLAS (OpenBLAS, MKL) wakes its threads for a product of a few thousand
multiply-adds, and between two evaluations they go back to sleep: each wake-up costs
more than the arithmetic, and the threads' spinning slows the rest of the fit (the
148 x 19 crossed design with a random slope on two threads: 131 ms per fit without this
limit, 98 ms with it, 99.5 ms with one thread throughout: ``benchmarks/micro.py
threads``). The tree path's fronts hold at most 64 latents, so its evaluations run
with BLAS limited to one thread; the limit is lifted when the evaluation returns
(threadpoolctl: the library scikit-learn uses for this), so the user's own threads
setting is untouched outside it.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["one_blas_thread"]

_blas = None          # the BLAS libraries' controllers, found at the first use


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with the BLAS libraries numpy and scipy loaded limited to one
    thread (a few microseconds to enter and leave once the libraries are known)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController
        _blas = [lib for lib in ThreadpoolController().lib_controllers
                 if lib.user_api == "blas"]
    before = [lib.num_threads for lib in _blas]
    for lib, n in zip(_blas, before):
        if n != 1:
            lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(_blas, before):
            if n != 1:
                lib.set_num_threads(n)
