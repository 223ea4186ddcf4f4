"""The engine's coordinates of the coefficients (engine.coefficient_basis) and the
reproducibility they buy; complex-step standard errors.

Every path evaluates S = [X B, y - X shift]' V^-1 [...]; the deviance, beta and X'V^-1X
must be those of the original design (checked against the identity basis, i.e. the raw
design, and against finite differences), and the fit must not depend on the order of the
rows beyond rounding.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import semlevel as sl
from semlevel.engine.coefficient_basis import BITS, CoefficientBasis, round_bits
from semlevel.engine.deviance import evaluate
from semlevel.engine.evaluator import deviance, statistics
from semlevel.engine.fitting import _variance_vcov
from semlevel.engine.optimize import complex_step_hessian, difference_hessian
from semlevel.engine.stats import pool_statistics
from semlevel.model.coefficients import coefficient_design
from simulate import three_level

PROD = ["gsp", "private", "emp", "hwy", "water", "other", "unemp"]
EX5 = "gsp private emp hwy water other unemp || region: hwy unemp || state:"


@pytest.fixture(scope="module")
def prod():
    d = sl.datasets.load("productivity")
    d[PROD] = d[PROD].astype(np.float32).astype(float)
    return d


def test_round_bits_is_exact_and_idempotent():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50) * 10.0 ** rng.integers(-8, 8, 50)
    r = round_bits(x)
    assert np.all(np.abs(r - x) <= 2.0 ** -BITS * np.abs(x))
    assert np.array_equal(round_bits(r), r)
    # values that differ by rounding round to the same numbers (but for one that
    # straddles a boundary, with probability ~50 * 1e-15 * 2^30 = 5e-5)
    assert np.sum(round_bits(x * (1 + 1e-15)) != r) <= 1


def test_basis_maps(prod):
    m = sl.mixed_model(EX5, data=prod)
    Xt, _ = coefficient_design(m)
    basis = CoefficientBasis.of(Xt, m.data.y)
    k = Xt.shape[1]
    # the internal design is orthonormal to the rounding of the basis
    Xc = basis.design(Xt)
    assert np.allclose(Xc.T @ Xc, np.eye(k), atol=1e-7)
    # the centred outcome is the OLS residual
    yc = basis.centre(Xt, m.data.y)
    assert np.abs(Xt.T @ yc).max() <= 1e-6 * np.abs(Xt.T @ m.data.y).max()
    beta = np.linspace(-1, 1, k)
    assert np.allclose(basis.to_original(basis.to_internal(beta)), beta, rtol=1e-12)
    # X'V^-1X back from its internal counterpart (V = I here)
    assert np.allclose(basis.original_information(Xc.T @ Xc), Xt.T @ Xt, rtol=1e-10)
    sign, logdet = np.linalg.slogdet(Xt.T @ Xt)
    assert np.log(np.linalg.det(Xc.T @ Xc)) - 2 * basis.logdet() == pytest.approx(logdet,
                                                                                rel=1e-10)


def test_basis_is_the_same_for_rows_in_another_order(prod):
    m1 = sl.mixed_model(EX5, data=prod)
    m2 = sl.mixed_model(EX5, data=prod.iloc[::-1])
    b1 = pool_statistics(m1).basis
    b2 = pool_statistics(m2).basis
    assert np.array_equal(b1.shift, b2.shift) and np.array_equal(b1.basis, b2.basis)


def test_singular_design_keeps_the_identity_basis():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=30), np.ones(30)])
    X = np.column_stack([X, 2 * X[:, 0]])
    basis = CoefficientBasis.of(X, rng.normal(size=30))
    assert np.array_equal(basis.basis, np.eye(3))
    assert np.all(np.isfinite(basis.shift))


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("path", ["pooled", "dense", "sparse"])
def test_deviance_equals_that_of_the_raw_design(prod, path, reml):
    """Each path (own basis) against the pooled path with the identity basis (the
    original design, only y centred): deviance, beta, X'V^-1X. (To 1e-10: the raw
    design's own rounding moves this deviance by ~3e-12 of its value.)"""
    m = sl.mixed_model(EX5 + (", reml" if reml else ""), data=prod)
    fit = m.fit()
    raw_basis = CoefficientBasis(fit.stats.basis.shift, np.eye(len(fit.stats.basis.shift)))
    raw = pool_statistics(m, basis=raw_basis)
    stats = statistics(m, path)
    assert not np.array_equal(stats.basis.basis, raw_basis.basis)
    for scale in (0.5, 1.0, 2.0):
        v = fit.values.copy()
        v[~m.labels["kind"].eq("coef").to_numpy()] *= scale
        a = evaluate(v, raw, reml, gradient=False)
        b = deviance(v, stats, reml, gradient=False)
        assert b.deviance == pytest.approx(a.deviance, rel=1e-10)
        assert np.allclose(b.beta, a.beta, rtol=1e-8, atol=1e-10 * np.abs(a.beta).max())
        assert np.allclose(b.xtvx, a.xtvx, rtol=1e-8)


