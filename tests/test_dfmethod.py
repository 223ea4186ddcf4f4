"""Small-sample inference for fixed effects: dfmethod() and dftable().

* Manual example 13 (t43, ``dfmethod(repeated)``) to the printed digits; the residual and
  anova methods on the same data against the classical ANOVA the manual prints
  (drug F = 24.76 on 3 and 12 DF; residual MS 9.4 on 12 DF) and against ranks computed
  here directly.
* Satterthwaite and Kenward-Roger against R (tests/data/dfmethod/r_dfmethod.R):
  lmerTest's Satterthwaite uses the observed information (semlevel ``oim``); pbkrtest's
  Kenward-Roger the expected information (``eim``, Stata's default); the ``sat_eim``
  numbers are Satterthwaite/Fai-Cornelius computed in R from pbkrtest's expected-
  information W and P_i matrices.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

import semlevel as sl
from semlevel.inference.exact_df import exact_df

REF = json.loads((Path(__file__).parent / "data" / "dfmethod" /
                  "dfmethod_reference.json").read_text())
CASES = {c["name"]: c for c in REF["cases"]}
RTOL = 1e-4          # observed agreement is 1e-6 or better (the fits agree to ~1e-9)


def close(value, printed: str, units: float = 1.0) -> bool:
    """Within ``units`` of the last printed digit of a Stata number."""
    text = printed.strip().lstrip("-")
    dec = len(text.split(".")[1]) if "." in text else 0
    return abs(value - float(printed)) <= units * 10.0 ** (-dec) + 1e-12


@pytest.fixture(scope="module")
def t43():
    return sl.datasets.load("t43")


@pytest.fixture(scope="module")
def rep(t43):
    return sl.mixed("score i.drug || person:, reml dfmethod(repeated)", data=t43)


# --------------------------------------------------------------------------- example 13

def test_example13_repeated_table(rep):
    """Manual, example 13: t statistics, p-values and CIs with DF 12 and 4."""
    fx = rep.fixed
    assert list(fx.columns) == ["coef", "se", "t", "p", "ci_lower", "ci_upper", "df"]
    printed = {"2.drug": ("-.8", "1.939072", "-0.41", "0.687", "-5.024874", "3.424874", 12),
               "3.drug": ("-10.8", "1.939072", "-5.57", "0.000", "-15.02487", "-6.575126", 12),
               "4.drug": ("5.6", "1.939072", "2.89", "0.014", "1.375126", "9.824874", 12),
               "_cons": ("26.4", "3.149604", "8.38", "0.001", "17.6553", "35.1447", 4)}
    for name, (b, se, t, p, lo, hi, df) in printed.items():
        r = fx.loc[name]
        assert r["df"] == df
        assert close(r["coef"], b) and close(r["se"], se)
        assert close(r["t"], t) and close(r["p"], p)
        assert close(r["ci_lower"], lo) and close(r["ci_upper"], hi)


def test_example13_model_F(rep):
    """F(3, 12.00) = 24.76, Prob > F = 0.0000; DF min 4, avg 10, max 12."""
    test = rep.small_sample.model_test
    assert test.kind == "F" and test.df == 3 and test.ddf == 12
    assert close(test.statistic, "24.76") and test.p < 5e-5
    assert rep.small_sample.df_summary == (4.0, 10.0, 12.0)
    # the large-sample replay keeps the manual's Wald chi2(3) = 74.28
    chi2, df, p = rep.wald
    assert df == 3 and close(chi2, "74.28")


def test_example13_report(rep):
    text = rep.summary()
    assert "DF method: Repeated" in text
    assert "F(3, 12.00)       =      24.76" in text
    assert "Prob > F          =     0.0000" in text
    assert "      t    P>|t|" in text and "P>|z|" not in text
    pv = rep.summary(dftable="pvalue")
    assert "       df        t    P>|t|" in pv and "conf. interval" not in pv.split("Random")[0]
    assert "          2  |        -.8   1.939072     12.0    -0.41   0.687" in pv
    assert "       _cons |       26.4   3.149603      4.0     8.38   0.001" in pv
    ci = rep.summary(dftable="ci")
    assert "      df" in ci and "P>|t|" not in ci
    large = rep.summary(small=False)
    assert "Wald chi2(3)      =      74.28" in large and "P>|z|" in large
    assert "0.680    -4.600511    3.000511" in large           # the manual's replay


def test_dftable_option_in_string(t43):
    fit = sl.mixed("score i.drug || person:, reml dfmethod(repeated) dftable(pvalue)", data=t43)
    assert fit.model.info["dftable"] == "pvalue"
    assert "       df        t    P>|t|" in fit.summary()


def test_example13_anova_and_residual(t43, rep):
    """The ANOVA method gives the classical repeated-measures ANOVA the manual prints
    (drug: F = 24.76 on 3 and 12 DF); the residual method n - rank(X) = 16 DF."""
    an = sl.mixed("score i.drug || person:, reml", data=t43, dfmethod="anova")
    res = sl.mixed("score i.drug || person:, reml", data=t43, dfmethod="residual")
    # direct ranks: X = [drug dummies, 1], Z = person dummies
    X = np.column_stack([(t43["drug"] == k).astype(float) for k in (2, 3, 4)] +
                        [np.ones(len(t43))])
    Z = np.column_stack([(t43["person"] == k).astype(float) for k in sorted(t43["person"].unique())])
    n = len(t43)
    assert list(res.fixed["df"]) == [n - np.linalg.matrix_rank(X)] * 4 == [16] * 4
    within = n - np.linalg.matrix_rank(np.column_stack([X, Z]))
    assert list(an.fixed["df"]) == [within] * 3 + [Z.shape[1] - 1] == [12, 12, 12, 4]
    ta, tr = an.small_sample.model_test, res.small_sample.model_test
    assert (ta.df, ta.ddf) == (3, 12) and close(ta.statistic, "24.76")
    assert (tr.df, tr.ddf) == (3, 16) and close(tr.statistic, "24.76")
    # the classical ANOVA: MS_drug / MS_residual = (698.2 / 3) / (112.8 / 12)
    assert ta.statistic == pytest.approx((698.2 / 3) / (112.8 / 12), rel=1e-6)
    assert tr.p == pytest.approx(st.f.sf(tr.statistic, 3, 16), rel=1e-12)
    assert res.fixed.loc["2.drug", "p"] == pytest.approx(
        2 * st.t.sf(abs(res.fixed.loc["2.drug", "t"]), 16), rel=1e-12)
    # coefficient table: same t as the repeated method, p from t(16) for residual
    assert np.allclose(an.fixed["t"], rep.fixed["t"]) and np.allclose(an.fixed["p"], rep.fixed["p"])
    assert "DF method: ANOVA" in an.summary() and "DF method: Residual" in res.summary()


def test_exact_methods_on_random_slopes():
    """ML works for the exact methods; anova's n - rank(X, Z) and repeated's between/within
    split computed directly for the pig data with random slopes."""
    pig = sl.datasets.load("pig")
    fit = sl.mixed("weight week || id: week", data=pig)       # ML
    n, G = len(pig), pig["id"].nunique()
    assert list(exact_df(fit, "residual")) == [n - 2, n - 2]
    assert list(exact_df(fit, "repeated")) == [n - 2 - (G - 1), G - 1]
    # week and _cons are both random effects at id: G - 1 each
    assert list(exact_df(fit, "anova")) == [G - 1, G - 1]
    # a covariate only in the fixed part: n - rank(X, Z), Z = per-pig intercept and slope
    pig2 = pig.assign(w2=pig["week"] ** 2)
    fit2 = sl.mixed("weight week w2 || id: week", data=pig2, dfmethod="anova")
    ids = sorted(pig["id"].unique())
    Z = np.column_stack([(pig["id"] == i).astype(float) for i in ids] +
                        [(pig["id"] == i) * pig["week"] for i in ids])
    X = np.column_stack([pig["week"], pig2["w2"], np.ones(n)])
    assert fit2.fixed.loc["w2", "df"] == n - np.linalg.matrix_rank(np.column_stack([X, Z]))
    assert fit2.small_sample.model_test.kind == "chi2"     # DF differ: no F test
    assert "Wald chi2(2)" in fit2.summary()


def test_repeated_needs_two_levels():
    prod = sl.datasets.load("productivity")
    with pytest.raises(ValueError, match="two-level"):
        sl.mixed("gsp private || region: || state:", data=prod, dfmethod="repeated")


# --------------------------------------------------------------------------- R references

_SPECS = {
    "pig_slopes": "weight week || id: week, cov(un) reml",
    "pig_quadratic_unbalanced": "weight week c.week#c.week || id: week, cov(un) reml",
    "productivity_nested": "gsp private emp hwy water other unemp || region: || state:, reml",
    "t43_drug": "score i.drug || person:, reml",
}


def _data(name):
    if name.startswith("pig"):
        pig = sl.datasets.load("pig")
        if "unbalanced" in name:                   # the R script's rule
            pig = pig[(7 * pig["id"] + 3 * pig["week"]) % 5 != 0]
        return pig
    return sl.datasets.load("productivity" if name.startswith("prod") else "t43")


_FITS: dict = {}


def _fit(name, method):
    key = (name, method)
    if key not in _FITS:
        _FITS[key] = sl.mixed(_SPECS[name], data=_data(name), dfmethod=method)
    return _FITS[key]


def _r_names(case, fit):
    """Our coefficient order -> R's column order (intercept first)."""
    ours = list(fit.fixed.index)
    r = ["_cons"] + [n for n in ours if n != "_cons"]
    return [ours.index(n) for n in r]


