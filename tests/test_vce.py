"""vce(robust) and vce(cluster clustvar): sandwich standard errors.

References: an independent numpy sandwich (tests/sandwich_reference.py: numerical scores
of a dense block likelihood, Stata's block-diagonal bread, M/(M-1)), and lavaan's
MLR standard errors on the same wide model (tests/data/vce/reference.R, JSON stored).
"""
from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.inference.sandwich import robust_vcov

import sandwich_reference as ref
from simulate import three_level

HERE = pathlib.Path(__file__).parent / "data" / "vce"


@pytest.fixture(scope="module")
def two():
    return pd.read_csv(HERE / "two_level.csv")


@pytest.fixture(scope="module")
def lavaan():
    with open(HERE / "reference.json") as fh:
        return json.load(fh)


def _blocks_two(df, w_obs=None, w_top=None):
    d = df.dropna(subset=["y", "x"])
    out = []
    for _, g in d.groupby("id", sort=True):
        X = np.column_stack([g["x"], g["t"], np.ones(len(g))])
        out.append(ref.Block(g["y"], X, None if w_obs is None else g[w_obs],
                             1.0 if w_top is None else g[w_top].iloc[0], t=g["t"].to_numpy()))
    return out


def _cov_slope_un(theta, b):
    vt, vc, c, s2 = theta
    Z = np.column_stack([b.parts["t"], np.ones(len(b.y))])
    return Z @ np.array([[vt, c], [c, vc]]) @ Z.T, s2


def _assert_maximum(theta, blocks, cov):
    """semlevel's estimates maximise the reference (profiled) likelihood: the Newton step
    there is below 1e-6 of each parameter."""
    f = lambda t: ref.profiled_loglik(t, blocks, cov)  # noqa: E731
    h = 1e-6 * np.abs(theta)
    g = np.array([(f(theta + e) - f(theta - e)) / (2 * e.sum()) for e in np.diag(h)])
    step = np.linalg.solve(-ref._hessian(f, theta), g)
    assert np.all(np.abs(step) < 1e-6 * np.abs(theta))


def _se(fit) -> np.ndarray:
    return np.r_[fit.fixed["se"].to_numpy(), fit.random["se"].to_numpy()]


def _theta(fit) -> np.ndarray:
    return fit.random["estimate"].to_numpy()


# ---------------------------------------------------------------- numpy reference


def test_robust_random_slopes_match_dense_sandwich(two):
    """Random intercept and slope (definition variables), unstructured: Stata's robust
    estimator equals the independent dense computation."""
    fit = sl.mixed("y x t || id: t, cov(un)", data=two, vce="robust")
    assert fit.vce_type == "robust" and fit.vce.n_clusters == 77
    assert list(fit.random.index) == ["id: var(t)", "id: var(_cons)", "id: cov(t,_cons)",
                                      "var(Residual)"]
    blocks = _blocks_two(two)
    theta = _theta(fit)
    _assert_maximum(theta, blocks, _cov_slope_un)
    beta, V = ref.sandwich(theta, blocks, _cov_slope_un)
    np.testing.assert_allclose(fit.fixed["coef"].to_numpy(), beta, rtol=1e-8)
    np.testing.assert_allclose(_se(fit), np.sqrt(np.diag(V)), rtol=1e-4)
    # the same fit with model-based SEs differs (the test is not vacuous)
    oim = sl.mixed("y x t || id: t, cov(un)", data=two)
    assert np.max(np.abs(_se(oim) / _se(fit) - 1)) > 0.05
    np.testing.assert_allclose(oim.fixed["coef"], fit.fixed["coef"], rtol=0, atol=0)


def _three():
    df = three_level(4, n_top=40).dropna(subset=["y", "x"]).reset_index(drop=True)
    df["region"] = (df["k"] - 1) // 3
    return df


def _blocks_three(df):
    out = []
    for _, g in df.groupby("k", sort=True):
        X = np.column_stack([g["x"], np.ones(len(g))])
        out.append(ref.Block(g["y"], X, j=g["j"].to_numpy(), region=g["region"].iloc[0]))
    return out


def _cov_three(theta, b):
    vk, vj, s2 = theta
    j = b.parts["j"]
    return vk + vj * (j[:, None] == j[None, :]), s2


