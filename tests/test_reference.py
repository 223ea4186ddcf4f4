"""Self-checks of the independent references (tests/reference.py, tests/simulate.py)
and their agreement with R/lme4 (tests/data/r_reference.json, made by
tests/data/r_reference.R).  Nothing here imports semlevel: these tests establish
that the reference is right, so the engine can later be tested against it (or
against the R numbers) with confidence.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
import pytest
from scipy import linalg, optimize, stats

from reference import dense_loglik, fixed_vcov, gls_beta, ols_loglik
from simulate import article, three_level, two_level

DATA = pathlib.Path(__file__).parent / "data"
PIG = pathlib.Path(__file__).parent.parent / "semlevel" / "datasets" / "pig.csv"


@pytest.fixture(scope="module")
def rref():
    with open(DATA / "r_reference.json") as fh:
        return json.load(fh)


# ----------------------------------------------------------------------------
# tiny example: formulas against scipy / explicit error contrasts
# ----------------------------------------------------------------------------


def _tiny(seed=0):
    rng = np.random.default_rng(seed)
    n = 9
    top = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1])
    mid = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3])  # nested in top, unique codes
    t = np.array([0, 1, 0, 1, 2, 0, 1, 0, 1], dtype=float)
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = rng.normal(size=n) + X @ np.array([0.5, -1.0])
    Z = [np.column_stack([np.ones(n), t]), np.ones((n, 1))]
    G = [np.array([[1.2, 0.3], [0.3, 0.5]]), np.array([[0.4]])]
    return y, X, [top, mid], Z, G, 0.7


def _explicit_V(groups, Z, G, sigma2):
    n = Z[0].shape[0]
    V = sigma2 * np.eye(n)
    for g, z, c in zip(groups, Z, G):
        # expanded design: one block of columns per group
        codes = np.unique(g)
        Zx = np.zeros((n, codes.size * z.shape[1]))
        for a, code in enumerate(codes):
            rows = g == code
            Zx[rows, a * z.shape[1]:(a + 1) * z.shape[1]] = z[rows]
        V += Zx @ np.kron(np.eye(codes.size), c) @ Zx.T
    return V


def test_ml_matches_scipy_mvn():
    y, X, groups, Z, G, s2 = _tiny()
    V = _explicit_V(groups, Z, G, s2)
    beta = np.array([0.3, -0.8])
    want = stats.multivariate_normal(mean=X @ beta, cov=V).logpdf(y)
    assert dense_loglik(y, X, groups, Z, G, s2, beta=beta) == pytest.approx(want, abs=1e-10)
    # profiled beta = GLS, and it maximises over beta
    Vi = np.linalg.inv(V)
    bh = np.linalg.solve(X.T @ Vi @ X, X.T @ Vi @ y)
    np.testing.assert_allclose(gls_beta(y, X, groups, Z, G, s2), bh, atol=1e-12)
    np.testing.assert_allclose(fixed_vcov(y, X, groups, Z, G, s2), np.linalg.inv(X.T @ Vi @ X), atol=1e-12)
    want = stats.multivariate_normal(mean=X @ bh, cov=V).logpdf(y)
    assert dense_loglik(y, X, groups, Z, G, s2) == pytest.approx(want, abs=1e-10)
    assert dense_loglik(y, X, groups, Z, G, s2) > dense_loglik(y, X, groups, Z, G, s2, beta=beta)


def test_reml_identity_error_contrasts():
    """REML(formula) = log density of K'y  -  0.5 log|X'X|  (K orthonormal, K'X = 0).

    The density of the N-p error contrasts K'y ~ N(0, K'VK) does not depend on
    which orthonormal K is used; log|K'VK| = log|V| + log|X'V^-1X| - log|X'X|,
    so the textbook/Stata/lme4 REML formula differs from it by 0.5 log|X'X|.
    """
    y, X, groups, Z, G, s2 = _tiny(3)
    V = _explicit_V(groups, Z, G, s2)
    K = linalg.null_space(X.T)
    assert K.shape == (X.shape[0], X.shape[0] - X.shape[1])
    ll_contrast = stats.multivariate_normal(mean=np.zeros(K.shape[1]), cov=K.T @ V @ K).logpdf(K.T @ y)
    reml = dense_loglik(y, X, groups, Z, G, s2, reml=True)
    _, ldxx = np.linalg.slogdet(X.T @ X)
    assert reml == pytest.approx(ll_contrast - 0.5 * ldxx, abs=1e-10)
    # a different orthonormal basis of the same space gives the same density
    Q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(K.shape[1],) * 2))
    K2 = K @ Q
    ll2 = stats.multivariate_normal(mean=np.zeros(K.shape[1]), cov=K2.T @ V @ K2).logpdf(K2.T @ y)
    assert ll2 == pytest.approx(ll_contrast, abs=1e-10)


def test_no_random_effects_is_ols():
    rng = np.random.default_rng(5)
    n, p = 30, 3
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    y = X @ np.array([1.0, 2.0, -1.0]) + rng.normal(size=n)
    b = np.linalg.lstsq(X, y, rcond=None)[0]
    rss = float(np.sum((y - X @ b) ** 2))
    assert dense_loglik(y, X, [], [], [], rss / n) == pytest.approx(ols_loglik(y, X), abs=1e-10)
    assert dense_loglik(y, X, [], [], [], rss / (n - p), reml=True) == pytest.approx(
        ols_loglik(y, X, reml=True), abs=1e-10)


# ----------------------------------------------------------------------------
# simulators
# ----------------------------------------------------------------------------


def test_simulators_deterministic_and_shaped():
    a, b = two_level(1), two_level(1)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == ["id", "t", "x", "y"]
    sizes = a.groupby("id").size()
    assert (sizes == 1).sum() >= 3 and sizes.max() > 1
    assert abs(a["y"].isna().mean() - 0.15) < 0.01 and a["x"].isna().sum() == a.attrs["n_missing_x"] > 0
    c = three_level(2)
    assert list(c.columns) == ["k", "j", "i", "x", "y"]
    assert c.groupby("k")["j"].min().eq(1).all()  # j restarts within each k
    assert not c.duplicated(["k", "j", "i"]).any()
    e = two_level(4, slope=False)
    assert e["y"].notna().sum() > 0
    d = article(1, K=3)
    assert len(d) == 12 and d["y"].notna().all()
    # committed CSVs are what the simulators produce
    for name, df in [("sim2.csv", a), ("sim3.csv", c), ("art.csv", article(1))]:
        disk = pd.read_csv(DATA / name)
        np.testing.assert_allclose(disk.to_numpy(float), df.to_numpy(float), rtol=0, atol=0)


# ----------------------------------------------------------------------------
# agreement with R / lme4
# ----------------------------------------------------------------------------


def _design(name):
    """(y, X, groups, zcols) on complete cases for the JSON fit family `name`."""
    if name.startswith("sim2"):
        df = pd.read_csv(DATA / "sim2.csv").dropna(subset=["y", "x", "t"])
        X = np.column_stack([np.ones(len(df)), df["x"], df["t"]])
        g = df["id"].to_numpy()
        zc = np.column_stack([np.ones(len(df)), df["t"]])
        return df["y"].to_numpy(), X, [g], zc
    if name.startswith(("sim3", "art")):
        df = pd.read_csv(DATA / ("sim3.csv" if name.startswith("sim3") else "art.csv")).dropna(subset=["y", "x"])
        X = np.column_stack([np.ones(len(df)), df["x"]])
        k = df["k"].to_numpy()
        kj = k * 1000 + df["j"].to_numpy()  # nest j in k: unique codes
        return df["y"].to_numpy(), X, [k, kj], np.ones((len(df), 1))
    df = pd.read_csv(PIG)
    X = np.column_stack([np.ones(len(df)), df["week"]])
    return df["weight"].to_numpy(), X, [df["id"].to_numpy()], np.column_stack([np.ones(len(df)), df["week"]])


def _model(name, y, X, groups, zc):
    """Return (ll(params, reml), G_of(theta), Z list, groups list, n_theta).

    params = (theta, log sigma2); theta are Cholesky/sd factors of G, unconstrained."""
    if name.endswith("corr"):  # one level, 2x2 unstructured G = L L'
        Zs, gs = [zc], groups

        def G_of(th):
            L = np.array([[th[0], 0.0], [th[1], th[2]]])
            return [L @ L.T]
        npar = 3
    elif name.endswith("indep"):  # one level, diagonal 2x2 G (as two terms)
        Zs, gs = [zc[:, :1], zc[:, 1:]], [groups[0], groups[0]]

        def G_of(th):
            return [np.array([[th[0] ** 2]]), np.array([[th[1] ** 2]])]
        npar = 2
    elif name.endswith("ri"):
        Zs, gs = [zc[:, :1]], groups

        def G_of(th):
            return [np.array([[th[0] ** 2]])]
        npar = 1
    else:  # two nested random intercepts
        Zs, gs = [zc, zc], groups

        def G_of(th):
            return [np.array([[th[0] ** 2]]), np.array([[th[1] ** 2]])]
        npar = 2

    def ll(par, reml):
        return dense_loglik(y, X, gs, Zs, G_of(par[:npar]), float(np.exp(par[npar])), reml=reml)

    return ll, G_of, Zs, gs, npar


def _r_varcomp(fit):
    """Map R's varcomp rows to (dict of (grp, var1, var2) -> vcov)."""
    return {(r["grp"], r["var1"], r["var2"]): r["vcov"] for r in fit["varcomp"]}