def _hyp(case, test, fit):
    """The R hypothesis matrix in our coefficient order."""
    perm = _r_names(case, fit)
    L = np.zeros((len(test["L"]), len(perm)))
    L[:, perm] = np.array(test["L"], dtype=float)
    return L


@pytest.mark.parametrize("name", list(_SPECS))
def test_fits_match_R(name):
    fit = _fit(name, "kroger")
    assert fit.loglik == pytest.approx(CASES[name]["reml_loglik"], abs=1e-6)


@pytest.mark.parametrize("name", list(_SPECS))
def test_kenward_roger_vs_pbkrtest(name):
    """Adjusted covariance (SEs) and, per hypothesis, the KR F, DDF and scale."""
    case = CASES[name]
    fit = _fit(name, "kroger")
    perm = _r_names(case, fit)
    se = fit.fixed["se"].to_numpy()[perm]
    assert np.allclose(se, case["se_kr"], rtol=RTOL, atol=0)
    V = fit.small_sample.vcov[np.ix_(perm, perm)]
    assert np.allclose(V, np.array(case["vcov_kr"]), rtol=RTOL,
                       atol=RTOL * np.abs(case["vcov_kr"]).max())
    for test in case["tests"]:
        res = fit.test(_hyp(case, test, fit))
        kr = test["kr_eim"]
        assert res.kind == "F" and res.df == kr["ndf"]
        assert res.ddf == pytest.approx(kr["ddf"], rel=RTOL)
        assert res.statistic == pytest.approx(kr["F"], rel=RTOL)
        assert res.scale == pytest.approx(kr["F_scaling"], rel=RTOL)
        assert res.p == pytest.approx(kr["p"], rel=1e-3, abs=1e-12)


