"""Parametric bootstrap.

* reproducible: the same seed gives the same replicates, serially and with 2 workers;
* the simulator draws from the fitted model: the empirical covariance of many draws of a
  relaxed model's rows (correlated latents, correlated errors) matches the implied
  covariance of the literal RAM algebra (``tests/ram_reference.py``);
* the percentile intervals cover the truth at about the nominal rate: 20 data sets
  simulated from a known random-intercept model (30 groups of 4), 39 replicates each, 80%
  intervals for the slope, the group variance and the residual variance (60 intervals):
  the number that cover must be consistent with Binomial(60, 0.8) (two-sided exact test,
  p > 0.001: accepts 38..56 covering; a coverage of 0.5 would fail almost surely);
* bootstrap SEs agree with the OIM SEs of the pig model (200 replicates, within 25%).
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

import semlevel as sl
from semlevel.engine.fitting import BoundaryWarning
from ram_reference import ram_implied
from semlevel.inference.bootstrap import simulation_plan

from simulate import slot_three_level


@pytest.fixture(scope="module")
def pig_fit():
    return sl.mixed("weight week || id: week", data=sl.datasets.load("pig"))


def test_seeded_replicates_are_reproducible_and_independent_of_workers(pig_fit):
    a = pig_fit.bootstrap(n=6, seed=7)
    b = pig_fit.bootstrap(n=6, seed=7, workers=2)
    c = pig_fit.bootstrap(n=6, seed=8)
    pd.testing.assert_frame_equal(a.replicates, b.replicates)
    assert not np.allclose(a.replicates.to_numpy(), c.replicates.to_numpy())
    gen = pig_fit.bootstrap(n=3, seed=np.random.default_rng(1))
    assert gen.n == 3 and gen.n_failed == 0 and gen.converged.all()
    assert list(a.replicates.columns) == ["week", "_cons", "id: var(week)",
                                          "id: var(_cons)", "var(Residual)"]


def test_bootstrap_se_roughly_agrees_with_information(pig_fit):
    """The cheap version of the test below (60 of its 200 replicates): a bootstrap SE
    from 60 replicates has a relative error of about 1/sqrt(120) = 9%, so 40% is a
    4-sigma band."""
    boot = pig_fit.bootstrap(n=60, seed=1)
    ratio = boot.se() / pd.concat([pig_fit.fixed["se"], pig_fit.random["se"]]).loc[boot.se().index]
    assert ((ratio > 0.6) & (ratio < 1.4)).all(), ratio
    assert (boot.ci(90)["n"] == 60).all()


@pytest.mark.slow
def test_bootstrap_se_agrees_with_information(pig_fit):
    boot = pig_fit.bootstrap(n=200, seed=1)
    se = boot.se()
    oim = pd.concat([pig_fit.fixed["se"], pig_fit.random["se"]])
    ratio = se / oim.loc[se.index]
    assert ((ratio > 0.75) & (ratio < 1.25)).all(), ratio
    ci = boot.ci(90)
    assert (ci["ci_lower"] < ci["estimate"]).all() and (ci["estimate"] < ci["ci_upper"]).all()
    assert (ci["n"] == 200).all()


@pytest.mark.parametrize("relax", ["correlated latents", "correlated errors"])
def test_simulator_draws_the_implied_covariance(relax):
    """Mean and covariance of 20000 draws of one row vs RAM's implied moments (the
    sampling error of a covariance is about sqrt(2/20000) ~ 1% of its scale)."""
    df = slot_three_level(5, K=30, J=3, I=2, missing=0.0)
    m = sl.mixed_model("y x || k: || j:", data=df)
    m = m.correlate("j[1]", "j[2]") if relax == "correlated latents" else \
        m.correlate("e.y[j=1,obs=1]", "e.y[j=1,obs=2]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryWarning)
        fit = m.fit()
    plan = simulation_plan(fit)
    rng = np.random.default_rng(0)
    draws = np.array([plan.draw(rng) for _ in range(20000)])
    obs = np.flatnonzero(fit.model.data.row == 0)
    Sigma, mu = ram_implied(fit.model, fit.values, 0)
    sample = draws[:, obs]
    scale = np.sqrt(np.outer(np.diag(Sigma), np.diag(Sigma)))
    assert np.abs(np.cov(sample.T) - Sigma).max() / scale.max() < 0.05
    assert np.abs(sample.mean(axis=0) - mu).max() < 4 * np.sqrt(np.diag(Sigma).max() / 20000)


def _dataset(rng, groups=30, size=4):
    g = np.repeat(np.arange(groups), size)
    x = rng.normal(size=groups * size)
    y = 1.0 + 0.5 * x + rng.normal(size=groups)[g] + rng.normal(size=groups * size)
    return pd.DataFrame({"g": g, "x": x, "y": y})


TRUTH = {"x": 0.5, "g: var(_cons)": 1.0, "var(Residual)": 1.0}


def _three(fit) -> dict:
    """The slope and the two variances, read from the label values (cheaper than the
    default statistic's tables)."""
    return {name: fit.values[fit.model.label_index(name)] for name in TRUTH}


def _coverage(datasets: int) -> int:
    truth = TRUTH
    rng = np.random.default_rng(20240607)
    covered = 0
    for d in range(datasets):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BoundaryWarning)
            fit = sl.mixed("y x || g:", data=_dataset(rng))
            ci = fit.bootstrap(n=39, seed=d, statistic=_three).ci(80)
        for name, value in truth.items():
            covered += int(ci.loc[name, "ci_lower"] <= value <= ci.loc[name, "ci_upper"])
    return covered


