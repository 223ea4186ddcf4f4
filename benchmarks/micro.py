"""The small timings the engine's comments quote, rerunnable: each line prints what a
comment or docstring claims and what this machine measures now (minimum of repeats).

    python benchmarks/micro.py            # all
    python benchmarks/micro.py unique     # the lines whose name contains "unique"

Timings of single operations on a shared machine vary by tens of percent; the comments
quote one run of this script (2026-12-07, the shared 2-core machine of README.md).
"""
from __future__ import annotations

import os
import subprocess
import sys
import timeit
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))


def _ms(f, number: int = 20, repeat: int = 5) -> float:
    return min(timeit.repeat(f, number=number, repeat=repeat)) / number * 1000


def unique_vs_numpy() -> str:
    """semlevel/arrays.py: np.unique's hash route against a sort, and the table route."""
    from semlevel.arrays import unique, unique_inverse
    rng = np.random.default_rng(0)
    big, small = rng.integers(0, 10**6, 100_000), rng.integers(0, 7_000, 7_000)
    keys = rng.integers(0, 12_000, 200_000)
    sort = lambda x: np.sort(x)[np.r_[True, np.diff(np.sort(x)) != 0]]  # noqa: E731
    return (f"np.unique 100k: {_ms(lambda: np.unique(big)):.2f} ms, sort "
            f"{_ms(lambda: sort(big)):.2f} ms, semlevel unique {_ms(lambda: unique(big)):.2f}"
            f" ms; 7k: {_ms(lambda: np.unique(small)):.3f} / {_ms(lambda: sort(small)):.3f} ms"
            f"; return_inverse 200k keys: np.unique "
            f"{_ms(lambda: np.unique(keys, return_inverse=True)):.2f} ms, unique_inverse "
            f"{_ms(lambda: unique_inverse(keys)):.2f} ms")


def ols_normal_equations() -> str:
    """semlevel/model/coefficients.py: lstsq's SVD against the normal equations."""
    from semlevel.model.coefficients import _ols
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=1_000_000), np.ones(1_000_000)])
    y = rng.normal(size=1_000_000)
    return (f"1e6 x 2: lstsq {_ms(lambda: np.linalg.lstsq(X, y, rcond=None), 5, 3):.1f} ms, "
            f"normal equations {_ms(lambda: _ols(X, y), 5, 3):.1f} ms")


def dense_gram() -> str:
    """semlevel/engine/identify.py: the identification Gram, dense against sparse."""
    import semlevel as sl
    from semlevel.engine import identify
    from semlevel.engine.tree_stats import tree_structure
    from nested import crossed
    model = sl.mixed_model("y x || _all: R.b || a:", data=crossed())
    tree = tree_structure(model)
    ids = np.flatnonzero(model.labels["free"].to_numpy()
                         & (model.labels["kind"].to_numpy() != "coef"))
    dense = _ms(lambda: identify.sparse_gram(model, ids, (tree.Zs, tree.entries)))
    old, identify.DENSE_GRAM_MAX = identify.DENSE_GRAM_MAX, -1
    try:
        sparse = _ms(lambda: identify.sparse_gram(model, ids, (tree.Zs, tree.entries)))
    finally:
        identify.DENSE_GRAM_MAX = old
    return f"148 x 19 crossed, {tree.Zs.shape[1]} latents: sparse {sparse:.2f} ms, dense " \
           f"{dense:.2f} ms"


_THREADS = """
import sys, time, warnings; sys.path.insert(0, {here!r}); warnings.simplefilter("ignore")
import numpy as np, semlevel as sl
from semlevel.engine.linalg import threads
from nested import crossed
if {off}:
    threads.one_blas_thread = __import__("contextlib").nullcontext
    import semlevel.engine.tree as tree, semlevel.engine.fitting as fitting
    tree.one_blas_thread = fitting.one_blas_thread = threads.one_blas_thread
df = crossed()
spec = "y x || _all: R.b || a: x, cov(un)"
for _ in range(3): sl.mixed(spec, data=df)
t = []
for _ in range(9):
    s = time.perf_counter(); sl.mixed(spec, data=df); t.append(time.perf_counter() - s)
print(round(float(np.median(t)) * 1000, 1))
"""


