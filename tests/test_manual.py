"""The examples of Stata's `mixed` manual (seeds/000_...txt), to the digits it prints.

Values are copied from the manual's printed tables. Each is compared with the digits
printed: |ours - printed| <= ``units`` in the last printed digit (1 by default: the
printed value is rounded, and Stata's own convergence tolerance moves the last digit).
The productivity variables are stored by Stata as `float` (single precision: see the
manual's `describe` output in example 4), so the data are rounded to float32 as Stata
holds them; with double-precision data every log likelihood moves by about 1e-4.
"""
from __future__ import annotations

import numpy as np
import pytest

import semlevel as sl

PROD_VARS = ["gsp", "private", "emp", "hwy", "water", "other", "unemp"]


def unit(printed: str) -> float:
    """Size of one unit in the last printed digit of a Stata number like '.0390124'."""
    text = printed.strip().lstrip("-")
    if "e" in text:
        mant, exp = text.split("e")
        dec = len(mant.split(".")[1]) if "." in mant else 0
        return 10.0 ** (int(exp) - dec)
    dec = len(text.split(".")[1]) if "." in text else 0
    return 10.0 ** (-dec)


def agrees(value: float, printed: str, units: float = 1.0, rel: float = 0.0) -> bool:
    """Within ``units`` of the last printed digit, or within ``rel`` relative."""
    tol = max(units * unit(printed), rel * abs(float(printed)))
    return abs(value - float(printed)) <= tol + 1e-15


def check_row(frame, label, printed: list[str], columns, units=1.0, rel=0.0):
    """Compare a table row with printed values; a relative tolerance is relative to the
    row's largest printed magnitude (a CI bound near zero is no more precise than the
    estimate it is computed from)."""
    got = frame.loc[label, columns].to_numpy(dtype=float)
    scale = max(abs(float(p)) for p in printed)
    bad = [(c, g, p) for c, g, p in zip(columns, got, printed)
           if not agrees(g, p, units, rel * scale / max(abs(float(p)), 1e-300))]
    assert not bad, f"{label}: (column, ours, printed) {bad}"


FIXED = ["coef", "se", "ci_lower", "ci_upper"]
RANDOM = ["estimate", "se", "ci_lower", "ci_upper"]


@pytest.fixture(scope="module")
def productivity():
    df = sl.datasets.load("productivity")
    df[PROD_VARS] = df[PROD_VARS].astype(np.float32).astype(float)
    return df


def check_manual(model, loglik: str, fixed: dict, random: dict, rel: float = 3e-6,
                 near_zero: tuple = (), at_units: float = 5.0, loose: dict | None = None):
    """Compare a fit with a printed manual example, in two independent ways.

    1. At the manual's printed variance components, our likelihood machinery must give
       the printed fixed effects, standard errors, variance-component standard errors
       and CIs (this checks the engine, free of any optimiser difference), within
       ``at_units`` for the variance rows: the printed estimates are themselves rounded.
    2. Our optimum must be at least as good as the manual's (log likelihood not lower
       than at the printed values) and agree with the printed estimates: the log
       likelihood to the printed digits, every estimate to one unit in its last printed
       digit or ``rel`` relative, whichever is larger (the manual prints 7 significant
       digits; Stata stops slightly short of the optimum, which moves the 7th: lme4 agrees
       with our optimum, see test_engine.py).
    Labels in ``near_zero`` (variances the likelihood barely determines) agree to 2%;
    ``loose`` maps labels to a larger relative tolerance (standard errors of variances of
    few groups move with the last digits of the point they are computed at).
    """
    fit = model.fit()
    assert fit.converged, str(fit.optimization)
    assert fit.n_obs == model.data.n_obs
    at = model.fit_at({label: float(v[0]) for label, v in random.items()})
    assert fit.loglik >= at.loglik - 1e-9
    assert agrees(at.loglik, loglik) and agrees(fit.loglik, loglik)
    for term, vals in fixed.items():
        check_row(at.fixed, term, vals, FIXED, rel=rel)
        check_row(fit.fixed, term, vals, FIXED, rel=rel)
    for label, vals in random.items():
        if label in near_zero:
            for col, p in zip(RANDOM[:2], vals[:2]):
                got = fit.random.loc[label, col]
                assert abs(got - float(p)) <= 0.02 * abs(float(p)), (label, col, got, p)
            continue
        check_row(at.random, label, vals[1:], RANDOM[1:], units=at_units,
                  rel=(loose or {}).get(label, 0.0))
        check_row(fit.random, label, vals, RANDOM, rel=(loose or {}).get(label, rel))
    return fit


