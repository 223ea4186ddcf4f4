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
    "repeated_stack",
    "ar_autocovariance",
    "residual_covariance",
    "repeated_loglik",
    "repeated_mle",
    "repeated_score_test",
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



# ----------------------------------------------------------------------------
# Residual-error structures of repeated measures (Stata mixed's residuals())
# ----------------------------------------------------------------------------
#
# Subject i (the lowest-level group) has observations at times t_i1..t_in and
#
#   y_i = X_i beta + u_i 1 + e_i,   u_i ~ N(0, var_u),   e_i ~ N(0, R(t_i)),
#
# so V_i = var_u 11' + R(t_i), with R written down from each structure's definition
# (Stata's manual, "Other residual-error structures"):
#
#   independent   var I
#   exchangeable  var on the diagonal, cov off it
#   ar p          the autocovariance of e_t = phi_1 e_{t-1} + ... + phi_p e_{t-p} + a_t at
#                 lag |t_s - t_t| (gaps in time are lags), ``var`` = Var(e_t) the process
#                 (overall) variance, as Stata reports it
#   ma q          e_t = a_t + theta_1 a_{t-1} + ... + theta_q a_{t-q}; ``var_a`` = Var(a_t)
#                 the innovation variance (the overall one is var_a (1 + sum theta_j^2))
#   toeplitz q    var on the diagonal, var rho_k at lag k <= q, 0 beyond
#   exponential   var rho^|t_s - t_t| (real-valued times)
#   unstructured  Sigma[t_s, t_t], one row/column per distinct time (``levels``)
#   banded q      unstructured with Sigma[s, t] = 0 when |s - t| > q (in time units)
#
# The AR autocovariance is computed from the state-space (companion) form by a discrete
# Lyapunov equation, not from the Yule-Walker recursion: Gamma = A Gamma A' + Q, and
# Cov(x_{t+h}, x_t) = A^h Gamma.  The log likelihood (ML, or REML with the same
# convention as ``dense_loglik``) is evaluated with the subjects stacked by size.


def repeated_stack(d, outcome="y", covariates=("x",), group="id", time="t"):
    """Complete cases of long data ``d`` as stacks by subject size: a list of
    ``(Y (B, n), X (B, n, p), T (B, n))``; X is [1, covariates...]."""
    d = d.dropna(subset=[outcome, *covariates])
    by_size = {}
    for _, g in d.sort_values([group, time]).groupby(group, sort=True):
        X = np.column_stack([np.ones(len(g))] + [g[c].to_numpy(float) for c in covariates])
        by_size.setdefault(len(g), []).append((g[outcome].to_numpy(float), X,
                                               g[time].to_numpy(float)))
    return [(np.stack([i[0] for i in items]), np.stack([i[1] for i in items]),
             np.stack([i[2] for i in items])) for _, items in sorted(by_size.items())]


def ar_autocovariance(phi, var, max_lag):
    """gamma(0..max_lag) of a stationary AR(p) with Var(e_t) = ``var``."""
    from scipy.linalg import solve_discrete_lyapunov

    phi = np.asarray(phi, dtype=float)
    p = len(phi)
    A = np.zeros((p, p))
    A[0] = phi
    A[1:, :-1] = np.eye(p - 1)
    Q = np.zeros((p, p))
    Q[0, 0] = 1.0
    G = solve_discrete_lyapunov(A, Q)        # state covariance for unit innovations
    out = np.empty(max_lag + 1)
    M = G.copy()
    for h in range(max_lag + 1):
        out[h] = M[0, 0]                     # Cov(e_{t+h}, e_t) = (A^h G)[0, 0]
        M = A @ M
    return var * out / out[0]


