"""Fit a PathModel: starting values, Newton optimisation, observed information."""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from . import weighting
from .identify import check_identified
from .linalg.threads import one_blas_thread
from .scaling import rescaled
from .starts import (anova_start, effect_loading_squares, latent_loading_squares,
                     starting_values)
from ..model.pathmodel import PathModel
from ..services import service
from .deviance import expected_information
from .evaluator import deviance, expand, statistics
from .optimize import (OptimizationSummary, complex_step_hessian, difference_hessian,
                       function_hessian, newton, secant_hessian)
from .parametrization import Parametrization
from .protocol import Statistics, capabilities_of
from ..model.coefficients import fixed_offset
from .stats import PoolStats
from ..model.label_arrays import carry_label_arrays, label_arrays, phi_arrays

if TYPE_CHECKING:  # pragma: no cover - the results layer builds it (services)
    from ..results import Fit
    from .profiled import Curvature

__all__ = ["fit_model", "optimise", "information_of", "fit_at", "starting_values", "ConvergenceWarning", "BoundaryWarning"]



class ConvergenceWarning(UserWarning):
    """The optimiser did not reach a point with zero gradient and positive curvature."""


class BoundaryWarning(UserWarning):
    """A variance was estimated at its boundary (zero)."""


def _free_variance_labels(model: PathModel) -> tuple[np.ndarray, np.ndarray]:
    la = label_arrays(model)
    free = la.free_variances
    is_var = la.is_variance[free]
    return free, is_var


def fit_model(model: PathModel, max_iter: int = 200, tol: float = 1e-13,
              callback=None, path: str | None = None) -> "Fit":
    """Fit ``model`` by FIML (ML or REML per ``model.reml``) and return a :class:`Fit`.

    An unidentified model is refused before any iteration, naming the labels at fault.
    ``callback`` receives the optimiser's :class:`~.optimize.IterationEvent` s (an
    iteration log: :class:`semlevel.output.iterlog.IterationLog`). ``path`` forces an
    evaluation path ("pooled", "dense", "sparse"; default: chosen by
    :func:`.evaluator.path_of`): every path gives the same likelihood.
    """
    check_outcome(model)
    scaled = rescaled(model)
    if scaled is not None:                   # extreme scales: fit standardised, map back
        smodel, factor = scaled
        sstats = _statistics(smodel, path)
        check_outcome(smodel, sstats)
        start = _start(smodel, sstats)
        check_identified(smodel, sstats, start)
        with _blas_threads(sstats):
            sfit = optimise(smodel, sstats, start, max_iter, tol, callback)
        stats = _statistics(model, path)
        free, _ = _free_variance_labels(model)
        F = factor[free]
        try:
            with np.errstate(all="ignore"):        # an overflow ends in the error below
                return _finish(model, stats, sfit.values * factor, sfit.optimization,
                               _needs_psd_check(model, Parametrization.of(model)),
                               theta_vcov=sfit.theta_vcov * np.outer(F, F))
        except ValueError:
            raise ValueError(
                f"the outcome {model.outcome!r} or a random-effect variable is on a scale "
                "whose variances double precision cannot hold (the fit on standardised "
                f"scales worked; its variances times up to {float(np.max(factor)):.3g} do "
                "not): rescale the data (e.g. divide by a power of ten)") from None
    stats = _statistics(model, path)
    check_outcome(model, stats)
    with _blas_threads(stats):
        start = _start(model, stats)
        check_identified(model, stats, start)
        return optimise(model, stats, start, max_iter, tol, callback)


def _statistics(model: PathModel, path: str | None):
    """The statistics, computed with BLAS on one thread: their products are tall and
    thin ([X, y]'[X, y] and the like), which a threaded BLAS computes more slowly than one
    thread (the triangular factor of 100,000 x 3: 7.2 ms on two threads, 1.9-3.5 ms on
    one; 1e6 x 3: 25 and 20 ms; ``benchmarks/micro.py tall``). The 100k 3-level fit with
    the machine's default threads: 135 -> 91 ms (as with OPENBLAS_NUM_THREADS=1)."""
    with one_blas_thread():
        return statistics(model, path)


