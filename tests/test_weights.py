"""Frequency and sampling weights ([fw=], [pw=], fweight(), pweight(), pwscale()).

Frequency weights are checked against the replicated data (exactly: same likelihood,
estimates, model-based and robust SEs), sampling weights against the manual's eq. (14)
integrated numerically and against a dense numpy sandwich, pwscale() against its
formulas (manual, Methods and formulas).
"""
from __future__ import annotations

import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.data.weights import pwscale_weights

import sandwich_reference as ref
from simulate import three_level

HERE = pathlib.Path(__file__).parent / "data" / "vce"


@pytest.fixture(scope="module")
def two():
    d = pd.read_csv(HERE / "two_level.csv")
    rng = np.random.default_rng(8)
    d["wi"] = np.round(rng.uniform(0.4, 2.5, len(d)), 3)     # observation weights
    d["fi"] = rng.integers(1, 4, len(d))                       # integer ones
    d["fr"] = d["id"].map(dict(zip(range(1, 81), rng.integers(1, 4, 80))))
    return d


@pytest.fixture(scope="module")
def three():
    df = three_level(3, n_top=30).dropna().reset_index(drop=True)
    rng = np.random.default_rng(5)
    df["z"] = rng.normal(size=len(df))
    kw = {k: rng.integers(1, 4) for k in df["k"].unique()}
    cells = df[["k", "j"]].drop_duplicates().itertuples(index=False)
    jw = {(k, j): rng.integers(1, 4) for k, j in cells}
    df["wk"] = df["k"].map(kw)
    df["wj"] = [jw[(k, j)] for k, j in zip(df["k"], df["j"])]
    df["wi"] = rng.integers(1, 3, len(df))
    return df


def _replicate(d, obs=None, mid=None, top=None, mid_level="j", top_level="k"):
    """Literal replication: rows ``obs`` times, (top, mid) groups ``mid`` times and top
    groups ``top`` times, copies getting new ids."""
    if obs:
        d = d.loc[d.index.repeat(d[obs])].reset_index(drop=True)
    if mid:
        parts = [g.assign(**{mid_level: g[mid_level] * 100 + c})
                 for _, g in d.groupby([top_level, mid_level]) for c in range(int(g[mid].iloc[0]))]
        d = pd.concat(parts, ignore_index=True)
    if top:
        parts = [g.assign(**{top_level: g[top_level] * 100 + c})
                 for _, g in d.groupby(top_level) for c in range(int(g[top].iloc[0]))]
        d = pd.concat(parts, ignore_index=True)
    return d


