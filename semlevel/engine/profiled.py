"""Optimisation on the sparse path: the overall scale profiled out, quasi-Newton over the
remaining coordinates (lme4's route for large crossed designs).

Every covariance of a model whose variance labels are all free scales together:
Sigma(c v) = c Sigma(v). For fixed v the deviance is minimised over c in closed form,

    c = Q / n (ML),  c = Q / (n - k) (REML),   Q = r' Sigma(v)^-1 r at the GLS beta,

so one coordinate (the first residual variance, the *anchor*) is held fixed and the others
are optimised by L-BFGS-B on function values (its gradient by differences): one evaluation
of the sparse path costs a factorisation, and an analytic gradient would cost several.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .deviance import profile
from .optimize import IterationEvent, OptimizationSummary
from .parametrization import Parametrization
from .sparse import sparse_cross_products, variance_labels
from .sparse_stats import SparseStats

__all__ = ["scale_anchor", "profiled_deviance", "minimize_profiled", "Curvature"]


def scale_anchor(param: Parametrization, values: np.ndarray, stats: SparseStats) -> int | None:
    """Coordinate held fixed while the scale is profiled (a residual variance on the sd
    scale), or None when the deviance is not scale invariant (a covariance label fixed at
    a nonzero value, a nonlinear structure)."""
    if param.structure is not None:
        return None
    free = set(param.free.tolist())
    fixed = [j for j in stats.variance_labels.tolist() if j not in free]
    if any(values[j] != 0 for j in fixed):
        return None
    for pos, j in enumerate(param.simple):
        if j in stats.resid_ids and param.simple_is_var[pos]:
            return pos
    return None


def profiled_deviance(values: np.ndarray, stats: SparseStats, reml: bool
                      ) -> tuple[float, float]:
    """The deviance minimised over the scale c of ``values``, and that c."""
    got = sparse_cross_products(values, stats)
    if got is None:
        return np.inf, np.nan
    logdet, S = got
    k = stats.n_coef
    Sxx, Sxy, syy = S[:k, :k], S[:k, k], S[k, k]
    try:
        Q = float(syy - Sxy @ np.linalg.solve(Sxx, Sxy)) if k else float(syy)
    except np.linalg.LinAlgError:
        return np.inf, np.nan
    df = stats.n_obs - (k if reml else 0)
    if Q <= 0 or df <= 0:
        return np.inf, np.nan
    c = Q / df
    ev, _ = profile(S / c, k, stats.n_obs, logdet + stats.n_obs * np.log(c), reml, None,
                    False, stats.basis)
    return ev.deviance, c


#: most Newton steps of the polish after L-BFGS-B
POLISH_STEPS = 3

#: L-BFGS-B's relative-reduction tolerance where the Newton polish finishes the fit (it
#: converges quadratically from there; the strict one below if the polish cannot)
POLISHED_FTOL, STRICT_FTOL = 1e-12, 1e-15

#: the polish takes Newton steps on up to this many coordinates (2n^2 + 1 evaluations each)
POLISH_MAX = 12

#: the polish stops where the Newton decrement g'H^-1 g (twice the predicted fall of the
#: deviance) is below DECREMENT_ATOL or DECREMENT_RTOL |deviance|: a fall of a few units
#: in the deviance's last place is below its rounding (the step's f(x - step) <= f(x)
#: would compare rounding errors), and it puts the estimates within ~1e-5 standard
#: errors of the optimum
DECREMENT_ATOL, DECREMENT_RTOL = 1e-12, 1e-15


@dataclass(frozen=True)
class PolishedPoint:
    """The polish's last central differences at its end point ``x``: the Hessian ``H``
    and gradient ``g`` of the profiled deviance, and the steps ``h`` they took."""

    x: np.ndarray
    H: np.ndarray
    g: np.ndarray
    h: np.ndarray


def _newton_polish(f, x: np.ndarray) -> tuple[np.ndarray, int, PolishedPoint | None]:
    """Newton steps from L-BFGS-B's end point, with the gradient and Hessian of ``f`` by
    central differences (2n^2 + 1 evaluations per step). L-BFGS-B's forward-difference
    gradient stops it up to ~1e-5 (relative) short of the optimum in flat directions (the
    crossed variance of the manual's example 10); these steps make the sparse path's
    estimates agree with the pooled path's. A step that does not lower ``f`` ends it.
    Returns the end point, the steps taken, and the differences at the end point when
    they were taken there (it is then the optimum within their precision)."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0 or n > POLISH_MAX:
        return x, 0, None
    taken = 0
    f0 = f(x)
    for _ in range(POLISH_STEPS + 1):
        h = 1e-4 * np.maximum(np.abs(x), 1e-2)
        fp = np.array([f(x + h[i] * np.eye(n)[i]) for i in range(n)])
        fm = np.array([f(x - h[i] * np.eye(n)[i]) for i in range(n)])
        g = (fp - fm) / (2 * h)
        H = np.diag((fp - 2 * f0 + fm) / (h * h))
        for i in range(n):
            for j in range(i + 1, n):
                ei, ej = h[i] * np.eye(n)[i], h[j] * np.eye(n)[j]
                H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                     + f(x - ei - ej)) / (4 * h[i] * h[j])
        if not np.all(np.isfinite(H)) or not np.all(np.isfinite(g)):
            return x, taken, None
        try:
            L = np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            return x, taken, None                 # not convex here: leave it to L-BFGS-B
        here = PolishedPoint(x=x, H=H, g=g, h=h)
        step = np.linalg.solve(L.T, np.linalg.solve(L, g))
        if (float(g @ step) < max(DECREMENT_ATOL, DECREMENT_RTOL * abs(f0))
                or taken == POLISH_STEPS):
            return x, taken, here                 # the Newton decrement: at the optimum
        f1 = f(x - step)
        if not f1 <= f0:
            return x, taken, here
        x, f0 = x - step, f1
        taken += 1
    return x, taken, None                         # (not reached)


