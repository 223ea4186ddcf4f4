"""Fixed-effects constraints R b = r in estimation (Stata's ``constraints()``).

Each constrained fit is checked against the same model reparametrised by hand (merged
dummies, an outcome with the fixed part moved to the left, a combined covariate) and
against the dense likelihood of tests/reference.py (no semlevel code).
"""
from __future__ import annotations

import numpy as np
import pytest

import semlevel as sl
from reference import dense_loglik, ols_loglik

TOL = 1e-7


@pytest.fixture(scope="module")
def t43():
    d = sl.datasets.load("t43")
    return d.assign(d23=d["drug"].isin([2, 3]).astype(float), d4=(d["drug"] == 4) * 1.0)


def _same_random(a, b, rel=1e-5):
    ra, rb = a.random["estimate"], b.random["estimate"]
    assert np.allclose(ra.to_numpy(), rb.loc[ra.index].to_numpy(), rtol=rel)


def test_equal_coefficients_ml(t43):
    """2.drug = 3.drug is the model with one dummy for drugs 2 and 3."""
    con = sl.mixed("score i.drug || person:", data=t43, constraints="2.drug = 3.drug")
    hand = sl.mixed("score d23 d4 || person:", data=t43)
    assert con.loglik == pytest.approx(hand.loglik, abs=TOL)
    _same_random(con, hand)
    fx, fh = con.fixed, hand.fixed
    for name in ("2.drug", "3.drug"):
        assert fx.loc[name, "coef"] == pytest.approx(fh.loc["d23", "coef"], rel=1e-6)
        assert fx.loc[name, "se"] == pytest.approx(fh.loc["d23", "se"], rel=1e-5)
    assert fx.loc["4.drug", "se"] == pytest.approx(fh.loc["d4", "se"], rel=1e-5)
    assert con.n_params == hand.n_params == 5
    assert con.aic == pytest.approx(hand.aic, abs=1e-6)
    # the LR test of the constraint against the unconstrained fit
    free = sl.mixed("score i.drug || person:", data=t43)
    assert free.lrtest(con).df == 1


def test_equal_coefficients_reml(t43):
    """REML: Stata's reduced design X T has orthonormal T, so the log restricted
    likelihood differs from the hand-made design X T_h by log|det(T'T_h)| exactly;
    the estimates are the same."""
    con = sl.mixed("score i.drug || person:, reml", data=t43, constraints=["2.drug = 3.drug"])
    hand = sl.mixed("score d23 d4 || person:, reml", data=t43)
    cmap = con.model.info["constraints"]
    T_h = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    jac = np.linalg.slogdet(cmap.T.T @ T_h)[1]
    assert con.loglik - jac == pytest.approx(hand.loglik, abs=TOL)
    _same_random(con, hand)
    assert con.fixed.loc["3.drug", "se"] == pytest.approx(hand.fixed.loc["d23", "se"], rel=1e-5)
    assert np.allclose(cmap.T.T @ cmap.T, np.eye(3), atol=1e-12)


def test_fixed_value_and_report(pig):
    """week = 6: the outcome weight - 6 week without the week term."""
    con = sl.mixed("weight week || id: week, cov(un)", data=pig, constraints=["week = 6"])
    hand = sl.mixed("y || id: week, cov(un)", data=pig.assign(y=pig["weight"] - 6 * pig["week"]))
    assert con.loglik == pytest.approx(hand.loglik, abs=TOL)
    _same_random(con, hand)
    fx = con.fixed
    assert fx.loc["week", "coef"] == 6.0 and fx.loc["week", "se"] == 0.0
    assert np.isnan(fx.loc["week", "z"]) and np.isnan(fx.loc["week", "p"])
    assert fx.loc["_cons", "coef"] == pytest.approx(hand.fixed.loc["_cons", "coef"], rel=1e-6)
    assert fx.loc["_cons", "se"] == pytest.approx(hand.fixed.loc["_cons", "se"], rel=1e-5)
    # the LR test vs the linear model is against the constrained linear model
    y = pig["weight"].to_numpy() - 6 * pig["week"].to_numpy()
    assert con.linear_loglik == pytest.approx(ols_loglik(y, np.ones((len(y), 1))), abs=1e-8)
    assert np.isnan(con.wald[0]) and con.wald[1] == 0        # nothing left to test
    text = con.summary()
    assert " ( 1)  week = 6" in text
    assert "week |          6  (constrained)" in text
    assert "( 1)" not in sl.mixed("weight week || id: week, cov(un) nocnsreport", data=pig,
                                  constraints="week = 6").summary()


