"""The tree path (issue 25): a top-level unit's latents eliminated unit by unit.

Against the dense path (every row's covariance formed and factored as it is) on
unbalanced 3- and 4-level designs with missing outcomes: deviance, beta and the analytic
gradient to 1e-10, ML and REML; the information (complex steps of the gradient) against
the pooled path's, which is exact in the same way; relaxations that keep the tree
(variances by position, a correlation between sibling units, residual variances by
group) and a variance on the boundary; residual structures within the lowest units
(AR(1), MA(1), Toeplitz, exponential, banded, exchangeable, unstructured, by group) as
blocks on their unit's front.
Then fits, and the structure the path finds: crossed factors merged into one unit,
designs that are not trees refused.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.engine.evaluator import deviance, path_of, statistics
from semlevel.engine.optimize import complex_step_hessian
from semlevel.engine.tree_stats import TreeStats, tree_structure

from test_sparse import nested, random_values


def _free_variances(model) -> np.ndarray:
    return np.flatnonzero((model.labels["kind"] != "coef").to_numpy()
                          & model.labels["free"].to_numpy())


def _agree(model, v, reml, paths=("tree", "dense")) -> None:
    a, b = (deviance(v, statistics(model, p), reml, gradient=True) for p in paths)
    free = _free_variances(model)
    assert a.deviance == pytest.approx(b.deviance, rel=1e-12, abs=1e-9)
    np.testing.assert_allclose(a.beta, b.beta, rtol=1e-10, atol=1e-12)
    scale = np.abs(b.gradient[free]).max()
    np.testing.assert_allclose(a.gradient[free], b.gradient[free], rtol=1e-10,
                               atol=1e-10 * scale)


DESIGNS = [
    (3, "y x || l0: || l1: || l2:"),
    (3, "y x || l0: x, cov(un) || l1: x, cov(un)"),
    (4, "y x || l0: || l1: || l2: || l3:"),
    (3, "y x || l0: || l1: x || l2:"),
    (4, "y x || l0: x || l1: || l2: x, cov(un) || l3:"),
]


@pytest.mark.parametrize("levels, spec", DESIGNS)
@pytest.mark.parametrize("reml", [False, True])
def test_tree_equals_dense(levels, spec, reml):
    """Deviance, beta and gradient of every variance label equal the dense path's."""
    model = sl.mixed_model(spec, data=nested(levels, levels))
    assert isinstance(statistics(model, "tree"), TreeStats)
    rng = np.random.default_rng(levels)
    for _ in range(2):
        _agree(model, random_values(model, rng), reml)


def test_gradient_with_given_beta_equals_dense():
    """Under ML with beta given, the coefficients' gradient entries too."""
    model = sl.mixed_model("y x || l0: x, cov(un) || l1:", data=nested(2, 3))
    v = random_values(model, np.random.default_rng(2))
    beta = np.array([0.3, 0.9])
    a = deviance(v, statistics(model, "tree"), False, beta=beta)
    b = deviance(v, statistics(model, "dense"), False, beta=beta)
    assert a.deviance == pytest.approx(b.deviance, rel=1e-12)
    np.testing.assert_allclose(a.gradient, b.gradient, rtol=1e-9, atol=1e-9)


def _hessian(model, path, v, idx):
    stats = statistics(model, path)

    def grad(theta):
        w = v.astype(np.result_type(v, theta))
        w[idx] = theta
        return deviance(w, stats, False, gradient=True, check_psd=False).gradient[idx]
    return complex_step_hessian(grad, v[idx], 1e-4 * np.abs(v[idx]))


@pytest.mark.parametrize("levels, spec", [DESIGNS[1], DESIGNS[4]])
def test_information_equals_pooled(levels, spec):
    """The Hessian of the deviance (complex steps of the analytic gradient, as the
    standard errors use) equals the pooled path's."""
    model = sl.mixed_model(spec, data=nested(levels, levels))
    v = random_values(model, np.random.default_rng(7))
    idx = _free_variances(model)
    a, b = _hessian(model, "tree", v, idx), _hessian(model, "pooled", v, idx)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(b).max())


