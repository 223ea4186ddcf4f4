"""Estimation by the moments with the ADF weight matrix (issue 18, item 2): ``sl.adf``
equals lavaan's ``estimator = "WLS"`` on the same wide models (tests/data/adf: the
reference script and its numbers; growth.csv was simulated once with
``numpy.random.default_rng(2026)``: 400 units, 4 waves, a t(5) random intercept, a normal
slope and skewed, heteroskedastic errors), and is refused, with the reason, where the
moments differ by row."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

import semlevel as sl
from semlevel.engine.adf import sample_moments

HERE = Path(__file__).parent / "data" / "adf"
REF = json.loads((HERE / "reference.json").read_text())["models"]
NAMES = {"b0": "_cons", "b1": "t", "vu": "id: var(_cons)", "ve": "var(Residual)",
         "vs": "id: var(t)", "cis": "id: cov(t,_cons)",
         **{f"ve{k}": f"Residual: var(e) [t={k}]" for k in range(1, 5)}}
CASES = [("intercept", "y t || id:"),
         ("hetero", "y t || id:, residuals(independent, by(t))"),
         ("slope", "y t || id: t, cov(un)")]


@pytest.fixture(scope="module")
def growth():
    return pd.read_csv(HERE / "growth.csv")


@pytest.mark.parametrize("key,spec", CASES, ids=[c[0] for c in CASES])
def test_equals_lavaan_wls(growth, key, spec):
    ref = REF[key]
    fit = sl.adf(spec, growth)
    assert fit.converged and fit.n_obs == ref["n"] == 400 and fit.n_incomplete == 0
    assert set(fit.params.index) == {NAMES[k] for k in ref["est"]}
    for k, v in ref["est"].items():
        assert fit.params.loc[NAMES[k], "estimate"] == pytest.approx(v, rel=1e-5, abs=1e-7)
        assert fit.params.loc[NAMES[k], "se"] == pytest.approx(ref["se"][k], rel=1e-5)
    assert fit.test["chi2"] == pytest.approx(ref["chisq"], rel=1e-6)
    assert fit.test["df"] == ref["df"]
    assert fit.test["p"] == pytest.approx(ref["pvalue"], rel=1e-5, abs=1e-12)
    assert list(fit.fixed.columns) == ["coef", "se", "z", "p", "ci_lower", "ci_upper"]
    assert "chi2(" in fit.summary() and "Complete rows used: 400" in fit.summary()


def test_nonlinear_residual_structure_against_a_direct_minimisation(growth):
    """AR(1) residuals: sigma is nonlinear in rho; the Gauss-Newton estimate equals a
    direct minimisation of the ADF criterion with the covariance written out here."""
    fit = sl.adf("y t || id:, residuals(ar 1, t(t))", growth)
    Y = growth.pivot(index="id", columns="t", values="y").to_numpy()
    s, G = sample_moments(Y)
    W = np.linalg.inv(G)
    t = np.arange(1, 5)
    ii, jj = np.array([(i, j) for j in range(4) for i in range(j, 4)]).T

    def F(th):
        b1, b0, vu, rho, ve = th
        Sig = vu + ve * rho ** np.abs(t[:, None] - t[None, :])
        r = s - np.r_[b0 + b1 * t, Sig[ii, jj]]
        return r @ W @ r
    est = fit.params["estimate"].to_numpy()
    assert list(fit.params.index) == ["t", "_cons", "id: var(_cons)", "Residual: rho",
                                      "Residual: var(e)"]
    direct = minimize(F, est + 0.01, method="BFGS", options={"gtol": 1e-12}).x
    np.testing.assert_allclose(est, direct, rtol=1e-5, atol=1e-7)
    assert fit.test["chi2"] == pytest.approx(399 * F(est), rel=1e-10)


def test_incomplete_rows_are_refused_or_counted(growth):
    short = growth[~((growth["id"] <= 7) & (growth["t"] == 4))]
    with pytest.raises(ValueError, match="7 of 400 rows miss some of the 4 slots"):
        sl.adf("y t || id:", short)
    fit = sl.adf("y t || id:", short, listwise=True)
    assert fit.n_obs == 393 and fit.n_incomplete == 7
    assert "7 rows with missing slots left out" in fit.summary()


def test_definition_variables_and_other_options_are_refused(growth):
    g = growth.assign(x=np.random.default_rng(1).normal(size=len(growth)))
    with pytest.raises(ValueError, match="'x' takes different values in the same slot"):
        sl.adf("y t x || id:", g)
    with pytest.raises(ValueError, match="random-effects variable 'x'"):
        sl.adf("y t || id: x", g)
    with pytest.raises(ValueError, match="reml does not apply"):
        sl.adf("y t || id:, reml", growth)
    with pytest.raises(ValueError, match="more complete rows than moments"):
        sl.adf("y t || id:", growth[growth["id"] <= 12])


def test_command_line(tmp_path, capsys):
    from semlevel.cli import main
    path = str(HERE / "growth.csv")
    assert main(["fit", path, "y t || id:", "--adf"]) == 0
    out = capsys.readouterr().out
    assert "chi2(10) = 112.6873" in out and "Complete rows used: 400" in out
    assert main(["fit", path, "y t || id:", "--adf", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    est = {r["label"]: r["estimate"] for r in rows}
    assert est["var(Residual)"] == pytest.approx(REF["intercept"]["est"]["ve"], rel=1e-5)
    assert main(["fit", path, "y t || id:", "--listwise"]) == 2
    assert "--listwise goes with --adf" in capsys.readouterr().err
