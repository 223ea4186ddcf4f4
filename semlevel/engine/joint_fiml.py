"""Full-information ML for a normal vector with missing entries whose mean and covariance
are given by a moment function of the parameters (what ``missing_x="fiml"`` fits:
:mod:`semlevel.model.missing_x`).

Rows are grouped by their pattern of observed entries; a group with observed entries o,
residuals r_i and S = sum r_i r_i' contributes

    l = -1/2 [n (|o| log 2 pi + log|Sigma_oo|) + tr(Sigma_oo^-1 S)],
    dl/dmu_o = Sigma_oo^-1 sum r_i,   dl/dSigma_oo = 1/2 (Sigma_oo^-1 S Sigma_oo^-1 - n Sigma_oo^-1).

The parameters' gradient follows from the moment function's Jacobian, taken by complex
steps (exact: the moments are polynomial in the parameters); the optimiser is BFGS on
unconstrained coordinates (the caller's), the standard errors come from central
differences of that exact gradient in the natural parameters (observed information).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Patterns", "patterns", "loglik_parts", "natural_gradient", "JointEstimate",
           "maximise", "fit_joint"]


@dataclass(frozen=True)
class Patterns:
    """Rows grouped by observed pattern: per group its observed columns and data."""

    groups: tuple
    n_rows: int


def patterns(V: np.ndarray) -> Patterns:
    obs = ~np.isnan(V)
    keys, inv = np.unique(obs, axis=0, return_inverse=True)
    inv = inv.ravel()
    groups = []
    for g, key in enumerate(keys):
        if not key.any():
            continue
        o = np.flatnonzero(key)
        groups.append((o, V[np.ix_(inv == g, o)]))
    return Patterns(groups=tuple(groups), n_rows=V.shape[0])


def loglik_parts(mu: np.ndarray, Sigma: np.ndarray, pats: Patterns, gradient: bool = True):
    """Log likelihood, and its derivatives by mu (vector) and Sigma (full matrix form:
    dl = sum_ij G_ij dSigma_ij); None for a covariance that is not positive definite."""
    ll = 0.0
    gmu = np.zeros(len(mu))
    G = np.zeros(Sigma.shape)
    for o, D in pats.groups:
        S_oo = Sigma[np.ix_(o, o)]
        try:
            C = np.linalg.cholesky(S_oo)
        except np.linalg.LinAlgError:
            return None
        n = D.shape[0]
        R = D - mu[o]
        inv = np.linalg.inv(S_oo)
        S = R.T @ R
        ll -= 0.5 * (n * (len(o) * np.log(2 * np.pi) + 2 * np.log(np.diag(C)).sum())
                     + float(np.sum(inv * S)))
        if gradient:
            gmu[o] += inv @ R.sum(axis=0)
            G[np.ix_(o, o)] += 0.5 * (inv @ S @ inv - n * inv)
    return ll, gmu, G


def natural_gradient(theta: np.ndarray, moments: Callable, pats: Patterns):
    """Log likelihood and its gradient by the natural parameters ``theta`` (the moment
    function's Jacobian by complex steps); (-inf, None) where Sigma is not PD."""
    mu, Sigma = moments(theta)
    got = loglik_parts(mu, Sigma, pats)
    if got is None:
        return -np.inf, None
    ll, gmu, G = got
    h = 1e-20
    g = np.empty(len(theta))
    for j in range(len(theta)):
        t = theta.astype(complex)
        t[j] += 1j * h
        dmu, dS = moments(t)
        g[j] = gmu @ (dmu.imag / h) + np.sum(G * (dS.imag / h))
    return ll, g


@dataclass(frozen=True)
class JointEstimate:
    theta: np.ndarray
    loglik: float
    vcov: np.ndarray
    converged: bool
    iterations: int
    message: str


def maximise(moments: Callable, pats: Patterns, z0: np.ndarray,
             natural: Callable[[np.ndarray], np.ndarray],
             chain: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> JointEstimate:
    """Maximise over coordinates ``z`` (``natural(z)`` the natural parameters; ``chain(z,
    g)`` the gradient by z from the gradient by them); SEs from the natural parameters'
    observed information."""
    from scipy.optimize import minimize

    def f(z):
        ll, g = natural_gradient(natural(z), moments, pats)
        if g is None:
            return 1e300, np.zeros(len(z))
        return -ll, -chain(z, g)
    res = minimize(f, z0, jac=True, method="BFGS", options={"gtol": 1e-7, "maxiter": 5000})
    theta = natural(res.x)
    ll, g = natural_gradient(theta, moments, pats)
    k = len(theta)
    H = np.empty((k, k))
    for j in range(k):
        h = 1e-5 * max(abs(theta[j]), 1e-2)
        tp, tm = theta.copy(), theta.copy()
        tp[j] += h
        tm[j] -= h
        gp, gm = natural_gradient(tp, moments, pats)[1], natural_gradient(tm, moments, pats)[1]
        if gp is None or gm is None:
            H[:, j] = np.nan
            continue
        H[:, j] = (gp - gm) / (2 * h)
    H = 0.5 * (H + H.T)
    try:
        vcov = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        vcov = np.full((k, k), np.nan)
    converged = bool(res.success) or float(np.abs(g).max()) < 1e-4
    return JointEstimate(theta=theta, loglik=float(ll), vcov=vcov, converged=converged,
                         iterations=int(res.nit), message=str(res.message))


def fit_joint(js, start: dict) -> tuple[JointEstimate, list[str], list[str]]:
    """Fit a joint structure (:class:`semlevel.model.missing_x.JointStructure`) from
    ``start`` (label name -> value, e.g. the listwise fit's estimates). The natural
    parameters are the free coefficients, the free variance labels, the covariate
    block's means and the lower triangle of its covariance; the optimiser's coordinates
    put the variance labels on the model's own coordinates (:class:`.Parametrization`)
    and the block's covariance on its Cholesky factor. Returns the estimate and each
    parameter's name and kind."""
    from .evaluator import expand
    from .parametrization import Parametrization

    model = js.model
    param = Parametrization.of(model)
    lab = model.labels
    coef, var, m = js.coef, param.free, js.m
    nc, nv, nu = len(coef), len(var), param.size
    il = np.tril_indices(m)
    base = np.nan_to_num(lab["value"].to_numpy(dtype=float))
    spread = max(float(np.nanvar(js.V[:, m:])) / 3, 1e-3)
    for j in np.r_[coef, var]:
        name = lab.index[j]
        base[j] = start[name] if name in start else (spread if j in var else 0.0)
    Xv = js.V[:, :m]
    L0 = np.diag(np.sqrt(np.maximum(np.nanvar(Xv, axis=0), 1e-6)))

    def moments(theta):
        v = base.astype(np.result_type(base, theta))
        v[coef] = theta[:nc]
        v[var] = theta[nc:nc + nv]
        S = np.zeros((m, m), dtype=theta.dtype)
        S[il] = theta[nc + nv + m:]
        return js.moments(expand(model, v), theta[nc + nv:nc + nv + m],
                          S + np.tril(S, -1).T)

    def natural(z):
        L = np.zeros((m, m))
        L[il] = z[nc + nu + m:]
        return np.r_[z[:nc], param.values(z[nc:nc + nu], base)[var],
                     z[nc + nu:nc + nu + m], (L @ L.T)[il]]

    def chain(z, g):
        full = np.zeros(len(base))
        full[var] = g[nc:nc + nv]
        L = np.zeros((m, m))
        L[il] = z[nc + nu + m:]
        G = np.zeros((m, m))
        G[il] = g[nc + nv + m:]
        G = 0.5 * (G + G.T)                       # a covariance stands for (i,j), (j,i)
        return np.r_[g[:nc], param.gradient(z[nc:nc + nu], full), g[nc + nv:nc + nv + m],
                     (2.0 * G @ L)[il]]

    z0 = np.r_[base[coef], param.coordinates(base), np.nanmean(Xv, axis=0), L0[il]]
    est = maximise(moments, patterns(js.V), z0, natural, chain)
    block = [f"mean({n})" for n in js.x_names] + \
        [f"var({js.x_names[i]})" if i == j else f"cov({js.x_names[i]},{js.x_names[j]})"
         for i, j in zip(*il)]
    kinds = lab["kind"].to_numpy()
    return (est, list(lab.index[coef]) + list(lab.index[var]) + block,
            list(kinds[coef]) + list(kinds[var]) + ["covariate"] * len(block))
