"""Benchmark semlevel against statsmodels' MixedLM, with a log-likelihood check.

Run from the repository root::

    python benchmarks/run.py            # all cases, MixedLM on every case it can finish
    python benchmarks/run.py --quick    # fewer repeats, MixedLM skipped on the large cases
    python benchmarks/run.py --profile  # also print cProfile tables (four cases)
    python benchmarks/run.py --blas-threads 1   # single-threaded OpenBLAS for both sides

The exit status is 1 when semlevel reaches a lower log likelihood than MixedLM anywhere.

Times are wall-clock, in-process, end to end: ``sl.mixed(spec, data=df)`` (parse, pivot,
build, fit, standard errors) plus the first access of ``fit.fixed`` and ``fit.random``.
MixedLM is timed the same way: ``smf.mixedlm(...)`` (formula processing) plus
``.fit(reml=False)`` plus ``.bse``. One untimed warm-up call of each precedes the timed
ones (at least ``--repeats``; a case of a few milliseconds is timed until 0.25 s or 50
calls); the table reports the median of the timed calls. Both sides fit ML.

Every row also compares the two log likelihoods: a fit that is fast but not at the maximum
is not a result. The ``check`` column says which side reaches the higher likelihood when
they differ by more than ``--tol``.
"""
from __future__ import annotations

import os
import sys


def _blas_threads_from_argv(argv: list[str]) -> str | None:
    """``--blas-threads N`` must act before numpy is imported (OpenBLAS reads its thread
    count from the environment when it loads), so it is read here, ahead of argparse."""
    for i, a in enumerate(argv):
        if a == "--blas-threads" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--blas-threads="):
            return a.split("=", 1)[1]
    return None


_BLAS_THREADS = _blas_threads_from_argv(sys.argv[1:]) if __name__ == "__main__" else None
if _BLAS_THREADS:
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _BLAS_THREADS

import argparse
import cProfile
import platform
import pstats
import statistics
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

import semlevel as sl
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nested                                              # noqa: E402  (issue 25 shapes)

try:
    import statsmodels
    import statsmodels.formula.api as smf
    from statsmodels.regression.mixed_linear_model import MixedLMParams
except ImportError:  # the benchmark still runs semlevel alone
    smf = None

SEED = 20240611
#: cases faster than this (seconds over ``repeats`` calls) are timed further, up to
#: SMALL_CASE_CALLS calls: the median of 7 calls of a few milliseconds moved by 20-40%
#: between runs on a shared machine, the median of 50 by a few percent
SMALL_CASE_SECONDS = 0.25
SMALL_CASE_CALLS = 50


# ---------------------------------------------------------------------------- data

def three_level(n_top: int, n_mid: int, n_obs: int, seed: int) -> pd.DataFrame:
    """Balanced y = 1 + 0.5 x + u_k + u_jk + e; mid ids 1..n_mid within each top id."""
    rng = np.random.default_rng(seed)
    n = n_top * n_mid * n_obs
    k = np.repeat(np.arange(1, n_top + 1), n_mid * n_obs)
    j = np.tile(np.repeat(np.arange(1, n_mid + 1), n_obs), n_top)
    x = rng.normal(size=n)
    u_k = np.repeat(rng.normal(0.0, 1.0, n_top), n_mid * n_obs)
    u_j = np.repeat(rng.normal(0.0, 0.7, n_top * n_mid), n_obs)
    y = 1.0 + 0.5 * x + u_k + u_j + rng.normal(size=n)
    return pd.DataFrame({"k": k, "j": j, "x": x, "y": y})


def two_level_slopes(n_groups: int, n_obs: int, seed: int, same_t: bool) -> pd.DataFrame:
    """y = 1 + 0.5 x + 0.2 t + b0 + b1 t + e with corr(b0, b1) = 0.3.

    ``same_t``: every group has t = 0..n_obs-1 (one pattern, so the rows pool);
    otherwise t = 0..n_obs-1 plus a uniform(0, 1) jitter per observation.
    """
    rng = np.random.default_rng(seed)
    n = n_groups * n_obs
    gid = np.repeat(np.arange(1, n_groups + 1), n_obs)
    t = np.tile(np.arange(n_obs, dtype=float), n_groups)
    if not same_t:
        t = t + rng.uniform(0.0, 1.0, n)
    x = rng.normal(size=n)
    cov = np.array([[1.0, 0.3 * 0.3], [0.3 * 0.3, 0.09]])
    b = rng.multivariate_normal([0.0, 0.0], cov, size=n_groups)
    y = 1.0 + 0.5 * x + 0.2 * t + b[gid - 1, 0] + b[gid - 1, 1] * t + rng.normal(size=n)
    return pd.DataFrame({"id": gid, "t": t, "x": x, "y": y})


