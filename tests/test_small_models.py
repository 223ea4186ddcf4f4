"""The small-model shortcuts of the evaluation (a stack of one pool, as the manual's pig
data give): the same numbers as the general routines they stand for."""
import functools

import numpy as np
import pytest

import semlevel as sl
from semlevel.engine import deviance as dev
from semlevel.engine.linalg.small import STACK, bmm, inverse_logdet, solve_logdet


@pytest.mark.parametrize("q", [1, 2, 3])
@pytest.mark.parametrize("P", [1, 5, 40])
def test_the_inverse_is_the_solve_with_the_identity_to_the_bit(q, P):
    rng = np.random.default_rng(q * 100 + P)
    A = rng.normal(size=(P, q, q))
    M = np.eye(q) + A @ np.swapaxes(A, 1, 2)
    inv, sign, logdet = inverse_logdet(M)
    inv2, sign2, logdet2 = solve_logdet(M, np.broadcast_to(np.eye(q), M.shape))
    assert inv.tobytes() == np.ascontiguousarray(inv2).tobytes()
    np.testing.assert_array_equal(sign, sign2)
    np.testing.assert_array_equal(logdet, logdet2)
    np.testing.assert_allclose(inv @ M, np.broadcast_to(np.eye(q), M.shape), atol=1e-12)


@pytest.mark.parametrize("P", [1, STACK - 1, STACK, 100])
def test_small_stacks_multiply_as_large_ones(P):
    rng = np.random.default_rng(P)
    a, b = rng.normal(size=(P, 2, 3)), rng.normal(size=(P, 3, 2))
    np.testing.assert_allclose(bmm(a, b), np.einsum("pij,pjk->pik", a, b), rtol=1e-14,
                               atol=1e-14)


