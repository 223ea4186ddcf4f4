"""Estimation by the moments with the asymptotically distribution-free weight matrix
(Browne 1984; Stata ``sem, method(adf)``, lavaan ``estimator = "WLS"``).

The sample moments of N complete rows, ``s = (ybar, vech S)`` (S with divisor N - 1),
are fitted by the implied ``sigma(theta) = (mu, vech Sigma)``, minimising

    F(theta) = (s - sigma(theta))' W (s - sigma(theta)),   W = Gamma^-1,

with Gamma the rows' fourth-order moment matrix: the covariance (divisor N) of
``d_i = (y_i, vech (y_i - ybar)(y_i - ybar)')``. Gauss-Newton steps on the Jacobian Delta
of sigma (central differences: sigma is linear in most models, so the first step lands);
``Var(theta) = (Delta' W Delta)^-1 / (N - 1)`` and the test of the model
``chi2 = (N - 1) F`` on ``len(s) - len(theta)`` degrees of freedom, as lavaan computes them
(``tests/test_adf.py``). ``vech`` runs column by column over the lower triangle.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["ADFEstimate", "sample_moments", "adf_estimate"]


@dataclass(frozen=True)
class ADFEstimate:
    """What the estimator returns: estimates, their covariance, the minimum of F, the
    model test and the optimiser's record."""

    theta: np.ndarray
    vcov: np.ndarray
    fmin: float
    chi2: float
    df: int
    iterations: int
    converged: bool


def _vech_index(p: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of vech: the lower triangle column by column."""
    cols, rows = np.triu_indices(p)
    return rows, cols


def sample_moments(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``s = (ybar, vech S)`` and the ADF matrix Gamma of the rows of ``Y`` (N x p)."""
    N, p = Y.shape
    ii, jj = _vech_index(p)
    ybar = Y.mean(axis=0)
    R = Y - ybar
    S = R.T @ R / (N - 1)
    D = np.c_[R, R[:, ii] * R[:, jj]]
    D -= D.mean(axis=0)
    return np.r_[ybar, S[ii, jj]], D.T @ D / N


def adf_estimate(Y: np.ndarray, sigma: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                 theta0: np.ndarray, max_iter: int = 100, tol: float = 1e-12
                 ) -> ADFEstimate:
    """Fit ``sigma(theta) -> (mu, Sigma)`` to the rows ``Y`` by ADF (see the module)."""
    N, p = Y.shape
    s, Gamma = sample_moments(Y)
    if N <= len(s):
        raise ValueError(f"the ADF weight matrix needs more complete rows than moments: "
                         f"{N} rows for {len(s)} moments ({p} means and "
                         f"{len(s) - p} variances and covariances)")
    try:
        W = np.linalg.inv(Gamma)
    except np.linalg.LinAlgError:
        raise ValueError("the ADF weight matrix (the rows' fourth-order moments) is "
                         "singular: an outcome is constant or a linear function of the "
                         "others in some slot") from None
    ii, jj = _vech_index(p)
    k = len(theta0)
    if len(s) < k:
        raise ValueError(f"the model has more parameters ({k}) than moments ({len(s)})")

    def vec(theta):
        mu, S = sigma(theta)
        return np.r_[mu, S[ii, jj]]

    def jacobian(theta):
        h = 1e-6 * np.maximum(np.abs(theta), 1e-2 * max(1.0, float(np.abs(theta).max())))
        return np.column_stack([(vec(theta + h[j] * e) - vec(theta - h[j] * e)) / (2 * h[j])
                                for j, e in enumerate(np.eye(k))])

    theta = np.asarray(theta0, dtype=float).copy()
    r = s - vec(theta)
    f = float(r @ W @ r)
    converged, it = False, 0
    for it in range(1, max_iter + 1):
        D = jacobian(theta)
        info = D.T @ W @ D
        step = np.linalg.solve(info, D.T @ W @ r)
        t = 1.0
        while True:
            new = theta + t * step
            rn = s - vec(new)
            fn = float(rn @ W @ rn)
            if fn <= f or t < 1e-8:
                break
            t *= 0.5
        dec = float(step @ info @ step)
        theta, r, f = new, rn, fn
        if dec < tol * max(1.0, f):
            converged = True
            break
    D = jacobian(theta)
    vcov = np.linalg.inv(D.T @ W @ D) / (N - 1)
    return ADFEstimate(theta=theta, vcov=vcov, fmin=f, chi2=(N - 1) * f, df=len(s) - k,
                       iterations=it, converged=converged)