def test_three_level_robust_and_cluster_match_dense_sandwich():
    df = _three()
    blocks = _blocks_three(df)
    fit = sl.mixed("y x || k: || j:", data=df, vce="robust")
    _assert_maximum(_theta(fit), blocks, _cov_three)
    _, V = ref.sandwich(_theta(fit), blocks, _cov_three)
    np.testing.assert_allclose(_se(fit), np.sqrt(np.diag(V)), rtol=1e-4)
    cl = sl.mixed("y x || k: || j:, vce(cluster region)", data=df)
    assert cl.vce_type == "cluster" and cl.vce.n_clusters == 14 and cl.vce.cluster == "region"
    _, Vc = ref.sandwich(_theta(cl), blocks, _cov_three,
                         clusters=[b.parts["region"] for b in blocks])
    np.testing.assert_allclose(_se(cl), np.sqrt(np.diag(Vc)), rtol=1e-4)
    # vce(cluster k), k the top level, is vce(robust)
    same = sl.mixed("y x || k: || j:", data=df, vce="cluster k")
    np.testing.assert_allclose(_se(same), _se(fit), rtol=1e-12)


def test_pig_robust_matches_dense_sandwich():
    pig = sl.datasets.load("pig")            # the package's copy of shared/data/pig.csv
    fit = sl.mixed("weight week || id:, vce(robust)", data=pig)
    blocks = [ref.Block(g["weight"], np.column_stack([g["week"], np.ones(len(g))]))
              for _, g in pig.groupby("id", sort=True)]
    _, V = ref.sandwich(_theta(fit), blocks, lambda th, b: (np.full((len(b.y),) * 2, th[0]),
                                                             th[1]))
    np.testing.assert_allclose(_se(fit), np.sqrt(np.diag(V)), rtol=1e-4)


# ---------------------------------------------------------------- lavaan MLR


@pytest.mark.parametrize("which", ["mlr", "weighted"])
def test_full_bread_matches_lavaan_mlr(two, lavaan, which):
    """lavaan's MLR SEs (observed-information "hessian" bread, no small-sample factor) on
    the wide model; "weighted": top-level sampling weights (lavaan sampling.weights)."""
    spec = "y x t || id:" + (", pweight(wr)" if which == "weighted" else "")
    fit = sl.mixed(spec, data=two)
    r = lavaan[which]["estimates"]
    assert r and lavaan[which]["options"]["observed.information"][0] == "hessian"
    rv = robust_vcov(fit, bread="full", small_sample=False)
    se = dict(zip(rv.names, np.sqrt(np.diag(rv.vcov))))
    names = {"x": "b", "t": "bt", "_cons": "c", "id: var(_cons)": "vf",
             "var(Residual)": "ve"}
    for ours, theirs in names.items():
        est = fit.values[fit.model.label_index(ours)]
        assert est == pytest.approx(r[theirs]["est"], rel=2e-5)
        assert se[ours] == pytest.approx(r[theirs]["se"], rel=1e-4)


def test_oim_bread_and_factor(two):
    """Stata's default differs from the lavaan-like one only by the bread's cross terms
    (asymptotically nil) and the factor M/(M-1)."""
    fit = sl.mixed("y x t || id:", data=two, vce="robust")
    full = robust_vcov(fit, bread="full", small_sample=True)
    plain = robust_vcov(fit, bread="oim", small_sample=False)
    assert fit.vce.factor == pytest.approx(77 / 76)
    np.testing.assert_allclose(fit.vce.vcov, plain.vcov * 77 / 76, rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(np.diag(full.vcov)), np.sqrt(np.diag(fit.vce.vcov)),
                               rtol=5e-3)


# ---------------------------------------------------------------- the Fit and its report