def test_relaxations_that_keep_the_tree():
    """Variances by position, a correlation between two sibling units (eliminated as one
    unit) and residual variances by group stay on the tree and equal the dense path."""
    df = nested(5, 3, n_top=8)
    df["grp"] = (df["x"] > 0).astype(int)
    base = sl.mixed_model("y x || l0: || l1: x, cov(un) || l2:, "
                          "residuals(independent, by(grp))", data=df)
    model = base.relax("l1: var(_cons)", groups={"l1=0": "v0", "l1=1": "v1"})
    model = model.correlate("l2[404,40400]", "l2[404,40401]")
    tree = tree_structure(model)
    assert tree is not None and tree.size.max() == 2       # the two siblings: one unit
    assert len(np.unique(model.resid_of_obs())) == 2
    rng = np.random.default_rng(5)
    for reml in (False, True):
        _agree(model, random_values(model, rng), reml)


def test_boundary_variance_and_singular_block():
    """A variance at zero and a singular covariance block (Phi not invertible) are
    evaluated as on the dense path."""
    model = sl.mixed_model("y x || l0: x, cov(un) || l1: || l2:", data=nested(3, 3))
    v = random_values(model, np.random.default_rng(3))
    names = model.labels.index
    v[names.get_loc("l1: var(_cons)")] = 0.0
    va, vb = v[names.get_loc("l0: var(x)")], v[names.get_loc("l0: var(_cons)")]
    v[names.get_loc("l0: cov(x,_cons)")] = np.sqrt(va * vb)      # correlation 1
    _agree(model, v, False)


def _tree_fit_equals_dense_fit(model, atol: float = 0.0) -> None:
    """The optimum, log likelihood and SEs reached on the tree are the dense path's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = model.fit(path="tree"), model.fit(path="dense")
    assert a.optimization.converged
    assert a.loglik == pytest.approx(b.loglik, abs=1e-8)
    np.testing.assert_allclose(a.random["estimate"], b.random["estimate"], rtol=1e-5,
                               atol=atol)
    np.testing.assert_allclose(a.fixed["se"], b.fixed["se"], rtol=1e-6)
    np.testing.assert_allclose(a.random["se"], b.random["se"], rtol=1e-4)
    # what is computed from the fit: BLUPs and predictions
    ra, rb = a.ranef(), b.ranef()
    assert ra.keys() == rb.keys()
    for level in ra:
        np.testing.assert_allclose(np.asarray(ra[level], float), np.asarray(rb[level], float),
                                   atol=1e-6)
    np.testing.assert_allclose(np.asarray(a.predict(), float), np.asarray(b.predict(), float),
                               atol=1e-6)


def test_fit_on_the_tree_equals_the_dense_fit():
    """The optimum reached on the tree is the dense path's, with the same SEs."""
    df = nested(1, 3, n_top=12)
    _tree_fit_equals_dense_fit(sl.mixed_model("y x || l0: x, cov(un) || l1: || l2:",
                                              data=df))


def test_crossed_small_factor_is_one_root_unit():
    """Crossed factors: the units of the larger one under one root holding the smaller
    factor's latents, equal to the dense path."""
    rng = np.random.default_rng(3)
    n = 600
    a, b = rng.integers(0, 60, n), rng.integers(0, 7, n)
    x = rng.normal(size=n)
    df = pd.DataFrame({"a": a, "b": b, "x": x,
                       "y": x + rng.normal(0, 1, 60)[a] + rng.normal(0, .5, 7)[b]
                       + rng.normal(size=n)})
    model = sl.mixed_model("y x || _all: R.b || a: x, cov(un)", data=df)
    tree = tree_structure(model)
    assert tree is not None
    assert sorted(np.bincount(tree.depth).tolist()) == [1, 60]
    assert tree.size[tree.depth == 0].tolist() == [7]
    _agree(model, random_values(model, np.random.default_rng(1)), True,
           paths=("tree", "dense"))