def residual_covariance(kind, par, T):
    """R for stacked times ``T`` (B, n): (B, n, n), from the structure's definition.

    ``par``: independent {var}; exchangeable {var, cov}; ar {phi, var}; ma {theta, var_a};
    toeplitz {rho (list), var}; exponential {rho, var}; unstructured/banded {levels,
    Sigma} (banded: entries beyond the band must be 0 in Sigma, see ``repeated_mle``).
    """
    T = np.asarray(T, dtype=float)
    n = T.shape[-1]
    eye = np.eye(n)
    D = np.abs(T[..., :, None] - T[..., None, :])
    if kind == "independent":
        return par["var"] * np.broadcast_to(eye, D.shape)
    if kind == "exchangeable":
        return par["var"] * eye + par["cov"] * (1.0 - eye) + 0.0 * D
    if kind in ("unstructured", "banded"):
        idx = np.searchsorted(np.asarray(par["levels"], float), T)
        S = np.asarray(par["Sigma"], float)
        return S[idx[..., :, None], idx[..., None, :]]
    if kind == "exponential":
        return par["var"] * np.power(par["rho"], D)
    H = np.rint(D).astype(np.int64)
    max_lag = int(H.max()) if H.size else 0
    if kind == "ar":
        gam = ar_autocovariance(par["phi"], par["var"], max_lag)
    elif kind == "ma":
        c = np.r_[1.0, np.asarray(par["theta"], float)]
        gam = np.zeros(max_lag + 1)
        for h in range(min(len(c) - 1, max_lag) + 1):
            gam[h] = par["var_a"] * float(c[:len(c) - h] @ c[h:])
    elif kind == "toeplitz":
        rho = np.r_[1.0, np.asarray(par["rho"], float)]
        gam = np.zeros(max_lag + 1)
        k = min(len(rho), max_lag + 1)
        gam[:k] = par["var"] * rho[:k]
    else:
        raise ValueError(kind)
    return gam[H]


def repeated_loglik(stack, kind, par, var_u=0.0, reml=False):
    """Log likelihood (ML) or log restricted likelihood (REML, Stata/lme4 convention) of
    the repeated-measures model, beta at its GLS value; -inf if some V_i is not positive
    definite.  Returns ``(loglik, beta)``."""
    k = stack[0][1].shape[2]
    parts = []
    XtVX = np.zeros((k, k))
    XtVy = np.zeros(k)
    for Y, X, T in stack:
        V = residual_covariance(kind, par, T) + var_u
        try:
            L = np.linalg.cholesky(V)
        except np.linalg.LinAlgError:
            return -np.inf, None
        W = np.concatenate([X, Y[..., None]], axis=2)
        LiW = np.linalg.solve(L, W)                           # L^-1 [X y]
        C = np.einsum("bia,bic->ac", LiW, LiW)                # [X y]' V^-1 [X y]
        XtVX += C[:k, :k]
        XtVy += C[:k, k]
        parts.append((LiW, 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum()))
    beta = np.linalg.solve(XtVX, XtVy)
    N = sum(Y.size for Y, _, _ in stack)
    quad = 0.0
    logdet = 0.0
    for LiW, ld in parts:
        r = LiW[..., k] - LiW[..., :k] @ beta
        quad += float(np.sum(r * r))
        logdet += float(ld)
    if not reml:
        return -0.5 * (N * LOG2PI + logdet + quad), beta
    sign, ldx = np.linalg.slogdet(XtVX)
    return -0.5 * ((N - k) * LOG2PI + logdet + ldx + quad), beta


def _open_interval_map(p, sign):
    """Coefficients of a stationary AR (sign=+1) or invertible MA (sign=-1) polynomial of
    order p <= 2 from unconstrained a (the triangle: c2 in (-1, 1), |c1| < 1 - sign c2)."""
    def f(a):
        if p == 1:
            return np.array([np.tanh(a[0])])
        c2 = np.tanh(a[1])
        return np.array([(1.0 - sign * c2) * np.tanh(a[0]), c2])
    return f


