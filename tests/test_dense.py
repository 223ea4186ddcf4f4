"""The dense per-row path equals the pooled Woodbury path where both apply."""
from __future__ import annotations

import numpy as np
import pytest

import semlevel as sl
from semlevel.engine.dense import dense_statistics, evaluate_dense
from semlevel.engine.deviance import evaluate
from semlevel.engine.stats import pool_statistics
from simulate import three_level, two_level

CASES = {
    "slopes-un": (lambda: two_level(21), "y x t || id: t, cov(un)"),
    "three-level": (lambda: three_level(22), "y x || k: || j:"),
    "pig-by-group": (lambda: sl.datasets.load("pig").assign(g=lambda d: d.id % 3),
                     "weight week || id: week"),
}


@pytest.mark.parametrize("reml", [False, True], ids=["ml", "reml"])
@pytest.mark.parametrize("name", list(CASES))
def test_dense_equals_pooled_at_random_points(name, reml):
    make, spec = CASES[name]
    fit = sl.mixed(spec, data=make(), reml=reml)
    model = fit.model
    if name == "pig-by-group":
        model = model.relax("id: var(week)", by="g").relax("var(Residual)", by="g")
    pooled, dense = pool_statistics(model), dense_statistics(model)
    rng = np.random.default_rng(3)
    base = np.nan_to_num(np.array([fit.values[fit.model.label_index(n)]
                                   if n in fit.model.labels.index else np.nan
                                   for n in model.labels.index]), nan=0.5)
    var = model.labels["kind"].isin(["var", "resvar"]).to_numpy()
    for _ in range(3):
        v = base * np.where(var, rng.uniform(0.5, 1.5, len(base)), 1.0)
        v[model.labels["kind"].to_numpy() == "cov"] *= rng.uniform(-0.5, 0.5)
        a, b = evaluate(v, pooled, reml), evaluate_dense(v, dense, reml)
        assert b.deviance == pytest.approx(a.deviance, rel=1e-11)
        np.testing.assert_allclose(b.beta, a.beta, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b.gradient, a.gradient, rtol=1e-8,
                                   atol=1e-8 * np.abs(a.gradient).max())
    if not reml:
        beta = fit.evaluation.beta * 1.01
        a, b = evaluate(v, pooled, False, beta=beta), evaluate_dense(v, dense, False, beta=beta)
        assert b.deviance == pytest.approx(a.deviance, rel=1e-11)
        np.testing.assert_allclose(b.gradient, a.gradient, rtol=1e-8,
                                   atol=1e-8 * np.abs(a.gradient).max())
