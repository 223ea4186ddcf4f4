"""The two conventions for fixed-effect standard errors (issue 26): conditional on the
variance parameters ((X'V^-1X)^-1, lme4's ``vcov``, Stata's ``mixed``) and from the joint
observed information (lavaan with ``information="observed"``, Stata's ``sem``), each
against its reference; and what the general-SEM route offers and refuses."""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

import semlevel as sl

LAVAAN = pathlib.Path(__file__).parent / "data" / "lavaan"


@pytest.fixture(scope="module")
def hetero():
    ref = json.loads((LAVAAN / "reference.json").read_text())
    fit = sl.mixed("y x || k: || j:", data=pd.read_csv(LAVAAN / "hetero3.csv"))
    return ref, fit


def test_conditional_is_lme4s_vcov(hetero):
    ref, fit = hetero
    assert fit.se_convention == "conditional"
    se = ref["lme4"]["fixef_se"]
    assert fit.fixed.loc["x", "se"] == pytest.approx(se["x"], rel=1e-6)
    assert fit.fixed.loc["_cons", "se"] == pytest.approx(se["(Intercept)"], rel=1e-6)


def test_full_is_lavaans_observed_information(hetero):
    ref, fit = hetero
    full = fit.with_se("full")
    est = ref["constrained"]["estimates"]
    assert full.se_convention == "full"
    assert full.fixed.loc["x", "se"] == pytest.approx(est["b"]["se_analytic"], rel=1e-7)
    assert full.fixed.loc["_cons", "se"] == pytest.approx(est["c"]["se_analytic"], rel=1e-7)
    # the two conventions differ here by more than the tolerance (1.3e-5 relative)
    assert abs(full.fixed.loc["x", "se"] / fit.fixed.loc["x", "se"] - 1) > 1e-5
    # same estimates, same random table
    np.testing.assert_array_equal(full.fixed["coef"], fit.fixed["coef"])
    pd.testing.assert_frame_equal(full.random, fit.random)


def test_the_report_and_json_say_which(hetero):
    _, fit = hetero
    full = fit.with_se("full")
    assert "se='full'" in str(full.summary())
    assert "se='full'" not in str(fit.summary())
    assert json.loads(full.to_json())["se_convention"] == "full"
    assert json.loads(fit.to_json())["se_convention"] == "conditional"


def test_full_is_refused_where_it_does_not_apply(pig):
    with pytest.raises(ValueError, match="ML fit"):
        sl.mixed("weight week || id:, reml", data=pig).with_se("full")
    with pytest.raises(ValueError, match="sandwich"):
        sl.mixed("weight week || id:, vce(robust)", data=pig).with_se("full")
    with pytest.raises(ValueError, match="'conditional' or 'full'"):
        sl.mixed("weight week || id:", data=pig).with_se("robust")


@pytest.fixture(scope="module")
def iv(endogenous_fits):
    return endogenous_fits["A"], endogenous_fits["B"]


def test_sem_route_uses_full_and_refuses_what_it_lacks_clearly(iv):
    """SE convention "full"; modification indices and a score test of an arbitrary
    relaxed model are refused by name (score tests by slot: tests/test_sem_paths.py)."""
    naive, model = iv
    assert model.se_convention == "full"
    for call, what in ((model.modindices, "modification indices"),
                       (lambda: model.scoretest(None), "score tests of an arbitrary")):
        with pytest.raises(NotImplementedError, match=what):
            call()
    with pytest.raises(ValueError, match="observed information"):
        model.scoretests(information="expected")


def test_sem_route_lrtest(iv):
    naive, model = iv
    lr = model.lrtest(naive)
    assert lr.df == 1
    assert lr.statistic == pytest.approx(2 * (model.loglik - naive.loglik), rel=1e-12)
    assert lr == naive.lrtest(model)
    with pytest.raises(TypeError, match="two fits"):
        model.lrtest("x")
