"""The shapes of issue 25 (real nested and crossed designs), semlevel beside lme4 in one run.

    python benchmarks/nested.py            # semlevel, and lme4 when Rscript + lme4 are here
    python benchmarks/nested.py --no-lme4  # semlevel only
    python benchmarks/nested.py --scaling  # 3-level random intercepts, 10/100/1000 units per top:
                                           # time and peak memory against the units

Data are simulated with fixed seeds in the shapes the issue measured on public data
(numbers of units, unbalance); each case prints semlevel's evaluation path, its wall time
(median of --repeats fits after a warm-up), lme4's (``lmer(..., REML = FALSE)``, median of
the same number of runs in R, data read once) and both log likelihoods, which must agree.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import semlevel as sl                                      # noqa: E402
from semlevel.engine.evaluator import path_of            # noqa: E402


def districts(n_top=131, max_mid=101, seed=1) -> pd.DataFrame:
    """Pupils in schools in districts: 131 districts of 1-101 schools of 1-8 pupils."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_top):
        ud = rng.normal(0, 0.5)
        for s in range(int(rng.integers(1, max_mid + 1))):
            us = rng.normal(0, 0.7)
            n = int(rng.integers(1, 9))
            x = rng.normal(size=n)
            y = 1 + 0.5 * x + ud + us + rng.normal(size=n)
            rows += [(d, d * 1000 + s, x[i], y[i]) for i in range(n)]
    return pd.DataFrame(rows, columns=["k", "j", "x", "y"])


def growth(n_top=60, max_mid=89, seed=2) -> pd.DataFrame:
    """Children with growth slopes in schools: 60 schools of 10-89 children, 3-6 waves."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_top):
        us = rng.normal(0, [0.8, 0.2])
        for c in range(int(rng.integers(10, max_mid + 1))):
            uc = rng.normal(0, [1.0, 0.3])
            for t in range(int(rng.integers(3, 7))):
                y = 2 + 0.5 * t + us[0] + us[1] * t + uc[0] + uc[1] * t + rng.normal(0, 0.7)
                rows.append((s, s * 1000 + c, t, y))
    return pd.DataFrame(rows, columns=["k", "j", "t", "y"])


def crossed(n=3435, n_a=148, n_b=19, seed=3) -> pd.DataFrame:
    """Two crossed factors, 148 x 19, with a slope on the larger one."""
    rng = np.random.default_rng(seed)
    a, b, x = rng.integers(0, n_a, n), rng.integers(0, n_b, n), rng.normal(size=n)
    ua, ub, sa = rng.normal(0, 1, n_a), rng.normal(0, 0.5, n_b), rng.normal(0, 0.3, n_a)
    return pd.DataFrame({"a": a, "b": b, "x": x,
                         "y": 1 + 0.5 * x + ua[a] + ub[b] + sa[a] * x + rng.normal(size=n)})


def two_level_slope(n_groups=160, seed=4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        u = rng.normal(0, [1.0, 0.3])
        for t in range(int(rng.integers(30, 61))):
            x = t / 10
            rows.append((g, x, 1 + 0.5 * x + u[0] + u[1] * x + rng.normal()))
    return pd.DataFrame(rows, columns=["id", "x", "y"])


def deep(levels=8, n_top=22, seed=5) -> pd.DataFrame:
    """Eight nested levels (issue 14 item 5): each unit has 1-3 children, the lowest
    1-2 observations; about 4,000 rows. Ids are unique across the whole data."""
    rng = np.random.default_rng(seed)
    rows = []
    counter = [0]

    def grow(path, effect):
        if len(path) == levels:
            for _ in range(int(rng.integers(1, 3))):
                x = rng.normal()
                rows.append((*path, x, 1 + 0.5 * x + effect + rng.normal()))
            return
        for _ in range(int(rng.integers(1, 4)) if path else n_top):
            counter[0] += 1
            grow(path + (counter[0],), effect + rng.normal(0, 0.4))

    grow((), 0.0)
    return pd.DataFrame(rows, columns=[f"l{i}" for i in range(levels)] + ["x", "y"])


DEEP_SPEC = "y x " + " ".join(f"|| l{i}:" for i in range(8))
DEEP_FORMULA = "y ~ x + " + " + ".join(f"(1 | l{i})" for i in range(8))

#: an R call (not an lme4 formula) to time with nlme
NLME = "nlme::"

CASES = [
    ("3 levels, random intercepts (131 districts)", districts,
     "y x || k: || j:", "y ~ x + (1 | k) + (1 | k:j)"),
    ("3 levels, slopes at both levels (60 schools)", growth,
     "y t || k: t, cov(un) || j: t, cov(un)", "y ~ t + (t | k) + (t | k:j)"),
    ("crossed 148 x 19, intercepts", crossed,
     "y x || _all: R.b || a:", "y ~ x + (1 | a) + (1 | b)"),
    ("crossed 148 x 19, slope on the larger", crossed,
     "y x || _all: R.b || a: x, cov(un)", "y ~ x + (x | a) + (1 | b)"),
    ("2 levels, random slope (160 units)", two_level_slope,
     "y x || id: x, cov(un)", "y ~ x + (x | id)"),
    ("8 nested levels, random intercepts", deep, DEEP_SPEC, DEEP_FORMULA),
    # lme4 has no residual structures: nlme's lme, to its default tolerances (tighter
    # ones take it from 2.4 to 6.1 s here, to the log likelihood semlevel reaches)
    ("slopes at both levels, AR(1) within children", growth,
     "y t || k: t, cov(un) || j: t, cov(un) residuals(ar 1, t(t))",
     NLME + "lme(y ~ t, random = list(k = pdSymm(~t), j = pdSymm(~t)), "
     "correlation = corAR1(form = ~ t | k/j), data = d, method = 'ML')"),
]


def time_semlevel(spec, df, repeats):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sl.mixed_model(spec, data=df)
        path = path_of(model)
        fit = sl.mixed(spec, data=df)                      # warm-up
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fit = sl.mixed(spec, data=df)
            times.append(time.perf_counter() - t)
    return float(np.median(times)), fit.loglik, path


#: columns read as numbers in R; every other column is a grouping factor
NUMERIC = ("y", "x", "t", "service")


def time_lme4(formula, df, repeats):
    """Median wall time of ``lmer(formula, REML = FALSE)`` in R (data read once, untimed)
    and its log likelihood; None without Rscript/lme4 (a failure is printed)."""
    return time_r(f"lmer({formula}, d, REML = FALSE)", df, repeats)


def time_r(call, df, repeats, package="lme4"):
    """Median wall time of an R fitting ``call`` on the data ``d`` (read once, untimed)
    and its log likelihood; None without Rscript (a failure is printed)."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "d.csv")
        df.to_csv(path, index=False)
        factors = "".join(f"d${c} <- factor(d${c}); " for c in df.columns if c not in NUMERIC)
        script = (f"suppressMessages(library({package})); d <- read.csv('{path}'); "
                  f"{factors}f <- {call}; t <- numeric({repeats}); "
                  f"for (i in 1:{repeats}) t[i] <- system.time(f <- {call})[['elapsed']]; "
                  "cat(sprintf('%.4f %.8f', median(t), logLik(f)))")
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
    if out.returncode:
        print(f"  {package} failed: {out.stderr.strip()[-300:]}")
        return None
    t, ll = out.stdout.split()[-2:]
    return float(t), float(ll)


