"""Independent dense reference for sandwich (robust) variances and weighted likelihoods.

numpy/scipy only, nothing from ``semlevel``. A model is a list of top-level *blocks*
(y, X, Z-part builders, weights) and a function ``cov(theta, block)`` returning the
block's covariance; everything else is written from the textbook formulas:

* block log likelihood (manual eq. 14 integrated in closed form for a two-level model
  with observation weights w_i and block weight w_j)::

      l_j = w_j [ log N(y; X b, Z G Z' + s2 diag(1/w_i)) - 1/2 sum_i (w_i - 1) log(2 pi s2)
                  - 1/2 sum_i log w_i ]

  (``weighted_block_loglik_quadrature`` checks it by numerical integration);
* scores of every block by central differences of l_j in (beta, theta);
* Stata's bread: blockdiag((X'V^-1X)^-1, inverse of minus the Hessian of the profiled log
  likelihood (second differences of function values, beta at GLS));
* V = M/(M-1) D (sum_c u_c u_c') D, u_c the summed (weighted) scores of cluster c.
"""
from __future__ import annotations

import numpy as np
from scipy import integrate

LOG2PI = float(np.log(2.0 * np.pi))

__all__ = ["Block", "block_loglik", "gls", "profiled_loglik", "scores", "sandwich",
           "weighted_block_loglik_quadrature"]


class Block:
    """One top-level unit: outcome, fixed design, whatever ``cov`` needs, weights."""

    def __init__(self, y, X, w_obs=None, w_top=1.0, **parts):
        self.y = np.asarray(y, float)
        self.X = np.asarray(X, float)
        self.w_obs = np.ones(len(self.y)) if w_obs is None else np.asarray(w_obs, float)
        self.w_top = float(w_top)
        self.parts = parts


def _V(theta, b, cov):
    """Covariance with the observation weights applied to the residual part: ``cov``
    returns (random-effects part, residual variance)."""
    re, s2 = cov(theta, b)
    return re + np.diag(s2 / b.w_obs), s2


def block_loglik(beta, theta, b, cov):
    """Weighted log likelihood of one block (see the module docstring)."""
    V, s2 = _V(theta, b, cov)
    sign, logdet = np.linalg.slogdet(V)
    if sign <= 0:
        return -np.inf
    r = b.y - b.X @ beta
    ll = -0.5 * (len(r) * LOG2PI + logdet + r @ np.linalg.solve(V, r))
    ll += -0.5 * np.sum((b.w_obs - 1.0) * np.log(2 * np.pi * s2)) - 0.5 * np.sum(np.log(b.w_obs))
    return b.w_top * ll


def gls(theta, blocks, cov):
    """GLS coefficients and the weighted X'V^-1X."""
    p = blocks[0].X.shape[1]
    A, c = np.zeros((p, p)), np.zeros(p)
    for b in blocks:
        V, _ = _V(theta, b, cov)
        A += b.w_top * b.X.T @ np.linalg.solve(V, b.X)
        c += b.w_top * b.X.T @ np.linalg.solve(V, b.y)
    return np.linalg.solve(A, c), A


def profiled_loglik(theta, blocks, cov):
    beta, _ = gls(theta, blocks, cov)
    return sum(block_loglik(beta, theta, b, cov) for b in blocks)


def _hessian(f, x, rel=1e-3):
    x = np.asarray(x, float)
    k = len(x)
    h = rel * np.maximum(np.abs(x), 1e-2)
    H = np.zeros((k, k))
    f0 = f(x)
    for i in range(k):
        for j in range(i, k):
            ei, ej = np.zeros(k), np.zeros(k)
            ei[i], ej[j] = h[i], h[j]
            if i == j:
                H[i, i] = (f(x + ei) - 2 * f0 + f(x - ei)) / h[i] ** 2
            else:
                H[i, j] = H[j, i] = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej)
                                     + f(x - ei - ej)) / (4 * h[i] * h[j])
    return H


def scores(beta, theta, blocks, cov, rel=1e-6):
    """Per block, d l_j / d (beta, theta) by central differences, divided by the block
    weight (the unweighted score s_j; u_j = w_j s_j)."""
    x0 = np.r_[beta, theta]
    k = len(beta)
    out = np.zeros((len(blocks), len(x0)))
    for m in range(len(x0)):
        h = rel * max(abs(x0[m]), 1e-2)
        up, dn = x0.copy(), x0.copy()
        up[m] += h
        dn[m] -= h
        for j, b in enumerate(blocks):
            out[j, m] = (block_loglik(up[:k], up[k:], b, cov)
                         - block_loglik(dn[:k], dn[k:], b, cov)) / (2 * h) / b.w_top
    return out


def sandwich(theta, blocks, cov, clusters=None, replicate_top=False, small_sample=True):
    """Stata's sandwich at (GLS beta, theta): returns (beta, V over (beta, theta)).

    ``clusters`` groups blocks (default: each block alone); ``replicate_top`` treats the
    block weights as frequency weights (each block counts w_j times)."""
    beta, A = gls(theta, blocks, cov)
    k = len(beta)
    H = _hessian(lambda t: profiled_loglik(t, blocks, cov), theta)
    D = np.zeros((k + len(theta), k + len(theta)))
    D[:k, :k] = np.linalg.inv(A)
    D[k:, k:] = np.linalg.inv(-H)
    s = scores(beta, theta, blocks, cov)
    w = np.array([b.w_top for b in blocks])
    if replicate_top:
        meat = (s * w[:, None]).T @ s
        M = w.sum()
    else:
        cl = np.arange(len(blocks)) if clusters is None else np.asarray(clusters)
        _, codes = np.unique(cl, return_inverse=True)
        U = np.zeros((codes.max() + 1, s.shape[1]))
        np.add.at(U, codes, s * w[:, None])
        meat = U.T @ U
        M = U.shape[0]
    fac = M / (M - 1.0) if small_sample else 1.0
    return beta, fac * D @ meat @ D


def weighted_block_loglik_quadrature(beta, var_u, s2, y, X, w_obs, w_top):
    """Manual eq. (14) for one random-intercept block by numerical integration:
    w_j log int exp{sum_i w_i log f1(y_i | u)} f2(u) du."""
    r = np.asarray(y, float) - np.asarray(X, float) @ beta
    w = np.asarray(w_obs, float)
    sd = np.sqrt(var_u)

    def log_inner(u):
        return float(np.sum(w * (-0.5 * np.log(2 * np.pi * s2) - 0.5 * (r - u) ** 2 / s2)))

    # centre the integrand at its mode for accuracy
    mode = float(np.sum(w * r) / s2) / (np.sum(w) / s2 + 1.0 / var_u)
    c = log_inner(mode) - 0.5 * mode ** 2 / var_u
    val, _ = integrate.quad(lambda u: np.exp(log_inner(u) - 0.5 * u ** 2 / var_u - c)
                            / (np.sqrt(2 * np.pi) * sd), mode - 40 * sd, mode + 40 * sd,
                            points=[mode], limit=200, epsabs=0, epsrel=1e-12)
    return w_top * (np.log(val) + c)
