"""The InstEval-shaped crossed fit in detail: fit time, BLUP time and peak memory.

Run from the repository root::

    python benchmarks/crossed.py                 # the full shape (73,421 x 2,972 x 1,128)
    python benchmarks/crossed.py --scale 0.1     # a tenth of it

Prints the time of ``sl.mixed`` (end to end), of ``fit.ranef()`` afterwards, the traced
peak memory (tracemalloc) of each, the numeric data size and the process's peak resident
set. Set OPENBLAS_NUM_THREADS before running to compare thread counts
(docs/memory.md and benchmarks/README.md quote these numbers).
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
import warnings

sys.path.insert(0, os.path.dirname(__file__))
from run import CROSSED, SEED, crossed  # noqa: E402

import semlevel as sl  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of InstEval's size")
    args = ap.parse_args(argv)
    n = int(73421 * args.scale)
    df = crossed(n, max(int(2972 * args.scale), 2), max(int(1128 * args.scale), 2), SEED + 14)
    print(f"{n:,} rows, data {df.memory_usage(deep=True).sum() / 1e6:.1f} MB; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        t = time.perf_counter()
        fit = sl.mixed(CROSSED, data=df)
        t_fit = time.perf_counter() - t
        peak_fit = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        t = time.perf_counter()
        fit.ranef()
        t_ranef = time.perf_counter() - t
        peak_ranef = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"fit   {t_fit:7.2f} s  traced peak {peak_fit / 1e6:7.1f} MB  loglik {fit.loglik:.4f}")
    print(f"ranef {t_ranef:7.2f} s  traced peak {peak_ranef / 1e6:7.1f} MB")
    print(f"process peak resident set {rss:.0f} MB; {fit.optimization}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