@pytest.fixture(scope="module")
def example1(pig):
    model = sl.mixed_model("weight week || id:", data=pig)
    return check_manual(
        model, "-1014.9268",
        {"week": ["6.209896", ".0390124", "6.133433", "6.286359"],
         "_cons": ["19.35561", ".5974059", "18.18472", "20.52651"]},
        {"id: var(_cons)": ["14.81751", "3.124225", "9.801716", "22.40002"],
         "var(Residual)": ["4.383264", ".3163348", "3.805112", "5.04926"]})


def test_example1_random_intercept(example1):
    fit = example1
    assert fit.n_obs == 432
    assert agrees(fit.wald[0], "25337.49", rel=1e-5)
    assert fit.lr_linear["kind"] == "chibar2(01)"
    assert agrees(fit.lr_linear["statistic"], "472.65")
    g = fit.group_summary()
    assert g.loc["id"].tolist() == [48, 9, 9.0, 9]


@pytest.fixture(scope="module")
def example2(pig):
    model = sl.mixed_model("weight week || id: week", data=pig)
    return check_manual(
        model, "-869.03825",
        {"week": ["6.209896", ".0906819", "6.032163", "6.387629"],
         "_cons": ["19.35561", ".3979159", "18.57571", "20.13551"]},
        {"id: var(week)": [".3680668", ".0801181", ".2402389", ".5639103"],
         "id: var(_cons)": ["6.756364", "1.543503", "4.317721", "10.57235"],
         "var(Residual)": ["1.598811", ".1233988", "1.374359", "1.85992"]})


def test_example2_random_slope(example2):
    fit = example2
    assert agrees(fit.wald[0], "4689.51")
    assert fit.lr_linear["kind"] == "chi2(2)"
    assert agrees(fit.lr_linear["statistic"], "764.42")
    assert "conservative" in fit.lr_linear["note"]


def test_example3_unstructured_and_lrtests(pig, example1, example2):
    model = sl.mixed_model("weight week || id: week, covariance(unstructured)", data=pig)
    fit = check_manual(
        model, "-868.96185",
        {"week": ["6.209896", ".0910745", "6.031393", "6.388399"],
         "_cons": ["19.35561", ".3996387", "18.57234", "20.13889"]},
        {"id: var(week)": [".3715251", ".0812958", ".2419532", ".570486"],
         "id: var(_cons)": ["6.823363", "1.566194", "4.351297", "10.69986"],
         "id: cov(week,_cons)": ["-.0984378", ".2545767", "-.5973991", ".4005234"],
         "var(Residual)": ["1.596829", ".123198", "1.372735", "1.857505"]})
    assert agrees(fit.wald[0], "4649.17")
    assert agrees(fit.lr_linear["statistic"], "764.58")
    lr = example2.lrtest(example1)
    assert agrees(lr.statistic, "291.78") and lr.df == 1
    lr = fit.lrtest(example2)
    assert agrees(lr.statistic, "0.15") and lr.df == 1 and agrees(lr.p, ".6959")