def _blas_threads(stats):
    """BLAS on one thread for the rest of a fit whose products are all small (the tree
    path: its evaluations limit it themselves, and the starts, the identification check
    and the standard errors between them are small too; the pooled path's per-pool
    systems); else no change (the sparse path's dense Schur complement uses them)."""
    if capabilities_of(stats).small_products:
        return one_blas_thread()
    return contextlib.nullcontext()


def _residual_variance(model: PathModel, stats) -> float | None:
    """The OLS residual variance the starting values split, from the statistics'
    triangular factor of [X, y] where that is the unweighted outcome's with no fixed
    offset (the moment :func:`.starts.starting_values` would compute by a second OLS
    fit, to its rounding, as a fit on Dask takes it from the cluster's factor); None
    elsewhere (it is then computed from the data)."""
    basis = getattr(stats, "basis", None)
    if basis is None or not np.isfinite(basis.residual_ss) or not getattr(stats, "n_obs", 0) \
            or weighting.weights_of(model) is not None or fixed_offset(model).any():
        return None
    return basis.residual_ss / stats.n_obs


def _start(model: PathModel, stats) -> np.ndarray:
    """Starting values; where the optimiser takes quasi-Newton steps (an analytic gradient
    but no expected information and no dense rows: the tree path) the random intercepts'
    variances start from their one-way ANOVA estimates (:func:`.starts.anova_start`),
    which saves it a third of its evaluations on nested and crossed designs."""
    start = starting_values(model, residual_variance=_residual_variance(model, stats))
    caps = capabilities_of(stats)
    if (caps.gradient and not caps.expected_information and not caps.dense_rows) \
            or caps.optimiser == "profiled":
        start = anova_start(model, start)
    return start


def check_outcome(model: PathModel, stats=None) -> None:
    """Refuse an outcome the model cannot have a likelihood for: constant on the used
    observations, or (given the statistics, whose coefficient basis holds the OLS
    residual) an exact linear function of the fixed-effects design: no residual variation,
    every variance would be estimated at zero and the log likelihood would be unbounded,
    the "perfect fit" that otherwise reports a converged fit with a huge log likelihood."""
    name = model.data.outcome
    if stats is None:
        offset = fixed_offset(model)
        y = np.asarray(model.data.y, dtype=float)
        if len(y) and np.ptp(y) == 0 and not offset.any():
            raise ValueError(f"the outcome {name!r} is constant ({y[0]:g}) on all {len(y)} "
                             "used observations: there is no variation to model")
        return
    if stats.basis.k and stats.n_obs > stats.basis.k and stats.basis.exact_fit:
        raise ValueError(f"the outcome {name!r} is an exact linear function of the fixed "
                         f"effects (OLS residual {stats.basis.residual_ratio:.3g} of its "
                         "norm): a perfect fit leaves no variance for the random effects and "
                         "residuals to explain")


