"""Predictions after a fit: BLUPs and their standard errors, xb / fitted / residuals /
rstandard, for the estimation data and new data.

References: lme4 (``tests/data/predict/reference.json``, made by ``reference.R`` next to
it: ``ranef(condVar = TRUE)``, ``fitted``, ``predict(newdata, allow.new.levels = TRUE)``,
``residuals(scaled = TRUE)``); for relaxed models the literal RAM algebra of
``tests/ram_reference.py`` (E[latent | y] = Cov(latent, y) Sigma^-1 (y - mu), which shares
nothing with the Woodbury code of ``inference/posterior.py``); Stata's printed ``reses``
of a REML fit (Stack Exchange question 48254) for the comparative standard errors.

Tolerances: lme4's estimates and ours differ by the optimisers' stopping points (the log
likelihoods agree to ~1e-11 on these models), so BLUPs, fitted values and SDs are compared
at 1e-6 absolute (seen: <= 1.1e-7); exact algebraic identities at 1e-9.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.engine.fitting import BoundaryWarning
from ram_reference import ram_matrices

from simulate import slot_three_level

REF = json.loads((Path(__file__).parent / "data" / "predict" / "reference.json").read_text())
CASES = REF["cases"]
TOL = 1e-6

SPECS = {"pig_indep_ml": "weight week || id: week",
         "pig_corr_ml": "weight week || id: week, covariance(unstructured)",
         "pig_ri_reml": "weight week || id:, reml"}
LME4_NAME = {"_cons": "(Intercept)", "week": "week"}


def _num(values) -> np.ndarray:
    return np.array([np.nan if v in ("NA", None) else v for v in values], dtype=float)


@pytest.fixture(scope="module")
def fits(pig):
    return {k: sl.mixed(s, data=pig) for k, s in SPECS.items()}


@pytest.mark.parametrize("case", list(SPECS))
def test_blups_and_condvar_equal_lme4(fits, case):
    fit, ref = fits[case], CASES[case]
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-8)
    tab = fit.ranef()["id"]
    r = ref["ranef"]["id"]
    assert list(tab.index) == [int(g) for g in r["group"]]
    for eff in [c for c in tab.columns if not c.startswith("se(")]:
        np.testing.assert_allclose(tab[eff], r[LME4_NAME[eff]], rtol=0, atol=TOL)
        np.testing.assert_allclose(tab[f"se({eff})"], r["sd_" + LME4_NAME[eff]],
                                   rtol=0, atol=TOL)


@pytest.mark.parametrize("case", list(SPECS))
@pytest.mark.parametrize("kind,key", [("fitted", "fitted"), ("xb", "xb"),
                                      ("residuals", "residuals"),
                                      ("rstandard", "scaled_residuals")])
def test_predictions_equal_lme4(fits, pig, case, kind, key):
    fit, ref = fits[case], CASES[case]
    got = fit.predict(kind=kind)
    assert got.index.equals(pig.index) and got.name == kind
    np.testing.assert_allclose(got.to_numpy(), ref[key], rtol=0, atol=TOL)


@pytest.mark.parametrize("case", list(SPECS))
def test_new_data_equal_lme4(fits, case):
    fit, ref = fits[case], CASES[case]
    new = pd.DataFrame(ref["newdata"], index=[10, 11, 12, 13, 14, 15])
    got = fit.predict(new)
    assert list(got.index) == [10, 11, 12, 13, 14, 15]
    np.testing.assert_allclose(got.to_numpy(), ref["predict_new"], rtol=0, atol=TOL)
    np.testing.assert_allclose(fit.predict(new, kind="xb").to_numpy(), ref["predict_new_xb"],
                               rtol=0, atol=1e-9)
    # the unknown pig (id 999) gets random effects 0: its prediction is xb
    assert got.iloc[4:].to_numpy() == pytest.approx(ref["predict_new_xb"][4:], abs=1e-9)


def test_new_data_path_reproduces_in_sample(fits, pig):
    """The estimation data passed as new data go through the new-data path (design rebuilt,
    groups looked up) and must give the in-sample values."""
    for fit in fits.values():
        for kind in ("fitted", "residuals", "rstandard"):
            np.testing.assert_allclose(fit.predict(pig.copy(), kind=kind),
                                       fit.predict(kind=kind), rtol=0, atol=1e-9)


def test_nested_levels_equal_lme4():
    """Three levels (productivity: region > state), lme4 (1|region) + (1|region:state)."""
    ref = CASES["prod_nested_ml"]
    fit = sl.mixed("gsp private emp hwy water other unemp || region: || state:",
                   data=sl.datasets.load("productivity"))
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    re = fit.ranef()
    assert list(re) == ["region", "state"]
    reg, r = re["region"], ref["ranef"]["region"]
    np.testing.assert_allclose(reg["_cons"], r["(Intercept)"], atol=TOL, rtol=0)
    np.testing.assert_allclose(reg["se(_cons)"], r["sd_(Intercept)"], atol=TOL, rtol=0)
    st = re["state"]
    assert st.index.names == ["region", "state"]
    r = pd.DataFrame(ref["ranef"]["region:state"]).set_index("group")
    r = r.loc[[f"{a}:{b}" for a, b in st.index]]
    np.testing.assert_allclose(st["_cons"], r["(Intercept)"], atol=TOL, rtol=0)
    np.testing.assert_allclose(st["se(_cons)"], r["sd_(Intercept)"], atol=TOL, rtol=0)
    np.testing.assert_allclose(fit.predict(), ref["fitted"], atol=TOL, rtol=0)


def test_dropped_rows_are_predicted_or_explained(pig):
    """lme4 on the same data with two outcomes and one covariate missing: the rows with
    a missing weight get their pig's BLUP, the row with a missing week NaN."""
    ref = CASES["pig_missing_ml"]
    df = pig.copy()
    df.loc[[4, 99], "weight"] = np.nan            # R rows 5 and 100
    df.loc[199, "week"] = np.nan                  # R row 200
    fit = sl.mixed("weight week || id: week", data=df)
    assert fit.n_obs == len(df) - 3
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-8)
    want = _num(ref["predict_all"])
    got = fit.predict(reasons=True)
    np.testing.assert_allclose(got["fitted"], want, atol=TOL, rtol=0)    # NaN where NaN
    assert got.loc[199, "reason"] == "missing week"
    assert (got.loc[[4, 99], "reason"] == "").all()
    np.testing.assert_allclose(fit.predict(kind="xb"), _num(ref["predict_all_xb"]),
                               atol=1e-9, rtol=0)
    res = fit.predict(kind="residuals", reasons=True)
    assert list(res.loc[[4, 99, 199], "reason"]) == ["missing weight", "missing weight",
                                                      "missing week"]
    assert res["residuals"].isna().sum() == 3


