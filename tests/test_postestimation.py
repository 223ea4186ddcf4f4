"""Postestimation (issue 18 item 4): icc, recovariance, wcorrelation, lincom, each
against a direct computation that shares no code with it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from ram_reference import ram_implied


@pytest.fixture(scope="module")
def prod_fit():
    prod = sl.datasets.load("productivity")
    return sl.mixed("gsp private emp hwy water other unemp || region: || state:", data=prod)


def _numeric_delta(f, x, V):
    g = np.array([(f(x + h) - f(x - h)) / (2e-6) for h in np.eye(len(x)) * 1e-6])
    return float(np.sqrt(g @ V @ g))


def test_icc_three_levels(prod_fit):
    """Stata's definitions: region = s2_r / total, state|region = (s2_r + s2_s) / total;
    SE by the delta method (numerical gradient here), interval on the logit scale."""
    rv = prod_fit.random_variance
    names = ["region: var(_cons)", "state: var(_cons)", "var(Residual)"]
    x = rv.loc[names, "estimate"].to_numpy()
    se = rv.loc[names, "se"].to_numpy()
    V = prod_fit.theta_vcov                      # the three free variance labels
    assert np.allclose(np.sqrt(np.diag(V)), se)
    got = prod_fit.icc()
    assert list(got.index) == ["region", "state|region"]
    for lev, f in (("region", lambda v: v[0] / v.sum()),
                   ("state|region", lambda v: (v[0] + v[1]) / v.sum())):
        assert got.loc[lev, "icc"] == pytest.approx(f(x), rel=1e-12)
        s = _numeric_delta(f, x, V)
        assert got.loc[lev, "se"] == pytest.approx(s, rel=1e-6)
        r = f(x)
        lo = 1 / (1 + np.exp(-(np.log(r / (1 - r)) - 1.959963984540054 * s / (r * (1 - r)))))
        assert got.loc[lev, "ci_lower"] == pytest.approx(lo, rel=1e-6)
        assert got.loc[lev, "ci_lower"] < r < got.loc[lev, "ci_upper"] < 1


def test_icc_refuses_random_slopes(pig):
    with pytest.raises(ValueError, match="random coefficients"):
        sl.mixed("weight week || id: week", data=pig).icc()


def test_wcorrelation_is_the_implied_sigma(pig):
    fit = sl.mixed("weight week || id: week, cov(un)", data=pig)
    cov = fit.wcorrelation(row=3, correlation=False)
    Sigma = ram_implied(fit.model, np.asarray(fit.values), 3)[0]
    np.testing.assert_allclose(cov.to_numpy(), Sigma, rtol=1e-12)
    corr = fit.wcorrelation(row=3)
    d = np.sqrt(np.diag(Sigma))
    np.testing.assert_allclose(corr.to_numpy(), Sigma / np.outer(d, d), rtol=1e-12)
    assert list(corr.index[:2]) == ["weight[obs=1]", "weight[obs=2]"]
    with pytest.raises(ValueError, match="row must be"):
        fit.wcorrelation(row=48)


def test_recovariance(pig):
    fit = sl.mixed("weight week || id: week, cov(un)", data=pig)
    rv = fit.random_variance["estimate"]
    m = fit.recovariance()["id"]
    assert m.loc["week", "week"] == pytest.approx(rv["id: var(week)"], rel=1e-12)
    assert m.loc["week", "_cons"] == m.loc["_cons", "week"] == \
        pytest.approx(rv["id: cov(week,_cons)"], rel=1e-12)
    r = fit.recovariance(correlation=True)["id"]
    assert r.loc["week", "_cons"] == pytest.approx(
        rv["id: cov(week,_cons)"] / np.sqrt(rv["id: var(week)"] * rv["id: var(_cons)"]))


def test_lincom(pig):
    fit = sl.mixed("weight i.late week || id:", data=pig.assign(late=(pig.week > 4) * 1))
    b, V = fit.fixed["coef"], fit.cov_params()
    c = pd.Series(0.0, index=b.index)
    c["week"], c["1.late"], c["_cons"] = 2.0, -0.5, 1.0
    got = fit.lincom("2*week - 1.late/2 + _cons")
    assert got["estimate"] == pytest.approx(float(c @ b), rel=1e-12)
    assert got["se"] == pytest.approx(float(np.sqrt(c @ V @ c)), rel=1e-12)
    assert got["ci_lower"] < got["estimate"] < got["ci_upper"]
    assert fit.lincom("week")["se"] == pytest.approx(fit.fixed.loc["week", "se"], rel=1e-12)
    for bad, match in (("week*_cons", "product of two coefficients"),
                       ("foo + 1", "unknown coefficient 'foo'"),
                       ("__import__('os')", "not allowed"),
                       ("week / _cons", "division by a coefficient")):
        with pytest.raises(ValueError, match=match):
            fit.lincom(bad)


def test_cli_postestimation(tmp_path):
    import json
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-m", "semlevel", "fit", "pig", "weight week || id:",
                          "--icc", "--lincom", "week + 2*_cons", "--wcorrelation", "1",
                          "-f", "json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    post = json.loads(run.stdout)["postestimation"]
    assert set(post) == {"icc", "lincom", "wcorrelation row 1"}
    fit = sl.mixed("weight week || id:", data=sl.datasets.load("pig"))
    assert post["icc"]["data"][0][0] == pytest.approx(fit.icc().iloc[0, 0], rel=1e-12)
    assert post["lincom"]["data"][0][0] == pytest.approx(
        fit.lincom("week + 2*_cons")["estimate"], rel=1e-12)
    text = subprocess.run([sys.executable, "-m", "semlevel", "fit", "pig",
                           "weight week || id:", "--icc"], capture_output=True, text=True)
    assert "icc" in text.stdout and "0.771714" in text.stdout
    bad = subprocess.run([sys.executable, "-m", "semlevel", "fit", "pig",
                          "weight week || id: week", "--icc"], capture_output=True, text=True)
    assert bad.returncode == 2 and "random coefficients" in bad.stderr
