"""The engine against independent references.

* the pooled Woodbury deviance (semlevel.engine.deviance) equals the dense long-form
  textbook likelihood of tests/reference.py at arbitrary parameter values, ML and REML;
* it equals the dense RAM evaluation (tests/ram_reference.py), which forms every row's
  Sigma = F (I-A)^-1 S (I-A)^-T F' literally;
* its analytic gradient equals finite differences of the deviance;
* fits reproduce lme4 (tests/data/r_reference.json) and an independent maximisation of
  the dense likelihood (the article's three-level model);
* standard errors of variance components equal the inverse of half the numeric Hessian
  of the dense -2 log L (beta profiled).
"""
from __future__ import annotations

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

import semlevel as sl
from semlevel.engine.deviance import evaluate
from semlevel.engine.fitting import BoundaryWarning, ConvergenceWarning
from ram_reference import ram_deviance, ram_gls, ram_implied, ram_matrices
from semlevel.engine.stats import pool_statistics

from reference import dense_loglik, dense_V_blocks, fixed_vcov, gls_beta
from simulate import article, three_level, two_level

DATA = pathlib.Path(__file__).parent / "data"
PIG = pathlib.Path(sl.__file__).parent / "datasets" / "pig.csv"

REL = 1e-8          # fast path vs dense references
GRAD_REL = 1e-6     # analytic vs finite-difference gradient
SE_REL = 1e-4       # OIM standard errors vs numeric Hessian of the dense likelihood


# ----------------------------------------------------------------------------------------
# cases: a data set, a spec, and how the same model reads in the dense long form
# ----------------------------------------------------------------------------------------

class Case:
    """One model on one data set, with its dense long-form counterpart.

    ``kind`` is ``un`` / ``ind`` (random intercept and slope on ``t`` at ``id``,
    unstructured or independent), ``ri`` (random intercept) or ``3l`` (intercepts at
    ``k`` and ``j`` within ``k``).
    """

    def __init__(self, name: str, df: pd.DataFrame, spec: str, kind: str,
                 y: str = "y", fixed: tuple[str, ...] = ("x", "t"), top: str = "id",
                 slope: str = "t"):
        self.name, self.df, self.spec, self.kind = name, df, spec, kind
        self.yname, self.fixed, self.top, self.slope = y, fixed, top, slope
        need = [y, *fixed] + ([slope] if kind in ("un", "ind") else [])
        cc = df.dropna(subset=need).reset_index(drop=True)
        self.cc = cc
        self.y = cc[y].to_numpy(float)
        self.X = np.column_stack([cc[list(fixed)].to_numpy(float), np.ones(len(cc))])
        self.xnames = [*fixed, "_cons"]
        n = len(cc)
        if kind == "3l":
            k = cc["k"].to_numpy()
            self.groups = [k, k * 1000 + cc["j"].to_numpy()]
            self.Z = [np.ones((n, 1)), np.ones((n, 1))]
        elif kind == "ri":
            self.groups = [cc[top].to_numpy()]
            self.Z = [np.ones((n, 1))]
        else:
            self.groups = [cc[top].to_numpy()]
            self.Z = [np.column_stack([np.ones(n), cc[slope].to_numpy(float)])]

    # label values <-> dense G matrices
    def G(self, v: dict) -> list[np.ndarray]:
        if self.kind == "3l":
            return [np.array([[v["k: var(_cons)"]]]), np.array([[v["j: var(_cons)"]]])]
        t, c = self.slope, f"{self.top}: var(_cons)"
        if self.kind == "ri":
            return [np.array([[v[c]]])]
        cov = v.get(f"{self.top}: cov({t},_cons)", 0.0)
        return [np.array([[v[c], cov], [cov, v[f"{self.top}: var({t})"]]])]

    def dense(self, v: dict, reml: bool) -> float:
        """-2 log L of the dense long-form reference at named label values."""
        return -2.0 * dense_loglik(self.y, self.X, self.groups, self.Z, self.G(v),
                                   v["var(Residual)"], reml=reml)

    def model(self, reml: bool = False) -> sl.PathModel:
        return sl.mixed_model(self.spec, self.df, reml=reml)


def _named(model: sl.PathModel, values: np.ndarray) -> dict:
    return {n: float(x) for n, x in zip(model.labels.index, values)
            if model.labels.loc[n, "kind"] != "coef"}


