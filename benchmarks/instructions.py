"""Instructions per fit of the manual's small models, counted by valgrind's callgrind: a
measure of a small fit's cost that does not move with the machine's load (timings of a
few milliseconds on the shared machine moved by 20-40% between minutes; the count is the
same to 0.1% between runs).

    python benchmarks/instructions.py                     # the pig models, this checkout
    python benchmarks/instructions.py --tree ../other     # another checkout (A/B)
    python benchmarks/instructions.py --fits 20 "weight week || id:"

Each model is fitted five times untimed (imports, caches), then ``--fits`` times inside
one ``functools.reduce`` call; callgrind counts only inside that call
(``--toggle-collect=functools_reduce``), so start-up and imports are not counted. Needs
valgrind (Debian: ``apt-get install valgrind``). Slow: about 15 s per model.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

SPECS = ("weight week || id:", "weight week || id: week",
         "weight week || id: week, cov(un)", "weight week || id:, reml")

_FITS = r'''
import functools, sys, warnings
sys.path.insert(0, sys.argv[1])
import semlevel as sl
warnings.simplefilter("ignore")
pig = sl.datasets.load("pig")
spec, n = sys.argv[2], int(sys.argv[3])

def fit(*_):
    f = sl.mixed(spec, data=pig)
    f.fixed, f.random

for _ in range(5):
    fit()
functools.reduce(fit, range(n + 1))       # n fits inside one counted call
'''


def count(tree: str, spec: str, fits: int) -> float:
    """Instructions per fit of ``spec`` (millions) in the checkout ``tree``."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", "--collect-atstart=no",
         "--toggle-collect=functools_reduce", "--callgrind-out-file=/dev/null",
         sys.executable, "-c", _FITS, os.path.abspath(tree), spec, str(fits)],
        capture_output=True, text=True, env=env)
    got = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode or got is None:
        raise RuntimeError(f"callgrind failed: {run.stderr[-1000:]}")
    return int(got.group(1)) / fits / 1e6


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="*", default=list(SPECS))
    ap.add_argument("--tree", default=os.path.join(os.path.dirname(__file__), ".."),
                    help="the checkout whose semlevel is measured (default: this one)")
    ap.add_argument("--fits", type=int, default=20, help="fits counted per model")
    args = ap.parse_args(argv)
    for spec in args.specs:
        print(f"{spec!r}: {count(args.tree, spec, args.fits):.2f} M instructions per fit",
              flush=True)


if __name__ == "__main__":
    main()