def test_example2_reml(pig):
    model = sl.mixed_model("weight week || id: week, reml", data=pig)
    fit = check_manual(
        model, "-870.51473",
        {"week": ["6.209896", ".0916387", "6.030287", "6.389504"],
         "_cons": ["19.35561", ".4021144", "18.56748", "20.14374"]},
        {"id: var(week)": [".3764405", ".0827027", ".2447317", ".5790317"],
         "id: var(_cons)": ["6.917604", "1.593247", "4.404624", "10.86432"],
         "var(Residual)": [ "1.598784", ".1234011", "1.374328", "1.859898"]})
    assert fit.reml
    assert agrees(fit.wald[0], "4592.10")
    assert agrees(fit.lr_linear["statistic"], "765.92")
    same = sl.mixed("weight week || id: week", data=pig, reml=True)
    assert same.loglik == pytest.approx(fit.loglik, abs=1e-9)


def test_example4_three_level(productivity):
    model = sl.mixed_model("gsp private emp hwy water other unemp || region: || state:",
                           data=productivity)
    fit = check_manual(
        model, "1430.5017",
        {"private": [".2671484", ".0212591", ".2254814", ".3088154"],
         "emp": [".754072", ".0261868", ".7027468", ".8053973"],
         "hwy": [".0709767", ".023041", ".0258172", ".1161363"],
         "water": [".0761187", ".0139248", ".0488266", ".1034109"],
         "other": ["-.0999955", ".0169366", "-.1331906", "-.0668004"],
         "unemp": ["-.0058983", ".0009031", "-.0076684", "-.0041282"],
         "_cons": ["2.128823", ".1543854", "1.826233", "2.431413"]},
        {"region: var(_cons)": [".0014506", ".0012995", ".0002506", ".0083957"],
         "state: var(_cons)": [".0062757", ".0014871", ".0039442", ".0099855"],
         "var(Residual)": [".0013461", ".0000689", ".0012176", ".0014882"]},
        loose={"region: var(_cons)": 2e-4, "state: var(_cons)": 2e-5})  # 9 regions
    g = fit.group_summary()
    assert g.loc["region", "groups"] == 9 and g.loc["state", "groups"] == 48
    assert g.loc["region", "min"] == 51 and g.loc["region", "max"] == 136
    assert round(g.loc["region", "avg"], 1) == 90.7
    assert g.loc["state"].tolist() == [48, 17, 17.0, 17]
    assert agrees(fit.wald[0], "18829.06", rel=1e-5)
    assert agrees(fit.lr_linear["statistic"], "1154.73")


def test_example5_random_coefficients(productivity):
    model = sl.mixed_model("gsp private emp hwy water other unemp || region: hwy unemp"
                           " || state:", data=productivity)
    fit = check_manual(
        model, "1447.6787", {},
        {"region: var(hwy)": [".0000209", ".0001103", "6.71e-10", ".6507106"],
         "region: var(unemp)": [".0000238", ".0000135", "7.84e-06", ".0000722"],
         "region: var(_cons)": [".0030349", ".0086684", ".0000112", ".8191376"],
         "state: var(_cons)": [".0063658", ".0015611", ".0039365", ".0102943"],
         "var(Residual)": [".0012469", ".0000643", ".001127", ".0013795"]},
        rel=3e-3, near_zero=("region: var(hwy)", "region: var(unemp)", "region: var(_cons)"),
        at_units=25)  # printed near-zero inputs carry only three significant digits
    assert agrees(fit.wald[0], "17137.94", rel=1e-5)
    assert agrees(fit.lr_linear["statistic"], "1189.08")
    assert fit.lr_linear["df"] == 4