def _values(model: sl.PathModel, named: dict) -> np.ndarray:
    """Label-value vector (coefficients 0: they are profiled) from a name -> value dict."""
    out = np.zeros(len(model.labels))
    for i, name in enumerate(model.labels.index):
        if model.labels["kind"].iloc[i] != "coef":
            out[i] = named[name]
    return out


def _random_points(model: sl.PathModel, seed: int, n: int) -> list[np.ndarray]:
    """Admissible parameter points far from the optimum: variances in [0.15, 2.5],
    covariances at correlations in [-0.8, 0.8]."""
    rng = np.random.default_rng(seed)
    lab = model.labels
    pts = []
    for _ in range(n):
        v = np.zeros(len(lab))
        kinds = lab["kind"].to_numpy()
        for i in np.flatnonzero(np.isin(kinds, ["var", "resvar"])):
            v[i] = rng.uniform(0.15, 2.5)
        for i in np.flatnonzero(kinds == "cov"):
            rows = model.phi[model.phi["label"] == i].iloc[0]
            diag = model.phi[model.phi["a"] == model.phi["b"]]
            va = v[int(diag.loc[diag["a"] == rows["a"], "label"].iloc[0])]
            vb = v[int(diag.loc[diag["a"] == rows["b"], "label"].iloc[0])]
            v[i] = rng.uniform(-0.8, 0.8) * np.sqrt(va * vb)
        pts.append(v)
    return pts


def _fit(model: sl.PathModel):
    with warnings.catch_warnings():
        # no convergence or boundary warnings on these data
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", BoundaryWarning)
        fit = model.fit()
    assert fit.converged, fit.optimization
    return fit


SIM_CASES = {
    "2l_un": lambda: Case("2l_un", two_level(101), "y x t || id: t, cov(un)", "un"),
    "2l_ind": lambda: Case("2l_ind", two_level(102, n_groups=50), "y x t || id: t", "ind"),
    "3l": lambda: Case("3l", three_level(103), "y x || k: || j:", "3l", fixed=("x",),
                       top="k"),
}
_cache: dict = {}


def _case(name: str) -> Case:
    if name not in _cache:
        _cache[name] = SIM_CASES[name]()
    return _cache[name]


def _prepared(name: str, reml: bool):
    """(case, model, stats, fit) of a simulated case, built once per module."""
    key = (name, reml)
    if key not in _cache:
        case = _case(name)
        m = case.model(reml)
        _cache[key] = (case, m, pool_statistics(m), _fit(m))
    return _cache[key]


# ----------------------------------------------------------------------------------------
# deviance: fast path == dense long form == dense RAM, anywhere in the parameter space
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("reml", [False, True], ids=["ml", "reml"])
@pytest.mark.parametrize("name", list(SIM_CASES))
def test_deviance_equals_dense_long_form(name, reml):
    case, m, stats, fit = _prepared(name, reml)
    assert m.data.n_obs == len(case.y)                  # same estimation sample
    assert np.sum(np.isnan(case.df["y"])) > 0.1 * len(case.df)  # really unbalanced/FIML
    points = _random_points(m, seed=7, n=4) + [fit.values]
    for v in points:
        v = np.nan_to_num(v)
        ev = evaluate(v, stats, reml, gradient=False)
        named = _named(m, v)
        assert ev.deviance == pytest.approx(case.dense(named, reml), rel=REL, abs=0)
        # the profiled beta and its covariance are the GLS ones
        args = (case.y, case.X, case.groups, case.Z, case.G(named), named["var(Residual)"])
        beta = dict(zip(case.xnames, gls_beta(*args)))
        engine_beta = dict(zip(m.labels.index[stats.coef_ids], ev.beta))
        for term, b in beta.items():
            assert engine_beta[term] == pytest.approx(b, rel=REL, abs=1e-12)
        order = [case.xnames.index(t) for t in m.labels.index[stats.coef_ids]]
        np.testing.assert_allclose(np.linalg.inv(ev.xtvx),
                                   fixed_vcov(*args)[np.ix_(order, order)], rtol=REL,
                                   atol=1e-14)