@dataclass(frozen=True)
class Curvature:
    """The deviance's Hessian and gradient with respect to the free variance labels
    (:attr:`.parametrization.Parametrization.free`, natural metric) at the estimates."""

    hessian: np.ndarray
    gradient: np.ndarray


def _label_curvature(param: Parametrization, values: np.ndarray, u: np.ndarray,
                     move: np.ndarray, point: PolishedPoint, scale_at, c: float,
                     df: float, labs: np.ndarray) -> Curvature | None:
    """The Hessian of the (unprofiled) deviance in the free labels, from the polish's
    differences of the profiled one: no further evaluations.

    With the scale c profiled, the deviance at labels c v(x) is
    f(x, c) = df log c + L(x) + Q(x) / c (ML: df = n; REML: n - k), whose minimum over
    c is at c = Q / df; the profiled deviance h(x) = f(x, Q/df) has
    h_xx = f_xx - df Q_x Q_x' / Q^2, and f_xc = -Q_x / c^2, f_cc = df / c^2 there. Q_x
    comes from the scale at the polish's points (cached evaluations). The labels are
    c v(x): their Jacobian J in (x, c) is the parametrisation's, and the Hessian in the
    labels is J^-T [f_xx f_xc; f_cx f_cc] J^-1 (the gradient terms vanish at the
    optimum). None where that map is not square and regular (labels at a boundary,
    labels outside the scaled set)."""
    free = param.free
    if param.size != len(free) or len(move) != len(free) - 1 or not np.isin(free, labs).all():
        return None
    x, n = point.x, len(point.x)
    cp = np.array([scale_at(x + point.h[i] * np.eye(n)[i]) for i in range(n)])
    cm = np.array([scale_at(x - point.h[i] * np.eye(n)[i]) for i in range(n)])
    c_x = (cp - cm) / (2 * point.h)
    H = np.empty((n + 1, n + 1))
    H[:n, :n] = point.H + df * np.outer(c_x, c_x) / (c * c)
    H[:n, n] = H[n, :n] = -df * c_x / (c * c)
    H[n, n] = df / (c * c)
    base = param.values(u, values)                     # the labels at scale 1
    rows = np.empty((len(free), len(u)))
    for r, lab in enumerate(free):
        e = np.zeros(len(values))
        e[lab] = 1.0
        rows[r] = param.gradient(u, e)                 # d label / d coordinates
    J = np.column_stack([c * rows[:, move], base[free]])
    g = np.r_[point.g, 0.0]
    if not (np.all(np.isfinite(J)) and np.all(np.isfinite(H)) and np.all(np.isfinite(c_x))):
        return None
    sv = np.linalg.svd(J, compute_uv=False)
    if sv.min() <= 1e-8 * sv.max():
        return None
    Jinv = np.linalg.inv(J)
    Hv = Jinv.T @ H @ Jinv
    return Curvature(hessian=0.5 * (Hv + Hv.T), gradient=Jinv.T @ g)