def test_example5_repeated_levels(productivity):
    full = sl.mixed("gsp private emp hwy water other unemp || region: hwy unemp || state:",
                    data=productivity)
    model = sl.mixed_model("gsp private emp hwy water other unemp || region: hwy unemp,"
                           " cov(identity) || region: || state:", data=productivity)
    fit = check_manual(
        model, "1447.6784", {},
        {"region: var(hwy unemp)": [".0000238", ".0000134", "7.89e-06", ".0000719"],
         "region: var(_cons)": [".0028191", ".0030429", ".0003399", ".023383"],
         "state: var(_cons)": [".006358", ".0015309", ".0039661", ".0101925"],
         "var(Residual)": [".0012469", ".0000643", ".001127", ".0013795"]},
        rel=1e-3, near_zero=("region: var(hwy unemp)",), at_units=25)
    assert fit.lr_linear["df"] == 3
    assert agrees(fit.lr_linear["statistic"], "1189.08")
    lr = fit.lrtest(full)
    assert lr.df == 1 and agrees(lr.statistic, "0.00") and agrees(lr.p, ".9784", units=3)
    # block-diagonal: the two region blocks share no covariance, one parameter fewer
    assert not any(name.startswith("region: cov") for name in fit.random.index)
    assert fit.n_params == full.n_params - 1


def test_example10_crossed_effects(pig):
    model = sl.mixed_model("weight week || _all: R.week || _all: R.id", data=pig)
    # the manual's text prints week's SE as .0639313, an OCR error: its own z (115.14) and
    # CI (6.104192, 6.315599) give .0539313, which is what we compare with
    fit = check_manual(
        model, "-1013.824",
        {"week": ["6.209896", ".0539313", "6.104192", "6.315599"],
         "_cons": ["19.35561", ".6333982", "18.11418", "20.59705"]},
        {"_all: var(R.week)": [".0849874", ".0868856", ".0114588", ".6303302"],
         "_all: var(R.id)": ["14.83623", "3.126142", "9.816733", "22.42231"],
         "var(Residual)": ["4.297328", ".3134404", "3.724888", "4.957741"]},
        loose={"_all: var(R.week)": 2e-5})   # SE ~ estimate: the CI amplifies the 7th digit
    assert agrees(fit.fixed.loc["week", "z"], "115.14")
    assert agrees(fit.lr_linear["statistic"], "474.85") and fit.lr_linear["df"] == 2
    assert fit.group_summary().loc["_all"].tolist() == [1, 432, 432.0, 432]
    assert fit.n_params == 5 and agrees(fit.aic, "2037.648") and agrees(fit.bic, "2057.99")
    # the _all form and the nested form are one model
    nested = sl.mixed("weight week || _all: R.week || id:", data=pig)
    assert nested.loglik == pytest.approx(fit.loglik, abs=1e-8)
    assert sl.mixed("weight week || _all: R.id", data=pig).loglik == pytest.approx(
        sl.mixed("weight week || id:", data=pig).loglik, abs=1e-8)


def test_example11_three_level_as_two_level(productivity):
    model = sl.mixed_model("gsp private emp hwy water other unemp || region: R.state,"
                           " cov(exchangeable)", data=productivity)
    fit = check_manual(
        model, "1430.5017",
        {"private": [".2671484", ".0212591", ".2254813", ".3088154"],
         "_cons": ["2.128823", ".1543855", "1.826233", "2.431413"]},
        {"region: var(R.state)": [".0077263", ".0017926", ".0049032", ".0121749"],
         "region: cov(R.state)": [".0014506", ".0012995", "-.0010963", ".0039975"],
         "var(Residual)": [".0013461", ".0000689", ".0012176", ".0014882"]},
        loose={"region: cov(R.state)": 2e-4, "region: var(R.state)": 2e-5})
    assert agrees(fit.lr_linear["statistic"], "1154.73")
    # (sigma_region^2 + sigma_state^2, sigma_region^2, sigma^2) of example 4
    four = sl.mixed("gsp private emp hwy water other unemp || region: || state:",
                    data=productivity)
    assert fit.loglik == pytest.approx(four.loglik, abs=1e-7)
    r4 = four.random["estimate"]
    assert fit.random.loc["region: cov(R.state)", "estimate"] == pytest.approx(
        r4["region: var(_cons)"], rel=1e-4)
    assert fit.random.loc["region: var(R.state)", "estimate"] == pytest.approx(
        r4["region: var(_cons)"] + r4["state: var(_cons)"], rel=1e-4)