def test_comparative_se_is_statas_reml_reses():
    """Stata's ``predict, reses`` after a REML fit accounts for the uncertainty of beta
    (comparative SE); lme4's condVar does not. Stack Exchange 48254 prints, for ``g ||
    id:, reml`` on these 24 rows, 2.13 (Stata) and 1.32 (lme4 of 2013; today's lme4,
    stored in the reference: 1.3199219); after ``ml`` Stata prints the conditional SD."""
    g = [12, 8, 22, 10, 10, 6, 8, 4, 14, 6, 2, 22, 12, 7, 24, 14, 8, 4, 5, 6, 14, 5, 5, 16]
    df = pd.DataFrame({"id": list(range(1, 13)) * 2, "g": g})
    fit = sl.mixed("g || id:, reml", data=df)
    assert fit.ranef(se="comparative")["id"]["se(_cons)"].round(2).eq(2.13).all()
    ref = CASES["se48254_reml"]["ranef"]["id"]
    np.testing.assert_allclose(fit.ranef()["id"]["_cons"], ref["(Intercept)"], atol=TOL)
    np.testing.assert_allclose(fit.ranef()["id"]["se(_cons)"], ref["sd_(Intercept)"],
                               atol=TOL)


def test_se_kinds_are_consistent(fits):
    """comparative^2 = conditional^2 + beta part >= conditional^2, and diagnostic^2 =
    var(u) - comparative^2 (Goldstein)."""
    fit = fits["pig_corr_ml"]
    cond = fit.ranef("conditional")["id"]
    comp = fit.ranef("comparative")["id"]
    diag = fit.ranef("diagnostic")["id"]
    for eff, var in (("_cons", "id: var(_cons)"), ("week", "id: var(week)")):
        s = f"se({eff})"
        assert (comp[s] > cond[s]).all()
        np.testing.assert_allclose(diag[s] ** 2 + comp[s] ** 2,
                                   fit.random.loc[var, "estimate"], rtol=1e-9)
        pd.testing.assert_series_equal(cond[eff], comp[eff])