def _same(a, b, rtol=1e-7):
    assert a.loglik == pytest.approx(b.loglik, rel=1e-10)
    assert a.n_obs == b.n_obs
    np.testing.assert_allclose(a.fixed.to_numpy(), b.fixed.to_numpy(), rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(a.random.to_numpy(), b.random.to_numpy(), rtol=rtol, atol=1e-10)


# ---------------------------------------------------------------- frequency weights


def test_level_one_fweights_equal_replicated_pig():
    pig = sl.datasets.load("pig")            # the package's copy of shared/data/pig.csv
    pig["w"] = np.random.default_rng(1).integers(1, 4, len(pig))
    fit = sl.mixed("weight week [fw=w] || id: week, cov(un)", data=pig)
    rep = sl.mixed("weight week || id: week, cov(un)", data=_replicate(pig, obs="w"))
    _same(fit, rep)
    assert fit.n_obs == int(pig["w"].sum())
    assert fit.lr_linear["statistic"] == pytest.approx(rep.lr_linear["statistic"], rel=1e-9)
    assert f"Number of obs     = {fit.n_obs:>10,}" in fit.summary()


@pytest.mark.parametrize("spec", ["y x || k: || j:", "y x || k: z || j:",
                                  "y x || k: || j: z, cov(un)"])
@pytest.mark.parametrize("levels", [{"_obs": "wi"}, {"j": "wj"}, {"k": "wk"},
                                    {"_obs": "wi", "j": "wj", "k": "wk"}])
def test_fweights_at_every_level_equal_replicated(three, spec, levels):
    """Level one, the intermediate level (dense path), the top level and all three, with
    random slopes: the weighted likelihood is the replicated data's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # a singular block in one model
        fit = sl.mixed(spec, data=three, fweight=levels)
        rep = sl.mixed(spec, data=_replicate(three, levels.get("_obs"), levels.get("j"),
                                             levels.get("k")))
    _same(fit, rep, rtol=2e-6)


def test_string_and_keyword_fweights_agree(three):
    a = sl.mixed("y x [fw=wi] || k:, fweight(wk) || j:, fweight(wj)", data=three)
    b = sl.mixed("y x || k: || j:", data=three, fweight={"_obs": "wi", "k": "wk", "j": "wj"})
    _same(a, b, rtol=1e-12)
    assert a.model.info["weights"].describe() == "[fw=wi], k: fweight(wk), j: fweight(wj)"


def test_fweights_with_robust_equal_replicated(three):
    lv = {"_obs": "wi", "j": "wj", "k": "wk"}
    fit = sl.mixed("y x || k: || j:", data=three, fweight=lv, vce="robust")
    rep = sl.mixed("y x || k: || j:", data=_replicate(three, "wi", "wj", "wk"), vce="robust")
    assert fit.vce.n_clusters == rep.vce.n_clusters == three.groupby("k")["wk"].first().sum()
    _same(fit, rep, rtol=2e-6)


# ---------------------------------------------------------------- sampling weights


def test_pweights_of_one_equal_the_unweighted_robust_fit(two):
    one = two.assign(w1=1.0)
    fit = sl.mixed("y x t [pw=w1] || id: t, cov(un) pweight(w1)", data=one)
    plain = sl.mixed("y x t || id: t, cov(un)", data=two)
    robust = sl.mixed("y x t || id: t, cov(un)", data=two, vce="robust")
    assert fit.vce_type == "robust"
    assert fit.loglik == pytest.approx(plain.loglik, rel=1e-12)
    np.testing.assert_allclose(fit.fixed["coef"], plain.fixed["coef"], rtol=1e-9)
    np.testing.assert_allclose(fit.random["estimate"], plain.random["estimate"], rtol=1e-8)
    np.testing.assert_allclose(fit.fixed["se"], robust.fixed["se"], rtol=1e-7)
    np.testing.assert_allclose(fit.random["se"], robust.random["se"], rtol=1e-6)


def test_pseudolikelihood_is_equation_14_by_quadrature(two):
    """Random intercept, non-integer weights at both levels: the log pseudolikelihood at
    the estimates equals sum_j w_j log int exp{sum_i w_ij log f1} f2 du (numerical
    integration), and the estimates maximise it."""
    fit = sl.mixed("y x t [pw=wi] || id:, pweight(wr)", data=two)
    d = two.dropna(subset=["y", "x"])
    beta = fit.fixed["coef"].to_numpy()
    vu, s2 = fit.random["estimate"].to_numpy()

    def total(beta, vu, s2):
        return sum(ref.weighted_block_loglik_quadrature(
            beta, vu, s2, g["y"], np.column_stack([g["x"], g["t"], np.ones(len(g))]),
            g["wi"], g["wr"].iloc[0]) for _, g in d.groupby("id"))

    ll = total(beta, vu, s2)
    assert fit.loglik == pytest.approx(ll, rel=1e-9)
    for h in (np.r_[1e-3, 0, 0, 0, 0], np.r_[0, 0, 0, 1e-2, 0], np.r_[0, 0, 0, 0, 1e-2]):
        moved = total(beta + h[:3], vu + h[3], s2 + h[4])
        back = total(beta - h[:3], vu - h[3], s2 - h[4])
        assert max(moved, back) < ll


def _blocks(d, w_obs, w_top):
    out = []
    for _, g in d.dropna(subset=["y", "x"]).groupby("id", sort=True):
        X = np.column_stack([g["x"], g["t"], np.ones(len(g))])
        out.append(ref.Block(g["y"], X, g[w_obs], g[w_top].iloc[0], t=g["t"].to_numpy()))
    return out


def _cov_un(theta, b):
    vt, vc, c, s2 = theta
    Z = np.column_stack([b.parts["t"], np.ones(len(b.y))])
    return Z @ np.array([[vt, c], [c, vc]]) @ Z.T, s2


def test_pweight_robust_ses_match_dense_sandwich(two):
    """Random slopes, sampling weights at both levels: estimates at the maximum of the
    reference pseudolikelihood, log pseudolikelihood and robust SEs equal it."""
    fit = sl.mixed("y x t [pw=wi] || id: t, cov(un) pweight(wr)", data=two)
    blocks = _blocks(two, "wi", "wr")
    theta = fit.random["estimate"].to_numpy()
    beta, V = ref.sandwich(theta, blocks, _cov_un)
    np.testing.assert_allclose(fit.fixed["coef"], beta, rtol=1e-8)
    assert fit.loglik == pytest.approx(sum(ref.block_loglik(beta, theta, b, _cov_un)
                                           for b in blocks), rel=1e-11)
    f = lambda t: ref.profiled_loglik(t, blocks, _cov_un)  # noqa: E731
    g = np.array([(f(theta + e) - f(theta - e)) / (2 * e.sum()) for e in np.diag(1e-6 * theta)])
    assert np.all(np.abs(np.linalg.solve(-ref._hessian(f, theta), g)) < 1e-6 * np.abs(theta))
    se = np.r_[fit.fixed["se"], fit.random["se"]]
    np.testing.assert_allclose(se, np.sqrt(np.diag(V)), rtol=1e-4)


@pytest.mark.parametrize("method", ["size", "effective", "gk"])
def test_pwscale_is_its_formula(two, method):
    """pwscale(m) equals the same model with the weights rescaled by hand as the manual's
    Methods and formulas state (n_j = observations of cluster j in the sample)."""
    d = two.dropna(subset=["y", "x"]).copy()
    g = d.groupby("id")
    n_j, s1 = g["wi"].transform("size"), g["wi"].transform("sum")
    if method == "size":
        d["a"], d["b"] = d["wi"] * n_j / s1, d["wr"]
    elif method == "effective":
        d["a"], d["b"] = d["wi"] * s1 / g["wi"].transform(lambda v: (v * v).sum()), d["wr"]
    else:
        d["a"] = 1.0
        d["b"] = (d["wi"] * d["wr"]).groupby(d["id"]).transform("sum") / n_j
    scaled = sl.mixed(f"y x t [pw=wi] || id:, pweight(wr) pwscale({method})", data=d)
    by_hand = sl.mixed("y x t [pw=a] || id:, pweight(b)", data=d)
    pd.testing.assert_frame_equal(scaled.fixed, by_hand.fixed, rtol=1e-10)
    pd.testing.assert_frame_equal(scaled.random, by_hand.random, rtol=1e-10)
    assert scaled.loglik == pytest.approx(by_hand.loglik, rel=1e-12)
    unscaled = sl.mixed("y x t [pw=wi] || id:, pweight(wr)", data=d)
    assert abs(unscaled.loglik - scaled.loglik) > 1.0


def test_pwscale_size_and_effective_ignore_the_level_two_factor(two):
    """The manual: size and effective give the same results whether the level-one weights
    are conditional (w_i|j) or unconditional (w_ij = w_i|j w_j)."""
    d = two.assign(wij=two["wi"] * two["wr"])
    for m in ("size", "effective"):
        a = sl.mixed(f"y x t [pw=wi] || id:, pweight(wr) pwscale({m})", data=d)
        b = sl.mixed(f"y x t [pw=wij] || id:, pweight(wr) pwscale({m})", data=d)
        pd.testing.assert_frame_equal(a.fixed, b.fixed, rtol=1e-10)
    gk = sl.mixed("y x t [pw=wij/wr] || id:, pweight(wr) pwscale(gk)", data=d)   # expression
    ref_gk = sl.mixed("y x t [pw=wi] || id:, pweight(wr) pwscale(gk)", data=d)
    pd.testing.assert_frame_equal(gk.fixed, ref_gk.fixed, rtol=1e-10)


def test_pwscale_weights_function():
    w, top = np.array([1.0, 3.0, 2.0, 2.0]), np.array([2.0, 2.0, 5.0, 5.0])
    grp = np.array([0, 0, 1, 1])
    a, b = pwscale_weights("size", w, top, grp)
    np.testing.assert_allclose(a, [0.5, 1.5, 1.0, 1.0])
    a, b = pwscale_weights("effective", w, top, grp)
    np.testing.assert_allclose(a, [0.4, 1.2, 1.0, 1.0])
    a, b = pwscale_weights("gk", w, top, grp)
    np.testing.assert_allclose(a, 1.0)
    np.testing.assert_allclose(b, [4.0, 4.0, 10.0, 10.0])


def test_pweight_report(two):
    fit = sl.mixed("y x t [pw=wi] || id:, pweight(wr) pwscale(size)", data=two)
    text = fit.summary()
    assert text.startswith("Mixed-effects regression ")
    assert "Log pseudolikelihood =" in text
    assert "(Std. err. adjusted for 77 clusters in id)" in text
    assert fit.n_obs == 237                    # sampling weights: the observations used


# ---------------------------------------------------------------- refusals


def test_refusals(two, three):
    cases = [
        ("y x t [pw=wi] || id:, reml", two, "REML"),
        ("y x t [fw=fi] || id:, reml", two, "REML"),
        ("y x t [pw=wi] || id:, vce(oim)", two, "vce\\(oim\\) is not allowed"),
        ("y x t [fw=wi] || id:", two, "must be integers"),
        ("y x t || id:, fweight(fi)", two, "not constant within 'id' groups"),
        ("y x t [fw=fi] || id:, pweight(wr)", two, "may not be combined"),
        ("y x t [fw=fi] || id:, pwscale(size)", two, "requires sampling weights"),
        ("y x [pw=wi] || k: || j:, pwscale(size)", three, "only with two-level"),
        ("y x t [pw=neg] || id:", two.assign(neg=two["wi"] - 1), "zero or negative"),
        ("y x t [pw=nosuch] || id:", two, "unknown weight variable 'nosuch'"),
        ("y x t [pw=wi] || id:, dfmethod(residual)", two, "dfmethod"),
        ("y x t [pw=wi;] || id:", two, "invalid weight expression"),
    ]
    for spec, data, msg in cases:
        with pytest.raises(ValueError, match=msg):
            sl.mixed(spec, data=data)
    with pytest.raises(ValueError, match="not a level of the model"):
        sl.mixed("y x t || id:", data=two, pweight={"school": "wr"})
    with pytest.raises(ValueError, match="correlated residual errors"):
        sl.mixed("y x t [fw=fi] || id:, residuals(ar, t(t))", data=two)


def test_missing_weights_are_dropped_and_counted(two):
    d = two.copy()
    d.loc[[0, 2, 4], "wi"] = np.nan
    fit = sl.mixed("y x t [pw=wi] || id:", data=d)
    assert fit.model.data.sample.dropped["missing wi"] == int(
        (d.loc[[0, 2, 4], ["y", "x"]].notna().all(axis=1)).sum())


def test_post_estimation_refusals(two, three):
    pw = sl.mixed("y x t [pw=wi] || id:", data=two)
    with pytest.raises(ValueError, match="sampling weights"):
        pw.scoretests()
    fw = sl.mixed("y x t [fw=fi] || id:", data=two)
    with pytest.raises(ValueError, match="information='observed'"):
        fw.scoretests()
    with pytest.raises(ValueError, match="not available with weights"):
        fw.model.regress("x", "t")
    jw = sl.mixed_model("y x || k: || j:", data=three, fweight={"j": "wj"})
    with pytest.raises(ValueError, match="correlates two of them"):
        jw.correlate("j[1]", "j[2]").fit()