def optimise(model: PathModel, stats, values: np.ndarray, max_iter: int = 200,
             tol: float = 1e-13, callback=None) -> "Fit":
    """The optimisation step on its own (lme4's ``optimizeLmm``): from label ``values``
    over the free variance labels, on given statistics of any path (also statistics kept
    elsewhere, e.g. on Dask workers, that evaluate themselves), then the Fit."""
    param = Parametrization.of(model)
    reml = model.reml
    check_psd = _needs_psd_check(model, param)

    def to_values(u):
        return param.values(u, values)

    caps = capabilities_of(stats)
    last: list = []                  # the latest evaluation with the final one's options

    def fun(u, want_grad):
        v = to_values(u)
        ev = deviance(v, stats, reml, gradient=want_grad, check_psd=check_psd)
        if want_grad == caps.gradient:
            last[:] = [v, ev]
        if not np.isfinite(ev.deviance):
            return np.inf, None
        return ev.deviance, (param.gradient(u, ev.gradient) if want_grad else None)

    if caps.optimiser == "profiled":
        from .profiled import minimize_profiled      # (the sparse path's: scipy)
        est, record, curvature = minimize_profiled(stats, param, values, reml,
                                                   callback=callback)
        fit = _finish(model, stats, est, record, check_psd,   # judges convergence too
                      curvature=curvature)
        if not record.converged:
            warnings.warn(f"the fit did not converge: {record}", ConvergenceWarning,
                          stacklevel=4)
        return fit
    u0 = param.coordinates(values)
    approx = _fisher(stats, param, values, reml)
    if approx is None and not caps.dense_rows and param.size:
        # no expected information and costly rows (the tree path): quasi-Newton steps
        # until close, instead of a difference Hessian at every iteration
        fun, approx = secant_hessian(fun, param.scale(u0))
    u, record = newton(fun, u0, param.scale(u0), max_iter=max_iter, tol=tol,
                       approx_hessian=approx, callback=callback)
    fit = _finish(model, stats, to_values(u), record, check_psd,
                  evaluated=tuple(last) if last else None)
    if not record.converged:         # (after _finish: it names a flat direction's labels)
        warnings.warn(f"the fit did not converge: {record}", ConvergenceWarning, stacklevel=4)
    return fit


def information_of(stats, values: np.ndarray) -> np.ndarray | None:
    """Expected information from pooled statistics, or from statistics that compute it
    themselves (an ``expected_information`` method); None on other paths."""
    if not capabilities_of(stats).expected_information:
        return None
    if isinstance(stats, PoolStats):
        return expected_information(values, stats)
    return stats.expected_information(values)         # (statistics kept on Dask workers)


def _fisher(stats, param: Parametrization, values: np.ndarray, reml: bool):
    """Twice the expected information in the optimiser's coordinates (Fisher scoring), for
    the pooled path; None elsewhere (the optimiser then uses difference Hessians)."""
    if not capabilities_of(stats).expected_information or not param.size:
        return None
    free = param.free

    def approx(u: np.ndarray) -> np.ndarray | None:
        v = param.values(u, values)
        info = information_of(stats, v)
        if info is None:
            return None
        J = param.jacobian(u, values)
        return 2.0 * J.T @ info[free[:, None], free] @ J
    return approx


def _needs_psd_check(model: PathModel, param: Parametrization) -> bool:
    """Latent covariance matrices need checking only where a covariance label is not part
    of a Cholesky-parametrised block (those are positive semi-definite by construction)."""
    cov = set(np.flatnonzero(label_arrays(model).kind == "cov").tolist())
    for idx in param.blocks:
        cov -= set(idx.ravel().tolist())
    cov -= {lc for _, lc, _ in param.exchangeable}     # PSD by their eigenvalue coordinates
    return bool(cov)


def fit_at(model: PathModel, values: Mapping[str, float]) -> "Fit":
    """A Fit evaluated at given variance-parameter values, without optimising.

    ``values`` maps label names to values (labels not named keep their starting values).
    Useful to evaluate the likelihood, fixed effects and information at published
    estimates (lme4's ``devfun`` step on its own).
    """
    est = starting_values(model)
    for name, v in values.items():
        est[model.label_index(name)] = float(v)
    stats = statistics(model)
    record = OptimizationSummary(method="none", message="evaluated at given values")
    check_psd = bool(np.isin(label_arrays(model).kind, ["cov", "rescov"]).any())
    return _finish(model, stats, est, record, check_psd)