# ---- relaxed models: E[latent | row data] by the literal RAM algebra -----------------

def _ram_posterior(fit):
    """{(row, latent): (mean, conditional variance)} and fitted values, densely."""
    model = fit.model
    values = fit.values
    out, fitted = {}, np.zeros(model.data.n_obs)
    for r in range(model.data.n_rows):
        rr = ram_matrices(model, values, r)
        p = len(rr.obs)
        n = rr.A.shape[0]
        B = np.linalg.inv(np.eye(n) - rr.A)
        joint = B @ rr.S @ B.T
        mu = (B @ (rr.D @ values[rr.coef_ids] + rr.offset))
        Syy, Sly = joint[:p, :p], joint[p:, :p]
        gain = Sly @ np.linalg.inv(Syy)
        mean = gain @ (rr.y - mu[:p])
        cvar = joint[p:, p:] - gain @ Sly.T
        fitted[rr.obs] = mu[:p] + rr.A[:p, p:] @ mean          # loadings times BLUPs
        for i, lat in enumerate(rr.latents):
            out[(r, int(lat))] = (mean[i], cvar[i, i])
    return out, fitted


@pytest.fixture(scope="module")
def relaxed_fits():
    df = slot_three_level(11, K=40, J=3, I=2, missing=0.1).assign(
        half=lambda d: (d["k"] % 2).astype(int))
    m = sl.mixed_model("y x || k: || j:", data=df)
    with warnings.catch_warnings():    # var(j[2]) ends at 0: a singular Phi, on purpose
        warnings.simplefilter("ignore", BoundaryWarning)
        return {
            "relaxed latent variances": m.relax("j: var(_cons)").fit(),
            "correlated latents": m.correlate("j[1]", "j[2]").relax("var(Residual)").fit(),
            "correlated errors (dense path)":
                m.correlate("e.y[j=1,obs=1]", "e.y[j=1,obs=2]").fit(),
            "variances by group": m.relax("k: var(_cons)", by="half")
                                   .relax("var(Residual)", by="half").fit(),
        }


@pytest.mark.parametrize("name", ["relaxed latent variances", "correlated latents",
                                  "correlated errors (dense path)", "variances by group"])