def two_level(n_groups: int, n_obs: int, seed: int) -> pd.DataFrame:
    """Balanced y = 1 + 0.5 x + u_id + e."""
    rng = np.random.default_rng(seed)
    n = n_groups * n_obs
    gid = np.repeat(np.arange(1, n_groups + 1), n_obs)
    x = rng.normal(size=n)
    y = 1.0 + 0.5 * x + rng.normal(0.0, 0.8, n_groups)[gid - 1] + rng.normal(size=n)
    return pd.DataFrame({"id": gid, "x": x, "y": y})


def crossed(n: int, n_s: int, n_d: int, seed: int) -> pd.DataFrame:
    """InstEval's shape: ratings y of lecturers d by students s (crossed, every level
    used, levels drawn uniformly), a binary covariate ``service``;
    y = 3.2 - 0.1 service + u_s + u_d + e with sd(u_s) = 0.33, sd(u_d) = 0.52, sd(e) = 1.18
    (about lme4's estimates on InstEval)."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, n_s, n)
    d = rng.integers(0, n_d, n)
    s[:n_s] = np.arange(n_s)
    d[:n_d] = np.arange(n_d)
    service = rng.integers(0, 2, n).astype(float)
    y = (3.2 - 0.1 * service + rng.normal(0, 0.33, n_s)[s] + rng.normal(0, 0.52, n_d)[d]
         + rng.normal(0, 1.18, n))
    return pd.DataFrame({"y": y, "service": service, "s": s + 1, "d": d + 1})


# ---------------------------------------------------------------------------- cases

@dataclass
class Case:
    name: str
    spec: str
    data: Callable[[], pd.DataFrame]
    mixedlm: Callable[[pd.DataFrame], object] | None   # returns an unfitted model + fit kw
    large: bool = False           # MixedLM skipped under --quick
    target_s: float | None = None  # semlevel end-to-end target (median)
    target_ratio: float | None = None  # MixedLM time / semlevel time at least this
    lme4: str | None = None       # the lmer formula timed with --lme4
    target_lme4: float | None = None   # lme4 time / semlevel time at least this (--lme4)
    note: str = ""
    check_note: str = ""          # appended to the check column when the fits differ


def _sm_pig_intercept(df):
    return smf.mixedlm("weight ~ week", df, groups="id"), {}


def _sm_pig_indep(df):
    # independent random intercept and slope: re_formula="~week" with the off-diagonal
    # element of the random-effects covariance fixed at zero through ``free``
    free = MixedLMParams.from_components(fe_params=np.ones(2), cov_re=np.eye(2))
    return smf.mixedlm("weight ~ week", df, groups="id", re_formula="~week"), {"free": free}


def _sm_pig_un(df):
    return smf.mixedlm("weight ~ week", df, groups="id", re_formula="~week"), {}


_PROD_FORMULA = "gsp ~ private + emp + hwy + water + other + unemp"


def _sm_prod_vc_only(df):
    # As commonly written (and as the design note describes it). NB: with vc_formula
    # given and re_formula omitted, MixedLM has NO random intercept for the groups
    # (region): this is the two-level model "|| state:", not the three-level one.
    return smf.mixedlm(_PROD_FORMULA, df, groups="region",
                       vc_formula={"state": "0 + C(state)"}), {}


def _sm_prod(df):
    return smf.mixedlm(_PROD_FORMULA, df, groups="region", re_formula="1",
                       vc_formula={"state": "0 + C(state)"}), {}


def _sm_three_level(df):
    return smf.mixedlm("y ~ x", df, groups="k", re_formula="1",
                       vc_formula={"j": "0 + C(j)"}), {}


def _sm_slopes_un(df):
    return smf.mixedlm("y ~ x + t", df, groups="id", re_formula="~t"), {}


def _sm_two_level(df):
    return smf.mixedlm("y ~ x", df, groups="id"), {}


def _sm_crossed(df):
    # crossed factors in MixedLM: one group holding everything, a variance component
    # per factor (its documented way; no random intercept of the single group)
    return smf.mixedlm("y ~ service", df.assign(one=1), groups="one", re_formula="0",
                       vc_formula={"s": "0 + C(s)", "d": "0 + C(d)"}), {}


CROSSED = "y service || _all: R.s || d:"
LME4 = {CROSSED: "y ~ service + (1 | s) + (1 | d)"}


def cases() -> list[Case]:
    pig = sl.datasets.load("pig")
    prod = sl.datasets.load("productivity")
    return [
        # targets: issue 17's (pig 5 / 7 ms, 100k 3-level 60 ms and 60x, slopes with
        # per-group t 80x, 1e6 rows 0.5 s, InstEval shape 1.5 s and lme4 >= 5x)
        Case("pig: || id:", "weight week || id:", lambda: pig, _sm_pig_intercept,
             target_s=0.005),
        Case("pig: || id: week", "weight week || id: week", lambda: pig, _sm_pig_indep,
             target_s=0.007),
        Case("pig: || id: week, cov(un)", "weight week || id: week, cov(un)", lambda: pig,
             _sm_pig_un),
        Case("productivity 3-level (MixedLM vc_formula only)",
             "gsp private emp hwy water other unemp || region: || state:", lambda: prod,
             _sm_prod_vc_only, check_note=" (other model, see notes)",
             note="MixedLM: groups=region, vc_formula state, re_formula omitted"),
        Case("productivity 3-level (MixedLM re_formula='1')",
             "gsp private emp hwy water other unemp || region: || state:", lambda: prod,
             _sm_prod,
             note="MixedLM: groups=region, re_formula='1', vc_formula state"),
        Case("sim 3-level 2000x5x10", "y x || k: || j:",
             lambda: three_level(2000, 5, 10, SEED + 3), _sm_three_level, large=True,
             target_s=0.060, target_ratio=60.0),
        Case("sim slopes 10000x10, same t", "y x t || id: t, cov(un)",
             lambda: two_level_slopes(10000, 10, SEED + 4, same_t=True), _sm_slopes_un,
             large=True),
        Case("sim slopes 10000x10, t per group", "y x t || id: t, cov(un)",
             lambda: two_level_slopes(10000, 10, SEED + 5, same_t=False), _sm_slopes_un,
             large=True, target_ratio=80.0),
        Case("sim 3-level 10000x10x10", "y x || k: || j:",
             lambda: three_level(10000, 10, 10, SEED + 6), _sm_three_level, large=True,
             target_s=0.5,
             note="MixedLM takes about 30 s here (one run); skipped with --quick"),
        # the size grid: 10^4, 10^5, 10^6 rows of 2-level, 3-level and random slopes
        Case("sim 2-level 1000x10", "y x || id:", lambda: two_level(1000, 10, SEED + 7),
             _sm_two_level),
        Case("sim 3-level 200x5x10", "y x || k: || j:",
             lambda: three_level(200, 5, 10, SEED + 8), _sm_three_level),
        Case("sim slopes 1000x10, t per group", "y x t || id: t, cov(un)",
             lambda: two_level_slopes(1000, 10, SEED + 9, same_t=False), _sm_slopes_un),
        Case("sim 2-level 10000x10", "y x || id:", lambda: two_level(10000, 10, SEED + 10),
             _sm_two_level, large=True),
        Case("sim 2-level 100000x10", "y x || id:", lambda: two_level(100000, 10, SEED + 11),
             _sm_two_level, large=True),
        Case("sim slopes 100000x10, t per group", "y x t || id: t, cov(un)",
             lambda: two_level_slopes(100000, 10, SEED + 12, same_t=False), _sm_slopes_un,
             large=True, note="MixedLM takes minutes here (one run); skipped with --quick"),
        # crossed: InstEval's shape, and a tenth of it for a MixedLM ratio
        Case("sim crossed 7342, 297x113 (InstEval / 10)", CROSSED,
             lambda: crossed(7342, 297, 113, SEED + 13), _sm_crossed, large=True),
        Case("sim crossed InstEval shape 73421, 2972x1128", CROSSED,
             lambda: crossed(73421, 2972, 1128, SEED + 14), None, large=True,
             target_s=1.5, target_lme4=5.0,
             note="MixedLM not run at this size (crossed factors are dense "
             "variance components there: hours); see the tenth-size case and --lme4"),
    ] + [
        # issue 25: the shapes users have (benchmarks/nested.py), the tree path; lme4 only
        Case(f"issue 25: {name}", spec, make, None, large=True, lme4=formula,
             target_lme4=1.0, note="MixedLM not run (many variance components)")
        for name, make, spec, formula in nested.CASES
    ]


# ---------------------------------------------------------------------------- timing

@dataclass
class Result:
    case: Case
    rows: int
    sl_times: list[float] = field(default_factory=list)
    sl_tables: list[float] = field(default_factory=list)   # fixed + random access
    sl_first: float = np.nan
    sl_loglik: float = np.nan
    sl_converged: bool = False
    sl_warnings: list[str] = field(default_factory=list)
    sm_times: list[float] = field(default_factory=list)
    sm_loglik: float = np.nan
    sm_converged: bool | None = None
    sm_skipped: str = ""

    @property
    def sl_med(self) -> float:
        return statistics.median(self.sl_times)

    @property
    def sm_med(self) -> float:
        return statistics.median(self.sm_times) if self.sm_times else np.nan


def time_semlevel(spec: str, df: pd.DataFrame) -> tuple[float, float, object, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        fit = sl.mixed(spec, data=df)
        t1 = time.perf_counter()
        fit.fixed
        fit.random
        t2 = time.perf_counter()
    return t2 - t0, t2 - t1, fit, [f"{w.category.__name__}: {w.message}" for w in caught]


def time_mixedlm(make, df: pd.DataFrame) -> tuple[float, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model, kw = make(df)
        res = model.fit(reml=False, **kw)
        res.bse
        t1 = time.perf_counter()
    return t1 - t0, res


def run_case(case: Case, repeats: int, sm_repeats: int, skip_sm: bool) -> Result:
    df = case.data()
    out = Result(case=case, rows=len(df))
    # first call in this process for this data (not in the median)
    t, _, fit, warns = time_semlevel(case.spec, df)
    out.sl_first = t
    out.sl_loglik, out.sl_converged, out.sl_warnings = fit.loglik, fit.converged, warns
    spent = 0.0
    while len(out.sl_times) < repeats or (spent < SMALL_CASE_SECONDS
                                          and len(out.sl_times) < SMALL_CASE_CALLS):
        t, tab, fit, _ = time_semlevel(case.spec, df)
        out.sl_times.append(t)
        out.sl_tables.append(tab)
        spent += t
    if case.mixedlm is None or smf is None:
        out.sm_skipped = "not run" if smf is not None else "statsmodels missing"
        return out
    if skip_sm:
        out.sm_skipped = "--quick"
        return out
    n_sm = sm_repeats if not case.large else 1
    if not case.large:
        time_mixedlm(case.mixedlm, df)   # warm-up
    for _ in range(n_sm):
        t, res = time_mixedlm(case.mixedlm, df)
        out.sm_times.append(t)
    out.sm_loglik, out.sm_converged = float(res.llf), bool(res.converged)
    return out


def check(r: Result, tol: float) -> str:
    if not np.isfinite(r.sm_loglik):
        return "-"
    d = r.sl_loglik - r.sm_loglik
    if abs(d) <= tol * max(1.0, abs(r.sl_loglik)):
        return "agree"
    if d > 0:
        return f"MixedLM LOWER by {d:.4g}" + r.case.check_note
    return f"semlevel LOWER by {-d:.4g} (!)" + r.case.check_note


def fmt_time(s: float) -> str:
    if not np.isfinite(s):
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 1.0 else f"{s:.2f} s"


def print_table(results: list[Result], tol: float) -> None:
    head = ["case", "rows", "semlevel", "first call", "fixed+random", "semlevel loglik",
            "MixedLM", "MixedLM loglik", "ratio", "check"]
    rows = []
    for r in results:
        ratio = r.sm_med / r.sl_med if r.sm_times else np.nan
        rows.append([
            r.case.name, f"{r.rows:,}", fmt_time(r.sl_med), fmt_time(r.sl_first),
            f"{statistics.median(r.sl_tables) * 1e3:.2f} ms", f"{r.sl_loglik:.4f}",
            fmt_time(r.sm_med) if r.sm_times else r.sm_skipped,
            f"{r.sm_loglik:.4f}" if np.isfinite(r.sm_loglik) else "-",
            f"{ratio:.1f}x" if np.isfinite(ratio) else "-", check(r, tol)])
    widths = [max(len(head[i]), *(len(x[i]) for x in rows)) for i in range(len(head))]
    right = {1, 2, 3, 4, 5, 6, 7, 8}

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    print(line(head))
    print("|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2))
                         for i, w in enumerate(widths)) + "|")
    for x in rows:
        print(line(x))


def print_targets(results: list[Result]) -> None:
    print("\nTargets")
    for r in results:
        c = r.case
        if c.target_s is not None:
            ok = r.sl_med < c.target_s
            print(f"  {c.name}: semlevel {fmt_time(r.sl_med)} < {fmt_time(c.target_s)}: "
                  f"{'PASS' if ok else 'FAIL'}")
        if c.target_ratio is not None:
            if r.sm_times:
                ratio = r.sm_med / r.sl_med
                ok = ratio >= c.target_ratio
                print(f"  {c.name}: MixedLM/semlevel {ratio:.1f}x >= {c.target_ratio:.0f}x: "
                      f"{'PASS' if ok else 'FAIL'}")
            else:
                print(f"  {c.name}: ratio target not checked (MixedLM {r.sm_skipped})")


def print_notes(results: list[Result]) -> None:
    print("\nNotes")
    for r in results:
        if not r.sl_converged:
            print(f"  {r.case.name}: semlevel fit NOT converged")
        for w in sorted(set(r.sl_warnings)):
            print(f"  {r.case.name}: semlevel warning: {w}")
        if r.sm_converged is False:
            print(f"  {r.case.name}: MixedLM reports not converged")
        if r.case.note:
            print(f"  {r.case.name}: {r.case.note}")
    # what model does MixedLM fit when vc_formula is given without re_formula?
    prod = sl.datasets.load("productivity")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        two = sl.mixed("gsp private emp hwy water other unemp || state:", data=prod)
    vc_only = [r for r in results if "vc_formula only" in r.case.name]
    if vc_only and np.isfinite(vc_only[0].sm_loglik):
        print(f"  semlevel '|| state:' (no region level) loglik {two.loglik:.4f} vs MixedLM "
              f"(vc_formula only) {vc_only[0].sm_loglik:.4f}: MixedLM's 1429.08 is the "
              "two-level model's maximum (no region intercept without re_formula='1'), "
              "not a wrong optimum of the three-level model.")


def time_lme4(formula: str, df: pd.DataFrame, repeats: int) -> tuple[float, float] | None:
    """lme4's median time and log likelihood (:func:`nested.time_lme4`, the one runner);
    nlme's for a case lme4 cannot fit (an R call marked :data:`nested.NLME`)."""
    if formula.startswith(nested.NLME):
        return nested.time_r(formula[len(nested.NLME):], df, repeats, package="nlme")
    return nested.time_lme4(formula, df, repeats)