def _finish(model: PathModel, stats: Statistics, est: np.ndarray,
            record: OptimizationSummary, check_psd: bool,
            theta_vcov: np.ndarray | None = None,
            curvature: Curvature | None = None,
            evaluated: tuple | None = None) -> "Fit":
    """The Fit at estimates ``est``. ``theta_vcov`` (the variance parameters' covariance,
    with ``record``'s convergence judgement) is given when the fit was made on other
    scales (:mod:`.scaling`); otherwise both come from the curvature here, or from the
    ``curvature`` the optimiser found at ``est`` (:func:`.profiled.minimize_profiled`).
    ``evaluated``: the optimiser's latest (values, Evaluation), used where its values are
    the final ones to the bit."""
    free, is_var = _free_variance_labels(model)
    est = expand(model, est)                               # derived residual covariances
    boundary = _boundary_labels(model, est, free, is_var)
    est = est.copy()
    if boundary:                                          # on the boundary: exactly zero
        at_zero = model.label_positions(boundary)
        at_zero = at_zero[at_zero >= 0]
        est[at_zero] = 0.0
    if evaluated is not None and evaluated[0].shape == est.shape \
            and evaluated[0].dtype == est.dtype and evaluated[0].tobytes() == est.tobytes():
        final = evaluated[1]             # the optimiser's last point: not evaluated again
    else:
        final = deviance(est, stats, model.reml, gradient=capabilities_of(stats).gradient,
                         check_psd=check_psd)
    if not np.isfinite(final.deviance):
        raise ValueError("the parameter values are not admissible (a covariance matrix is "
                         "not positive semi-definite)")
    est[stats.coef_ids] = final.beta                      # every label's estimate
    names = label_arrays(model).names[free]
    singular = [lab for _, labs in _singular_exchangeable(model, est) for lab in labs]
    if theta_vcov is None:
        theta_vcov = _variance_vcov(est, stats, model.reml, free,
                                    (np.isin(names, boundary) | np.isin(names, singular))
                                    if boundary or singular else np.zeros(len(names), bool),
                                    check_psd, record, curvature)
    if not record.hessian_pd and not record.converged:
        flat = flat_labels(theta_vcov, names)
        if flat:
            record.message += (
                "; the likelihood is flat along a combination of " + ", ".join(flat)
                + ": the data do not tell these parameters apart"
                + (" (under REML, a covariance the fixed effects' columns span, such as one "
                   "shared by every observation of a single group, is not identified)"
                   if model.reml else ""))
    if boundary:
        warnings.warn("estimated at the boundary of the parameter space: "
                      + "; ".join(boundary), BoundaryWarning, stacklevel=4)
    fitted = carry_label_arrays(model, model.with_labels(
        model.label_table.assign(estimate=est)))
    # the engine's estimates become a Fit in the results layer (lme4's mkMerMod step),
    # with vce(robust|cluster) applied there: through the seam, not an upward import
    return service("fit_result")(model=fitted, stats=stats, values=est, evaluation=final,
                                 theta_vcov=theta_vcov, optimization=record,
                                 boundary=boundary)


#: a direction of the variance labels' curvature (scaled to unit diagonal) is flat where
#: its eigenvalue is below this fraction of the largest
FLAT = 1e-7


def flat_labels(theta_vcov: np.ndarray, names: np.ndarray) -> list[str]:
    """The labels that make up the flattest direction of the deviance's curvature (from
    the inverse ``theta_vcov``; labels without standard errors left out) where that
    direction is flat (:data:`FLAT`), else []: the parameters a non-positive-definite
    Hessian cannot tell apart."""
    keep = np.flatnonzero(np.isfinite(np.diag(theta_vcov)))
    if len(keep) < 1:
        return []
    try:
        H = np.linalg.inv(theta_vcov[np.ix_(keep, keep)])
    except np.linalg.LinAlgError:
        return []
    d = np.sqrt(np.abs(np.diag(H)))
    if not np.all(np.isfinite(H)) or not np.all(d > 0):
        return []
    lam, vec = np.linalg.eigh(H / np.outer(d, d))
    j = int(np.argmin(np.abs(lam)))
    if abs(lam[j]) > FLAT * np.abs(lam).max():
        return []
    v = vec[:, j] / np.abs(vec[:, j]).max()
    return [str(names[keep[i]]) for i in np.flatnonzero(np.abs(v) >= 0.1)]