def minimize_profiled(stats: SparseStats, param: Parametrization, values: np.ndarray,
                      reml: bool, max_iter: int = 500, callback=None
                      ) -> tuple[np.ndarray, OptimizationSummary, Curvature | None]:
    """Minimise the deviance over the free variance labels; returns their values (the
    full label vector), the optimiser's record and, where the Newton polish ended at
    the optimum with the scale profiled, the deviance's curvature in the free labels
    there (the standard errors' Hessian, without evaluations of their own).
    ``callback`` receives an :class:`~.optimize.IterationEvent` per L-BFGS-B iteration
    (the iteration log). Each point is evaluated once (the optimiser, the polish and the
    final scale ask for some points more than once)."""
    rec = OptimizationSummary(method="L-BFGS-B on the scale-profiled deviance")
    u0 = param.coordinates(values)
    anchor = scale_anchor(param, values, stats)
    move = np.array([j for j in range(len(u0)) if j != anchor], dtype=np.int64)
    seen: dict[bytes, tuple[float, float]] = {}

    def full(x):
        u = u0.copy()
        u[move] = x
        return u

    def evaluate(x) -> tuple[float, float]:
        """(deviance, profiled scale) at coordinates x."""
        x = np.asarray(x, dtype=float)
        key = x.tobytes()
        got = seen.get(key)
        if got is None:
            rec.evaluations += 1
            v = param.values(full(x), values)
            if anchor is None:
                from .sparse import evaluate_sparse
                got = (evaluate_sparse(v, stats, reml, gradient=False).deviance, np.nan)
            else:
                got = profiled_deviance(v, stats, reml)
            got = seen[key] = (float(got[0]), float(got[1]))
            rec.history.append(got[0])
        return got

    def f(x):
        dev = evaluate(x)[0]
        return dev if np.isfinite(dev) else 1e300

    x0 = u0[move]

    def emit(step: str, value: float) -> None:
        if callback is not None:
            callback(IterationEvent(rec.iterations, float(value), step))

    def each_iteration(intermediate_result) -> None:
        rec.iterations += 1
        emit("lbfgs", intermediate_result.fun)

    emit("start", f(x0))
    point = None
    success = True
    if len(x0):
        # scipy.optimize costs ~0.15 s to import: only the sparse path needs it
        from scipy.optimize import minimize

        def lbfgsb(start, ftol):
            return minimize(f, start, method="L-BFGS-B", callback=each_iteration,
                            options={"maxiter": max_iter, "ftol": ftol, "gtol": 1e-9,
                                     "eps": 1e-7 * max(float(np.abs(x0).max()), 1e-3)})
        polish = len(x0) <= POLISH_MAX
        res = lbfgsb(x0, POLISHED_FTOL if polish else STRICT_FTOL)
        iterations = int(res.nit)
        x, polished, point = _newton_polish(f, res.x)
        if polish and point is None:
            # the polish could not confirm the optimum: L-BFGS-B to its strict tolerance
            res = lbfgsb(x, STRICT_FTOL)
            iterations += int(res.nit)
            x = res.x
        success = bool(res.success)
        emit("done", f(x))
        rec.iterations = iterations
        rec.message = str(res.message) + (f"; {polished} Newton steps on central differences"
                                           if polished else "")
    else:
        x = x0
        rec.message = "no free variance parameters besides the scale"
    v = param.values(full(x), values)
    curvature = None
    if anchor is not None:
        c = evaluate(x)[1]
        labs = variance_labels(stats)
        if point is not None and np.array_equal(point.x, x):
            df = stats.n_obs - (stats.n_coef if reml else 0)
            curvature = _label_curvature(param, values, full(x), move, point,
                                         lambda z: evaluate(z)[1], c, df, labs)
        v = v.copy()
        v[labs] *= c                         # every (co)variance scales with c
    # convergence is judged after the fit from the deviance's curvature, which the
    # standard errors need anyway (fitting._curvature_record)
    rec.converged = success
    rec.hessian_pd = rec.converged
    return v, rec, curvature
