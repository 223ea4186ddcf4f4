"""The tree path (issue 25): a top-level unit's latents eliminated unit by unit.

Against the dense path (every row's covariance formed and factored as it is) on
unbalanced 3- and 4-level designs with missing outcomes: deviance, beta and the analytic
gradient to 1e-10, ML and REML; the information (complex steps of the gradient) against
the pooled path's, which is exact in the same way; relaxations that keep the tree
(variances by position, a correlation between sibling units, residual variances by
group) and a variance on the boundary. Then fits, and the structure the path finds:
crossed factors merged into one unit, designs that are not trees refused.
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


def test_fit_on_the_tree_equals_the_dense_fit():
    """The optimum reached on the tree is the dense path's, with the same SEs."""
    df = nested(1, 3, n_top=12)
    model = sl.mixed_model("y x || l0: x, cov(un) || l1: || l2:", data=df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = model.fit(path="tree"), model.fit(path="dense")
    assert a.optimization.converged
    assert a.loglik == pytest.approx(b.loglik, abs=1e-8)
    np.testing.assert_allclose(a.random["estimate"], b.random["estimate"], rtol=1e-5)
    np.testing.assert_allclose(a.fixed["se"], b.fixed["se"], rtol=1e-6)
    np.testing.assert_allclose(a.random["se"], b.random["se"], rtol=1e-4)


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