def _G_from_r(name, fit):
    vc = _r_varcomp(fit)
    slope = "t" if name.startswith("sim2") else "week"
    if name.endswith("corr"):
        v0, v1 = vc[("id", "(Intercept)", "")], vc[("id", slope, "")]
        c01 = vc[("id", "(Intercept)", slope)]
        return [np.array([[v0, c01], [c01, v1]])]
    if name.endswith("indep"):
        # lme4 names the second (uncorrelated) term's group "id.1"
        return [np.array([[vc[("id", "(Intercept)", "")]]]), np.array([[vc[("id.1", slope, "")]]])]
    if name.endswith("ri"):
        return [np.array([[vc[("id", "(Intercept)", "")]]])]
    return [np.array([[vc[("k", "(Intercept)", "")]]]), np.array([[vc[("k:j", "(Intercept)", "")]]])]


FAMILIES = ["sim2_corr", "sim2_indep", "sim3", "art", "pig_ri", "pig_indep", "pig_corr"]


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("reml", [False, True])
def test_dense_at_r_estimates_matches_r(rref, name, reml):
    """Plugging lme4's estimates into the dense formulas reproduces lme4's
    logLik, fixed effects and their standard errors."""
    fit = rref["fits"][f"{name}_{'reml' if reml else 'ml'}"]
    y, X, groups, zc = _design(name)
    assert len(y) == fit["nobs"]
    _, _, Zs, gs, _ = _model(name, y, X, groups, zc)
    G = _G_from_r(name, fit)
    s2 = fit["sigma2"]
    assert dense_loglik(y, X, gs, Zs, G, s2, reml=reml) == pytest.approx(fit["logLik"], abs=1e-9)
    b = gls_beta(y, X, gs, Zs, G, s2)
    np.testing.assert_allclose(b, list(fit["fixef"].values()), rtol=1e-6, atol=1e-8)
    se = np.sqrt(np.diag(fixed_vcov(y, X, gs, Zs, G, s2)))
    np.testing.assert_allclose(se, list(fit["se"].values()), rtol=1e-6)
    # AIC parameter count: p fixed + free covariance parameters + residual
    assert fit["df"] == X.shape[1] + sum(g.shape[0] * (g.shape[0] + 1) // 2 for g in G) + 1
    assert fit["AIC"] == pytest.approx(-2 * fit["logLik"] + 2 * fit["df"], abs=1e-9)
    assert fit["BIC"] == pytest.approx(-2 * fit["logLik"] + np.log(fit["nobs"]) * fit["df"], abs=1e-9)


def _maximise(ll, npar, y, reml):
    start = np.r_[np.full(npar, 0.5), np.log(np.var(y) / 2)]
    start[:npar] *= np.sqrt(np.var(y) / 2)
    f = lambda p: -ll(p, reml)  # noqa: E731
    r = optimize.minimize(f, start, method="L-BFGS-B", options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9})
    r = optimize.minimize(f, r.x, method="Nelder-Mead",
                          options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000, "maxfev": 20000})
    return -r.fun


