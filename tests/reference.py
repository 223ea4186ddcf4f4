"""Independent, dense reference for the linear mixed-model likelihood.

Written straight from the textbook formulas with numpy only, so that the
engine in ``semlevel`` (which evaluates the same likelihood as a constrained
SEM, with Woodbury identities, sufficient statistics, ...) can be checked
against something that shares none of its code.  Nothing here imports
``semlevel``.

Model, for N long observations::

    y = X beta + sum_l Z_l u_l + e,   u_{l,g} ~ N(0, G_l) iid over groups g of level l,
    e ~ N(0, sigma2 I)

so that ``V = Cov(y) = sum_l (Z_l G_l Z_l') o S_l + sigma2 I`` where ``S_l`` is the
0/1 "same group at level l" matrix (``o`` = elementwise product).  Because
the levels are nested, V is block-diagonal by top-level group; each block is
formed densely and handled with ``slogdet``/``solve``.

Log likelihoods (beta at its GLS value when ``beta`` is None)::

    ML   : -0.5 * (N log 2pi + log|V| + r'V^-1 r)
    REML : -0.5 * ((N-p) log 2pi + log|V| + log|X'V^-1 X| + r'V^-1 r)

The REML version is the one used by Stata's ``mixed`` and by lme4 (it is
*not* the density of a set of error contrasts K'y; that density differs by
the constant 0.5*log|X'X|, see ``tests/test_reference.py``).
"""

from __future__ import annotations

import numpy as np

LOG2PI = float(np.log(2.0 * np.pi))

__all__ = [
    "dense_loglik",
    "gls_beta",
    "fixed_vcov",
    "ols_loglik",
    "dense_V_blocks",
]


def _as_inputs(y, X, groups, Z, G):
    y = np.asarray(y, dtype=float).reshape(-1)
    n = y.shape[0]
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X.reshape(n, -1)
    if X.shape[0] != n:
        raise ValueError("X must have one row per observation")
    groups = [np.asarray(g).reshape(-1) for g in (groups or [])]
    Z = [np.asarray(z, dtype=float) for z in (Z or [])]
    Z = [z.reshape(n, -1) if z.ndim == 1 else z for z in Z]
    G = [np.atleast_2d(np.asarray(g, dtype=float)) for g in (G or [])]
    if not (len(groups) == len(Z) == len(G)):
        raise ValueError("groups, Z and G must have one entry per level")
    for g, z, c in zip(groups, Z, G):
        if g.shape[0] != n or z.shape[0] != n:
            raise ValueError("groups/Z must have one row per observation")
        if c.shape != (z.shape[1], z.shape[1]):
            raise ValueError("G_l must be q_l x q_l with q_l = Z_l.shape[1]")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(X))):
        raise ValueError("y and X must be complete (drop missing rows first)")
    return y, X, groups, Z, G


def _top_blocks(groups, n):
    """Row-index arrays, one per top-level group (each row alone if no levels)."""
    if not groups:
        return [np.array([i]) for i in range(n)]
    _, inv = np.unique(groups[0], return_inverse=True)
    order = np.argsort(inv, kind="stable")
    cuts = np.flatnonzero(np.diff(inv[order])) + 1
    return np.split(order, cuts)


def dense_V_blocks(y, X, groups, Z, G, sigma2):
    """Yield ``(rows, V_block)`` for each top-level group."""
    y, X, groups, Z, G = _as_inputs(y, X, groups, Z, G)
    for rows in _top_blocks(groups, y.shape[0]):
        V = sigma2 * np.eye(rows.size)
        for g, z, c in zip(groups, Z, G):
            gl = g[rows]
            same = gl[:, None] == gl[None, :]
            zl = z[rows]
            V += (zl @ c @ zl.T) * same
        yield rows, V


