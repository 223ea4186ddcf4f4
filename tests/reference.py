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
    "structured_blocks",
    "structured_stack",
    "structured_loglik",
    "structured_score",
    "structured_information",
    "structured_observed_information",
    "structured_mle",
    "structured_score_test",
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


# ----------------------------------------------------------------------------
# Linear covariance structures: Sigma_b = sum_l theta_l D_lb, one block per top group
# ----------------------------------------------------------------------------
#
# Any relaxation of a multilevel model (variances or slopes by position, correlated
# effects, shared labels, fixed values) is a Gaussian model whose top-level block b has
# mean X_b beta and covariance sum_l theta_l D_lb, with 0/1 (or loading-product) matrices
# D_lb written down from the long data by the caller.  These functions evaluate and
# maximise that likelihood densely (beta profiled by GLS, ML), and compute its score and
# expected information from the textbook formulas
#
#   d logL / d theta_l = -1/2 tr(S^-1 D_l) + 1/2 r' S^-1 D_l S^-1 r,
#   d logL / d beta    = X' S^-1 r,
#   I_theta[l, m]      = 1/2 sum_b tr(S_b^-1 D_lb S_b^-1 D_mb),   I_beta = sum_b X_b' S_b^-1 X_b.
#
# Blocks of equal size are stacked so that one evaluation is a few batched LAPACK calls.


def structured_blocks(d, top, mean, cov, outcome="y", offset=None):
    """Blocks ``(y_b, X_b, D_b)`` of long data ``d`` (observed rows only), one per value
    of column ``top``, in sorted order.

    ``mean`` maps coefficient names to ``f(cols)``: the column of X from the block's
    columns (a dict of arrays); ``cov`` maps covariance parameters to ``f(a, b)``: the
    pattern D[a, b] for every pair of the block's observations, where ``a[c]`` is column c
    as an (n, 1) array and ``b[c]`` as (1, n); ``a["_i"]``/``b["_i"]`` is the position
    in the block (``a["_i"] == b["_i"]``: the diagonal).  ``offset(cols)`` is subtracted
    from the outcome (coefficients fixed at a value).
    """
    blocks = []
    for _, g in d.groupby(top, sort=True):
        n = len(g)
        cols = {c: g[c].to_numpy() for c in g.columns}
        cols["_i"] = np.arange(n)
        a = {c: v[:, None] for c, v in cols.items()}
        b = {c: v[None, :] for c, v in cols.items()}
        X = np.column_stack([np.broadcast_to(np.asarray(f(cols), float), (n,))
                             for f in mean.values()]) if mean else np.zeros((n, 0))
        D = np.stack([np.broadcast_to(np.asarray(f(a, b), float), (n, n)) for f in cov.values()])
        y = np.asarray(cols[outcome], float)
        if offset is not None:
            y = y - np.asarray(offset(cols), float)
        blocks.append((y, X, D))
    return blocks


def structured_stack(blocks):
    """Stack ``blocks`` = [(y_b (n,), X_b (n, p), D_b (L, n, n)), ...] by block size.

    Returns a list of ``(Y (B, n), X (B, n, p), D (L, B, n, n))``, one per size.
    """
    by_size = {}
    for y, X, D in blocks:
        by_size.setdefault(len(y), []).append((y, X, D))
    out = []
    for n, items in sorted(by_size.items()):
        Y = np.stack([np.asarray(i[0], float) for i in items])
        X = np.stack([np.asarray(i[1], float) for i in items])
        D = np.stack([np.asarray(i[2], float) for i in items], axis=1)
        out.append((Y, X, D))
    return out


def _solves(stack, theta):
    """Per size: Sigma^-1 (B, n, n) and log|Sigma| (B,); None if not positive definite."""
    out = []
    for Y, X, D in stack:
        S = np.einsum("l,lbij->bij", np.asarray(theta, float), D)
        try:
            L = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            return None
        Li = np.linalg.inv(L)
        Si = np.swapaxes(Li, 1, 2) @ Li
        logdet = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
        out.append((Si, logdet))
    return out


def _gls(stack, sol):
    p = stack[0][1].shape[2]
    XtSX = np.zeros((p, p))
    XtSy = np.zeros(p)
    for (Y, X, D), (Si, _) in zip(stack, sol):
        SX = Si @ X
        XtSX += np.einsum("bip,biq->pq", X, SX)
        XtSy += np.einsum("bip,bi->p", SX, Y)
    return XtSX, XtSy


def structured_loglik(stack, theta, beta=None):
    """ML log likelihood (beta at its GLS value when None); -inf if Sigma is not PD.

    Returns ``(loglik, beta)``.
    """
    sol = _solves(stack, theta)
    if sol is None:
        return -np.inf, None
    if beta is None:
        XtSX, XtSy = _gls(stack, sol)
        beta = np.linalg.solve(XtSX, XtSy) if len(XtSy) else np.zeros(0)
    total = 0.0
    for (Y, X, D), (Si, logdet) in zip(stack, sol):
        r = Y - X @ beta
        quad = np.einsum("bi,bij,bj->b", r, Si, r)
        total += float(np.sum(Y.shape[1] * LOG2PI + logdet + quad))
    return -0.5 * total, beta


