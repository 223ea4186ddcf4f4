"""BLAS on one thread for evaluations made of small products.

A threaded BLAS (OpenBLAS, MKL) wakes its threads for a product of a few thousand
multiply-adds, and between two evaluations they go back to sleep: each wake-up costs
more than the arithmetic, and the threads' spinning slows the rest of the fit (seen
here on the 148 x 19 crossed design with a random slope: 100 ms with one thread, 150 ms
with two, and the coefficient basis's triangular solves 1.8 ms each instead of
microseconds). The tree path's fronts hold at most 64 latents, so its evaluations run
with BLAS limited to one thread; the limit is lifted when the evaluation returns
(threadpoolctl: the library scikit-learn uses for this), so the user's own threads
setting is untouched outside it.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

__all__ = ["one_blas_thread"]

_controller = None


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with the BLAS libraries numpy and scipy loaded limited to one
    thread (~10 microseconds to enter and leave once the libraries are known)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController
        _controller = ThreadpoolController()
    with _controller.limit(limits=1, user_api="blas"):
        yield