@pytest.mark.parametrize("name", ["sim2_corr", "sim2_indep", "sim3", "pig_corr"])
@pytest.mark.parametrize("reml", [False, True])
def test_dense_maximum_matches_r_loglik(rref, name, reml):
    """Maximising the dense likelihood (beta profiled) independently of R
    reaches lme4's logLik to 1e-5 (in practice they agree to ~1e-12)."""
    fit = rref["fits"][f"{name}_{'reml' if reml else 'ml'}"]
    y, X, groups, zc = _design(name)
    ll, _, _, _, npar = _model(name, y, X, groups, zc)
    best = _maximise(ll, npar, y, reml)
    assert best == pytest.approx(fit["logLik"], abs=1e-5)


@pytest.mark.parametrize("name", ["sim2_corr", "sim3", "pig_ri"])
def test_ols_matches_r_lm(rref, name):
    y, X, _, _ = _design(name)
    ref = rref["lm"][name]
    assert ref["nobs"] == len(y)
    assert ols_loglik(y, X) == pytest.approx(ref["logLik_ml"], abs=1e-8)
    assert ols_loglik(y, X, reml=True) == pytest.approx(ref["logLik_reml"], abs=1e-8)


def test_pig_manual_loglik(rref):
    """Manual example 1 (weight week || id:, ML) prints log likelihood -1014.9268."""
    assert rref["fits"]["pig_ri_ml"]["logLik"] == pytest.approx(-1014.9268, abs=5e-5)