@pytest.mark.parametrize("name", list(_SPECS))
def test_kroger_single_df_is_satterthwaite_eim(name):
    """Per coefficient, the KR DF are the Satterthwaite DF with eim (the manual says so;
    pbkrtest's one-restriction DDF agree), and the t statistics use the adjusted SEs."""
    kr, sat = _fit(name, "kroger"), _fit(name, "satterthwaite")
    assert np.allclose(kr.fixed["df"], sat.fixed["df"], rtol=1e-10)
    assert np.allclose(sat.fixed["se"], np.sqrt(np.diag(sat.fixed_vcov)), rtol=1e-12)
    assert np.allclose(kr.fixed["t"], kr.fixed["coef"] / kr.fixed["se"])
    case = CASES[name]
    for test in case["tests"]:
        if test["kr_eim"]["ndf"] == 1:
            L = _hyp(case, test, sat)[0]
            j = int(np.flatnonzero(L)[0])
            assert sat.fixed["df"].iloc[j] == pytest.approx(test["sat_eim"]["ddf"], rel=RTOL)
            assert sat.fixed["df"].iloc[j] == pytest.approx(test["kr_eim"]["ddf"], rel=RTOL)


@pytest.mark.parametrize("name", list(_SPECS))
def test_satterthwaite_eim_multi_df(name):
    """Fai-Cornelius DDF with the expected information (Stata's default)."""
    case = CASES[name]
    fit = _fit(name, "satterthwaite")
    for test in case["tests"]:
        res = fit.test(_hyp(case, test, fit))
        assert res.ddf == pytest.approx(test["sat_eim"]["ddf"], rel=RTOL)
        assert res.statistic == pytest.approx(test["sat_oim"]["F"], rel=RTOL)   # F = W / l