def repeated_mle(stack, kind, order=None, levels=None, intercept=True, reml=False):
    """Maximise :func:`repeated_loglik` over the structure's parameters (and var_u when
    ``intercept``) with scipy (BFGS on unconstrained coordinates of its own: log
    variances, a triangle map for AR(<=2)/MA(<=2) coefficients, tanh correlations, a
    log-Cholesky factor for unstructured), restarted until the log likelihood stops
    moving.  Returns ``(par, var_u, loglik)``."""
    from scipy import optimize

    Y = np.concatenate([s[0].ravel() for s in stack])
    v0 = float(np.var(Y - Y.mean())) * (0.7 if intercept else 1.0)   # residual part
    levels = None if levels is None else np.asarray(levels, float)
    L_ = 0 if levels is None else len(levels)

    if kind == "independent":
        n_s, start = 1, [np.log(v0)]
        unpack = lambda a: {"var": np.exp(a[0])}
    elif kind == "exchangeable":
        n_s, start = 2, [np.log(v0), 0.0]
        unpack = lambda a: {"var": np.exp(a[0]), "cov": np.exp(a[0]) * np.tanh(a[1])}
    elif kind in ("ar", "ma"):
        coef = _open_interval_map(order, 1 if kind == "ar" else -1)
        n_s, start = order + 1, [0.0] * order + [np.log(v0)]
        if kind == "ar":
            unpack = lambda a: {"phi": coef(a[:-1]), "var": np.exp(a[-1])}
        else:
            unpack = lambda a: {"theta": coef(a[:-1]), "var_a": np.exp(a[-1])}
    elif kind == "toeplitz":
        n_s, start = order + 1, [0.0] * order + [np.log(v0)]
        unpack = lambda a: {"rho": np.tanh(a[:-1]), "var": np.exp(a[-1])}
    elif kind == "exponential":
        n_s, start = 2, [0.0, np.log(v0)]
        unpack = lambda a: {"rho": 1.0 / (1.0 + np.exp(-a[0])), "var": np.exp(a[1])}
    elif kind == "unstructured":
        tri = np.tril_indices(L_)
        n_s = len(tri[0])
        L0 = np.diag(np.full(L_, 0.5 * np.log(v0)))
        start = list(L0[tri])

        def unpack(a):
            L = np.zeros((L_, L_))
            L[tri] = a
            L[np.diag_indices(L_)] = np.exp(np.diag(L))
            return {"levels": levels, "Sigma": L @ L.T}
    elif kind == "banded":
        band = [(i, j) for i in range(L_) for j in range(i)
                if abs(levels[i] - levels[j]) <= order]
        n_s = L_ + len(band)
        start = [np.log(v0)] * L_ + [0.0] * len(band)

        def unpack(a):
            sd = np.exp(0.5 * np.asarray(a[:L_]))
            S = np.diag(sd ** 2)
            for (i, j), c in zip(band, a[L_:]):
                S[i, j] = S[j, i] = sd[i] * sd[j] * np.tanh(c)
            return {"levels": levels, "Sigma": S}
    else:
        raise ValueError(kind)

    def split(a):
        a = np.asarray(a, float)
        return unpack(a[:n_s]), (np.exp(a[n_s]) if intercept else 0.0)

    def f(a):
        par, vu = split(a)
        ll, _ = repeated_loglik(stack, kind, par, vu, reml)
        return -ll if np.isfinite(ll) else 1e30

    a = np.r_[start, [np.log(0.3 / 0.7 * v0)] if intercept else []]
    best = f(a)
    for _ in range(8):
        res = optimize.minimize(f, a, method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
        if res.fun > best - 1e-10 and _ > 0:
            a = res.x if res.fun < best else a
            break
        a, best = res.x, min(best, res.fun)
    par, vu = split(a)
    return par, vu, -f(a)



def repeated_score_test(stack, kind, unpack, v, reml=False, information="observed",
                        rel_step=1e-5):
    """Score (LM) statistic g' I^-1 g of the variance parameters ``v`` (a flat vector;
    ``unpack(v)`` gives ``(par, var_u)`` for :func:`residual_covariance`) at a constrained
    estimate, beta at its GLS value (profiled: under ML this equals the joint test over
    beta and v, the score of beta being 0 there).

    Score, from the textbook formula with dV_j = dV/dv_j by central differences:
      ML   g_j = -1/2 sum_i tr(V_i^-1 dV_ij) + 1/2 sum_i r_i' V_i^-1 dV_ij V_i^-1 r_i
      REML g_j = the same + 1/2 tr((X'V^-1X)^-1 sum_i X_i' V_i^-1 dV_ij V_i^-1 X_i).
    Information: ``"observed"`` = minus the derivative of g (central differences),
    ``"expected"`` (ML) = 1/2 sum_i tr(V_i^-1 dV_ij V_i^-1 dV_ik).
    """
    v = np.asarray(v, dtype=float)

    def V_of(w):
        par, vu = unpack(w)
        return [residual_covariance(kind, par, T) + vu for _, _, T in stack]

    def dV_of(w):
        out = []
        for j in range(len(w)):
            h = rel_step * max(abs(w[j]), 0.1)
            up, dn = w.copy(), w.copy()
            up[j] += h
            dn[j] -= h
            out.append([(a - b) / (2 * h) for a, b in zip(V_of(up), V_of(dn))])
        return out                                    # [param][size] (B, n, n)

    def pieces(w):
        Vs = V_of(w)
        Si = [np.linalg.inv(V) for V in Vs]
        k = stack[0][1].shape[2]
        XtSX = sum(np.einsum("bia,bij,bjc->ac", X, S, X) for (Y, X, T), S in zip(stack, Si))
        XtSy = sum(np.einsum("bia,bij,bj->a", X, S, Y) for (Y, X, T), S in zip(stack, Si))
        beta = np.linalg.solve(XtSX, XtSy)
        a = [np.einsum("bij,bj->bi", S, Y - X @ beta) for (Y, X, T), S in zip(stack, Si)]
        return Si, a, XtSX, k

    def score(w):
        Si, a, XtSX, k = pieces(w)
        dV = dV_of(w)
        g = np.zeros(len(w))
        for j in range(len(w)):
            for s, ((Y, X, T), S, aa) in enumerate(zip(stack, Si, a)):
                D = dV[j][s]
                g[j] += -0.5 * np.einsum("bij,bji->", S, D) + 0.5 * np.einsum(
                    "bi,bij,bj->", aa, D, aa)
                if reml:
                    SX = S @ X
                    g[j] += 0.5 * np.trace(np.linalg.solve(
                        XtSX, np.einsum("bia,bij,bjc->ac", SX, D, SX)))
        return g

    g = score(v)
    if information == "observed":
        H = np.zeros((len(v), len(v)))
        for j in range(len(v)):
            h = rel_step * max(abs(v[j]), 0.1)
            up, dn = v.copy(), v.copy()
            up[j] += h
            dn[j] -= h
            H[:, j] = (score(up) - score(dn)) / (2 * h)
        info = -0.5 * (H + H.T)
    elif information == "expected":
        if reml:
            raise ValueError("expected information: ML only")
        Si, _, _, _ = pieces(v)
        dV = dV_of(v)
        M = [[S @ D for S, D in zip(Si, dV[j])] for j in range(len(v))]
        info = np.array([[0.5 * sum(np.einsum("bij,bji->", A, B) for A, B in zip(M[j], M[l]))
                          for l in range(len(v))] for j in range(len(v))])
    else:
        raise ValueError(information)
    return float(g @ np.linalg.solve(info, g)), g


# ----------------------------------------------------------------------------
# Residual-error structures by group (Stata mixed's residuals(..., by(var)))
# ----------------------------------------------------------------------------
#
# Each value g of the by() variable has its own structure parameters par_g; the fixed
# effects beta and the subject-intercept variance var_u are shared:
#
#   V_i = var_u 11' + R_g(i)(t_i)      (the structure of subject i's group; every
#                                       restype but independent needs g constant in i)
#   independent: R_i = diag(var_g(ij))  (g may vary within a subject: heteroskedastic)
#
# and the likelihood is the one of ``repeated_loglik`` with these V_i.


def repeated_stack_by(d, by, outcome="y", covariates=("x",), group="id", time="t"):
    """Complete cases of long data ``d`` stacked by subject size, as ``repeated_stack``
    with a fourth array: ``(Y, X, T, G)``, G (B, n) the code 0, 1, ... of each
    observation's value of ``by`` (the sorted distinct values among the complete cases).
    Returns ``(stack, values)``."""
    d = d.dropna(subset=[outcome, *covariates])
    values = sorted(d[by].unique().tolist())
    code = {v: i for i, v in enumerate(values)}
    by_size = {}
    for _, g in d.sort_values([group, time]).groupby(group, sort=True):
        X = np.column_stack([np.ones(len(g))] + [g[c].to_numpy(float) for c in covariates])
        by_size.setdefault(len(g), []).append((
            g[outcome].to_numpy(float), X, g[time].to_numpy(float),
            np.array([code[v] for v in g[by]], dtype=np.int64)))
    stack = [tuple(np.stack([i[k] for i in items]) for k in range(4))
             for _, items in sorted(by_size.items())]
    return stack, values


def residual_covariance_by(kind, pars, T, G):
    """R (B, n, n) for stacked times T and group codes G (B, n); ``pars[g]`` is group g's
    parameter dict as in :func:`residual_covariance`."""
    T = np.asarray(T, float)
    G = np.asarray(G)
    if kind == "independent":
        var = np.array([p["var"] for p in pars], float)[G]
        return var[..., :, None] * np.eye(T.shape[-1])
    if (G != G[..., :1]).any():
        raise ValueError(f"{kind}: the group must be constant within a subject")
    R = np.zeros(T.shape + (T.shape[-1],))
    for g, par in enumerate(pars):
        hit = G[:, 0] == g
        if hit.any():
            R[hit] = residual_covariance(kind, par, T[hit])
    return R


def repeated_loglik_by(stack, kind, pars, var_u=0.0, reml=False):
    """Log (restricted) likelihood with one structure per group (see above), beta at its
    GLS value over all groups; -inf if some V_i is not positive definite.  Returns
    ``(loglik, beta)``."""
    k = stack[0][1].shape[2]
    XtVX = np.zeros((k, k))
    XtVy = np.zeros(k)
    parts = []
    for Y, X, T, G in stack:
        V = residual_covariance_by(kind, pars, T, G) + var_u
        try:
            L = np.linalg.cholesky(V)
        except np.linalg.LinAlgError:
            return -np.inf, None
        W = np.concatenate([X, Y[..., None]], axis=2)
        LiW = np.linalg.solve(L, W)
        C = np.einsum("bia,bic->ac", LiW, LiW)
        XtVX += C[:k, :k]
        XtVy += C[:k, k]
        parts.append((LiW, 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum()))
    beta = np.linalg.solve(XtVX, XtVy)
    N = sum(s[0].size for s in stack)
    quad = sum(float(np.sum((LiW[..., k] - LiW[..., :k] @ beta) ** 2)) for LiW, _ in parts)
    logdet = sum(float(ld) for _, ld in parts)
    if not reml:
        return -0.5 * (N * LOG2PI + logdet + quad), beta
    _, ldx = np.linalg.slogdet(XtVX)
    return -0.5 * ((N - k) * LOG2PI + logdet + ldx + quad), beta


def _structure_map(kind, order, levels, v0):
    """``(n, start, unpack)``: unconstrained coordinates of one structure (the same maps
    as :func:`repeated_mle`: log variances, the AR/MA triangle, tanh correlations, a
    log-Cholesky factor for unstructured, tanh correlations within the band)."""
    levels = None if levels is None else np.asarray(levels, float)
    L_ = 0 if levels is None else len(levels)
    if kind == "independent":
        return 1, [np.log(v0)], lambda a: {"var": np.exp(a[0])}
    if kind == "exchangeable":
        return 2, [np.log(v0), 0.0], lambda a: {"var": np.exp(a[0]),
                                                 "cov": np.exp(a[0]) * np.tanh(a[1])}
    if kind in ("ar", "ma"):
        coef = _open_interval_map(order, 1 if kind == "ar" else -1)
        if kind == "ar":
            return order + 1, [0.0] * order + [np.log(v0)], \
                lambda a: {"phi": coef(a[:-1]), "var": np.exp(a[-1])}
        return order + 1, [0.0] * order + [np.log(v0)], \
            lambda a: {"theta": coef(a[:-1]), "var_a": np.exp(a[-1])}
    if kind == "toeplitz":
        return order + 1, [0.0] * order + [np.log(v0)], \
            lambda a: {"rho": np.tanh(a[:-1]), "var": np.exp(a[-1])}
    if kind == "exponential":
        return 2, [0.0, np.log(v0)], lambda a: {"rho": 1.0 / (1.0 + np.exp(-a[0])),
                                                "var": np.exp(a[1])}
    if kind == "unstructured":
        tri = np.tril_indices(L_)

        def unpack(a):
            L = np.zeros((L_, L_))
            L[tri] = a
            L[np.diag_indices(L_)] = np.exp(np.diag(L))
            return {"levels": levels, "Sigma": L @ L.T}
        return len(tri[0]), list(np.diag(np.full(L_, 0.5 * np.log(v0)))[tri]), unpack
    if kind == "banded":
        band = [(i, j) for i in range(L_) for j in range(i) if i - j <= order]  # positions

        def unpack(a):
            sd = np.exp(0.5 * np.asarray(a[:L_]))
            S = np.diag(sd ** 2)
            for (i, j), c in zip(band, a[L_:]):
                S[i, j] = S[j, i] = sd[i] * sd[j] * np.tanh(c)
            return {"levels": levels, "Sigma": S}
        return L_ + len(band), [np.log(v0)] * L_ + [0.0] * len(band), unpack
    raise ValueError(kind)


def repeated_mle_by(stack, kind, n_groups, order=None, levels=None, intercept=True,
                    reml=False):
    """Maximise :func:`repeated_loglik_by` over every group's structure parameters (and
    the shared var_u when ``intercept``) with scipy BFGS on the coordinates of
    :func:`_structure_map`, restarted until the log likelihood stops moving.  ``levels``
    is one array of distinct times per group (unstructured, banded: bands count
    positions in that array).  Returns ``(pars, var_u, loglik)``."""
    from scipy import optimize

    Y = np.concatenate([s[0].ravel() for s in stack])
    v0 = float(np.var(Y - Y.mean())) * (0.7 if intercept else 1.0)
    maps = [_structure_map(kind, order, None if levels is None else levels[g], v0)
            for g in range(n_groups)]
    cuts = np.cumsum([0] + [m[0] for m in maps])

    def split(a):
        a = np.asarray(a, float)
        pars = [m[2](a[cuts[g]:cuts[g + 1]]) for g, m in enumerate(maps)]
        return pars, (np.exp(a[cuts[-1]]) if intercept else 0.0)

    def f(a):
        pars, vu = split(a)
        ll, _ = repeated_loglik_by(stack, kind, pars, vu, reml)
        return -ll if np.isfinite(ll) else 1e30

    a = np.r_[np.concatenate([m[1] for m in maps]),
              [np.log(0.3 / 0.7 * v0)] if intercept else []]
    best = f(a)
    # BFGS can stall against the non-positive-definite wall (f = 1e30, e.g. a Toeplitz
    # rho1 near 1 / (2 cos(pi / (n + 1)))): alternate it with derivative-free Powell
    # until neither moves the log likelihood
    quiet = 0
    for it in range(12):
        method = "BFGS" if it % 2 == 0 else "Powell"
        opts = ({"gtol": 1e-9, "maxiter": 20000} if method == "BFGS" else
                {"xtol": 1e-10, "ftol": 1e-14, "maxfev": 200000})
        res = optimize.minimize(f, a, method=method, options=opts)
        gain = best - res.fun
        if gain > 0:
            a, best = res.x, res.fun
        quiet = quiet + 1 if gain < 1e-10 else 0
        if quiet == 2:
            break
    pars, vu = split(a)
    return pars, vu, -f(a)


def independent_by_score_test(stack, var, var_u=0.0, intercept=True, reml=False,
                              information="expected"):
    """Textbook score test of ``var`` (one residual variance per group, R_i =
    diag(var_g(ij))) at a constrained estimate, e.g. all equal (the homoskedastic fit).

    Dense over all N observations (V block diagonal by subject), covariance parameters
    v = (var_u if ``intercept``, var_0, var_1, ...), linear in V: dV/dvar_u = 1 within a
    subject, dV/dvar_g = diag(1[g(ij) = g]).  With P = V^-1 - V^-1 X (X'V^-1X)^-1 X'V^-1:

      ML    g_j = -1/2 tr(V^-1 dV_j) + 1/2 r'V^-1 dV_j V^-1 r,  r = y - X beta_GLS
            expected  I_jk = 1/2 tr(V^-1 dV_j V^-1 dV_k)   (beta block orthogonal)
            observed  over (beta, v) jointly: I_bb = X'V^-1X, I_bj = X'V^-1 dV_j V^-1 r,
                      I_jk = -1/2 tr(V^-1 dV_j V^-1 dV_k) + r'V^-1 dV_j V^-1 dV_k V^-1 r
      REML  g_j = -1/2 tr(P dV_j) + 1/2 y'P dV_j P y
            expected  I_jk = 1/2 tr(P dV_j P dV_k)
            observed  I_jk = -1/2 tr(P dV_j P dV_k) + y'P dV_j P dV_k P y

    Returns ``(statistic g'I^-1 g, g)``."""
    from scipy.linalg import block_diag

    Ys, Xs, Gs, blocks = [], [], [], []
    for Y, X, T, G in stack:
        for b in range(Y.shape[0]):
            Ys.append(Y[b])
            Xs.append(X[b])
            Gs.append(G[b])
            blocks.append(np.ones((Y.shape[1], Y.shape[1])))
    y = np.concatenate(Ys)
    X = np.concatenate(Xs)
    G = np.concatenate(Gs)
    J = block_diag(*blocks)
    var = np.asarray(var, float)
    dV = ([J] if intercept else []) + [np.diag((G == g).astype(float))
                                       for g in range(len(var))]
    V = var_u * J + np.diag(var[G])
    Vi = np.linalg.inv(V)
    XtVX = X.T @ Vi @ X
    beta = np.linalg.solve(XtVX, X.T @ Vi @ y)
    r = y - X @ beta
    if reml:
        P = Vi - Vi @ X @ np.linalg.solve(XtVX, X.T @ Vi)
        a = P @ y
        W = P
    else:
        a = Vi @ r
        W = Vi
    WD = [W @ D for D in dV]
    g = np.array([-0.5 * np.trace(M) + 0.5 * a @ D @ a for M, D in zip(WD, dV)])
    m = len(dV)
    tr = np.array([[np.sum(WD[j] * WD[k].T) for k in range(m)] for j in range(m)])
    if information == "expected":
        info = 0.5 * tr
        return float(g @ np.linalg.solve(info, g)), g
    if information != "observed":
        raise ValueError(information)
    quad = np.array([[a @ dV[j] @ W @ dV[k] @ a for k in range(m)] for j in range(m)])
    info = -0.5 * tr + 0.5 * (quad + quad.T)
    if reml:
        return float(g @ np.linalg.solve(info, g)), g
    Ibv = np.column_stack([X.T @ Vi @ D @ a for D in dV])
    full = np.block([[XtVX, Ibv], [Ibv.T, info]])
    gg = np.r_[np.zeros(X.shape[1]), g]
    return float(gg @ np.linalg.solve(full, gg)), g


__all__ += ["repeated_stack_by", "residual_covariance_by", "repeated_loglik_by",
            "repeated_mle_by", "independent_by_score_test"]