def test_the_2x2_eigenvalue_range_is_eigvalsh():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(50, 2, 2))
    S = A + np.swapaxes(A, 1, 2)
    S[0] = [[4.0, 2.0], [2.0, 1.0]]                      # singular: eigenvalues 0 and 5
    lo, hi = dev._eigen_range(S)
    ev = np.linalg.eigvalsh(S)
    np.testing.assert_allclose(lo, ev[:, 0], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(hi, ev[:, 1], rtol=1e-13, atol=1e-14)
    assert abs(lo[0]) < 1e-14


@pytest.fixture
def information_calls(monkeypatch):
    """The values at which expected informations are computed (a list, filled as they
    are)."""
    calls = []
    real = dev.information_at

    def counted(values, stats):
        calls.append(np.array(values))
        return real(values, stats)
    monkeypatch.setattr(dev, "information_at", counted)
    return calls


def test_the_information_at_the_start_is_computed_once(information_calls):
    calls = information_calls
    fit = sl.mixed("weight week || id:", data=sl.datasets.load("pig"))
    starts = [c for c in calls if c.tobytes() == calls[0].tobytes()]
    assert len(starts) == 1                 # the identification check's, reused by scoring
    assert len(calls) >= 2 and fit.converged
    # a returned information is the caller's own
    info = dev.expected_information(calls[0], fit.stats)
    info[:] = 0.0
    assert np.abs(dev.expected_information(calls[0], fit.stats)).max() > 0


@pytest.mark.parametrize("spec", ["weight week || id:", "weight week || id: week",
                                  "weight week || id: week, cov(un)"])
def test_scoring_computes_no_information_it_does_not_step_on(information_calls, spec):
    """Each expected information a fit computes is the curvature of one scoring step:
    the identification check's (reused by the first step) and one per later step; where
    the last step's curvature already puts the point within the hand-over to Newton
    steps, none is computed there."""
    calls = information_calls
    events = []
    fit = sl.mixed_model(spec, data=sl.datasets.load("pig")).fit(callback=events.append)
    steps = sum(1 for e in events if e.step == "scoring")
    assert fit.converged and steps >= 1
    assert len(calls) == steps


def _gram(model, start, var_ids, rows=None, counts=None):
    from semlevel.engine.information import parameter_derivatives
    pos = {int(v): i for i, v in enumerate(var_ids)}
    G = np.zeros((len(var_ids), len(var_ids)))
    for k, (obs, D, _) in enumerate(parameter_derivatives(model, start, rows)):
        iu = np.triu_indices(len(obs))
        J = np.zeros((len(iu[0]), len(var_ids)))
        for lab, Dm in D.items():
            if lab in pos:
                J[:, pos[lab]] = Dm[iu]
        G += (1.0 if counts is None else counts[k]) * J.T @ J
    return G


@pytest.mark.parametrize("spec", ["weight week || id:, residuals(ar 1, t(week))",
                                  "weight week || id: week, residuals(exchangeable)"])
def test_the_identification_gram_of_distinct_rows_is_that_of_every_row(spec):
    from semlevel.engine.information import distinct_rows
    from semlevel.engine.starts import starting_values
    from semlevel.model.label_arrays import label_arrays
    pig = sl.datasets.load("pig")
    # unbalanced: some pigs lose their last weeks, one loses a middle week
    keep = ~(((pig["id"] % 5 == 0) & (pig["week"] > 6)) | ((pig["id"] == 3) & (pig["week"] == 4)))
    for data, n_kinds in ((pig, 1), (pig[keep].reset_index(drop=True), 3)):
        model = sl.mixed_model(spec, data=data)
        rows, counts = distinct_rows(model, 400)
        assert len(rows) == n_kinds and counts.sum() == model.data.n_rows
        start = starting_values(model)
        var_ids = label_arrays(model).free_variances
        every = _gram(model, start, var_ids)
        np.testing.assert_allclose(_gram(model, start, var_ids, rows, counts), every,
                                   rtol=1e-12, atol=1e-12 * np.abs(every).max())


@pytest.mark.parametrize("spec", ["weight week || id:", "weight week || id: week",
                                  "weight || id:"])
def test_the_starting_residual_variance_is_the_ols_one(spec):
    """The starts split the OLS residual variance; a fit takes it from the statistics'
    triangular factor of [X, y] instead of a second OLS fit: the same moment (to
    rounding), hence the same starting values after their rounding to 20 bits."""
    from semlevel.engine import fitting as F
    from semlevel.engine.starts import starting_values
    from semlevel.model.coefficients import ols_residual
    pig = sl.datasets.load("pig")
    model = sl.mixed_model(spec, data=pig)
    stats = F._statistics(model, None)
    got = F._residual_variance(model, stats)
    want = float(np.mean(ols_residual(model) ** 2))
    assert got == pytest.approx(want, rel=1e-12)
    np.testing.assert_array_equal(starting_values(model, residual_variance=got),
                                  starting_values(model))


def test_the_starting_residual_variance_is_computed_where_the_factor_is_not_the_outcomes():
    """With a coefficient fixed at a value the factor is of y less that offset: the
    starts then compute their own OLS fit of y."""
    from semlevel.engine import fitting as F
    pig = sl.datasets.load("pig")
    model = sl.mixed_model("weight week || id:", data=pig)
    labels = model.labels.copy()
    labels.loc["week", ["free", "value"]] = [False, 6.0]
    fixed = model.with_labels(labels)
    assert F._residual_variance(fixed, F._statistics(fixed, None)) is None


def _balanced(seed, n_groups=30, n_obs=6):
    import pandas as pd
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), n_obs)
    x = np.tile(np.arange(n_obs, dtype=float), n_groups) * rng.uniform(0.5, 2.0)
    y = 3.0 + 0.7 * x + rng.normal(size=n_groups)[g] * rng.uniform(0.1, 3.0) \
        + rng.normal(size=len(g)) * rng.uniform(0.1, 3.0) + rng.uniform(-1e3, 1e3)
    return pd.DataFrame({"g": g, "x": x, "y": y})


def _single_case(seed, rng_seed, n_random, edits):
    """A balanced random-intercept model's statistics (one pool of one latent), a kernel
    that takes the general routines, the starting values, the two labels' positions and
    points: ``n_random`` random ones around the start, then the start with each edit
    (value, "var" | "res") made."""
    from semlevel.engine import fitting as F
    model = sl.mixed_model("y x || g:", data=_balanced(seed))
    stats = F._statistics(model, None)
    assert stats.kernel.single
    general = stats.kernel._replace(single=False)
    rng = np.random.default_rng(rng_seed)
    start = F._start(model, stats)
    var = model.label_index("g: var(_cons)")
    res = model.label_index("var(Residual)")
    points = [start * np.exp(rng.normal(scale=2.0, size=len(start))) for _ in range(n_random)]
    for value, which in edits:
        points.append(start.copy())
        points[-1][var if which == "var" else res] = value
    return stats, general, start, var, res, points


