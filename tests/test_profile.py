"""Profile-likelihood confidence intervals.

References: lme4's ``confint(profile(fit, signames = FALSE))`` on the manual's pig model
(``tests/data/predict/reference.json``, made by ``tests/data/predict/reference.R``), at
95% and 90%; and, independently of the profiling code, refits of the model with the
parameter fixed at an interval limit (``model.fix``), whose deviance must exceed the
minimum by exactly z^2.

Tolerance: the acceptance criterion is 1e-3; we assert 1e-4 (relative, absolute for
correlations), having seen at most 6e-6: lme4 interpolates its profile with splines, we
solve for the limit.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

import semlevel as sl
from semlevel.engine.fitting import BoundaryWarning

REF = json.loads((Path(__file__).parent / "data" / "predict" / "reference.json").read_text())
CASES = REF["cases"]
NAMES = {"sd_(Intercept)|id": "id: sd(_cons)", "sd_week|id": "id: sd(week)",
         "cor_week.(Intercept)|id": "id: corr(week,_cons)", "sigma": "sd(Residual)",
         "(Intercept)": "_cons", "week": "week"}
SPECS = {"pig_indep_ml": "weight week || id: week",
         "pig_corr_ml": "weight week || id: week, covariance(unstructured)"}


@pytest.fixture(scope="module")
def fits(pig):
    return {k: sl.mixed(s, data=pig) for k, s in SPECS.items()}


@pytest.mark.parametrize("case", list(SPECS))
@pytest.mark.parametrize("level,key", [(95, "profile"), (90, "profile90")])
def test_profile_intervals_equal_lme4(fits, case, level, key):
    ref = CASES[case][key]
    ci = fits[case].profile_ci(level=level)
    assert sorted(ci.index) == sorted(NAMES[p] for p in ref["parameter"])
    for p, lo, hi in zip(ref["parameter"], ref["lower"], ref["upper"]):
        row = ci.loc[NAMES[p]]
        tol = dict(abs=1e-4) if p.startswith("cor") else dict(rel=1e-4)
        assert row["ci_lower"] == pytest.approx(lo, **tol), p
        assert row["ci_upper"] == pytest.approx(hi, **tol), p


def test_limits_are_where_refits_lose_z_squared(fits):
    """Refit with an SD or a coefficient fixed at a limit: deviance - minimum = z^2."""
    fit = fits["pig_indep_ml"]
    z2 = st.norm.ppf(0.975) ** 2
    ci = fit.profile_ci(["id: sd(week)", "sd(Residual)", "week"])
    for name, label, square in (("id: sd(week)", "id: var(week)", True),
                                ("sd(Residual)", "var(Residual)", True),
                                ("week", "week", False)):
        for limit in ci.loc[name, ["ci_lower", "ci_upper"]]:
            refit = fit.model.fix(label, limit ** 2 if square else limit).fit()
            assert refit.deviance - fit.deviance == pytest.approx(z2, abs=1e-6), name


def test_reml_profiles_the_restricted_likelihood(pig):
    fit = sl.mixed("weight week || id:, reml", data=pig)
    ci = fit.profile_ci()
    assert list(ci.index) == ["id: sd(_cons)", "sd(Residual)"]     # no fixed effects
    z2 = st.norm.ppf(0.975) ** 2
    for limit in ci.loc["id: sd(_cons)", ["ci_lower", "ci_upper"]]:
        refit = fit.model.fix("id: var(_cons)", limit ** 2).fit()
        assert refit.deviance - fit.deviance == pytest.approx(z2, abs=1e-6)
    with pytest.raises(ValueError, match="not profiled under REML"):
        fit.profile_ci(["week"])


def test_sd_interval_reaches_zero_when_the_profile_stays_low():
    """A random intercept with a small variance: the profile at SD 0 is within z^2 of the
    minimum, so the lower limit is 0 (lme4 reports 0 too)."""
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(15), 4)
    df = pd.DataFrame({"g": g, "y": 0.15 * rng.normal(size=15)[g] + rng.normal(size=60)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BoundaryWarning)
        fit = sl.mixed("y || g:", data=df)
        at_zero = fit.model.fix("g: var(_cons)", 0.0).fit()
    assert at_zero.deviance - fit.deviance < st.norm.ppf(0.975) ** 2
    ci = fit.profile_ci(["g: sd(_cons)"])
    assert ci.loc["g: sd(_cons)", "ci_lower"] == 0.0
    assert ci.loc["g: sd(_cons)", "ci_upper"] > ci.loc["g: sd(_cons)", "estimate"]


def test_bad_parameter_is_named(fits):
    with pytest.raises(ValueError, match="no profiled parameter 'id: var"):
        fits["pig_indep_ml"].profile_ci(["id: var(week)"])
    with pytest.raises(ValueError, match="level"):
        fits["pig_indep_ml"].profile_ci(level=150)