def structured_score(stack, theta, beta=None):
    """Score of the log likelihood: ``(d/d beta, d/d theta)`` at (beta, theta); beta
    defaults to the GLS value (where d/d beta = 0)."""
    sol = _solves(stack, theta)
    if sol is None:
        raise np.linalg.LinAlgError("Sigma not positive definite")
    if beta is None:
        XtSX, XtSy = _gls(stack, sol)
        beta = np.linalg.solve(XtSX, XtSy)
    gb = np.zeros(len(beta))
    gt = np.zeros(len(theta))
    for (Y, X, D), (Si, _) in zip(stack, sol):
        r = Y - X @ beta
        a = np.einsum("bij,bj->bi", Si, r)                 # S^-1 r
        gb += np.einsum("bip,bi->p", X, a)
        gt += -0.5 * np.einsum("bij,lbji->l", Si, D) + 0.5 * np.einsum("bi,lbij,bj->l", a, D, a)
    return gb, gt


def structured_information(stack, theta):
    """Expected information: ``(I_beta, I_theta)`` (block diagonal under normality)."""
    sol = _solves(stack, theta)
    if sol is None:
        raise np.linalg.LinAlgError("Sigma not positive definite")
    I_beta, _ = _gls(stack, sol)
    L = len(theta)
    I_theta = np.zeros((L, L))
    for (Y, X, D), (Si, _) in zip(stack, sol):
        M = np.einsum("bij,lbjk->lbik", Si, D)             # S^-1 D_l
        I_theta += 0.5 * np.einsum("lbij,mbji->lm", M, M)
    return I_beta, I_theta


def structured_observed_information(stack, theta, beta, rel_step=1e-5):
    """Observed information over (beta, theta) jointly: minus the Hessian of the log
    likelihood, by central differences of the analytic score (symmetrised)."""
    v0 = np.r_[np.asarray(beta, float), np.asarray(theta, float)]
    k = len(beta)

    def score(v):
        gb, gt = structured_score(stack, v[k:], v[:k])
        return np.r_[gb, gt]

    H = np.zeros((len(v0), len(v0)))
    for i in range(len(v0)):
        h = rel_step * max(abs(v0[i]), 0.1)
        e = np.zeros(len(v0))
        e[i] = h
        H[:, i] = (score(v0 + e) - score(v0 - e)) / (2.0 * h)
    return -0.5 * (H + H.T)


def structured_mle(stack, theta0, free=None, lower=None):
    """Maximise the ML log likelihood over the ``free`` entries of theta (others held at
    ``theta0``), beta profiled, by scipy's L-BFGS-B with the analytic score, then Fisher
    scoring steps to polish.  ``lower`` bounds theta (e.g. 0 for variances, None for a
    covariance).  Returns ``(theta, loglik, beta)``.
    """
    from scipy import optimize

    theta0 = np.asarray(theta0, dtype=float)
    free = np.ones(len(theta0), bool) if free is None else np.asarray(free, bool)
    lower = [None] * len(theta0) if lower is None else list(lower)
    idx = np.flatnonzero(free)

    def full(t):
        th = theta0.copy()
        th[idx] = t
        return th

    def fun(t):
        th = full(t)
        ll, _ = structured_loglik(stack, th)
        if not np.isfinite(ll):
            return 1e300, np.zeros(len(t))
        _, gt = structured_score(stack, th)
        return -ll, -gt[idx]

    bounds = [(lower[i], None) for i in idx]
    res = optimize.minimize(fun, theta0[idx], jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10})
    t = res.x
    # Fisher scoring polish (interior optimum assumed), with step halving
    ll, _ = structured_loglik(stack, full(t))
    for _ in range(50):
        th = full(t)
        _, gt = structured_score(stack, th)
        _, It = structured_information(stack, th)
        step = np.linalg.solve(It[np.ix_(idx, idx)], gt[idx])
        h = 1.0
        while h > 1e-6:
            cand = t + h * step
            ok = all(lower[i] is None or c >= lower[i] for i, c in zip(idx, cand))
            ll_new = structured_loglik(stack, full(cand))[0] if ok else -np.inf
            if ll_new >= ll - 1e-12:
                break
            h *= 0.5
        else:
            break
        done = abs(ll_new - ll) < 1e-11
        t, ll = cand, ll_new
        if done:
            break
    ll, beta = structured_loglik(stack, full(t))
    return full(t), ll, beta


def structured_score_test(stack, theta, beta=None, coef_free=None, theta_free=None,
                          information="expected"):
    """Score (LM) statistic g' I^-1 g over the free coefficients and free theta entries
    at a constrained estimate (beta, theta), with the expected (block diagonal) or the
    observed (numerical, joint) information."""
    gb, gt = structured_score(stack, theta, beta)
    cb = np.ones(len(gb), bool) if coef_free is None else np.asarray(coef_free, bool)
    ct = np.ones(len(gt), bool) if theta_free is None else np.asarray(theta_free, bool)
    if information == "observed":
        if beta is None:
            raise ValueError("give beta for the observed information")
        H = structured_observed_information(stack, theta, beta)
        keep = np.r_[cb, ct]
        g = np.r_[gb, gt][keep]
        return float(g @ np.linalg.solve(H[np.ix_(keep, keep)], g))
    I_beta, I_theta = structured_information(stack, theta)
    lm = 0.0
    if cb.any():
        lm += float(gb[cb] @ np.linalg.solve(I_beta[np.ix_(cb, cb)], gb[cb]))
    if ct.any():
        lm += float(gt[ct] @ np.linalg.solve(I_theta[np.ix_(ct, ct)], gt[ct]))
    return lm