@pytest.mark.parametrize("seed", range(6))
def test_the_one_pool_kernel_gives_the_general_kernels_bits(seed):
    """A balanced random-intercept model's statistics are one pool of one latent and one
    residual label; its evaluations take the float kernel (_evaluate_single), which
    must give the general kernel's numbers to the bit: deviance, coefficients, X'V^-1X
    and gradient, ML and REML, with and without the gradient and the PSD check, at
    admissible and inadmissible values; and the expected information likewise
    (_information_single)."""
    stats, general, start, var, res, points = _single_case(
        seed, 100 + seed, 12, ((0.0, "var"), (-1e-3, "var"), (-1.0, "res"), (-1e12, "var")))
    for v in points + [np.where(np.arange(len(start)) == res, np.nan, start)]:
        info = dev.information_at(v, stats)
        stats.__dict__["kernel"], kept = general, stats.kernel
        try:
            ref = dev.information_at(v, stats)
        finally:
            stats.__dict__["kernel"] = kept
        assert (info is None) == (ref is None)
        if ref is not None:
            assert info.tobytes() == ref.tobytes()
    for v in points:
        for reml in (False, True):
            for grad in (False, True):
                for psd in (False, True):
                    one = dev.evaluate(v, stats, reml, grad, psd)
                    stats.__dict__["kernel"], kept = general, stats.kernel
                    try:
                        ref = dev.evaluate(v, stats, reml, grad, psd)
                    finally:
                        stats.__dict__["kernel"] = kept
                    assert np.float64(one.deviance).tobytes() == \
                        np.float64(ref.deviance).tobytes()
                    if not np.isfinite(ref.deviance):
                        continue
                    assert one.beta.tobytes() == ref.beta.tobytes()
                    assert one.xtvx.tobytes() == ref.xtvx.tobytes()
                    if grad:
                        assert one.gradient.tobytes() == ref.gradient.tobytes()


@pytest.mark.parametrize("spec", ["weight week || id: week", "weight week || id: week, cov(un)"])
def test_one_pools_cross_products_are_einsums_bits(spec):
    """With one pool and one residual label the evaluation takes the pool's C times the
    residual precision (plus zero, as einsum's sum of one term) instead of the einsum:
    the same bits, at real values and at complex steps (the standard errors')."""
    from semlevel.engine import fitting as F
    model = sl.mixed_model(spec, data=sl.datasets.load("pig"))
    stats = F._statistics(model, None)
    assert stats.kernel.C00 is not None and not stats.kernel.single
    start = F._start(model, stats)
    free = model.label_positions(["var(Residual)"])
    kept = stats.kernel
    for v in (start, start * 1.7, start.astype(complex) + 1e-20j * (np.arange(len(start)) == free[0])):
        for reml in (False, True):
            try:
                # (the general kernel: these statistics would take the pair kernel)
                stats.__dict__["kernel"] = kept._replace(pair=False)
                one = dev.evaluate(v, stats, reml, True)
                stats.__dict__["kernel"] = kept._replace(pair=False, C00=None)
                ref = dev.evaluate(v, stats, reml, True)
            finally:
                stats.__dict__["kernel"] = kept
            assert np.asarray(one.deviance).tobytes() == np.asarray(ref.deviance).tobytes()
            assert one.gradient.tobytes() == ref.gradient.tobytes()


def _balanced_slope(seed, n_groups=25, n_obs=7):
    import pandas as pd
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), n_obs)
    t = np.tile(np.arange(n_obs, dtype=float), n_groups) * rng.uniform(0.5, 2.0)
    u = rng.normal(size=(n_groups, 2)) * rng.uniform(0.1, 3.0, 2)
    y = (3.0 + u[g, 0] + (0.7 + u[g, 1]) * t + rng.normal(size=len(g)) * rng.uniform(0.1, 3.0)
         + rng.uniform(-1e3, 1e3))
    return pd.DataFrame({"g": g, "t": t, "y": y})