def _boundary_labels(model, est, free, is_var) -> list[str]:
    """Variances estimated at zero, and latent covariance blocks estimated singular
    (a correlation of +-1), named by their labels."""
    if not is_var.any():
        return []
    # each variance on the outcome's scale: a random slope's variance times the mean
    # square of its variable (a slope on a variable in seconds instead of weeks has a
    # variance 3.7e11 times smaller, and is not zero for it)
    scale = _variance_scales(model)
    var_vals = est[free[is_var]] * scale[free[is_var]]
    # the scale a variance is zero against: the largest variance estimated, or the
    # outcome's own variance where the other variances are not labels of this kind (a
    # residual structure's var(e))
    top = max(float(np.max(var_vals)), _outcome_variance(model), 1e-300)
    names = label_arrays(model).names
    out = [str(names[i]) for i in free[is_var] if est[i] * scale[i] <= 1e-10 * top]
    for idx in Parametrization.of(model).blocks:
        block = est[idx]
        ev = np.linalg.eigvalsh(block)
        if ev.min() <= 1e-8 * max(ev.max(), 1e-300) and not any(est[i] == 0 or
                                                               str(names[i]) in out
                                                               for i in np.diag(idx)):
            out.append("singular covariance matrix of " + ", ".join(
                str(names[i]) for i in idx[np.triu_indices(len(idx))]))
    out += [text for text, _ in _singular_exchangeable(model, est)]
    out += _unit_correlations(model, est, out)
    return out


def _variance_scales(model) -> np.ndarray:
    """Per label: the mean square of the loadings of the latent whose variance it is
    (1 for intercepts, residual variances and other labels), which puts every variance on
    the outcome's scale. 1 everywhere where the loadings are not on the client (Dask)."""
    out = np.ones(len(model.label_table))
    try:
        if model.Z is None or not model.Z.shape[1]:
            return out
        lat = latent_loading_squares(model, effect_loading_squares(model))
    except NotImplementedError:                 # the loadings are on the cluster
        return out
    pa, pb, pl = phi_arrays(model)
    a, lab = pa[pa == pb], pl[pa == pb]
    var = label_arrays(model).kind[lab] == "var"  # a label's latents share an effect
    out[lab[var]] = lat[a[var]]
    return np.where(out > 0, out, 1.0)


def _outcome_variance(model) -> float:
    """Sample variance of the outcome on the used observations; 0 where the observations
    are not on the client (a Dask model: there the largest variance label is the scale)."""
    try:
        return model.data.y_variance
    except NotImplementedError:
        return 0.0


def _singular_exchangeable(model, est) -> list[tuple[str, list[str]]]:
    """Exchangeable blocks (one variance, one covariance label) estimated singular: an
    eigenvalue var - cov or var + (m - 1) cov at zero. Their labels get no standard
    errors (the information is not defined on that edge), like a variance at zero."""
    names = label_arrays(model).names
    out = []
    for lv, lc, m in Parametrization.of(model).exchangeable:
        a, b = est[lv] - est[lc], est[lv] + (m - 1) * est[lc]
        if min(a, b) <= 1e-8 * max(abs(a), abs(b), 1e-300):
            r = est[lc] / est[lv] if est[lv] > 0 else np.nan
            out.append((f"singular exchangeable covariance matrix of {names[lv]}, "
                        f"{names[lc]} (correlation {r:+.6f} among {m})",
                        [str(names[lv]), str(names[lc])]))
    return out


def _unit_correlations(model, est, found: list[str]) -> list[str]:
    """Latent covariances outside Cholesky blocks estimated at a correlation of +-1
    (e.g. ``correlate()`` of two latents sharing a variance label)."""
    if not len(model.phi_table):
        return []
    a, b, lab = phi_arrays(model)
    diag = {int(x): int(l) for x, y, l in zip(a, b, lab) if x == y}
    names = label_arrays(model).names
    out: list[str] = []
    for x, y, l in zip(a, b, lab):
        if x == y or int(x) not in diag or int(y) not in diag:
            continue
        va, vb = est[diag[int(x)]], est[diag[int(y)]]
        if va <= 0 or vb <= 0:
            continue
        r = est[l] / np.sqrt(va * vb)
        text = f"correlation {r:+.6f} at {names[l]}"
        if abs(r) >= 1 - 1e-6 and not any(str(names[l]) in f for f in found + out):
            out.append(text)
    return out