def test_path_choice():
    """Many latents per top unit in a tree: the tree path; few: the pooled path;
    residual covariances: the dense one."""
    rng = np.random.default_rng(1)
    rows = [(d, d * 1000 + s, rng.normal(), rng.normal()) for d in range(12)
            for s in range(80) for _ in range(2)]
    big = pd.DataFrame(rows, columns=["k", "j", "x", "y"])
    assert path_of(sl.mixed_model("y x || k: || j:", data=big)) == "tree"
    small = big[big["j"] % 1000 < 3]
    assert path_of(sl.mixed_model("y x || k: || j:", data=small)) == "pooled"


def test_not_a_tree_is_refused_clearly():
    """A model whose latents do not form a tree of small units is refused by name."""
    rng = np.random.default_rng(2)
    n = 400
    df = pd.DataFrame({"a": rng.integers(0, 80, n), "b": rng.integers(0, 70, n),
                       "y": rng.normal(size=n)})
    model = sl.mixed_model("y || _all: R.b || a:", data=df)
    assert tree_structure(model) is None
    with pytest.raises(ValueError, match="do not form a tree"):
        statistics(model, "tree")


def test_anova_start_on_the_tree_path():
    """The random intercepts' one-way ANOVA start: on a 148 x 19 crossed design it is
    closer to the estimates than the equal split of the residual variance, the optimiser
    needs fewer evaluations from it (a count, not a time), and it ends at the same
    optimum."""
    from semlevel.engine.fitting import optimise
    from semlevel.engine.starts import anova_start, starting_values
    rng = np.random.default_rng(3)
    n, na, nb = 3435, 148, 19
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + rng.normal(0, 1, na)[a] + rng.normal(0, 0.5, nb)[b] + rng.normal(size=n)
    df = pd.DataFrame({"a": a, "b": b, "x": x, "y": y})
    model = sl.mixed_model("y x || _all: R.b || a:", df)
    stats = statistics(model)
    assert isinstance(stats, TreeStats)
    idx = _free_variances(model)
    plain = starting_values(model)
    anova = anova_start(model, plain)
    fit_plain = optimise(model, stats, plain)
    fit_anova = optimise(model, stats, anova)
    est = fit_plain.values[idx]
    assert np.abs(np.log(anova[idx] / est)).max() < np.abs(np.log(plain[idx] / est)).max()
    assert fit_anova.optimization.evaluations < fit_plain.optimization.evaluations
    assert fit_anova.loglik == pytest.approx(fit_plain.loglik, abs=1e-8)
    np.testing.assert_allclose(fit_anova.values[idx], est, rtol=1e-5)
    assert sl.mixed("y x || _all: R.b || a:", df).optimization.evaluations \
        == fit_anova.optimization.evaluations           # the fit starts there


def _with_times(df: pd.DataFrame) -> pd.DataFrame:
    """Waves numbered within the lowest (``t``) and the second-lowest (``t2``) units."""
    levels = [c for c in df.columns if c.startswith("l")]
    df = df.copy()
    df["t"] = df.groupby(levels).cumcount()
    df["t2"] = df.groupby(levels[:-1]).cumcount()
    df["grp"] = (df[levels[1]] % 2).astype(int)
    return df


RESIDUAL_DESIGNS = [
    (3, "y x || l0: || l1: || l2:, residuals(ar 1, t(t))"),
    (3, "y x || l0: x, cov(un) || l1: x, cov(un) residuals(ar 1, t(t2))"),
    (4, "y x || l0: x || l1: || l2: x, cov(un) || l3:, residuals(unstructured, t(t))"),
    (3, "y x || l0: || l1: x, residuals(toeplitz 2, t(t2) by(grp))"),
    (4, "y x || l0: || l1: || l2: x, residuals(exchangeable, by(grp))"),
    (3, "y x || l0: x || l1:, residuals(ma 1, t(t2))"),
    (3, "y x || l0: || l1: || l2:, residuals(banded 1, t(t))"),
    (3, "y x || l0: || l1: || l2:, residuals(exponential, t(t))"),
]