@pytest.mark.parametrize("name", list(_SPECS))
def test_satterthwaite_oim_vs_lmerTest(name):
    """dfmethod(satterthwaite, oim): lmerTest's per-coefficient DF and t, and its
    multi-df (contest) F and DDF."""
    case = CASES[name]
    fit = _fit(name, "satterthwaite, oim")
    perm = _r_names(case, fit)
    r_df = np.array(list(case["sat_oim_df"].values()))
    r_t = np.array(list(case["sat_oim_t"].values()))
    assert np.allclose(fit.fixed["df"].to_numpy()[perm], r_df, rtol=RTOL)
    assert np.allclose(fit.fixed["t"].to_numpy()[perm], r_t, rtol=RTOL)
    for test in case["tests"]:
        res = fit.test(_hyp(case, test, fit))
        assert res.ddf == pytest.approx(test["sat_oim"]["ddf"], rel=RTOL)
        assert res.statistic == pytest.approx(test["sat_oim"]["F"], rel=RTOL)


def test_model_test_uses_method():
    """The header test is the R 'model' hypothesis: KR scaled F and Fai-Cornelius DDF."""
    case = CASES["productivity_nested"]
    model = next(t for t in case["tests"] if t["name"] == "model")
    kr = _fit("productivity_nested", "kroger").small_sample.model_test
    sat = _fit("productivity_nested", "satterthwaite").small_sample.model_test
    assert kr.ddf == pytest.approx(model["kr_eim"]["ddf"], rel=RTOL)
    assert kr.statistic == pytest.approx(model["kr_eim"]["F"], rel=RTOL)
    assert sat.ddf == pytest.approx(model["sat_eim"]["ddf"], rel=RTOL)
    text = _fit("productivity_nested", "kroger").summary()
    assert "DF method: Kenward-Roger" in text and f"F(6, {kr.ddf:.2f})" in text


def test_kroger_balanced_design_is_exact():
    """Kenward-Roger reproduces the exact F(3, 12) = 24.76 of example 13."""
    fit = _fit("t43_drug", "kroger")
    t = fit.small_sample.model_test
    assert t.ddf == pytest.approx(12, abs=1e-8) and close(t.statistic, "24.76")
    assert np.allclose(fit.fixed["df"].iloc[:3], 12)


# --------------------------------------------------------------------------- options

def test_keyword_and_string_agree(t43):
    a = sl.mixed("score i.drug || person:, reml dfmethod(kroger)", data=t43)
    b = sl.mixed("score i.drug || person:", data=t43, reml=True, dfmethod="kroger")
    pd.testing.assert_frame_equal(a.fixed, b.fixed)
    c = sl.mixed("score i.drug || person:, reml dfm(satt, oim)", data=t43)
    assert str(c.small_sample.method) == "satterthwaite, oim"


@pytest.mark.parametrize("spec, options, message", [
    ("score i.drug || person:, dfmethod(kroger)", {}, "REML"),
    ("score i.drug || person:", {"dfmethod": "satterthwaite"}, "REML"),
    ("score i.drug || person:, reml dfmethod(kenward)", {}, "unknown dfmethod"),
    ("score i.drug || person:, reml dfmethod(re)", {}, "unknown dfmethod"),
    ("score i.drug || person:, reml dfmethod(anova, oim)", {}, "no suboption"),
    ("score i.drug || person:, reml dfmethod(kroger, xim)", {}, "eim or oim"),
    ("score i.drug || person:, reml dftable(ci)", {}, "requires dfmethod"),
    ("score i.drug || person:, reml dfmethod(kroger) dftable(wide)", {}, "unknown dftable"),
])
def test_refused(t43, spec, options, message):
    with pytest.raises(ValueError, match=message):
        sl.mixed(spec, data=t43, **options)


def test_no_dfmethod_no_small_sample(t43):
    fit = sl.mixed("score i.drug || person:, reml", data=t43)
    assert fit.small_sample is None and "z" in fit.fixed.columns and "df" not in fit.fixed
    with pytest.raises(ValueError, match="dfmethod"):
        fit.test("2.drug", small=True)
    with pytest.raises(ValueError, match="dfmethod"):
        fit.summary(dftable="ci")