def _curvature_record(record: OptimizationSummary, H: np.ndarray, g: np.ndarray) -> None:
    """Convergence judged from the deviance's Hessian and gradient at the solution (in the
    labels' natural metric): positive definite curvature and a negligible Newton step."""
    if not np.all(np.isfinite(H)) or not np.all(np.isfinite(g)):
        record.converged, record.hessian_pd = False, False
        record.message += "; the curvature at the solution cannot be evaluated"
        return
    lam = np.linalg.eigvalsh(H)
    record.min_hessian_eigenvalue = float(lam.min())
    record.hessian_pd = bool(lam.min() > 1e-10 * max(np.abs(lam).max(), 1e-300))
    record.gradient_norm = float(np.abs(g).max())
    record.newton_decrement = float(g @ np.linalg.solve(H, g)) if record.hessian_pd else np.nan
    record.converged = bool(record.hessian_pd and record.newton_decrement < 1e-6)
    if not record.hessian_pd:
        record.message += "; Hessian not positive definite at the solution"
    elif not record.converged:
        record.message += f"; Newton decrement {record.newton_decrement:.2g} at the end"


def _variance_vcov(est: np.ndarray, stats: Statistics, reml: bool, free: np.ndarray,
                   at_boundary: np.ndarray, check_psd: bool,
                   record: OptimizationSummary | None = None,
                   found: Curvature | None = None) -> np.ndarray:
    """Inverse observed information of the free variance labels (natural metric).

    Computed from the analytic gradient of the profiled deviance: on the pooled path
    (also on Dask) by complex steps, exact to rounding (differences of the gradient
    divide its rounding error by the step: 1e-8 of the SEs where the likelihood is flat,
    which two orders of summation of the same data do not share); on the dense path by
    its central differences; on the sparse path, which has no analytic gradient, by
    second differences of the deviance (their Hessian and gradient also complete the
    optimiser's ``record``), unless the optimiser ``found`` the curvature at ``est``
    (then no further evaluations).
    Labels at the boundary are held at zero and get NaN: their standard errors are not
    defined.
    """
    k = len(free)
    out = np.full((k, k), np.nan)
    keep = ~at_boundary
    idx = free[keep]
    if not len(idx):
        return out

    def grad(theta):
        v = est.astype(np.result_type(est, theta))
        v[idx] = theta
        ev = deviance(v, stats, reml, gradient=True, check_psd=False)
        if not np.isfinite(ev.deviance):
            raise FloatingPointError("inadmissible point")
        return ev.gradient[idx]

    theta = est[idx]
    steps = 1e-4 * np.maximum(np.abs(theta), 1e-6 * np.abs(theta).max())
    curvature = capabilities_of(stats).curvature
    if curvature == "function":
        # no analytic gradient on this path: second differences of the deviance itself
        def dev(t):
            v = est.copy()
            v[idx] = t
            return deviance(v, stats, reml, gradient=False).deviance
        if found is not None and keep.all() and len(found.gradient) == k:
            H, g = found.hessian, found.gradient
        else:
            H, g = function_hessian(dev, theta, steps)
        if np.all(np.isfinite(H)):
            try:
                out[np.ix_(keep, keep)] = np.linalg.inv(0.5 * H)
            except np.linalg.LinAlgError:
                pass
        if record is not None and record.method.startswith("L-BFGS-B"):
            _curvature_record(record, H, g)
        return out
    try:
        if curvature == "complex":
            H = complex_step_hessian(grad, theta, steps)
        else:
            H = difference_hessian(grad, theta, None, steps, central=True)
    except FloatingPointError:
        H = difference_hessian(grad, theta, grad(theta), steps, central=False)
    try:
        inv = np.linalg.inv(0.5 * H)
    except np.linalg.LinAlgError:
        return out
    kept = np.flatnonzero(keep)
    out[kept[:, None], kept] = inv
    return out