def test_general_constraint_and_dense_likelihood(pig):
    """_cons = 3 week: the mean is b (week + 3); also the dense likelihood at the
    constrained estimates."""
    con = sl.mixed("weight week || id:", data=pig, constraints="_cons - 3*week = 0")
    z = pig["week"] + 3.0
    hand = sl.mixed("weight z, noconstant || id:", data=pig.assign(z=z))
    assert con.loglik == pytest.approx(hand.loglik, abs=TOL)
    b = hand.fixed.loc["z", "coef"]
    assert con.fixed.loc["week", "coef"] == pytest.approx(b, rel=1e-6)
    assert con.fixed.loc["_cons", "coef"] == pytest.approx(3 * b, rel=1e-6)
    re = con.random["estimate"]
    n = len(pig)
    ll = dense_loglik(pig["weight"].to_numpy(), z.to_numpy()[:, None], [pig["id"].to_numpy()],
                      [np.ones((n, 1))], [[[re["id: var(_cons)"]]]], re["var(Residual)"])
    assert con.loglik == pytest.approx(ll, abs=1e-6)
    # the same constraint as a matrix over fit.fixed's order [week, _cons]
    mat = sl.mixed("weight week || id:", data=pig, constraints=([[-3.0, 1.0]], [0.0]))
    assert mat.loglik == pytest.approx(con.loglik, abs=1e-9)
    # Wald test of a constrained model: the constrained direction is dropped
    res = con.test(["week", "_cons"])
    assert res.df == 1 and len(res.dropped) == 1


def test_small_sample_with_constraints(t43):
    """Satterthwaite DF are invariant to the contrast's scale: the constrained 2.drug has
    the DF of d23 in the hand-made model."""
    con = sl.mixed("score i.drug || person:, reml", data=t43, dfmethod="satterthwaite",
                   constraints="2.drug = 3.drug")
    hand = sl.mixed("score d23 d4 || person:, reml", data=t43, dfmethod="satterthwaite")
    assert con.fixed.loc["2.drug", "df"] == pytest.approx(hand.fixed.loc["d23", "df"], rel=1e-6)
    assert con.fixed.loc["_cons", "df"] == pytest.approx(hand.fixed.loc["_cons", "df"], rel=1e-6)
    kr = sl.mixed("score i.drug || person:, reml", data=t43, dfmethod="kroger",
                  constraints=["2.drug = 3.drug", "4.drug = 5.6"])
    assert np.isnan(kr.fixed.loc["4.drug", "df"]) and kr.fixed.loc["4.drug", "se"] == 0
    assert "4  |        5.6  (constrained)" in kr.summary()


@pytest.mark.parametrize("constraints, match", [
    (["2.drug = 1", "2.drug = 2"], "inconsistent"),
    ("2.dru = 1", "did you mean"),
    (["2.drug * 3.drug = 1"], "not linear"),
    (([[1.0, 0.0]], [0.0]), "one per coefficient"),
    ({"a": 1}, "constraints must be"),
])
def test_bad_constraints(t43, constraints, match):
    with pytest.raises(ValueError, match=match):
        sl.mixed("score i.drug || person:", data=t43, constraints=constraints)


def test_numbered_constraints_need_the_keyword(t43):
    with pytest.raises(ValueError, match="numbered constraints"):
        sl.mixed("score i.drug || person:, constraints(1 2)", data=t43)


def test_redundant_constraints_are_allowed(t43):
    a = sl.mixed("score i.drug || person:", data=t43,
                 constraints=["2.drug = 3.drug", "3.drug = 2.drug", "2*2.drug = 2*3.drug"])
    b = sl.mixed("score i.drug || person:", data=t43, constraints="2.drug = 3.drug")
    assert a.loglik == pytest.approx(b.loglik, abs=1e-10)