def _accumulate(y, X, groups, Z, G, sigma2):
    """Per-block solves; returns logdetV, X'V^-1X, X'V^-1y and the blocks."""
    p = X.shape[1]
    logdet = 0.0
    XtVX = np.zeros((p, p))
    XtVy = np.zeros(p)
    blocks = []
    for rows, V in dense_V_blocks(y, X, groups, Z, G, sigma2):
        sign, ld = np.linalg.slogdet(V)
        if sign <= 0:
            raise np.linalg.LinAlgError("V block not positive definite")
        logdet += ld
        Xg, yg = X[rows], y[rows]
        sol = np.linalg.solve(V, np.column_stack([Xg, yg]))
        XtVX += Xg.T @ sol[:, :p]
        XtVy += Xg.T @ sol[:, p]
        blocks.append((rows, V))
    return logdet, XtVX, XtVy, blocks


def gls_beta(y, X, groups, Z, G, sigma2):
    """GLS estimate beta-hat = (X'V^-1X)^-1 X'V^-1 y."""
    y, X, groups, Z, G = _as_inputs(y, X, groups, Z, G)
    _, XtVX, XtVy, _ = _accumulate(y, X, groups, Z, G, sigma2)
    return np.linalg.solve(XtVX, XtVy)


def fixed_vcov(y, X, groups, Z, G, sigma2):
    """(X'V^-1X)^-1, the model-based covariance of the GLS fixed effects."""
    y, X, groups, Z, G = _as_inputs(y, X, groups, Z, G)
    _, XtVX, _, _ = _accumulate(y, X, groups, Z, G, sigma2)
    return np.linalg.inv(XtVX)


def dense_loglik(y, X, groups, Z, G, sigma2, beta=None, reml=False):
    """Log likelihood (ML) or log restricted likelihood (REML) of the LMM.

    Parameters
    ----------
    y : (N,) outcomes (complete).
    X : (N, p) fixed-effects design.
    groups : list over levels (top to bottom) of (N,) integer group codes,
        codes unique within the whole data (nested levels already combined).
    Z : list of (N, q_l) random-effects designs.
    G : list of (q_l, q_l) covariance matrices of one group's effects.
    sigma2 : residual variance.
    beta : fixed effects; None = profiled at the GLS estimate.  The REML
        criterion is defined at the GLS beta, so with ``reml=True`` passing a
        beta raises rather than being silently ignored.
    reml : restricted likelihood if True.
    """
    y, X, groups, Z, G = _as_inputs(y, X, groups, Z, G)
    n, p = X.shape
    logdet, XtVX, XtVy, blocks = _accumulate(y, X, groups, Z, G, sigma2)
    if reml and beta is not None:
        raise ValueError("REML is defined with beta at its GLS value; pass beta=None")
    if beta is None:
        beta = np.linalg.solve(XtVX, XtVy)
    beta = np.asarray(beta, dtype=float).reshape(-1)
    r = y - X @ beta
    quad = 0.0
    for rows, V in blocks:
        rg = r[rows]
        quad += float(rg @ np.linalg.solve(V, rg))
    if not reml:
        return float(-0.5 * (n * LOG2PI + logdet + quad))
    sign, ldx = np.linalg.slogdet(XtVX)
    if sign <= 0:
        raise np.linalg.LinAlgError("X'V^-1X not positive definite")
    return float(-0.5 * ((n - p) * LOG2PI + logdet + ldx + quad))


def ols_loglik(y, X, reml=False):
    """Maximised log likelihood of the linear regression y = X b + e.

    ML: sigma2 = RSS/N.  REML: sigma2 = RSS/(N-p) and the same restricted
    likelihood convention as ``dense_loglik`` (so this equals
    ``dense_loglik`` with no random effects at the optimal sigma2), i.e.
    -0.5*((N-p)(log 2pi + log s2 + 1) + log|X'X|) with s2 = RSS/(N-p).
    This is the comparison model of the "LR test vs. linear model".
    """
    y = np.asarray(y, dtype=float).reshape(-1)
    X = np.asarray(X, dtype=float).reshape(y.shape[0], -1)
    n, p = X.shape
    b, *_ = np.linalg.lstsq(X, y, rcond=None)
    rss = float(np.sum((y - X @ b) ** 2))
    if not reml:
        s2 = rss / n
        return float(-0.5 * n * (LOG2PI + np.log(s2) + 1.0))
    s2 = rss / (n - p)
    _, ldxx = np.linalg.slogdet(X.T @ X)
    return float(-0.5 * ((n - p) * (LOG2PI + np.log(s2) + 1.0) + ldxx))