def _tree_core(model):
    stats = statistics(model, "tree")
    core = getattr(stats, "core", stats)            # (a nonlinear structure's wrapper)
    assert isinstance(core, TreeStats) and core.blocks
    return stats


@pytest.mark.parametrize("levels, spec", RESIDUAL_DESIGNS)
@pytest.mark.parametrize("reml", [False, True])
def test_residual_structures_on_the_tree_equal_dense(levels, spec, reml):
    """Observations joined by residual covariances are blocks on their unit's front:
    deviance, beta and gradient equal the dense path's to 1e-10."""
    model = sl.mixed_model(spec, data=_with_times(nested(levels + 10, levels)))
    _tree_core(model)
    rng = np.random.default_rng(levels)
    for _ in range(2):
        v = random_values(model, rng)
        if model.info.structure is not None:
            v[model.labels.index.get_indexer(
                [p for p in model.info.structure.params
                 if "rho" in p or "theta" in p])] = 0.4
        _agree(model, v, reml)


def _differenced_hessian(model, path, v, idx):
    """Fourth-order central differences of the analytic gradient (the dense path has no
    complex steps): truncation ~h^4, here ~1e-11 of the largest entry."""
    stats = statistics(model, path)
    H = np.zeros((len(idx), len(idx)))
    for j, i in enumerate(idx):
        h = 1e-3 * max(abs(v[i]), 0.1)
        g = []
        for step in (-2, -1, 1, 2):
            w = v.copy()
            w[i] += step * h
            g.append(deviance(w, stats, False, gradient=True, check_psd=False).gradient[idx])
        H[:, j] = (g[0] - 8 * g[1] + 8 * g[2] - g[3]) / (12 * h)
    return 0.5 * (H + H.T)


def test_information_with_residual_blocks_equals_dense():
    """The Hessian the standard errors use (complex steps of the tree's gradient through
    the residual blocks) equals the dense path's, differenced to fourth order."""
    model = sl.mixed_model("y x || l0: x || l1: || l2: x, cov(un) || l3:, "
                           "residuals(unstructured, t(t))",
                           data=_with_times(nested(14, 4)))
    v = random_values(model, np.random.default_rng(4))
    rescov = (model.labels["kind"] == "rescov").to_numpy()
    assert rescov.sum() >= 3
    v[rescov] = 0.1                             # residual covariances away from zero
    idx = _free_variances(model)
    a, b = _hessian(model, "tree", v, idx), _differenced_hessian(model, "dense", v, idx)
    assert np.abs(a - b).max() <= 1e-10 * np.abs(b).max()


def test_information_through_an_ar_structure_equals_dense():
    """Complex steps pass through AR(1)'s map to its lag covariances and its Jacobian
    (which is differenced to ~1e-9), so the tree's Hessian in (rho, var(e)) and the
    random-effect labels is the dense path's, differenced to fourth order."""
    model = sl.mixed_model("y x || l0: x, cov(un) || l1: x, cov(un) "
                           "residuals(ar 1, t(t2))", data=_with_times(nested(13, 3)))
    v = random_values(model, np.random.default_rng(4))
    v[model.labels.index.get_loc("Residual: rho")] = 0.4
    idx = _free_variances(model)
    assert {"Residual: rho", "Residual: var(e)"} <= set(model.labels.index[idx])
    a, b = _hessian(model, "tree", v, idx), _differenced_hessian(model, "dense", v, idx)
    assert np.abs(a - b).max() <= 1e-8 * np.abs(b).max()


def test_ar_fit_on_the_tree_equals_the_dense_fit():
    """Random slopes at two levels with AR(1) errors within the children: the tree
    path's optimum, SEs (differences of the gradient through the AR map) and log
    likelihood are the dense path's."""
    df = _with_times(nested(3, 2, n_top=10))
    _tree_fit_equals_dense_fit(sl.mixed_model(
        "y x || l0: x, cov(un) || l1:, residuals(ar 1, t(t))", data=df), atol=1e-7)