def print_lme4(results: list[Result], repeats: int) -> None:
    print("\nlme4 (R) on the same data, lmer(..., REML = FALSE), median of "
          f"{min(repeats, 3)} runs after a warm-up; ratio = lme4 / semlevel")
    for r in results:
        formula = r.case.lme4 or LME4[r.case.spec]
        got = time_lme4(formula, r.case.data(), min(repeats, 3))
        if got is None:
            print(f"  {r.case.name}: lme4 not available")
            continue
        t, ll = got
        peer = "nlme" if formula.startswith(nested.NLME) else "lme4"
        line = (f"  {r.case.name}: {peer} {fmt_time(t)} (loglik {ll:.4f}), semlevel "
                f"{fmt_time(r.sl_med)} (loglik {r.sl_loglik:.4f}): {t / r.sl_med:.2f}x")
        if r.case.target_lme4 is not None:
            ok = t / r.sl_med >= r.case.target_lme4
            line += f" (target >= {r.case.target_lme4:.1f}x: {'PASS' if ok else 'FAIL'})"
        print(line)


# ---------------------------------------------------------------------------- profiles

def _short(func: tuple[str, int, str]) -> str:
    path, line, name = func
    if path == "~":
        return name                       # a builtin, e.g. {method 'argsort' ...}
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{line}({name})"