def test_relaxed_blups_equal_dense_ram_conditioning(relaxed_fits, name):
    fit = relaxed_fits[name]
    post = fit._posterior
    ref, fitted = _ram_posterior(fit)
    assert len(ref) == len(post.mean)
    want = np.array([ref[(int(r), int(l))] for r, l in zip(post.row, post.latent)])
    np.testing.assert_allclose(post.mean, want[:, 0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(post.var, want[:, 1], rtol=1e-9, atol=1e-12)
    # per-level tables hold those latents: the slot latents j[1], j[2], ... are the
    # school groups of the level j
    tab = fit.ranef()["j"]
    assert tab.index.names == ["k", "j"] and len(tab) == int(post.latent.size
                                                            - fit.model.data.n_rows)
    # fitted = xb + Z b, and on new data (the same rows) the same values
    got = fit.predict().to_numpy()[fit.model.data.source]
    np.testing.assert_allclose(got, fitted, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(fit.predict(fit.model.data.original.copy()), fit.predict(),
                               rtol=0, atol=1e-9)


def test_rstandard_with_correlated_errors_whitens_each_row(relaxed_fits):
    """With correlated errors rstandard = L^-1 (y - fitted) per row, L the Cholesky
    factor of the row's residual covariance (nlme's normalized residuals)."""
    fit = relaxed_fits["correlated errors (dense path)"]
    model = fit.model
    res = fit.predict(kind="residuals")
    std = fit.predict(kind="rstandard")
    for r in range(model.data.n_rows):
        rr = ram_matrices(model, fit.values, r)
        p = len(rr.obs)
        src = model.data.source[rr.obs]
        L = np.linalg.cholesky(rr.S[:p, :p])
        np.testing.assert_allclose(L @ std.to_numpy()[src], res.to_numpy()[src],
                                   rtol=1e-9, atol=1e-12)
    # outside the estimation rows the row's error covariance is not defined
    out = fit.predict(model.data.original.head(3), kind="rstandard", reasons=True)
    assert out["rstandard"].isna().all()
    assert out["reason"].str.contains("correlated errors").all()


# ---- input checks ---------------------------------------------------------------------

def test_bad_input_is_named(fits, pig):
    fit = fits["pig_indep_ml"]
    with pytest.raises(ValueError, match="kind must be one of"):
        fit.predict(kind="blup")
    with pytest.raises(ValueError, match="se must be one of"):
        fit.ranef(se="posterior")
    with pytest.raises(ValueError, match="'week'"):
        fit.predict(pig.drop(columns="week"))
    with pytest.raises(TypeError, match="DataFrame"):
        fit.predict(pig.to_numpy())
    # xb needs no ids; fitted does
    new = pd.DataFrame({"week": [1.0, 2.0]})
    assert fit.predict(new, kind="xb").notna().all()
    with pytest.raises(ValueError, match="'id'"):
        fit.predict(new)


def test_unseen_factor_level_gives_nan_with_reason():
    df = sl.datasets.load("pig").assign(grp=lambda d: (d["id"] % 3).astype(int))
    fit = sl.mixed("weight week i.grp || id:", data=df)
    new = pd.DataFrame({"id": [1, 1], "week": [2.0, 2.0], "grp": [1, 7]})
    got = fit.predict(new, reasons=True)
    assert np.isfinite(got["fitted"].iloc[0]) and np.isnan(got["fitted"].iloc[1])
    assert got["reason"].iloc[1] == "7.grp not in the estimation sample"
    # the known level: xb from the estimated coefficients
    b = fit.fixed["coef"]
    assert fit.predict(new.head(1), kind="xb").iloc[0] == pytest.approx(
        b["_cons"] + 2 * b["week"] + b["1.grp"], abs=1e-10)


# ---- crossed effects ------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["weight week || _all: R.week || _all: R.id",
                                  "weight week || _all: R.week || id:"])
def test_crossed_effects_equal_lme4(pig, spec):
    """Crossed pig and week effects: lme4 weight ~ week + (1|week) + (1|id); the crossed
    factor's BLUPs form their own table ``R.week`` indexed by week; a new week (12) and a
    new pig (999) get 0."""
    ref = CASES["pig_crossed_ml"]
    fit = sl.mixed(spec, data=pig)
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-8)
    re = fit.ranef()
    week = re["R.week"]
    assert week.index.name == "week" and list(week.index) == list(range(1, 10))
    np.testing.assert_allclose(week["R.week"], ref["ranef"]["week"]["(Intercept)"], atol=TOL)
    np.testing.assert_allclose(week["se(R.week)"], ref["ranef"]["week"]["sd_(Intercept)"],
                               atol=TOL)
    pigs = re["R.id"] if "R.id" in re else re["id"]
    np.testing.assert_allclose(pigs.iloc[:, 0], ref["ranef"]["id"]["(Intercept)"], atol=TOL)
    np.testing.assert_allclose(pigs.iloc[:, 1], ref["ranef"]["id"]["sd_(Intercept)"],
                               atol=TOL)
    np.testing.assert_allclose(fit.predict(), ref["fitted"], atol=TOL, rtol=0)
    new = pd.DataFrame(ref["newdata"])
    np.testing.assert_allclose(fit.predict(new), ref["predict_new"], atol=TOL, rtol=0)


