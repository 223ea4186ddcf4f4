"""Wald tests of linear hypotheses on the fixed effects (``fit.test``).

Independent checks: the manual's printed Wald chi2 of example 13; the z statistic of the
same contrast in a reparametrised fit (another base level); a dense GLS computation
(tests/reference.py, no semlevel code) at the fitted variance components; t^2 = F for
one restriction under dfmethod().
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as st

import semlevel as sl
from semlevel.syntax.linear import LinearSyntaxError
from reference import fixed_vcov, gls_beta


@pytest.fixture(scope="module")
def t43():
    return sl.datasets.load("t43")


@pytest.fixture(scope="module", params=[False, True], ids=["ml", "reml"])
def drug_fits(request, t43):
    reml = request.param
    return (sl.mixed("score i.drug || person:", data=t43, reml=reml),
            sl.mixed("score ib3.drug || person:", data=t43, reml=reml))


def test_joint_test_is_the_manual_wald(t43):
    fit = sl.mixed("score i.drug || person:, reml", data=t43)
    res = fit.test(["2.drug", "3.drug", "4.drug"])
    assert res.kind == "chi2" and res.df == 3 and res.ddf is None
    assert abs(res.statistic - 74.28) <= 0.005                       # manual, example 13
    assert tuple(res) == pytest.approx(fit.wald, rel=1e-12)
    assert fit.test("2.drug 3.drug 4.drug").statistic == pytest.approx(res.statistic, rel=1e-12)
    assert fit.test("2.drug = 3.drug = 4.drug = 0").df == 3


def test_contrast_equals_reparametrised_z(drug_fits):
    """2.drug = 3.drug tested in the i.drug fit equals the z^2 of 2.drug with base 3."""
    fit, base3 = drug_fits
    res = fit.test("2.drug = 3.drug")
    z = base3.fixed.loc["2.drug", "z"]
    assert res.df == 1 and res.statistic == pytest.approx(z * z, rel=1e-8)
    assert res.p == pytest.approx(base3.fixed.loc["2.drug", "p"], rel=1e-7)
    assert res.hypotheses == ("2.drug - 3.drug = 0",)
    # one coefficient: chi2 = z^2
    assert fit.test("4.drug").statistic == pytest.approx(fit.fixed.loc["4.drug", "z"] ** 2)


def test_dense_gls_reference(pig):
    """A general hypothesis (R, r) against GLS computed densely at the fitted variances."""
    fit = sl.mixed("weight week || id: week, cov(un)", data=pig)
    re = fit.random["estimate"]
    G = np.array([[re["id: var(_cons)"], re["id: cov(week,_cons)"]],
                  [re["id: cov(week,_cons)"], re["id: var(week)"]]])
    n = len(pig)
    X = np.column_stack([np.ones(n), pig["week"]])                    # [_cons, week]
    args = (pig["weight"].to_numpy(), X, [pig["id"].to_numpy()],
            [np.column_stack([np.ones(n), pig["week"]])], [G], re["var(Residual)"])
    b, V = gls_beta(*args), fixed_vcov(*args)
    R, r = np.array([[-0.05, 1.0], [1.0, 1.0]]), np.array([5.0, 26.0])   # over [_cons, week]
    d = R @ b - r
    chi2 = float(d @ np.linalg.solve(R @ V @ R.T, d))
    ours = fit.test(["week - 0.05*_cons = 5", "_cons + week = 26"])
    assert ours.statistic == pytest.approx(chi2, rel=1e-6)
    assert ours.p == pytest.approx(st.chi2.sf(chi2, 2), rel=1e-5)
    # the same as a matrix over fit.fixed's order [week, _cons]
    mat = fit.test(R[:, ::-1], r)
    assert mat.statistic == pytest.approx(ours.statistic, rel=1e-12)
    assert fit.test("_b[week] = 6").statistic == pytest.approx(
        ((fit.fixed.loc["week", "coef"] - 6) / fit.fixed.loc["week", "se"]) ** 2)


def test_dependent_rows_are_dropped(t43):
    fit = sl.mixed("score i.drug || person:", data=t43)
    res = fit.test(["2.drug = 3.drug", "3.drug = 4.drug", "2.drug = 4.drug"])
    assert res.df == 2 and res.dropped == ("2.drug - 4.drug = 0",)
    assert "Constraint dropped" in str(res)
    two = fit.test(["2.drug = 3.drug", "3.drug = 4.drug"])
    assert res.statistic == pytest.approx(two.statistic, rel=1e-10)


def test_F_under_dfmethod(t43):
    fit = sl.mixed("score i.drug || person:, reml dfmethod(kroger)", data=t43)
    one = fit.test("3.drug")
    t, df = fit.fixed.loc["3.drug", "t"], fit.fixed.loc["3.drug", "df"]
    assert one.kind == "F" and one.ddf == pytest.approx(df, rel=1e-10)
    assert one.statistic == pytest.approx(t * t, rel=1e-10)
    assert one.p == pytest.approx(fit.fixed.loc["3.drug", "p"], rel=1e-8)
    large = fit.test("3.drug", small=False)
    assert large.kind == "chi2"
    assert large.statistic == pytest.approx((fit.fixed_vcov.loc["3.drug", "3.drug"] ** -1)
                                            * fit.fixed.loc["3.drug", "coef"] ** 2)
    assert "F(  1, 12.00)" in str(one)


@pytest.mark.parametrize("hyp, match", [
    ("wek = 1", "did you mean 'week'"),
    ("week * _cons = 0", "not linear"),
    ("week / _cons", "not linear"),
    ("1 = 2", "no coefficient"),
    ("week = (1", "missing"),
    ("__import__('os').system('true')", "unknown coefficient"),
    ("", "empty"),
])
def test_bad_hypotheses(pig, hyp, match):
    fit = sl.mixed("weight week || id:", data=pig)
    with pytest.raises(LinearSyntaxError, match=match):
        fit.test(hyp)


def test_bad_matrix(pig):
    fit = sl.mixed("weight week || id:", data=pig)
    with pytest.raises(ValueError, match="one per coefficient"):
        fit.test(np.eye(3))
    with pytest.raises(ValueError, match="r has 1 entries"):
        fit.test(np.eye(2), [1.0])
    with pytest.raises(ValueError, match="nothing to test|inconsistent|singular"):
        fit.test(np.zeros((1, 2)))