def blas_threads() -> str:
    """semlevel/engine/linalg/threads.py: the crossed slope fit with the machine's BLAS
    threads and the tree's one-thread limit switched off, with it, and with one thread
    throughout (fresh interpreters: the thread setting is read at numpy's import)."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = []
    for label, env, off in (("default threads, limit off", {}, True),
                            ("default threads, limit on", {}, False),
                            ("OPENBLAS_NUM_THREADS=1", {"OPENBLAS_NUM_THREADS": "1"}, False)):
        run = subprocess.run([sys.executable, "-c", _THREADS.format(here=here, off=off)],
                             capture_output=True, text=True, env={**os.environ, **env})
        out.append(f"{label}: {run.stdout.strip() or run.stderr.strip()[-200:]} ms")
    return "crossed 148 x 19 with a slope, median fit: " + "; ".join(out)


def tall_factor_threads() -> str:
    """semlevel/engine/fitting.py (_statistics): the triangular factor of a tall [X, y]
    on the machine's BLAS threads and on one."""
    from threadpoolctl import threadpool_limits
    from semlevel.engine.coefficient_basis import triangular_factor
    out = []
    for n in (100_000, 1_000_000):
        W = np.random.default_rng(0).normal(size=(n, 3))
        default = _ms(lambda: triangular_factor(W), 5)
        with threadpool_limits(1):
            one = _ms(lambda: triangular_factor(W), 5)
        out.append(f"{n:,} x 3: {default:.1f} ms default threads, {one:.1f} ms one thread")
    return "triangular factor, " + "; ".join(out)


def unique_rows_hash() -> str:
    """semlevel/engine/unique_rows.py: the pools' signature rows (2,000 x 73) grouped by
    a hash against the void sort alone."""
    from semlevel.engine import unique_rows as ur
    rng = np.random.default_rng(0)
    a = np.repeat(rng.integers(0, 3, (40, 73)).astype(float), 50, axis=0)
    real = ur._by_hash
    hashed = _ms(lambda: ur.unique_rows(a))
    ur._by_hash = lambda x: None
    try:
        void = _ms(lambda: ur.unique_rows(a))
    finally:
        ur._by_hash = real
    return f"2,000 x 73, 40 distinct: void sort {void:.2f} ms, hash {hashed:.2f} ms"


def pandas_small_calls() -> str:
    """The small-frame costs the builder, the engine and the results layer avoid
    (pandas 3, arrow strings): a column selection against a frame of the columns, a
    Series comparison against the array's, Series.nunique against a set, records against
    columns, np.r_ against np.append; on a labels-sized frame. And a results table made
    from a dict of columns against semlevel.columns.float_frame (one 2-d array), an
    index of label names against semlevel.columns.names_index (made once, copied)."""
    import pandas as pd
    lab = pd.DataFrame({"kind": ["coef", "coef", "var", "resvar"], "free": [True] * 4,
                        "value": [np.nan] * 4, "block": ["fixed", "fixed", "id", "Residual"],
                        "x": [1, 2, 3, 4]}, index=pd.Index(list("abcd"), name="name"))
    cols = ["kind", "free", "value", "block"]
    rows = lab.reset_index().to_dict("records")
    beta = np.array([1.5, -2.0])
    from semlevel.columns import float_frame, names_index
    names = ["week", "_cons"]
    fidx = pd.Index(names, name="term")
    fcols = {c: np.random.default_rng(0).random(2)
             for c in ("coef", "se", "z", "p", "ci_lower", "ci_upper")}
    us = lambda f: _ms(f, 200) * 1000  # noqa: E731
    return (f"df[cols] {us(lambda: lab[cols]):.0f} us, frame of the columns "
            f"{us(lambda: pd.DataFrame({c: lab[c] for c in cols}, index=lab.index)):.0f} us; "
            f"Series == 'coef' {us(lambda: (lab['kind'] == 'coef').to_numpy()):.0f} us, "
            f"array == 'coef' {us(lambda: lab['kind'].to_numpy() == 'coef'):.0f} us; "
            f"nunique {us(lambda: lab['block'].nunique()):.0f} us, set "
            f"{us(lambda: len(set(lab['block'].tolist()))):.0f} us; frame from records "
            f"{us(lambda: pd.DataFrame(rows)):.0f} us, from columns "
            f"{us(lambda: pd.DataFrame({c: [r[c] for r in rows] for c in rows[0]})):.0f} us; "
            f"to_dict('records') {us(lambda: lab.to_dict('records')):.0f} us, the columns' "
            f"lists {us(lambda: [lab[c].tolist() for c in cols]):.0f} us; "
            f"np.r_ {us(lambda: np.r_[-beta, 1.0]):.1f} us, np.append "
            f"{us(lambda: np.append(-beta, 1.0)):.1f} us; "
            f"a results table (6 float columns) from a dict of columns "
            f"{us(lambda: pd.DataFrame(fcols, index=fidx)):.0f} us, "
            f"float_frame {us(lambda: float_frame(fcols, fidx)):.0f} us; an index of "
            f"label names {us(lambda: pd.Index(names, name='label')):.0f} us, names_index "
            f"{us(lambda: names_index(names, 'label')):.0f} us")