def _with_general_kernel(stats, call):
    """``call()`` with the statistics' kernel told to take the general routines."""
    kept = stats.kernel
    stats.__dict__["kernel"] = kept._replace(pair=False)
    try:
        return call()
    finally:
        stats.__dict__["kernel"] = kept


def _close(a, b, rtol):
    """|a - b| within ``rtol`` of the largest |b| (entries that cancel are judged at the
    scale of the whole)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=0, atol=rtol * max(np.abs(b).max(), 1e-300))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("cov", ["", ", cov(un)"])
def test_the_pair_kernel_gives_the_general_kernels_numbers(seed, cov):
    """A balanced random-slope model's statistics are one pool of two latents and one
    residual label; its evaluations take the 2 x 2 kernel written out on Python numbers
    (_evaluate_pair, _information_pair), which gives the general kernel's numbers to
    rounding: deviance, coefficients, X'V^-1X, gradient and expected information, ML
    and REML, at real values (with and without the PSD check: a non-PSD Phi is
    refused alike) and at complex steps (the standard errors'), at admissible and
    inadmissible values; a value that is not finite gives what the general kernel
    gives."""
    from semlevel.engine import fitting as F
    model = sl.mixed_model("y t || g: t" + cov, data=_balanced_slope(seed))
    stats = F._statistics(model, None)
    assert stats.kernel.pair and not stats.kernel.single
    rng = np.random.default_rng(200 + seed)
    start = F._start(model, stats)
    res = model.label_index("var(Residual)")
    v0 = model.label_index("g: var(_cons)")
    points = [start * np.exp(rng.normal(scale=1.5, size=len(start))) for _ in range(10)]
    for lab, value in ((v0, 0.0), (v0, -1e-3), (res, -1.0), (res, np.nan)):
        points.append(start.copy())
        points[-1][lab] = value
    if cov:                                          # a covariance beyond the variances
        c = model.label_index("g: cov(t,_cons)")
        points.append(start.copy())
        points[-1][c] = 10.0 * np.sqrt(abs(start[v0]) * abs(start[c]) + 1.0)
    n_inadmissible = 0
    for v in points:
        info = dev.information_at(v, stats)
        ref = _with_general_kernel(stats, lambda: dev.information_at(v, stats))
        assert (info is None) == (ref is None)
        if ref is not None:
            _close(info, ref, 1e-13)
        for reml in (False, True):
            for grad in (False, True):
                for psd in (False, True):
                    one = dev.evaluate(v, stats, reml, grad, psd)
                    ref = _with_general_kernel(
                        stats, lambda: dev.evaluate(v, stats, reml, grad, psd))
                    assert np.isfinite(one.deviance) == np.isfinite(ref.deviance)
                    if not np.isfinite(ref.deviance):
                        n_inadmissible += 1
                        continue
                    assert one.deviance == pytest.approx(ref.deviance, rel=1e-14)
                    _close(one.beta, ref.beta, 1e-12)
                    _close(one.xtvx, ref.xtvx, 1e-13)
                    if grad:
                        _close(one.gradient, ref.gradient, 1e-12)
        # a complex step in each label: the derivative of the gradient (imaginary part)
        for lab in (v0, res):
            vc = v.astype(complex)
            vc[lab] += 1e-20j
            one = dev.evaluate(vc, stats, False, True, check_psd=False)
            ref = _with_general_kernel(
                stats, lambda: dev.evaluate(vc, stats, False, True, check_psd=False))
            if np.isfinite(ref.deviance):
                _close(one.gradient.real, ref.gradient.real, 1e-12)
                _close(one.gradient.imag, ref.gradient.imag, 1e-11)
    assert n_inadmissible > 0                      # the refusals were compared too


@pytest.mark.parametrize("spec", ["weight week || id: week",
                                  "weight week || id: week, cov(un)",
                                  "weight week || id: week, reml"])
def test_a_fit_with_the_pair_kernel_is_the_general_kernels_fit(spec):
    """The manual's random-slope fits (examples 2 and 3) reach the same optimum, standard
    errors and log likelihood whichever kernel evaluates them (to the rounding the fit
    carries: 1e-10 of each column, as the Dask fits are held to)."""
    from semlevel.engine import stats as S
    pig = sl.datasets.load("pig")
    fast = sl.mixed(spec, data=pig)
    assert fast.stats.kernel.pair
    real = S.PoolStats.kernel.func
    mp = pytest.MonkeyPatch()
    general = functools.cached_property(lambda self: real(self)._replace(pair=False))
    general.__set_name__(S.PoolStats, "kernel")
    mp.setattr(S.PoolStats, "kernel", general)
    try:
        slow = sl.mixed(spec, data=pig)
    finally:
        mp.undo()
    assert not slow.stats.kernel.pair
    assert fast.loglik == pytest.approx(slow.loglik, rel=1e-12)
    for a, b in ((fast.fixed, slow.fixed), (fast.random, slow.random)):
        for col in a.columns:
            x, y = a[col].to_numpy(float), b[col].to_numpy(float)
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-10 * np.abs(y).max())


@pytest.mark.parametrize("seed", range(4))
def test_the_one_latent_kernel_at_complex_steps_gives_the_general_kernels_numbers(seed):
    """The standard errors' complex steps (complex values, no PSD check) take the
    one-latent kernel too, on Python complex numbers: the general kernel's deviance and
    gradient (real and imaginary parts) to rounding, ML and REML, at admissible and
    inadmissible values; a value that is not finite gives what the general one gives."""
    stats, general, start, var, res, points = _single_case(
        seed, 300 + seed, 8, ((0.0, "var"), (-1e-3, "var"), (-1.0, "res"), (np.nan, "res")))
    seen = set()
    for v in points:
        for lab in (var, res):
            vc = v.astype(complex)
            vc[lab] += 1e-20j * max(abs(v[lab]), 1.0)
            for reml in (False, True):
                one = dev.evaluate(vc, stats, reml, True, check_psd=False)
                stats.__dict__["kernel"], kept = general, stats.kernel
                try:
                    ref = dev.evaluate(vc, stats, reml, True, check_psd=False)
                finally:
                    stats.__dict__["kernel"] = kept
                seen.add(bool(np.isfinite(ref.deviance)))
                if not np.isfinite(ref.deviance):
                    assert not np.isfinite(one.deviance) or np.isnan(ref.deviance)
                    continue
                assert one.deviance == pytest.approx(ref.deviance, rel=1e-14)
                assert one.gradient.dtype == ref.gradient.dtype == complex
                _close(one.gradient.real, ref.gradient.real, 1e-12)
                _close(one.gradient.imag, ref.gradient.imag, 1e-11)
    assert seen == {True, False}


@pytest.mark.parametrize("spec", ["weight week || id:", "weight week || id: week",
                                  "weight week || id: week, cov(un)",
                                  "weight week || id: week, cov(exch)"])
def test_the_coordinates_jacobian_is_that_of_the_values(spec):
    """Fisher scoring maps the expected information to the optimiser's coordinates by
    d values / d u: the diagonal 2u where every coordinate is a variance's square root,
    central differences of the values elsewhere; both equal the differences' Jacobian
    (to their precision) at random coordinates."""
    from semlevel.engine import fitting as F
    from semlevel.engine.parametrization import Parametrization
    model = sl.mixed_model(spec, data=sl.datasets.load("pig"))
    stats = F._statistics(model, None)
    base = F._start(model, stats)
    param = Parametrization.of(model)
    rng = np.random.default_rng(len(spec))
    for _ in range(3):
        u = param.coordinates(base) * np.exp(rng.normal(scale=0.5, size=param.size))
        J = param.jacobian(u, base)
        D = np.empty_like(J)
        for j in range(len(u)):
            h = 1e-6 * max(abs(u[j]), 1e-3)
            up, dn = u.copy(), u.copy()
            up[j] += h
            dn[j] -= h
            D[:, j] = (param.values(up, base) - param.values(dn, base))[param.free] / (2 * h)
        assert J.shape == (len(param.free), len(u))
        np.testing.assert_allclose(J, D, rtol=1e-7, atol=1e-7 * np.abs(D).max())
