"""General SEM paths: endogenous covariates and paths between outcome slots, by FIML."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semlevel as sl

DATA = Path(__file__).parent / "data" / "sem_paths"


@pytest.fixture(scope="module")
def endogenous():
    return pd.read_csv(DATA / "endogenous.csv")


@pytest.fixture(scope="module")
def lagged():
    return pd.read_csv(DATA / "lagged.csv")


def _ols_loglik(y: np.ndarray, X: np.ndarray) -> float:
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    rss = float(np.sum((y - X @ beta) ** 2))
    n = len(y)
    return -0.5 * n * (np.log(2 * np.pi) + np.log(rss / n) + 1)


def test_uncorrelated_endogenous_covariate_factorises(endogenous):
    """With x complete and its error uncorrelated with y's, p(y, x | z) = p(x | z) p(y | x):
    the joint FIML log likelihood is the mixed model's plus the regression of x on z, and
    the outcome's estimates are the mixed model's."""
    df = endogenous.dropna(subset=["x"])
    mixed = sl.mixed("y x || id:", data=df)
    fit = mixed.model.regress("x", on="z").fit()
    assert fit.converged
    x_part = _ols_loglik(df["x"].to_numpy(), np.column_stack([df["z"], np.ones(len(df))]))
    assert fit.loglik == pytest.approx(mixed.loglik + x_part, abs=1e-6)
    for term in ("x", "_cons"):
        assert fit.fixed.loc[term, "coef"] == pytest.approx(mixed.fixed.loc[term, "coef"],
                                                            rel=1e-5)
    assert fit.random.loc["id: var(_cons)", "estimate"] == pytest.approx(
        mixed.random.loc["id: var(_cons)", "estimate"], rel=1e-4)
    # rows whose outcome is missing stay in the sample through x (FIML)
    assert fit.n_obs == int(df["y"].notna().sum() + df["x"].notna().sum())


def test_correlated_errors_correct_the_endogeneity(endogenous_fits):
    """The simulation has cov(e, zeta) = 0.4 and a true slope of 0.6: the naive fit is
    biased upwards, the correlated-error model (z excluded from y's equation) is not."""
    naive, iv = endogenous_fits["A"], endogenous_fits["B"]
    assert iv.converged and naive.converged
    assert iv.loglik > naive.loglik
    b_naive, b_iv = naive.fixed.loc["x", "coef"], iv.fixed.loc["x", "coef"]
    assert b_naive - 0.6 > 4 * naive.fixed.loc["x", "se"]
    assert abs(b_iv - 0.6) < 3 * iv.fixed.loc["x", "se"]
    assert iv.random.loc["cov(e.y,e.x)", "estimate"] > 0


def test_paths_between_outcome_slots(lagged):
    m = sl.mixed_model("y x || id:", data=lagged)
    g = m.path("y[obs=2]", "y[obs=1]", "p").path("y[obs=3]", "y[obs=2]", "p") \
        .path("y[obs=4]", "y[obs=3]", "p")
    fit = g.fit()
    assert fit.converged
    assert list(fit.fixed.index) == ["x", "_cons", "p"]
    assert abs(fit.fixed.loc["p", "coef"] - 0.3) < 3 * fit.fixed.loc["p", "se"]
    assert fit.loglik > m.fit().loglik   # the lag explains real dependence
    free = m.path("y[obs=2]", "y[obs=1]").fit()
    assert "y[obs=2] <- y[obs=1]" in free.fixed.index


REF = json.loads((DATA / "reference.json").read_text())   # tests/data/sem_paths/reference.R


@pytest.mark.parametrize("key", ["A", "B", "C"])
def test_against_lavaan(endogenous_fits, lagged, key):
    ref = REF["models"][key]
    if key == "C":
        m = sl.mixed_model("y x || id:", data=lagged)
        fit = m.path("y[obs=2]", "y[obs=1]", "p").path("y[obs=3]", "y[obs=2]", "p") \
            .path("y[obs=4]", "y[obs=3]", "p").fit()
        names = {"b": "x", "c": "_cons", "p": "p", "vk": "id: var(_cons)",
                 "ve": "var(Residual)"}
    else:
        fit = endogenous_fits[key]            # regress("x", on="z", correlated=(key == "B"))
        names = {"b": "x", "c": "_cons", "g": "x: z", "a": "x: _cons",
                 "vk": "id: var(_cons)", "ve": "var(Residual)", "vx": "var(e.x)",
                 "r": "cov(e.y,e.x)"}
    assert fit.loglik == pytest.approx(ref["logl"], abs=1e-6)
    assert fit.n_params == ref["npar"]
    table = pd.concat([fit.fixed["coef"], fit.random["estimate"]])
    ses = pd.concat([fit.fixed["se"], fit.random["se"]])
    for lav, ours in names.items():
        if lav not in ref["estimates"]:
            continue
        assert table[ours] == pytest.approx(ref["estimates"][lav]["est"], rel=1e-5, abs=1e-7)
        # observed information from second differences of the deviance
        assert ses[ours] == pytest.approx(ref["estimates"][lav]["se"], rel=1e-4)


def test_bad_input(endogenous, lagged):
    m = sl.mixed_model("y x || id:", data=endogenous)
    with pytest.raises(ValueError, match=r"'q' is not a term of the fixed part"):
        m.regress("q", on="z")
    with pytest.raises(ValueError, match=r"unknown variable 'zz'"):
        m.regress("x", on="zz")
    with pytest.raises(ValueError, match=r"fitted by ML"):
        sl.mixed_model("y x || id:, reml", data=endogenous).regress("x", on="z")
    ml = sl.mixed_model("y x || id:", data=lagged)
    with pytest.raises(ValueError, match=r"no outcome slot 'y\[obs=9\]'"):
        ml.path("y[obs=9]", "y[obs=1]")
    with pytest.raises(ValueError, match=r"on itself"):
        ml.path("y[obs=1]", "y[obs=1]")
    short = lagged[~((lagged["id"] % 7 == 0) & (lagged["obs"] == 1))]
    # keyed by order, a missing first occasion would shift every slot of its row
    with pytest.raises(ValueError, match=r"key them by a time variable"):
        sl.mixed_model("y x || id:", data=short).path("y[obs=2]", "y[obs=1]")
    # keyed by time, the row simply lacks the source of the path
    timed = sl.mixed_model("y x || id:, residuals(independent, t(obs))", data=short)
    with pytest.raises(ValueError, match=r"rows have y\[obs=2\] but no y\[obs=1\]"):
        timed.path("y[obs=2]", "y[obs=1]")


SCORE = json.loads((DATA / "score_reference.json").read_text())  # score_reference.R


def test_score_tests_against_lavaan(endogenous):
    """Score tests of releasing a label across the four slots (df 3) on the
    instrumental-variable model with correlated errors (lavaan's model B) equal
    lavaan's ``lavTestScore(release = ..., information = "observed")``. The slots are
    keyed by ``obs`` (``t(obs)``) as lavaan's wide columns are: without it a row whose
    second observation is missing has its third in the second slot, and releasing by
    slot is another test."""
    m = sl.mixed_model("y x || id:, residuals(independent, t(obs))", data=endogenous)
    fit = m.regress("x", on="z", correlated=True).fit()
    assert fit.loglik == pytest.approx(SCORE["B"]["logl"], abs=1e-6)
    names = {"b": "x", "a": "x: _cons", "r": "cov(e.y,e.x)"}
    table = fit.scoretests(labels=list(names.values()))
    for lav, ours in names.items():
        ref = SCORE["B"]["tests"][lav]
        assert table.loc[ours, "df"] == ref["df"] == 3
        assert table.loc[ours, "chi2"] == pytest.approx(ref["X2"], rel=1e-4)
        assert table.loc[ours, "p"] == pytest.approx(ref["p"], rel=1e-4)
        assert table.loc[ours, "note"] == ""
    # a label that does not repeat across slots is refused by name
    with pytest.raises(ValueError, match="cannot be released by slot"):
        fit.scoretests(labels=["id: var(_cons)"])
