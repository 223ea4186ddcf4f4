"""Score tests, modification indices and relaxed fits against lavaan.

Reference: tests/data/lavaan/reference.json (lavaan 0.6-14, the same wide model with
fixed.x=TRUE, missing="ml", observed information; see tests/data/lavaan/README.md).
The ``*_analytic`` fields are the same quantities at lavaan's model's exact optimum
(lavaan itself stops ~5e-7 short), so they are compared tightly, lavaan's own loosely.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semlevel as sl

REF = json.loads((Path(__file__).parent / "data/lavaan/reference.json").read_text())
TIGHT = 1e-5     # relative, against the analytic optimum (acceptance: 1e-3)


@pytest.fixture(scope="module")
def fit():
    df = pd.read_csv(Path(__file__).parent / "data/lavaan/hetero3.csv")
    return sl.mixed("y x || k: || j:", data=df)


def slot_error(y_name: str) -> str:
    """lavaan's y_j_i -> semlevel's error name e.y[j=..,obs=..]."""
    rec = next(s for s in REF["slots"] if s["y"] == y_name)
    return "e." + rec["semlevel"]


def latent(name: str) -> str:
    return {"k": "k"}.get(name, f"j[{name[1:]}]")


def test_constrained_fit_matches(fit):
    assert fit.loglik == pytest.approx(REF["constrained"]["lme4_logl"], abs=1e-6)
    est = REF["constrained"]["estimates"]
    r, fx = fit.random, fit.fixed
    pairs = {"vk": "k: var(_cons)", "vj": "j: var(_cons)", "ve": "var(Residual)"}
    for lav, ours in pairs.items():
        assert r.loc[ours, "estimate"] == pytest.approx(est[lav]["est_analytic"], rel=1e-5)
        # variance SEs: inverse observed information, beta profiled = lavaan's full inverse
        assert r.loc[ours, "se"] == pytest.approx(est[lav]["se_analytic"], rel=1e-4)
    assert fx.loc["x", "coef"] == pytest.approx(est["b"]["est_analytic"], rel=1e-6)
    assert fx.loc["_cons", "coef"] == pytest.approx(est["c"]["est_analytic"], rel=1e-6)


@pytest.mark.parametrize("lav,ours", [("b", "x"), ("c", "_cons"), ("vj", "j: var(_cons)"),
                                      ("ve", "var(Residual)")])
def test_joint_score_tests(fit, lav, ours):
    ref = REF["score_tests"]["labels"][lav]["joint"]
    got = fit.scoretests(labels=[ours], information="observed").loc[ours]
    assert got["df"] == ref["df"]
    assert got["chi2"] == pytest.approx(ref["chi2_analytic"], rel=TIGHT)
    assert got["chi2"] == pytest.approx(ref["chi2"], rel=1e-4)


def test_univariate_score_tests(fit):
    tab = fit.scoretests(labels=["j: var(_cons)"], univariate=True, information="observed")
    for member, ref in REF["score_tests"]["labels"]["vj"]["release_member_alone"].items():
        row = tab[tab["member"] == ref["semlevel"]].iloc[0]
        assert row["df"] == 1
        assert row["chi2"] == pytest.approx(ref["chi2_analytic"], rel=TIGHT), member


def test_modification_indices_latent_and_error_covariances(fit):
    obs = fit.modindices(information="observed", errors=True)
    exp = fit.modindices(information="expected", errors=True)
    key = lambda d: dict(zip(zip(d["lhs"], d["rhs"]), zip(d["mi"], d["epc"])))  # noqa: E731
    got_obs, got_exp = key(obs), key(exp)
    refs = REF["modindices"]
    for rec in refs["latent_covariances"]:
        a, b = latent(rec["lhs"]), latent(rec["rhs"])
        mi, epc = got_obs.get((a, b)) or got_obs[(b, a)]
        assert mi == pytest.approx(rec["mi_analytic"], rel=TIGHT, abs=1e-6)
        assert epc == pytest.approx(rec["epc_analytic"], rel=1e-4, abs=1e-7)
        mi_e, epc_e = got_exp.get((a, b)) or got_exp[(b, a)]
        assert mi_e == pytest.approx(rec["mi_expected"], rel=1e-4, abs=1e-6)
    for rec in refs["residual_covariances"]:
        a, b = slot_error(rec["lhs"]), slot_error(rec["rhs"])
        mi, epc = got_obs.get((a, b)) or got_obs[(b, a)]
        assert mi == pytest.approx(rec["mi_analytic"], rel=TIGHT, abs=1e-6)
        assert epc == pytest.approx(rec["epc_analytic"], rel=1e-4, abs=1e-7)
        mi_e, _ = got_exp.get((a, b)) or got_exp[(b, a)]
        assert mi_e == pytest.approx(rec["mi_expected"], rel=1e-4, abs=1e-6)
    assert len(obs) == len(refs["latent_covariances"]) + len(refs["residual_covariances"])


def test_relaxed_fits(fit):
    m = fit.model
    rel = REF["relaxed"]
    a = m.relax("j: var(_cons)").fit()
    assert a.loglik == pytest.approx(rel["a_vj_released"]["logl_analytic"], abs=1e-6)
    b = m.relax("j: var(_cons)").correlate("j[1]", "j[2]").fit()
    assert b.loglik == pytest.approx(rel["b_vj_released_cov_j1_j2"]["logl_analytic"], abs=1e-6)
    c = m.relax("var(Residual)", groups={"j=4": "ve4"}).fit()
    assert c.loglik == pytest.approx(rel["c_ve_school4"]["logl_analytic"], abs=1e-6)
    est = rel["c_ve_school4"]["estimates"]
    assert c.random.loc["ve4", "estimate"] == pytest.approx(est["ve4"]["est_analytic"], rel=1e-5)
    assert c.random.loc["ve4", "se"] == pytest.approx(est["ve4"]["se_analytic"], rel=1e-4)
    d = m.relax("x").fit()
    assert d.loglik == pytest.approx(rel["d_b_released"]["logl_analytic"], abs=1e-6)
    assert sl.compare(fit, a, b).loc["model 3", "lr"] == pytest.approx(
        2 * (rel["b_vj_released_cov_j1_j2"]["logl_analytic"] - rel["a_vj_released"]["logl_analytic"]),
        abs=1e-5)