def test_residual_covariances_choose_the_tree_only_where_they_keep_it():
    """Large rows with AR errors within the lowest units take the tree path; small rows
    the dense one; a residual covariance between two sibling units' errors (a block on
    two branches) is not a tree: dense."""
    from semlevel.engine.evaluator import TREE_MIN_DENSE_WORK
    rng = np.random.default_rng(1)
    rows = [(d, d * 1000 + s, t, rng.normal(), rng.normal()) for d in range(6)
            for s in range(60) for t in range(3)]
    big = pd.DataFrame(rows, columns=["k", "j", "t", "x", "y"])
    spec = "y x || k: || j:, residuals(ar 1, t(t))"
    assert float(np.sum(np.bincount(big["k"]).astype(float) ** 3)) >= TREE_MIN_DENSE_WORK
    assert path_of(sl.mixed_model(spec, data=big)) == "tree"
    small = big[big["j"] % 1000 < 4]
    assert path_of(sl.mixed_model(spec, data=small)) == "dense"
    model = sl.mixed_model("y x || k: || j:", data=big)
    across = model.correlate("e.y[j=0,obs=1]", "e.y[j=1,obs=1]")
    assert tree_structure(across) is None and path_of(across) == "dense"
    within = model.correlate("e.y[j=0,obs=1]", "e.y[j=0,obs=2]")
    assert tree_structure(within) is not None and path_of(within) == "tree"
    _agree(within, random_values(within, np.random.default_rng(2)), False)


def test_identification_on_the_tree_sees_residual_covariances():
    """An exchangeable residual block beside the same units' random intercept cannot be
    told apart from it: refused by name on the tree path as on the dense one."""
    df = _with_times(nested(3, 3, n_top=12))
    model = sl.mixed_model("y x || l0: || l1: || l2:, residuals(exchangeable)", data=df)
    for path in ("tree", "dense"):
        with pytest.raises(ValueError, match="not identified.*l2: var.*cov\\(e\\)"):
            model.fit(path=path)


def test_ar_growth_model_on_the_tree_equals_nlme():
    """Children with growth slopes in 12 schools, AR(1) errors within a child (1,174
    rows): on the tree path, the log likelihood at nlme's estimates is nlme's (the
    likelihood itself, to rounding), and the fit reaches it (nlme stops 1e-7 short:
    the estimates agree to its tolerance). Reference: tests/data/nlme/tree_reference.R."""
    import json
    from pathlib import Path
    here = Path(__file__).parent / "data" / "nlme"
    ref = json.loads((here / "tree_reference.json").read_text())
    df = pd.read_csv(here / "tree_ar1.csv")
    spec = "y t || k: t, cov(un) || j: t, cov(un) residuals(ar 1, t(t))"
    model = sl.mixed_model(spec, data=df)
    assert path_of(model) == "tree" and model.data.n_obs == ref["n"]
    stats = _tree_core(model)                 # (the AR map around the tree statistics)
    fit = model.fit()
    assert fit.optimization.converged
    # the likelihood at nlme's estimates
    v = np.array(fit.values, dtype=float)
    names = model.labels.index
    for name, value in ref.items():
        if name in names:
            v[names.get_loc(name)] = value
    beta = np.array([ref["fixed"]["t"], ref["fixed"]["(Intercept)"]])
    assert list(names[stats.coef_ids]) == ["t", "_cons"]
    at_ref = -0.5 * deviance(v, stats, False, gradient=False, beta=beta).deviance
    assert at_ref == pytest.approx(ref["loglik"], abs=1e-8)
    # the fit: at least nlme's optimum, and the estimates its
    assert ref["loglik"] - 1e-8 <= fit.loglik <= ref["loglik"] + 1e-6
    est = fit.random["estimate"]
    for name in ("k: var(_cons)", "k: var(t)", "j: var(_cons)", "j: var(t)",
                 "Residual: var(e)"):
        assert est[name] == pytest.approx(ref[name], rel=2e-4)
    for name in ("k: cov(t,_cons)", "j: cov(t,_cons)", "Residual: rho"):
        assert est[name] == pytest.approx(ref[name], abs=2e-5)
    np.testing.assert_allclose(fit.fixed.loc[["t", "_cons"], "coef"], beta, rtol=1e-5)
    np.testing.assert_allclose(fit.fixed.loc[["t", "_cons"], "se"],
                               [ref["se_fixed"]["t"], ref["se_fixed"]["(Intercept)"]],
                               rtol=1e-4)