@pytest.mark.parametrize("reml", [False, True], ids=["ml", "reml"])
@pytest.mark.parametrize("name", list(SIM_CASES))
def test_fast_path_equals_ram(name, reml):
    case, m, stats, fit = _prepared(name, reml)
    for v in _random_points(m, seed=8, n=3) + [np.nan_to_num(fit.values)]:
        ev = evaluate(v, stats, reml, gradient=False)
        ram = ram_gls(m, v, reml)
        assert ram.deviance == pytest.approx(ev.deviance, rel=REL, abs=0)
        np.testing.assert_allclose(ram.beta, ev.beta, rtol=REL, atol=1e-12)
        np.testing.assert_allclose(ram.xtvx, ev.xtvx, rtol=REL, atol=1e-10)
        assert ram_deviance(m, v, reml) == ram.deviance


def test_ram_implied_is_the_dense_block():
    """One wide row's RAM Sigma is the dense V block of that top-level unit (with the
    definition-variable loadings), and its mean is X beta."""
    case, m, stats, fit = _prepared("2l_un", False)
    v = _random_points(m, seed=9, n=1)[0]
    named = _named(m, v)
    beta = np.array([0.3, -0.2, 1.5])                  # free coefficients, labels order
    pos = {int(s): i for i, s in enumerate(np.flatnonzero(case.df[["y", "x", "t"]]
                                                           .notna().all(axis=1)))}
    for r in [0, 5, int(np.argmax(np.bincount(m.data.row)))]:
        obs = np.flatnonzero(m.data.row == r)
        rows = np.array([pos[int(s)] for s in m.data.source[obs]])   # rows of case.cc
        Sigma, mu = ram_implied(m, v, r, beta=beta)
        (_, V), = dense_V_blocks(case.y[rows], case.X[rows], [g[rows] for g in case.groups],
                                 [z[rows] for z in case.Z], case.G(named),
                                 named["var(Residual)"])
        np.testing.assert_allclose(Sigma, V, rtol=1e-12, atol=1e-12)
        xb = case.X[rows][:, [case.xnames.index(t) for t in m.labels.index[stats.coef_ids]]]
        np.testing.assert_allclose(mu, xb @ beta, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(m.data.y[obs], case.y[rows])
    # the RAM pieces: loadings from the definition variable t, F a pure filter
    rr = ram_matrices(m, v, 0)
    p = len(rr.obs)
    assert rr.A.shape == (p + 2, p + 2) and np.all(rr.A[p:] == 0) and np.all(rr.A[:, :p] == 0)
    t_col = list(m.effects["effect"]).index("t")
    lat_t = p + list(rr.latents).index(int(m.effect_latent[0, t_col]))
    np.testing.assert_array_equal(rr.A[:p, lat_t], m.Z[rr.obs, t_col])
    np.testing.assert_array_equal(rr.F, np.eye(p, p + 2))
    # the mean from `values` when beta is not given
    vb = v.copy()
    vb[stats.coef_ids] = beta
    np.testing.assert_allclose(ram_implied(m, vb, 0)[1], ram_implied(m, v, 0, beta=beta)[1])


def test_ram_inadmissible_point_is_inf():
    _, m, _, _ = _prepared("3l", False)
    v = _random_points(m, seed=1, n=1)[0]
    v[m.label_index("var(Residual)")] = -5.0
    assert ram_deviance(m, v) == np.inf


# ----------------------------------------------------------------------------------------
# gradient
# ----------------------------------------------------------------------------------------

def _fd_gradient(f, v: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Fourth-order central differences (error O(h^4)) of f at v for entries idx."""
    out = np.zeros(len(idx))
    for j, i in enumerate(idx):
        h = 1e-3 * max(abs(v[i]), 0.1)
        def at(d):
            w = v.copy()
            w[i] += d
            return f(w)
        out[j] = (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)
    return out


@pytest.mark.parametrize("reml", [False, True], ids=["ml", "reml"])
@pytest.mark.parametrize("name", list(SIM_CASES))
def test_gradient_equals_finite_differences(name, reml):
    case, m, stats, fit = _prepared(name, reml)
    idx = np.flatnonzero((m.labels["kind"] != "coef").to_numpy())
    coef = np.flatnonzero((m.labels["kind"] == "coef").to_numpy())
    dev = lambda w: evaluate(w, stats, reml, gradient=False).deviance  # noqa: E731
    for v in _random_points(m, seed=11, n=3):
        g = evaluate(v, stats, reml).gradient
        fd = _fd_gradient(dev, v, idx)
        # every label, covariance labels included, relative 1e-6 (of the gradient's size
        # for a component that happens to be near zero)
        scale = np.maximum(np.abs(fd), 1e-3 * np.abs(fd).max())
        assert np.max(np.abs(g[idx] - fd) / scale) < GRAD_REL
        assert np.all(g[coef] == 0)                     # beta is profiled
        # and the dense long form has the same slope
        fd_dense = _fd_gradient(lambda w: case.dense(_named(m, w), reml), v, idx)
        assert np.max(np.abs(g[idx] - fd_dense) / scale) < GRAD_REL
    # at the optimum the gradient vanishes (and still matches the differences)
    v = np.nan_to_num(fit.values)
    g = evaluate(v, stats, reml).gradient[idx]
    fd = _fd_gradient(dev, v, idx)
    assert np.max(np.abs(g - fd)) < 1e-6
    assert np.max(np.abs(g) * np.abs(v[idx])) < 1e-5


# ----------------------------------------------------------------------------------------
# fits against lme4
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rref():
    with open(DATA / "r_reference.json") as fh:
        return json.load(fh)


def _csv_case(family: str) -> Case:
    if family.startswith("sim2"):
        df = pd.read_csv(DATA / "sim2.csv")
        if family.endswith("corr"):
            return Case(family, df, "y x t || id: t, cov(un)", "un")
        return Case(family, df, "y x t || id: t", "ind")
    if family in ("sim3", "art"):
        return Case(family, pd.read_csv(DATA / f"{family}.csv"), "y x || k: || j:", "3l",
                    fixed=("x",), top="k")
    df = pd.read_csv(PIG)
    kw = dict(y="weight", fixed=("week",), top="id", slope="week")
    if family == "pig_ri":
        return Case(family, df, "weight week || id:", "ri", **kw)
    if family == "pig_indep":
        return Case(family, df, "weight week || id: week", "ind", **kw)
    return Case(family, df, "weight week || id: week, covariance(unstructured)", "un", **kw)


def _lme4_label(row: dict, case: Case) -> str:
    """semlevel label of an lme4 VarCorr row."""
    if row["grp"] == "Residual":
        return "var(Residual)"
    grp = {"k:j": "j", "id.1": "id"}.get(row["grp"], row["grp"])
    name = lambda v: "_cons" if v == "(Intercept)" else v  # noqa: E731
    if row["var2"]:
        return f"{grp}: cov({case.slope},_cons)"
    return f"{grp}: var({name(row['var1'])})"


_FITS: dict = {}


def _csv_fit(family: str, reml: bool):
    key = (family, reml)
    if key not in _FITS:
        case = _csv_case(family)
        _FITS[key] = (case, _fit(case.model(reml)))
    return _FITS[key]


LME4_FAMILIES = ["sim2_corr", "sim2_indep", "sim3", "art", "pig_ri", "pig_indep", "pig_corr"]


@pytest.mark.parametrize("reml", [False, True], ids=["ml", "reml"])
@pytest.mark.parametrize("family", LME4_FAMILIES)
def test_fit_matches_lme4(rref, family, reml):
    ref = rref["fits"][f"{family}_{'reml' if reml else 'ml'}"]
    case, fit = _csv_fit(family, reml)
    assert fit.n_obs == ref["nobs"]
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    fixed = fit.fixed
    for term, b in ref["fixef"].items():
        t = "_cons" if term == "(Intercept)" else term
        assert fixed.loc[t, "coef"] == pytest.approx(b, rel=1e-5)
        assert fixed.loc[t, "se"] == pytest.approx(ref["se"][term], rel=1e-5)
    random = fit.random
    assert len(random) == len(ref["varcomp"])
    for row in ref["varcomp"]:
        assert random.loc[_lme4_label(row, case), "estimate"] == pytest.approx(row["vcov"],
                                                                              rel=1e-5)
    assert fit.n_params == ref["df"]
    assert fit.aic == pytest.approx(ref["AIC"], abs=2e-6)
    assert fit.bic == pytest.approx(ref["BIC"], abs=2e-6)
    # and the engine's maximum is the dense likelihood at the engine's estimates
    assert -0.5 * case.dense(_named(fit.model, fit.values), reml) == pytest.approx(
        fit.loglik, abs=1e-9)


# ----------------------------------------------------------------------------------------
# the article's three-level model: wide SEM == long mixed model
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("reml", [False, True], ids=["ml", "reml"])
def test_article_wide_sem_equals_long_mixed_model(rref, reml):
    df = article(1)
    pd.testing.assert_frame_equal(df, pd.read_csv(DATA / "art.csv"), check_dtype=False)
    case = Case("art", df, "y x || k: || j:", "3l", fixed=("x",), top="k")
    m = case.model(reml)
    # the wide form: one row per k, one outcome per (j, i), latents k, j[1], j[2]
    assert (m.data.n_rows, m.data.n_slots) == (100, 4)
    assert list(m.latents["name"]) == ["k", "j[1]", "j[2]"]
    assert m.data.to_frame().shape == (100, 5)
    fit = _fit(m)
    # the long-form likelihood maximised independently (scipy, log variances from truth)
    names = ["k: var(_cons)", "j: var(_cons)", "var(Residual)"]

    def nll(logv):
        return case.dense(dict(zip(names, np.exp(logv))), reml)
    res = optimize.minimize(nll, np.zeros(3), method="BFGS", options={"gtol": 1e-9})
    est = dict(zip(names, np.exp(res.x)))
    assert fit.loglik == pytest.approx(-0.5 * res.fun, abs=1e-7)
    assert fit.loglik >= -0.5 * res.fun - 1e-9         # never below the dense maximum
    for n in names:
        assert fit.random.loc[n, "estimate"] == pytest.approx(est[n], rel=1e-4)
    ref = rref["fits"][f"art_{'reml' if reml else 'ml'}"]
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)


# ----------------------------------------------------------------------------------------
# observed-information standard errors of the variance components
# ----------------------------------------------------------------------------------------

def _numeric_hessian(f, x: np.ndarray) -> np.ndarray:
    """Central second differences of f (steps 1e-3 relative)."""
    k = len(x)
    h = 1e-3 * np.maximum(np.abs(x), 1e-2 * np.abs(x).max())
    H = np.zeros((k, k))
    f0 = f(x)
    E = np.diag(h)
    for i in range(k):
        H[i, i] = (f(x + E[i]) - 2 * f0 + f(x - E[i])) / h[i] ** 2
        for j in range(i):
            H[i, j] = H[j, i] = (f(x + E[i] + E[j]) - f(x + E[i] - E[j])
                                 - f(x - E[i] + E[j]) + f(x - E[i] - E[j])) / (4 * h[i] * h[j])
    return H


@pytest.mark.parametrize("reml", [False, True], ids=["ml", "reml"])
@pytest.mark.parametrize("family", ["sim2_corr", "sim3", "pig_corr"])
def test_variance_se_equal_numeric_hessian_of_dense(family, reml):
    case, fit = _csv_fit(family, reml)
    m = fit.model
    names = [n for n in m.labels.index if m.labels.loc[n, "kind"] != "coef"]
    x = np.array([fit.values[m.label_index(n)] for n in names])
    H = _numeric_hessian(lambda z: case.dense(dict(zip(names, z)), reml), x)
    V = np.linalg.inv(0.5 * H)
    se = fit.random.loc[names, "se"].to_numpy()
    np.testing.assert_allclose(se, np.sqrt(np.diag(V)), rtol=SE_REL)
    free = m.labels.index[(m.labels["kind"] != "coef").to_numpy()].tolist()
    order = [free.index(n) for n in names]
    D = np.sqrt(np.diag(V))
    np.testing.assert_allclose(fit.theta_vcov[np.ix_(order, order)] / np.outer(D, D),
                               V / np.outer(D, D), atol=SE_REL)


# ----------------------------------------------------------------------------------------
# relaxed path models (built by hand): the fast path still equals the RAM reference
# ----------------------------------------------------------------------------------------

def _relaxed_3l(m: sl.PathModel) -> sl.PathModel:
    """The three-level model with its constraints partly released:

    * residual variance of the first observation of every j its own label;
    * variance of the latent j[1] its own label;
    * slope of x in the slots of j == 1 its own label;
    * the constant fixed at 0.9 (not estimated: an offset of the mean).
    """
    lab = m.labels.copy()
    extra = pd.DataFrame({"kind": ["resvar", "var", "coef"], "free": True,
                          "value": np.nan, "block": ["Residual", "j", "fixed"]},
                         index=["var(e.first)", "j[1]: var(_cons)", "x#j1"])
    lab = pd.concat([lab, extra])
    lab.loc["_cons", ["free", "value"]] = [False, 0.9]
    slots = m.data.slots
    resid = m.resid_label.copy()
    resid[(slots["obs"] == 1).to_numpy()] = lab.index.get_loc("var(e.first)")
    phi = m.phi.copy()
    j1 = int(np.flatnonzero(m.latents["name"] == "j[1]")[0])
    phi.loc[(phi["a"] == j1) & (phi["b"] == j1), "label"] = lab.index.get_loc("j[1]: var(_cons)")
    paths = m.path_label.copy()
    paths[(slots["j"] == 1).to_numpy(), m.terms.index("x")] = lab.index.get_loc("x#j1")
    return m.with_labels(lab, resid_label=resid, phi=phi, path_label=paths)


@pytest.mark.parametrize("reml", [False, True], ids=["ml", "reml"])
def test_relaxed_model_fast_path_equals_ram(reml):
    _, m0, _, _ = _prepared("3l", False)
    m = _relaxed_3l(m0)
    stats = pool_statistics(m)
    assert len(stats.resid_ids) == 2 and len(stats.coef_ids) == 2   # x, x#j1 free
    idx = np.flatnonzero((m.labels["kind"] != "coef").to_numpy())
    for v in _random_points(m, seed=21, n=3):
        ev = evaluate(v, stats, reml)
        ram = ram_gls(m, v, reml)
        assert ram.deviance == pytest.approx(ev.deviance, rel=REL, abs=0)
        np.testing.assert_allclose(ram.beta, ev.beta, rtol=REL, atol=1e-12)
        fd = _fd_gradient(lambda w: ram_deviance(m, w, reml), v, idx)
        scale = np.maximum(np.abs(fd), 1e-3 * np.abs(fd).max())
        assert np.max(np.abs(ev.gradient[idx] - fd) / scale) < GRAD_REL
    # the fixed constant (its value in the label table) matters: it is not profiled away
    lab = m.labels.copy()
    lab.loc["_cons", "value"] = 0.0
    m0c = m.with_labels(lab)
    dev0 = evaluate(v, pool_statistics(m0c), reml, gradient=False).deviance
    assert dev0 != pytest.approx(ev.deviance, rel=1e-6)
    assert ram_deviance(m0c, v, reml) == pytest.approx(dev0, rel=REL)


def test_pooled_expected_information_equals_the_dense_one():
    """The Fisher information the optimiser scores with, from pooled statistics, equals
    1/2 sum_r tr(Sigma^-1 D_j Sigma^-1 D_k) computed row by row (engine/information.py),
    also with several residual labels."""
    from semlevel.engine.deviance import expected_information as pooled_info
    from semlevel.engine.fitting import starting_values
    from semlevel.engine.stats import pool_statistics
    from semlevel.engine.information import expected_information as dense_info
    from simulate import three_level, two_level
    cases = [("y x t || id: t, cov(un)", two_level(3)), ("y x || k: || j:", three_level(4))]
    for spec, df in cases:
        model = sl.mixed_model(spec, data=df)
        for m in (model, model.relax("var(Residual)", groups={"obs=1": "v1"})):
            v = starting_values(m)
            var = np.flatnonzero((m.labels["kind"] != "coef").to_numpy())
            a = pooled_info(v, pool_statistics(m))[np.ix_(var, var)]
            b = dense_info(m, v, np.zeros(0, dtype=np.int64), var)
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12 * np.abs(b).max())


@pytest.mark.parametrize("spec", ["weight week || id:", "weight week || id: week, cov(un)"])
def test_pooled_fit_does_not_evaluate_its_final_point_again(monkeypatch, spec):
    """The Fit takes the optimiser's last evaluation where its values are the estimates
    to the bit: the evaluations are the optimiser's plus one gradient per free variance
    parameter for the complex-step Hessian of the standard errors, and the log
    likelihood is the one a fresh evaluation at the estimates gives."""
    from semlevel.engine import fitting
    calls = []
    real = fitting.deviance

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(fitting, "deviance", counted)
    fit = sl.mixed(spec, data=sl.datasets.load("pig"))
    k = len(fit.theta_vcov)
    assert len(calls) == fit.optimization.evaluations + k
    again = real(fit.values, fit.stats, False, gradient=True)
    assert again.deviance == fit.evaluation.deviance
    np.testing.assert_array_equal(again.beta, fit.evaluation.beta)
