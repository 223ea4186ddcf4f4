"""The sparse (blocked) path equals the dense and pooled paths.

Crossed designs put every observation in one row with many latents; the sparse path
factors that row's q x q system blockwise. At any admissible parameter values its
deviance must equal the dense per-row evaluation (an independent n x n Cholesky of
Sigma) and the pooled Woodbury evaluation to 1e-8, and a fit on it must reach the same
optimum.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.engine.evaluator import deviance, path_of, statistics
from semlevel.engine.fitting import starting_values
from ram_reference import ram_deviance
from semlevel.engine.sparse_stats import SparseStats


def crossed(seed: int, n: int = 500, n_s: int = 35, n_d: int = 20, missing: float = 0.05
            ) -> pd.DataFrame:
    """Two crossed factors s and d, a covariate, a nested group g of d and missing y."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, n_s, n)
    d = rng.integers(0, n_d, n)
    s[:n_s] = np.arange(n_s)
    d[:n_d] = np.arange(n_d)
    x = rng.normal(size=n)
    grp = rng.integers(0, 2, n)
    y = (1 + 0.5 * x + rng.normal(0, 0.6, n_s)[s] + rng.normal(0, 0.8, n_d)[d]
         + rng.normal(0, 0.3, n_d)[d] * x + rng.normal(0, 1.0, n) * np.where(grp, 1.5, 1.0))
    y[rng.random(n) < missing] = np.nan
    return pd.DataFrame({"y": y, "x": x, "s": s + 1, "d": d + 1, "grp": grp})


SPECS = [
    "y x || _all: R.s || d:",                               # crossed + nested
    "y x || _all: R.s || _all: R.d",                        # two crossed factors
    "y x || _all: R.d, cov(exchangeable) || s:",            # exchangeable factor
    "y x || _all: R.s || d: x, cov(unstructured)",          # random slopes in units of 2
    "y x || _all: R.s || d: x",                             # independent slopes
]


def random_values(model, rng) -> np.ndarray:
    """Admissible label values away from the starting point (covariances nonzero)."""
    v = starting_values(model)
    kinds = model.labels["kind"].to_numpy()
    for i, kind in enumerate(kinds):
        if kind in ("var", "resvar"):
            v[i] = rng.uniform(0.3, 2.0)
        elif kind == "cov":
            v[i] = 0.0
    names = model.labels.index
    for i, kind in enumerate(kinds):       # covariances small against the variances (an
        if kind == "cov":                  # exchangeable block must stay PSD: positive)
            v[i] = 0.2 * rng.uniform(0 if "R." in names[i] else -1, 1)
    return np.where(np.isnan(v), 0.0, v)


@functools.lru_cache(maxsize=None)
def model_and_paths(spec: str):
    model = sl.mixed_model(spec, data=crossed(1, n=260, n_s=30, n_d=14))
    return model, {p: statistics(model, p) for p in ("sparse", "dense", "pooled")}


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("reml", [False, True])
def test_sparse_equals_dense_and_pooled(spec, reml):
    model, paths = model_and_paths(spec)
    rng = np.random.default_rng(7)
    assert isinstance(paths["sparse"], SparseStats)
    for _ in range(3):
        v = random_values(model, rng)
        dev = {p: deviance(v, st, reml, gradient=False).deviance for p, st in paths.items()}
        assert np.isfinite(dev["dense"])
        assert dev["sparse"] == pytest.approx(dev["dense"], rel=1e-8, abs=1e-8)
        assert dev["pooled"] == pytest.approx(dev["dense"], rel=1e-8, abs=1e-8)
        beta_s = deviance(v, paths["sparse"], reml, gradient=False).beta
        beta_d = deviance(v, paths["dense"], reml, gradient=False).beta
        np.testing.assert_allclose(beta_s, beta_d, rtol=1e-8, atol=1e-10)


def test_sparse_equals_ram_reference_and_gradient_matches_dense():
    df = crossed(2, n=300, n_s=25, n_d=12)
    model = sl.mixed_model("y x || _all: R.s || d: x, cov(un)", data=df)
    v = random_values(model, np.random.default_rng(3))
    sparse = deviance(v, statistics(model, "sparse"), False, gradient=True)
    dense = deviance(v, statistics(model, "dense"), False, gradient=True)
    assert sparse.deviance == pytest.approx(ram_deviance(model, v), rel=1e-9)
    free = np.flatnonzero((model.labels["kind"] != "coef").to_numpy())
    # the sparse path's gradient is by central differences: agrees to their precision
    np.testing.assert_allclose(sparse.gradient[free], dense.gradient[free], rtol=1e-5,
                               atol=1e-5)