@pytest.mark.parametrize("path", ["pooled", "dense"])
def test_coefficient_gradient_against_differences(prod, path):
    """d deviance / d beta at a given beta (ML) against central differences."""
    m = sl.mixed_model(EX5, data=prod)
    fit = m.fit()
    stats = statistics(m, path)
    coef = stats.coef_ids
    beta = fit.values[coef] * 1.01
    g = deviance(fit.values, stats, False, beta=beta).gradient[coef]
    for j in range(len(beta)):
        h = 1e-5 * max(abs(beta[j]), 1e-2)
        up, dn = beta.copy(), beta.copy()
        up[j] += h
        dn[j] -= h
        fd = (deviance(fit.values, stats, False, gradient=False, beta=up).deviance
              - deviance(fit.values, stats, False, gradient=False, beta=dn).deviance) / (2 * h)
        assert g[j] == pytest.approx(fd, rel=1e-5, abs=1e-4)


CS_CASES = {
    "ex5": ("prod", EX5),
    "ex5_reml": ("prod", EX5 + ", reml"),
    "unstructured": ("pig", "weight week || id: week, covariance(unstructured)"),
    "residual_by_week": ("pig", "weight week || id:"),
    "weighted": ("sim", "y x [pw=wi] || k: || j:"),
}


@pytest.fixture(scope="module")
def sim():
    d = three_level(3, n_top=40).dropna(subset=["x"])
    d["wi"] = np.random.default_rng(3).uniform(0.5, 2.0, len(d))
    return d


@pytest.mark.parametrize("name", list(CS_CASES))
def test_complex_step_hessian_equals_differences(prod, sim, name):
    """The variance labels' Hessian by complex steps equals central differences of the
    gradient (to their truncation error); the complex step is never dropped silently."""
    data, spec = CS_CASES[name]
    frames = {"prod": prod, "sim": sim, "pig": sl.datasets.load("pig")}
    m = sl.mixed_model(spec, data=frames[data])
    if name == "residual_by_week":
        m = m.relax("var(Residual)")               # one residual variance per week
    fit = m.fit()
    stats = fit.stats
    free = np.flatnonzero(m.labels["free"].to_numpy() & ~m.labels["kind"].eq("coef").to_numpy())
    theta = fit.values[free]

    def grad(t):
        v = fit.values.astype(np.result_type(fit.values, t))
        v[free] = t
        return deviance(v, stats, m.reml, gradient=True, check_psd=False).gradient[free]

    steps = 1e-4 * np.abs(theta)
    with warnings.catch_warnings():
        warnings.simplefilter("error")              # a ComplexWarning (imag dropped) fails
        H = complex_step_hessian(grad, theta, steps)
    D = difference_hessian(grad, theta, None, steps, central=True)
    assert np.abs(H - D).max() <= 1e-6 * np.abs(H).max()
    # the fit's variance SEs are its inverse
    v = _variance_vcov(fit.values, stats, m.reml, free, np.zeros(len(free), bool), False)
    assert np.allclose(v, np.linalg.inv(0.5 * H), rtol=1e-10)


def test_complex_step_refuses_a_real_gradient():
    with pytest.raises(TypeError, match="not analytic"):
        complex_step_hessian(lambda x: np.real(2 * x), np.ones(2), np.ones(2))


def test_fit_does_not_depend_on_row_order(prod):
    """Manual example 5, the flattest likelihood of the manual's examples: the rows in
    reverse order give the same fit to 1e-10 (it moved 1e-7 before the coordinates of
    the coefficients were fixed and the last Newton step taken)."""
    f1 = sl.mixed(EX5, data=prod)
    f2 = sl.mixed(EX5, data=prod.iloc[::-1])
    assert f2.loglik == pytest.approx(f1.loglik, rel=1e-13)
    for tab, cols in ((f1.fixed, ["coef", "se"]), (f1.random, ["estimate"])):
        other = f2.fixed if tab is f1.fixed else f2.random
        a, b = tab[cols].to_numpy(), other[cols].to_numpy()
        assert np.all(np.abs(a - b) <= 1e-10 * np.abs(a).max(axis=0))


@pytest.mark.parametrize("k", [1, 3, 12])
def test_the_pooled_paths_transposed_design_is_the_same_bits(k):
    """The pooled statistics build the internal design transposed (each column of W
    contiguous): the same products and sums in the same order as internal_design,
    with the data's own basis and with a given one."""
    from semlevel.engine.stats import internal_design, internal_design_rows
    rng = np.random.default_rng(k)
    X = rng.normal(size=(3000, k)) * 10 + 3
    y = rng.normal(size=3000) + 100
    W, basis = internal_design(X, y)
    Wt, basis_rows = internal_design_rows(X, y)
    assert np.array_equal(basis.basis, basis_rows.basis)
    assert np.array_equal(basis.shift, basis_rows.shift)
    assert np.array_equal(W.T, Wt)
    W2, _ = internal_design(X[:100], y[:100], basis)
    Wt2, _ = internal_design_rows(X[:100], y[:100], basis)
    assert np.array_equal(W2.T, Wt2)
