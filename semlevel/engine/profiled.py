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

import numpy as np

from .deviance import profile
from .optimize import IterationEvent, OptimizationSummary
from .parametrization import Parametrization
from .sparse import sparse_cross_products, variance_labels
from .sparse_stats import SparseStats

__all__ = ["scale_anchor", "profiled_deviance", "minimize_profiled"]


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


def _newton_polish(f, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Newton steps from L-BFGS-B's end point, with the gradient and Hessian of ``f`` by
    central differences (1 + 2n^2 evaluations per step). L-BFGS-B's forward-difference
    gradient stops it up to ~1e-5 (relative) short of the optimum in flat directions (the
    crossed variance of the manual's example 10); these steps make the sparse path's
    estimates agree with the pooled path's. A step that does not lower ``f`` ends it."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n == 0 or n > 12:
        return x, 0
    taken = 0
    f0 = f(x)
    for _ in range(POLISH_STEPS):
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
            break
        try:
            L = np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            break                                 # not convex here: leave it to L-BFGS-B
        step = np.linalg.solve(L.T, np.linalg.solve(L, g))
        if float(g @ step) < 1e-12:               # the Newton decrement: at the optimum
            break
        f1 = f(x - step)
        if not f1 <= f0:
            break
        x, f0 = x - step, f1
        taken += 1
    return x, taken


def minimize_profiled(stats: SparseStats, param: Parametrization, values: np.ndarray,
                      reml: bool, max_iter: int = 500, callback=None
                      ) -> tuple[np.ndarray, OptimizationSummary]:
    """Minimise the deviance over the free variance labels; returns their values (the
    full label vector) and the optimiser's record. ``callback`` receives an
    :class:`~.optimize.IterationEvent` per L-BFGS-B iteration (the iteration log)."""
    rec = OptimizationSummary(method="L-BFGS-B on the scale-profiled deviance")
    u0 = param.coordinates(values)
    anchor = scale_anchor(param, values, stats)
    move = np.array([j for j in range(len(u0)) if j != anchor], dtype=np.int64)

    def full(x):
        u = u0.copy()
        u[move] = x
        return u

    def f(x):
        rec.evaluations += 1
        v = param.values(full(x), values)
        if anchor is None:
            from .sparse import evaluate_sparse
            dev = evaluate_sparse(v, stats, reml, gradient=False).deviance
        else:
            dev = profiled_deviance(v, stats, reml)[0]
        rec.history.append(float(dev))
        return dev if np.isfinite(dev) else 1e300

    x0 = u0[move]

    def emit(step: str, value: float) -> None:
        if callback is not None:
            callback(IterationEvent(rec.iterations, float(value), step))

    def each_iteration(intermediate_result) -> None:
        rec.iterations += 1
        emit("lbfgs", intermediate_result.fun)

    emit("start", f(x0))
    if len(x0):
        # scipy.optimize costs ~0.15 s to import: only the sparse path needs it
        from scipy.optimize import minimize
        res = minimize(f, x0, method="L-BFGS-B", callback=each_iteration,
                       options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-9,
                                "eps": 1e-7 * max(float(np.abs(x0).max()), 1e-3)})
        x = res.x
        rec.iterations = int(res.nit)
        x, polished = _newton_polish(f, x)
        emit("done", f(x))
        rec.message = str(res.message) + (f"; {polished} Newton steps on central differences"
                                           if polished else "")
    else:
        x = x0
        rec.message = "no free variance parameters besides the scale"
    v = param.values(full(x), values)
    if anchor is not None:
        c = profiled_deviance(v, stats, reml)[1]
        labs = variance_labels(stats)
        v = v.copy()
        v[labs] *= c                         # every (co)variance scales with c
    # convergence is judged after the fit from the deviance's curvature, which the
    # standard errors need anyway (fitting._curvature_record)
    rec.converged = bool(res.success) if len(x0) else True
    rec.hessian_pd = rec.converged
    return v, rec