def profile(name: str, spec: str, df: pd.DataFrame, repeats: int, top: int) -> None:
    """cProfile ``repeats`` end-to-end fits; print the top functions by own and by
    cumulative time, each as a share of the profiled total."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sl.mixed(spec, data=df)   # warm-up
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(repeats):
            fit = sl.mixed(spec, data=df)
            fit.fixed
            fit.random
        pr.disable()
    st = pstats.Stats(pr)
    total = st.total_tt
    rows = [(_short(f), nc, tt, ct) for f, (cc, nc, tt, ct, _) in st.stats.items()]
    print(f"\n== cProfile: {name} ({spec!r}, {len(df):,} rows): {repeats} fits, "
          f"{total / repeats * 1e3:.1f} ms per fit under the profiler")
    print(f"-- top {top} by own time (share of total)")
    for fn, nc, tt, ct in sorted(rows, key=lambda r: -r[2])[:top]:
        print(f"  {100 * tt / total:5.1f}%  {tt / repeats * 1e3:7.2f} ms/fit  "
              f"{nc // repeats:6d} calls/fit  {fn}")
    print(f"-- semlevel functions by cumulative time (share of total)")
    own = [r for r in rows if r[0].startswith("semlevel/")]
    for fn, nc, tt, ct in sorted(own, key=lambda r: -r[3])[:top]:
        print(f"  {100 * ct / total:5.1f}%  {ct / repeats * 1e3:7.2f} ms/fit  "
              f"{nc // repeats:6d} calls/fit  {fn}")


# ---------------------------------------------------------------------------- main

def _git_state() -> str:
    """Commit of the working tree and whether semlevel/ has uncommitted changes."""
    import subprocess
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "semlevel"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "git state unknown"
    return f"git {head}" + (" + uncommitted changes in semlevel/" if dirty else "")


def machine() -> str:
    import scipy
    sm = statsmodels.__version__ if smf is not None else "missing"
    return (f"Python {platform.python_version()}, numpy {np.__version__}, scipy "
            f"{scipy.__version__}, pandas {pd.__version__}, statsmodels {sm}, "
            f"semlevel {sl.__version__} ({_git_state()}); {platform.machine()}, "
            f"{platform.system()}, {os.cpu_count()} CPUs; OPENBLAS_NUM_THREADS="
            f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")


BASELINE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "baseline.json")
#: a case fails --check when its normalised time exceeds its baseline by this factor
CHECK_FACTOR = 1.5


def reference_unit(repeats: int = 9) -> float:
    """Seconds of a fixed numpy computation (a 300 x 300 Cholesky and solve, repeated 20
    times), the median of ``repeats``: case times are stored and compared as multiples of
    it, so that a slower or busier machine does not read as a regression."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 300))
    spd = a @ a.T + 300 * np.eye(300)
    b = rng.normal(size=(300, 20))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(20):
            c = np.linalg.cholesky(spd)
            np.linalg.solve(c, b)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def steady_unit(before: float | None) -> float:
    """The reference unit for the regression check: measured before the cases and again
    after them, the smaller of the two (the machine's speed when not slowed by other
    load; one measurement at a busy moment made every case read 0.3x-0.7x of its
    baseline). Both are printed, with a warning when they differ by more than 25%."""
    after = reference_unit()
    if before is None:
        return after
    print(f"\nreference unit before the cases {before * 1000:.2f} ms, after "
          f"{after * 1000:.2f} ms")
    if max(before, after) > 1.25 * min(before, after):
        print("  (they differ by more than 25%: the machine's load changed during the run; "
              "read the check with that in mind, or run it again)")
    return min(before, after)