SMALL_MODELS = ("weight week || id:", "weight week || id: week",
                "weight week || id: week, cov(un)", "weight week || id: week, cov(exch)",
                "weight week || id:, reml", "weight week || id:, residuals(ar 1, t(week))")


def small_models() -> str:
    """The manual's pig models fitted in one process (sl.mixed, then fit.fixed and
    fit.random): the minimum over 25 fits of each, after a first untimed one."""
    import semlevel as sl
    pig = sl.datasets.load("pig")

    def fit(spec):
        f = sl.mixed(spec, data=pig)
        f.fixed, f.random
    out = []
    for spec in SMALL_MODELS:
        fit(spec)
        out.append(f"'{spec}' {_ms(lambda: fit(spec), number=1, repeat=25):.2f} ms")
    return "; ".join(out)


def small_phases() -> str:
    """Where a pig random intercept's fit goes, phase by phase (parse, build, the outcome
    check, statistics, starting values, identification, optimisation with the standard
    errors, the two tables), each the mean over 200 fits in one process."""
    import time

    import semlevel as sl
    from semlevel.engine import fitting as F
    from semlevel.model.builder import build_mixed_model
    from semlevel.syntax.mixed import parse_mixed
    pig = sl.datasets.load("pig")
    spec = "weight week || id:"
    acc: dict[str, float] = {}

    def one():
        t = [time.perf_counter()]

        def tick(name):
            t.append(time.perf_counter())
            acc[name] = acc.get(name, 0.0) + t[-1] - t[-2]
        p = parse_mixed(spec); tick("parse")                          # noqa: E702
        m = build_mixed_model(p, pig); tick("build")                  # noqa: E702
        F.check_outcome(m); tick("check")                             # noqa: E702
        st = F._statistics(m, None); tick("statistics")               # noqa: E702
        s = F._start(m, st); tick("start")                            # noqa: E702
        F.check_identified(m, st, s); tick("identification")          # noqa: E702
        fit = F.optimise(m, st, s); tick("optimisation")              # noqa: E702
        fit.fixed, fit.random; tick("tables")                         # noqa: E702
    for _ in range(20):
        one()
    acc.clear()
    for _ in range(200):
        one()
    total = sum(acc.values()) / 200 * 1000
    return ", ".join(f"{k} {v / 200 * 1000:.2f} ms" for k, v in acc.items()) \
        + f"; total {total:.2f} ms"


def small_evaluation() -> str:
    """One deviance evaluation (with and without the gradient) and one expected
    information of the pig random intercept and random slope at their starts."""
    import semlevel as sl
    from semlevel.engine import fitting as F
    from semlevel.engine.deviance import evaluate, information_at
    pig = sl.datasets.load("pig")
    out = []
    for spec in SMALL_MODELS[:2]:
        m = sl.mixed_model(spec, data=pig)
        st = F._statistics(m, None)
        s = F._start(m, st)
        us = lambda f: _ms(f, 300, 9) * 1000  # noqa: E731
        out.append(f"'{spec}': evaluation {us(lambda: evaluate(s, st, False, True)):.0f} us, "
                   f"without gradient {us(lambda: evaluate(s, st, False, False)):.0f} us, "
                   f"expected information {us(lambda: information_at(s, st)):.0f} us")
    return "; ".join(out)


CASES = {"unique": unique_vs_numpy, "ols": ols_normal_equations, "gram": dense_gram,
         "threads": blas_threads, "tall factor threads": tall_factor_threads,
         "unique_rows hash": unique_rows_hash, "pandas small calls": pandas_small_calls,
         "small models": small_models, "small phases": small_phases,
         "small evaluation": small_evaluation}


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    warnings.simplefilter("ignore")
    for name, f in CASES.items():
        if argv and not any(a in name for a in argv):
            continue
        print(f"{name}: {f()}", flush=True)


if __name__ == "__main__":
    main()
