"""Dense per-row FIML evaluation, for covariance structures the pooled Woodbury path
does not take (residual covariances between slots).

Each row's covariance is linear in the variance labels, Sigma_r = sum_l theta_l D_lr
(the derivative matrices of :func:`semlevel.inference.information.row_derivatives`), so
the deviance and its analytic gradient are

    dev = sum_r [log|Sigma_r| + e_r' Sigma_r^-1 e_r] (+ REML terms),
    d dev / d theta_l = sum_r tr(G_r D_lr),  G_r = Sigma_r^-1 - Sigma_r^-1 W_r Gamma W_r' Sigma_r^-1,

with beta profiled by GLS (or given, under ML) and Gamma as in :mod:`.deviance`. Rows are
factored one by one (n_r x n_r Cholesky): exact and general, slower than the pooled path.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from ..model.pathmodel import PathModel
from .deviance import LOG2PI, Evaluation
from .stats import _fixed_offset, coefficient_design

__all__ = ["DenseStats", "dense_statistics", "evaluate_dense"]


@dataclass(frozen=True)
class DenseStats:
    """Per-row data of the dense path: W_r = [X_r, y_r] and the matrices D_lr."""

    rows: list[tuple[np.ndarray, dict[int, np.ndarray]]]
    coef_ids: np.ndarray
    n_coef: int
    n_obs: int
    n_rows: int


def dense_statistics(model: PathModel) -> DenseStats:
    """Collect, once per fit, each row's W and derivative matrices."""
    from ..inference.information import row_derivatives

    Xt, coef_ids = coefficient_design(model)
    W = np.column_stack([Xt, model.data.y - _fixed_offset(model)])
    rows = [(W[obs], D) for obs, D in row_derivatives(model)]
    return DenseStats(rows=rows, coef_ids=coef_ids, n_coef=Xt.shape[1],
                      n_obs=model.data.n_obs, n_rows=len(rows))


def evaluate_dense(values: np.ndarray, stats: DenseStats, reml: bool, gradient: bool = True,
                   check_psd: bool = True, beta: np.ndarray | None = None) -> Evaluation:
    """Deviance and gradient (w.r.t. every label's value), as :func:`.deviance.evaluate`."""
    del check_psd  # Sigma_r positive definite is the admissibility condition here
    if beta is not None and reml:
        raise ValueError("the REML criterion has beta profiled; give beta only under ML")
    k = stats.n_coef
    K1 = k + 1
    S = np.zeros((K1, K1))
    logdet = 0.0
    factors = []
    for W, D in stats.rows:
        Sigma = sum(values[lab] * Dm for lab, Dm in D.items())
        try:
            cf = cho_factor(Sigma, lower=True, check_finite=False)
        except np.linalg.LinAlgError:
            return Evaluation(deviance=np.inf)
        if not np.all(np.diag(cf[0]) > 0):
            return Evaluation(deviance=np.inf)
        SiW = cho_solve(cf, W, check_finite=False)
        S += W.T @ SiW
        logdet += 2.0 * float(np.log(np.diag(cf[0])).sum())
        factors.append((cf, SiW))
    S = 0.5 * (S + S.T)
    Sxx, Sxy, syy = S[:k, :k], S[:k, k], S[k, k]
    given_beta = beta is not None
    if k:
        try:
            cfx = np.linalg.cholesky(Sxx)
        except np.linalg.LinAlgError:
            return Evaluation(deviance=np.inf)
        logdet_xx = 2.0 * float(np.log(np.diag(cfx)).sum())
        if beta is None:
            beta = np.linalg.solve(Sxx, Sxy)
            quad = float(syy - Sxy @ beta)
        else:
            beta = np.asarray(beta, dtype=float)
            quad = float(syy - 2.0 * Sxy @ beta + beta @ Sxx @ beta)
    else:
        beta, quad, logdet_xx = np.zeros(0), float(syy), 0.0
    n = stats.n_obs
    dev = ((n - k) * LOG2PI + logdet + logdet_xx + quad) if reml else \
        (n * LOG2PI + logdet + quad)
    out = Evaluation(deviance=float(dev), beta=beta, xtvx=Sxx)
    if not gradient:
        return out
    gamma = np.r_[-beta, 1.0]
    Gam = np.outer(gamma, gamma)
    if reml and k:
        Gam[:k, :k] += np.linalg.inv(Sxx)
    grad = np.zeros(len(values))
    for (W, D), (cf, SiW) in zip(stats.rows, factors):
        Si = cho_solve(cf, np.eye(W.shape[0]), check_finite=False)
        G = Si - SiW @ Gam @ SiW.T
        for lab, Dm in D.items():
            grad[lab] += float(np.sum(G * Dm))
    if k and given_beta:
        grad[stats.coef_ids] = -2.0 * (Sxy - Sxx @ beta)
    out.gradient = grad
    return out