def scaling(args) -> None:
    """3-level random intercepts, 20 top units of exactly 10, 100 or 1,000 second-level
    units (1-8 rows each): time and peak memory (of the fit, tracemalloc) against the
    number of units, each with lme4's time on the same data."""
    import tracemalloc
    print(f"{'units per top':>14} {'units':>7} {'rows':>8} {'path':>6} {'semlevel':>9} "
          f"{'per 1000 units':>15} {'peak memory':>12} {'lme4':>8}")
    for mid in (10, 100, 1000):
        rng = np.random.default_rng(mid)
        rows = []
        for d in range(20):
            ud = rng.normal(0, 0.5)
            for s in range(mid):
                us, n = rng.normal(0, 0.7), int(rng.integers(1, 9))
                x = rng.normal(size=n)
                y = 1 + 0.5 * x + ud + us + rng.normal(size=n)
                rows += [(d, d * 10000 + s, x[i], y[i]) for i in range(n)]
        df = pd.DataFrame(rows, columns=["k", "j", "x", "y"])
        t, ll, path = time_semlevel("y x || k: || j:", df, args.repeats)
        tracemalloc.start()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sl.mixed("y x || k: || j:", data=df)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        r = None if args.no_lme4 else time_lme4("y ~ x + (1 | k) + (1 | j)", df, args.repeats)
        lme = f"{r[0]:>7.3f}s" if r else f"{'-':>8}"
        print(f"{mid:>14} {20 * mid:>7} {len(df):>8} {path:>6} {t:>8.3f}s "
              f"{1000 * t / (20 * mid):>14.3f}s {peak / 2**20:>9.1f} MB {lme}", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-lme4", action="store_true")
    ap.add_argument("--scaling", action="store_true")
    args = ap.parse_args(argv)
    if args.scaling:
        scaling(args)
        return
    print(f"{'case':<44} {'rows':>6} {'path':>7} {'semlevel':>9} {'lme4':>8} {'ratio':>6} "
          f"{'|dloglik|':>9}")
    for name, make, spec, formula in CASES:
        df = make()
        t, ll, path = time_semlevel(spec, df, args.repeats)
        if args.no_lme4:
            r = None
        elif formula.startswith(NLME):
            r = time_r(formula[len(NLME):], df, args.repeats, package="nlme")
        else:
            r = time_lme4(formula, df, args.repeats)
        lme = f"{r[0]:>7.3f}s" if r else f"{'-':>8}"
        ratio = f"{r[0] / t:>5.2f}x" if r else f"{'-':>6}"
        dll = f"{abs(r[1] - ll):>9.1e}" if r else f"{'-':>9}"
        print(f"{name:<44} {len(df):>6} {path:>7} {t:>8.3f}s {lme} {ratio} {dll}", flush=True)
    print("ratio = lme4 (nlme for the AR case) time / semlevel time (above 1: semlevel "
          "faster)")


if __name__ == "__main__":
    main()