def test_boundary_and_singular_blocks():
    """A zero variance (singular Phi) and a perfectly correlated slope block."""
    df = crossed(3)
    model = sl.mixed_model("y x || _all: R.s || d: x, cov(unstructured)", data=df)
    names = model.labels.index
    st = {p: statistics(model, p) for p in ("sparse", "dense")}
    v = random_values(model, np.random.default_rng(5))
    v[names.get_loc("_all: var(R.s)")] = 0.0
    a, b = v[names.get_loc("d: var(x)")], v[names.get_loc("d: var(_cons)")]
    v[names.get_loc("d: cov(x,_cons)")] = np.sqrt(a * b)          # correlation 1
    d = {p: deviance(v, s_, False, gradient=False).deviance for p, s_ in st.items()}
    assert np.isfinite(d["sparse"])
    assert d["sparse"] == pytest.approx(d["dense"], rel=1e-8)
    v[names.get_loc("d: cov(x,_cons)")] = 1.01 * np.sqrt(a * b)   # not PSD: refused
    assert deviance(v, st["sparse"], False, gradient=False).deviance == np.inf
    v[names.get_loc("_all: var(R.s)")] = -0.1
    assert deviance(v, st["sparse"], False, gradient=False).deviance == np.inf


def test_heteroskedastic_residuals_and_several_rows():
    """Residual variances by group (several residual labels) on the sparse path; a
    crossed factor inside a top level (several rows, indicator loadings)."""
    df = crossed(4)
    model = sl.mixed_model("y x || _all: R.s || d:", data=df).relax("var(Residual)", by="grp")
    assert len(np.unique(model.resid_of_obs())) == 2
    v = random_values(model, np.random.default_rng(11))
    st = {p: statistics(model, p) for p in ("sparse", "dense")}
    for reml in (False, True):
        d = {p: deviance(v, s_, reml, gradient=False).deviance for p, s_ in st.items()}
        assert d["sparse"] == pytest.approx(d["dense"], rel=1e-8)
    rows = sl.mixed_model("y x || grp: R.s || d:", data=df)
    assert rows.data.n_rows == 2
    v = random_values(rows, np.random.default_rng(12))
    d = {p: deviance(v, statistics(rows, p), False, gradient=False).deviance
         for p in ("sparse", "dense", "pooled")}
    assert d["sparse"] == pytest.approx(d["dense"], rel=1e-8)
    assert d["pooled"] == pytest.approx(d["dense"], rel=1e-8)


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[3]])
def test_fit_on_the_sparse_path_reaches_the_pooled_optimum(spec):
    df = crossed(5)
    model = sl.mixed_model(spec, data=df)
    pooled = model.fit(path="pooled")
    sparse = model.fit(path="sparse")
    assert isinstance(sparse.stats, SparseStats)
    assert sparse.converged and pooled.converged
    assert sparse.loglik == pytest.approx(pooled.loglik, abs=1e-7)
    est = pooled.random["estimate"]
    np.testing.assert_allclose(sparse.random["estimate"], est, rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(sparse.fixed["coef"], pooled.fixed["coef"], rtol=1e-5)
    np.testing.assert_allclose(sparse.fixed["se"], pooled.fixed["se"], rtol=1e-4)
    se = pooled.random["se"]
    np.testing.assert_allclose(sparse.random["se"], se, rtol=2e-3)


def test_manual_example_10_on_the_sparse_path():
    """Manual example 10 (pig, two crossed factors) forced onto the sparse path gives the
    printed log likelihood and variance components."""
    pig = sl.datasets.load("pig")
    model = sl.mixed_model("weight week || _all: R.week || _all: R.id", data=pig)
    fit = model.fit(path="sparse")
    assert isinstance(fit.stats, SparseStats)
    assert f"{fit.loglik:.3f}" == "-1013.824"
    printed = {"_all: var(R.week)": (.0849874, .0868856), "_all: var(R.id)": (14.83623, 3.126142),
               "var(Residual)": (4.297328, .3134404)}
    for name, (est, se) in printed.items():
        assert fit.random.loc[name, "estimate"] == pytest.approx(est, rel=2e-5)
        assert fit.random.loc[name, "se"] == pytest.approx(se, rel=2e-4)
    assert fit.fixed.loc["week", "coef"] == pytest.approx(6.209896, rel=1e-6)
    assert fit.fixed.loc["week", "se"] == pytest.approx(.0539313, rel=1e-5)
    assert fit.fixed.loc["_cons", "se"] == pytest.approx(.6333982, rel=1e-5)


def test_crossed_model_is_compact_and_chooses_the_sparse_path():
    """A crossed factor at _all is one effect (not one indicator column per level) and a
    row with hundreds of latents takes the sparse path."""
    df = crossed(6, n=3000, n_s=450, n_d=60, missing=0.0)
    model = sl.mixed_model("y x || _all: R.s || d:", data=df)
    assert model.Z.shape == (3000, 2)
    assert len(model.latents) == 510
    assert path_of(model) == "sparse"
    assert sl.mixed_model("y x || d:", data=df).Z.shape == (3000, 1)


def test_unidentified_crossed_model_is_refused():
    """A factor with one observation per level is confounded with the residual."""
    df = crossed(7, n=200, n_s=20, n_d=10, missing=0.0)
    df["obs"] = np.arange(len(df))
    model = sl.mixed_model("y x || _all: R.obs || d:", data=df)
    with pytest.raises(ValueError, match="not identified"):
        model.fit(path="sparse")


def test_iteration_log_on_the_sparse_path():
    """The iteration log (``log``) reports the profiled deviance of every L-BFGS-B
    iteration; it never goes up and ends at the fit's log likelihood."""
    from semlevel.output.iterlog import IterationLog
    import io
    pig = sl.datasets.load("pig")
    model = sl.mixed_model("weight week || _all: R.week || _all: R.id", data=pig)
    log = IterationLog(stream=io.StringIO())
    fit = model.fit(path="sparse", callback=log)
    values = [float(line.split("=")[1].split()[0]) for line in log.lines
              if line.startswith("Iteration")]
    assert len(values) >= 3 and log.lines[0].startswith("Performing")
    assert all(b >= a - 1e-9 for a, b in zip(values, values[1:]))
    assert values[-1] == pytest.approx(fit.loglik, abs=1e-3)


def test_exchangeable_block_reaches_its_singular_edge_on_both_paths():
    """An exchangeable crossed factor whose common component vanishes (correlation
    -1/(m-1)): through its eigenvalue coordinates both the pooled and the sparse fit
    converge to the same boundary optimum and report it."""
    df = crossed(1, n=260, n_s=30, n_d=14)
    model = sl.mixed_model("y x || _all: R.d, cov(exchangeable) || s:", data=df)
    fits = {}
    for path in ("pooled", "sparse"):
        with pytest.warns(UserWarning, match="boundary"):
            fits[path] = model.fit(path=path)
    p, s = fits["pooled"], fits["sparse"]
    assert p.converged and s.converged
    assert s.loglik == pytest.approx(p.loglik, abs=1e-7)
    v, c = p.random.loc["_all: var(R.d)", "estimate"], p.random.loc["_all: cov(R.d)", "estimate"]
    assert v + 13 * c == pytest.approx(0.0, abs=1e-7 * v)
    assert any("singular exchangeable" in b for b in p.boundary + s.boundary)
    np.testing.assert_allclose(s.random["estimate"], p.random["estimate"], rtol=1e-4,
                               atol=1e-6)


def test_exchangeable_coordinates_chain_rule():
    """The eigenvalue coordinates of an exchangeable block: values and the gradient's
    chain rule against differences."""
    from semlevel.engine.parametrization import Parametrization
    df = crossed(2, n=200, n_s=20, n_d=6)
    model = sl.mixed_model("y x || _all: R.d, cov(exchangeable) || s:", data=df)
    param = Parametrization(model)
    assert len(param.exchangeable) == 1 and param.exchangeable[0][2] == 6
    v0 = random_values(model, np.random.default_rng(4))
    u = param.coordinates(v0)
    np.testing.assert_allclose(param.values(u, v0)[param.free], v0[param.free], rtol=1e-12)
    st = statistics(model, "pooled")
    ev = deviance(param.values(u, v0), st, False)
    g = param.gradient(u, ev.gradient)
    for j in range(len(u)):
        h = 1e-6 * max(abs(u[j]), 1e-2)
        up, dn = u.copy(), u.copy()
        up[j] += h
        dn[j] -= h
        fd = (deviance(param.values(up, v0), st, False, gradient=False).deviance
              - deviance(param.values(dn, v0), st, False, gradient=False).deviance) / (2 * h)
        assert g[j] == pytest.approx(fd, rel=1e-5, abs=1e-6)


# ------------------------------------------------------------------- nested designs
# pupils in schools in districts: many latents per top-level unit. The sparse path
# eliminates the lowest level's units and factors the levels above densely; it is chosen
# when that is cheaper than every row's q x q system (engine.evaluator._sparse_is_cheaper).


def nested(seed: int, levels: int, n_top: int = 6, width: int = 7, missing: float = 0.1,
           slope: bool = False) -> pd.DataFrame:
    """Unbalanced nested data: each unit has 1..width children, the lowest 1..3 obs."""
    rng = np.random.default_rng(seed)
    rows = []

    def grow(path, depth, effect):
        if depth == levels:
            for _ in range(int(rng.integers(1, 4))):
                x = rng.normal()
                rows.append((*path, x, 1 + 0.5 * x + effect + rng.normal() *
                             (1 + 0.3 * x * slope)))
            return
        for c in range(int(rng.integers(1, width + 1))):
            grow(path + (path[-1] * 100 + c if path else c,), depth + 1,
                 effect + rng.normal(0, 0.6))

    grow((), 0, 0.0)
    d = pd.DataFrame(rows, columns=[f"l{i}" for i in range(levels)] + ["x", "y"])
    d.loc[rng.random(len(d)) < missing, "y"] = np.nan
    return d


NESTED = [
    (3, "y x || l0: || l1: || l2:"),
    (3, "y x || l0: x, cov(un) || l1: x, cov(un)"),
    (4, "y x || l0: || l1: || l2: || l3:"),
    (3, "y x || l0: || l1: x || l2:"),
]


@pytest.mark.parametrize("levels, spec", NESTED)
@pytest.mark.parametrize("reml", [False, True])
def test_nested_sparse_equals_dense(levels, spec, reml):
    """Deviance (ML and REML), beta and gradient of the sparse path equal the dense path's
    on unbalanced 3- and 4-level designs with missing outcomes and random slopes."""
    model = sl.mixed_model(spec, data=nested(levels, levels if "l3" in spec else 3))
    sparse, dense = statistics(model, "sparse"), statistics(model, "dense")
    assert isinstance(sparse, SparseStats)
    rng = np.random.default_rng(levels)
    free = np.flatnonzero((model.labels["kind"] != "coef").to_numpy())
    for _ in range(2):
        v = random_values(model, rng)
        a = deviance(v, sparse, reml, gradient=True)
        b = deviance(v, dense, reml, gradient=True)
        assert a.deviance == pytest.approx(b.deviance, rel=1e-10)
        np.testing.assert_allclose(a.beta, b.beta, rtol=1e-9, atol=1e-12)
        # central differences on the sparse path: equal to their precision
        np.testing.assert_allclose(a.gradient[free], b.gradient[free], rtol=1e-5, atol=1e-5)


def test_nested_relaxation_by_position_on_the_sparse_path():
    """A variance relaxed by position (heteroskedastic schools) keeps the sparse path's
    result equal to the dense one, and the fit reaches the same optimum."""
    df = nested(5, 2, n_top=40, width=5)
    base = sl.mixed_model("y x || l0: || l1:", data=df)
    model = base.relax("l1: var(_cons)", groups={"l1=0": "v0", "l1=1": "v1"})
    a = model.fit(path="sparse")
    b = model.fit(path="dense")
    assert a.loglik == pytest.approx(b.loglik, abs=1e-7)
    np.testing.assert_allclose(a.random["estimate"], b.random["estimate"], rtol=1e-4)


def test_many_units_per_top_take_the_tree_path():
    """Districts of many schools go to the tree path (tests/test_tree.py); small ones
    keep the pooled one; the fits agree."""
    rng = np.random.default_rng(1)
    rows = [(d, d * 1000 + s, rng.normal(), rng.normal()) for d in range(12)
            for s in range(60) for _ in range(2)]
    big = pd.DataFrame(rows, columns=["k", "j", "x", "y"])
    assert path_of(sl.mixed_model("y x || k: || j:", data=big)) == "tree"
    small = big[big["j"] % 1000 < 3]
    assert path_of(sl.mixed_model("y x || k: || j:", data=small)) == "pooled"
    a = sl.mixed("y x || k: || j:", data=big)
    b = sl.mixed_model("y x || k: || j:", data=big).fit(path="pooled")
    assert a.loglik == pytest.approx(b.loglik, abs=1e-7)


@pytest.mark.parametrize("spec", [SPECS[0], SPECS[1], SPECS[3]])
@pytest.mark.parametrize("reml", [False, True])
def test_standard_errors_from_the_polish_equal_second_differences(spec, reml):
    """The variance labels' Hessian the standard errors use comes from the Newton
    polish's differences of the scale-profiled deviance, the scale added analytically
    (:func:`semlevel.engine.profiled._label_curvature`): it equals the Hessian from
    second differences of the unprofiled deviance in the labels themselves (the route
    it replaces) to their precision, ML and REML, with an unstructured block too."""
    from semlevel.engine import fitting
    from semlevel.engine.parametrization import Parametrization
    from semlevel.engine.optimize import function_hessian
    from semlevel.engine.profiled import minimize_profiled
    model = sl.mixed_model(spec, data=crossed(5), reml=reml)
    stats = statistics(model, "sparse")
    param = Parametrization.of(model)
    start = fitting._start(model, stats)
    est, record, found = minimize_profiled(stats, param, start, reml)
    assert found is not None
    theta = est[param.free]

    def dev(t):
        v = est.copy()
        v[param.free] = t
        return deviance(v, stats, reml, gradient=False).deviance
    # steps of 3e-4: at 1e-4 the differences' rounding (the deviance's rounding over
    # h^2) reached 1.8e-5 of an SE on one machine (AMD EPYC, 2026-12-07) while the
    # truncation error at 3e-4 and 1e-3 is below 1e-6 of every SE
    H, g = function_hessian(dev, theta, 3e-4 * np.abs(theta))
    np.testing.assert_allclose(found.hessian, H, rtol=2e-5, atol=2e-5 * np.abs(H).max())
    # at the optimum: the gradient in the labels is negligible against the curvature
    assert float(found.gradient @ np.linalg.solve(found.hessian, found.gradient)) < 1e-6
    se_found = np.sqrt(np.diag(np.linalg.inv(0.5 * found.hessian)))
    se_diff = np.sqrt(np.diag(np.linalg.inv(0.5 * H)))
    np.testing.assert_allclose(se_found, se_diff, rtol=1e-5)


def test_sparse_fit_evaluates_each_point_once_and_its_standard_errors_take_none():
    """Every factorisation of the fit is one the optimiser counted (no point evaluated
    twice, no second-difference Hessian after it) plus the final evaluation at the
    estimates."""
    from semlevel.engine import profiled, sparse
    model = sl.mixed_model(SPECS[0], data=crossed(5))
    calls = []
    real = sparse.sparse_cross_products

    def counted(values, stats):
        calls.append(np.array(values, dtype=float))
        return real(values, stats)
    mp = pytest.MonkeyPatch()
    mp.setattr(sparse, "sparse_cross_products", counted)
    mp.setattr(profiled, "sparse_cross_products", counted)
    try:
        fit = model.fit(path="sparse")
    finally:
        mp.undo()
    assert fit.converged
    assert len(calls) == fit.optimization.evaluations + 1
    seen = {c.tobytes() for c in calls[:-1]}
    assert len(seen) == len(calls) - 1
    assert np.isfinite(fit.random["se"]).all()


@pytest.mark.parametrize("offset, steps", [(1e-8, 0), (1e-5, 1)])
def test_newton_polish_stops_below_the_deviance_rounding(offset, steps):
    """The polish takes no Newton step whose predicted fall of the deviance is below a
    few units in its last place (DECREMENT_RTOL |f|): such a step's f(x - step) <= f(x)
    would compare rounding errors. A larger decrement is still stepped away, to the
    quadratic's minimum."""
    from semlevel.engine import profiled
    H = np.array([[2e4, 3e3], [3e3, 1e4]])
    xmin = np.array([0.3, 0.5])
    f0 = 2.4e5

    def f(x):
        d = np.asarray(x) - xmin
        return f0 + 0.5 * float(d @ H @ d)
    x = xmin + offset * np.array([1.0, -1.0])
    decrement = float((H @ (x - xmin)) @ (x - xmin))
    assert (decrement < profiled.DECREMENT_RTOL * f0) == (steps == 0)
    end, taken, point = profiled._newton_polish(f, x)
    assert taken == steps
    assert point is not None and np.array_equal(point.x, end)
    if steps:
        np.testing.assert_allclose(end, xmin, atol=1e-6)
    else:
        np.testing.assert_array_equal(end, x)