@pytest.mark.parametrize("spec, data", [
    ("y x || _all: R.b || a:", "crossed"), ("y x || _all: R.b, cov(exchangeable) || a:",
                                           "crossed"),
    ("y x || _all: R.b || a: x, cov(un)", "crossed"),
    ("y x || l0: x, cov(un) || l1: || l2:", "nested")])
def test_dense_identification_gram_equals_the_sparse_one(spec, data, monkeypatch):
    """The identification check's Gram matrix of the covariance derivatives, formed
    with dense arrays for few latents, equals the sparse products' (to rounding)."""
    from semlevel.engine import identify
    rng = np.random.default_rng(3)
    if data == "crossed":
        n = 900
        df = pd.DataFrame({"a": rng.integers(0, 60, n), "b": rng.integers(0, 7, n),
                           "x": rng.normal(size=n), "y": rng.normal(size=n)})
    else:
        df = nested(3, 3)
    model = sl.mixed_model(spec, data=df)
    tree = tree_structure(model)
    var_ids = _free_variances(model)
    assert tree.Zs.shape[1] <= identify.DENSE_GRAM_MAX
    dense = identify.sparse_gram(model, var_ids, (tree.Zs, tree.entries))
    monkeypatch.setattr(identify, "DENSE_GRAM_MAX", -1)
    sparse = identify.sparse_gram(model, var_ids, (tree.Zs, tree.entries))
    assert np.abs(dense).max() > 0
    np.testing.assert_allclose(dense, sparse, rtol=1e-12, atol=1e-12 * np.abs(sparse).max())


def test_tree_evaluation_limits_blas_threads_only_while_it_runs():
    """The tree evaluation runs BLAS on one thread and restores the setting after,
    also when the evaluation raises."""
    from threadpoolctl import threadpool_info
    from semlevel.engine.linalg.threads import one_blas_thread

    def threads():
        return sorted(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    before = threads()
    with one_blas_thread():
        assert set(threads()) <= {1}
    assert threads() == before
    with pytest.raises(RuntimeError):
        with one_blas_thread():
            raise RuntimeError("inside")
    assert threads() == before


def test_two_large_crossed_factors_leave_the_tree_search_at_its_first_units(monkeypatch):
    """Two crossed factors with more levels than a front may hold form no tree: the
    search stops as soon as one unit (a connected set of latents) is larger than
    MAX_FRONT, since merging only joins units, instead of merging crossed units further;
    such a design takes the sparse path."""
    from semlevel.engine import tree_stats
    from test_sparse import crossed
    df = crossed(3, n=3000, n_s=300, n_d=150)
    model = sl.mixed_model("y x || _all: R.s || d:", data=df)
    events = []
    real_components, real_unique = tree_stats._components, tree_stats.unique

    def components(q, a, b):
        out = real_components(q, a, b)
        events.append(int(np.bincount(out).max()))
        return out

    def unique(x):
        events.append("unique")
        return real_unique(x)
    monkeypatch.setattr(tree_stats, "_components", components)
    monkeypatch.setattr(tree_stats, "unique", unique)
    assert tree_structure(model) is None
    sizes = [e for e in events if e != "unique"]
    # the search ends with the first unit too large: nothing is paired after it
    assert events[-1] == sizes[-1] > tree_stats.MAX_FRONT
    assert all(c <= tree_stats.MAX_FRONT for c in sizes[:-1])
    monkeypatch.undo()
    assert path_of(model) == "sparse"