def test_keyword_and_string_agree_and_tables_use_sandwich(two):
    a = sl.mixed("y x t || id:, vce(r)", data=two)
    b = sl.mixed("y x t || id:", data=two, vce="robust")
    pd.testing.assert_frame_equal(a.fixed, b.fixed)
    pd.testing.assert_frame_equal(a.random, b.random)
    V = a.vce.vcov
    se = np.sqrt(np.diag(V))
    np.testing.assert_allclose(a.fixed["se"], se[:3], rtol=1e-12)
    z = 1.959963984540054
    est = a.random["estimate"].to_numpy()
    np.testing.assert_allclose(a.random["ci_lower"], est * np.exp(-z * se[3:] / est),
                               rtol=1e-10)
    chi2 = a.wald[0]
    b_ = a.fixed["coef"].to_numpy()[:2]
    assert chi2 == pytest.approx(float(b_ @ np.linalg.solve(V[:2, :2], b_)), rel=1e-10)
    assert a.lr_linear == {}
    sd = sl.mixed("y x t || id:, vce(robust) stddeviations", data=two)
    sd_se = sd.random.loc["id: sd(_cons)", "se"]
    assert sd_se == pytest.approx(se[3] / (2 * np.sqrt(est[0])), rel=1e-10)


def test_summary_reports_robust(two):
    fit = sl.mixed("y x t || id:", data=two, vce="robust")
    text = fit.summary()
    lines = text.splitlines()
    assert any(l.startswith("Log pseudolikelihood =") for l in lines)
    note = "(Std. err. adjusted for 77 clusters in id)"
    assert any(l.strip() == note and l.endswith(note) and len(l) == 78 for l in lines)
    robust = [i for i, l in enumerate(lines) if l.strip() == "|               Robust"
              or l.rstrip().endswith("|               Robust")]
    assert len(robust) == 2
    assert "std. err." in lines[robust[0] + 1] and "std. err." in lines[robust[1] + 1]
    assert lines[robust[0] + 1].index("std. err.") + 1 <= \
        lines[robust[0]].index("Robust") + 1 < lines[robust[0] + 1].index("std. err.") + 9
    assert "LR test vs. linear model" not in text
    oim = sl.mixed("y x t || id:", data=two).summary()
    assert "Robust" not in oim and "LR test vs. linear model" in oim
    assert "Log likelihood =" in oim


# ---------------------------------------------------------------- refusals


def test_refusals(two):
    with pytest.raises(ValueError, match="REML"):
        sl.mixed("y x t || id:, reml vce(robust)", data=two)
    with pytest.raises(ValueError, match="REML"):
        sl.mixed("y x t || id:", data=two, reml=True, vce="robust")
    with pytest.raises(ValueError, match="not nested within 'grp'"):
        sl.mixed("y x t || id:, vce(cluster grp)", data=two.assign(grp=np.arange(len(two)) % 5))
    with pytest.raises(ValueError, match="unknown cluster variable 'nosuch'"):
        sl.mixed("y x t || id:, vce(cluster nosuch)", data=two)
    with pytest.raises(ValueError, match="vce\\(bootstrap\\) is not allowed"):
        sl.mixed("y x t || id:, vce(bootstrap)", data=two)
    with pytest.raises(ValueError, match="at least two clusters"):
        sl.mixed("y x t || id:, vce(cluster one)", data=two.assign(one=1))


def test_cluster_variable_missing_values_are_dropped_and_counted(two):
    d = two.assign(grp=(two["id"] - 1) // 4)
    d.loc[d["id"] == 5, "grp"] = np.nan
    fit = sl.mixed("y x t || id:, vce(cluster grp)", data=d)
    assert fit.vce.n_clusters == d["grp"].nunique()
    lost = d[(d["id"] == 5) & d["y"].notna() & d["x"].notna()]
    assert len(lost) and fit.model.data.sample.dropped.get("missing grp") == len(lost)


def test_boundary_variance_gets_no_robust_se():
    """Group means of x and of the errors exactly zero: var(_cons) is estimated at 0."""
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"id": np.repeat(np.arange(30), 4), "x": rng.normal(size=120),
                      "e": rng.normal(size=120)})
    for c in ("x", "e"):
        d[c] -= d.groupby("id")[c].transform("mean")
    d["y"] = 1 + d["x"] + d["e"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sl.mixed("y x || id:", data=d, vce="robust")
    assert fit.boundary == ["id: var(_cons)"]
    assert np.isnan(fit.random.loc["id: var(_cons)", "se"])
    assert np.isfinite(fit.random.loc["var(Residual)", "se"])