def test_percentile_intervals_are_the_replicate_quantiles(pig_fit):
    """The percentile interval is the (a, 1 - a) quantiles of the usable replicates."""
    boot = pig_fit.bootstrap(n=9, seed=4)
    ci = boot.ci(80)
    rep = boot.replicates[ci.index]
    np.testing.assert_allclose(ci["ci_lower"], rep.quantile(0.1), rtol=1e-12)
    np.testing.assert_allclose(ci["ci_upper"], rep.quantile(0.9), rtol=1e-12)
    assert (ci["ci_lower"] < ci["ci_upper"]).all()


def test_percentile_intervals_roughly_cover_the_truth():
    """The cheap version of the coverage test below (6 of its 20 datasets)."""
    covered = _coverage(6)
    assert st.binomtest(covered, 18, 0.8).pvalue > 1e-3, f"{covered} of 18 cover the truth"


@pytest.mark.slow
def test_percentile_intervals_cover_the_truth():
    covered = _coverage(20)
    p = st.binomtest(covered, 60, 0.8).pvalue
    assert p > 1e-3, f"{covered} of 60 intervals cover the truth"


def test_failures_are_kept_and_reported(pig_fit):
    def explodes(fit):
        raise ValueError("statistic failed on purpose")

    with pytest.raises(ValueError, match="on purpose"):       # on the original fit
        pig_fit.bootstrap(n=3, seed=1, statistic=explodes)
    calls = []

    def sometimes(fit):
        calls.append(1)
        if len(calls) == 3:          # the original fit is call 1
            raise ValueError("one replicate fails")
        return {"loglik": fit.loglik}

    with pytest.warns(RuntimeWarning, match="1 of 3 bootstrap refits failed"):
        boot = pig_fit.bootstrap(n=3, seed=1, statistic=sometimes)
    assert boot.n_failed == 1 and boot.replicates["loglik"].isna().sum() == 1
    assert list(boot.errors.values()) == ["ValueError: one replicate fails"]
    assert boot.ci()["n"].iloc[0] == 2


def test_bad_input_is_named(pig_fit):
    with pytest.raises(ValueError, match="positive number of replicates"):
        pig_fit.bootstrap(n=0)
    with pytest.raises(ValueError, match="workers"):
        pig_fit.bootstrap(n=2, workers=0)
    with pytest.raises(TypeError, match="seed"):
        pig_fit.bootstrap(n=2, seed="abc")