def check_baseline(results: list, unit: float, save: bool) -> int:
    """Compare each case's median time, in units of :func:`reference_unit` measured in the
    same run, with benchmarks/baseline.json; 1 when a case is more than CHECK_FACTOR x
    slower. ``save`` writes this run as the new baseline instead."""
    import json
    now = {r.case.name: r.sl_med / unit for r in results}
    if save:
        old = json.load(open(BASELINE)) if os.path.exists(BASELINE) else {}
        old.setdefault("cases", {}).update({k: round(v, 4) for k, v in now.items()})
        old["unit"] = "median seconds of benchmarks/run.py:reference_unit (Cholesky+solve)"
        with open(BASELINE, "w") as fh:
            json.dump(old, fh, indent=1, sort_keys=True)
            fh.write("\n")
        print(f"\nbaseline written: {BASELINE} ({len(now)} cases)")
        return 0
    if not os.path.exists(BASELINE):
        print(f"\nno baseline at {BASELINE}: run with --save-baseline first")
        return 1
    base = json.load(open(BASELINE))["cases"]
    print(f"\nregression check (reference unit {unit * 1000:.2f} ms; fails above "
          f"{CHECK_FACTOR}x the baseline)")
    bad = 0
    for name, v in now.items():
        if name not in base:
            print(f"  {name}: {v:.1f} units (no baseline)")
            continue
        ratio = v / base[name]
        flag = "SLOWER" if ratio > CHECK_FACTOR else "ok"
        bad += flag != "ok"
        print(f"  {name}: {v:.1f} units, baseline {base[name]:.1f}: {ratio:.2f}x {flag}")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 repeats; skip MixedLM on the large (simulated) cases")
    ap.add_argument("--repeats", type=int, default=None, help="timed semlevel runs per case")
    ap.add_argument("--tol", type=float, default=1e-6,
                    help="relative log-likelihood tolerance for 'agree'")
    ap.add_argument("--only", default=None, help="run only cases whose name contains this")
    ap.add_argument("--blas-threads", default=None,
                    help="set OPENBLAS/OMP/MKL_NUM_THREADS (for both libraries) before numpy "
                         "loads; default: leave the environment alone")
    ap.add_argument("--lme4", action="store_true",
                    help="also time R's lme4 (lmer, REML=FALSE) on the crossed and issue-25 "
                         "cases, when "
                         "Rscript with lme4 is installed")
    ap.add_argument("--check", action="store_true",
                    help="compare each case with benchmarks/baseline.json (times in units "
                    "of a numpy reference measured in the same run); exit 1 above 1.5x")
    ap.add_argument("--save-baseline", action="store_true",
                    help="write this run's normalised times to benchmarks/baseline.json")
    ap.add_argument("--profile", action="store_true",
                    help="also print cProfile tables (100k 3-level, pig random slope)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 7)
    sm_repeats = 3 if args.quick else 5

    print(machine())
    print(f"seed {SEED}; semlevel median of {repeats} runs (cases under "
          f"{SMALL_CASE_SECONDS} s in all: up to {SMALL_CASE_CALLS}) after one untimed "
          "first call; "
          f"MixedLM median of {sm_repeats} runs (small cases, after a warm-up) or 1 run "
          "(large cases); ratio = MixedLM / semlevel\n", flush=True)
    results = []
    unit_before = reference_unit() if (args.check or args.save_baseline) else None
    for case in cases():
        if args.only and args.only not in case.name:
            continue
        r = run_case(case, repeats, sm_repeats, skip_sm=args.quick and case.large)
        results.append(r)
        print(f"  done: {case.name} ({fmt_time(r.sl_med)} vs "
              f"{fmt_time(r.sm_med) if r.sm_times else r.sm_skipped})", file=sys.stderr,
              flush=True)
    print(file=sys.stderr, flush=True)
    if results:
        print_table(results, args.tol)
        print_targets(results)
        print_notes(results)

    if args.lme4:
        print_lme4([r for r in results if r.case.lme4 or r.case.spec in LME4], repeats)
    if args.profile:
        profile("sim 3-level 2000x5x10", "y x || k: || j:", three_level(2000, 5, 10, SEED + 3),
                repeats=5, top=25)
        profile("pig random slope", "weight week || id: week", sl.datasets.load("pig"),
                repeats=50, top=25)
        profile("sim slopes 10000x10, t per group", "y x t || id: t, cov(un)",
                two_level_slopes(10000, 10, SEED + 5, same_t=False), repeats=2, top=15)
        profile("sim 3-level 10000x10x10", "y x || k: || j:",
                three_level(10000, 10, 10, SEED + 6), repeats=2, top=15)
    bad = [r for r in results if check(r, args.tol).startswith("semlevel LOWER")]
    status = 1 if bad else 0
    if (args.check or args.save_baseline) and results:
        status = max(status, check_baseline(results, steady_unit(unit_before),
                                            args.save_baseline))
    return status


if __name__ == "__main__":
    sys.exit(main())