def test_factor_equation_below_the_top_predicts_in_sample_values():
    """``|| region: R.state, cov(exchangeable)`` (manual example 11): indicator loadings
    per state within region; the new-data path reproduces the in-sample fitted values."""
    df = sl.datasets.load("productivity")
    fit = sl.mixed("gsp private emp hwy water other unemp || region: R.state, "
                   "covariance(exchangeable)", data=df)
    tab = fit.ranef()["region"]
    assert tab.shape[0] == 9 and "R.state[1]" in tab.columns
    np.testing.assert_allclose(fit.predict(df.copy()), fit.predict(), rtol=0, atol=1e-9)


def test_predictions_under_fixed_effect_constraints(pig):
    """constraints(): the model is fitted in reduced coefficients b = T g + a; xb uses the
    reported coefficients, for new data too."""
    fit = sl.mixed("weight week || id: week", data=pig, constraints=["week = 6.2"])
    b = fit.fixed["coef"]
    assert b["week"] == pytest.approx(6.2, abs=1e-12)
    np.testing.assert_allclose(fit.predict(kind="xb"), b["_cons"] + 6.2 * pig["week"],
                               rtol=0, atol=1e-9)
    new = pd.DataFrame({"id": [1, 999], "week": [3.0, 3.0]})
    got = fit.predict(new)
    assert got.iloc[1] == pytest.approx(b["_cons"] + 18.6, abs=1e-9)
    re = fit.ranef()["id"].loc[1]
    assert got.iloc[0] == pytest.approx(b["_cons"] + 18.6 + re["_cons"] + 3 * re["week"],
                                        abs=1e-9)


def test_rstandard_with_ar1_errors_equals_nlme_normalized_residuals():
    """Random intercept with AR(1) errors in time (gaps included), rows shuffled so that
    the data order is not the time order: rstandard whitens each pig's residuals in time
    order, as nlme's ``residuals(type = "normalized", level = 1)``
    (tests/data/predict/nlme_ar1.R)."""
    ref = json.loads((Path(__file__).parent / "data" / "predict" / "nlme_ar1.json")
                     .read_text())
    df = pd.read_csv(Path(__file__).parent / "data" / "nlme" / "ar1.csv")
    df = df.sample(frac=1.0, random_state=5)
    fit = sl.mixed("y x || id:, residuals(ar 1, t(t))", data=df)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    want = pd.DataFrame({"id": ref["id"], "t": ref["t"], "fitted": ref["fitted"],
                         "normalized": ref["normalized"]})
    got = df.assign(fitted=fit.predict(), rstd=fit.predict(kind="rstandard"))
    got = got.dropna(subset=["y"]).merge(want, on=["id", "t"], suffixes=("", "_nlme"))
    assert len(got) == len(want)
    np.testing.assert_allclose(got["fitted"], got["fitted_nlme"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(got["rstd"], got["normalized"], rtol=0, atol=1e-5)
    re = fit.ranef()["id"]
    np.testing.assert_allclose(re.loc[ref["ranef_id"], "_cons"], ref["ranef"], atol=1e-5)
