"""BLUPs and their conditional variances on the sparse (blocked) path.

Crossed designs put every observation in one row with thousands of latents, so the
per-row matrices of :mod:`.posterior` would be n x n and q x q dense. Here the
factor of M = I + T' A T that the deviance already uses (:func:`..engine.sparse.sparse_factor`,
T T' = Phi, A = Z' Theta^-1 Z) is reused. With D = Theta^-1 and the push-through identity
Phi Z' Sigma^-1 = T M^-1 T' Z' D,

    b = T M^-1 T' Z' D (y - X beta)                      (the BLUPs)
    C = T M^-1 T' Z' D X                                 (for the PEV)
    N = T M^-1 T'                                        (conditional variance, beta known)

so b and C need one blocked solve with k + 1 right-hand sides, and the diagonal of N
needs only diagonal blocks of M^-1:

    block 2 (dense, q2 latents):  (M^-1)_22 = S^-1,  N_22 = J'J,  J = L2^-1 T2'
    block-1 unit u:  (M^-1)_uu = L_u^-T (I + Y_u' T2 S^-1 T2' Y_u) L_u^-1

(Y = A21 T1 L11^-T, Y_u its columns of unit u: nonzero only on the unit's coupling
pairs), so N_uu = F F' + (F G_u)(F G_u)' with F = T_u L_u^-T and G_u = (J Y_u)'. The
PEV adds C V_beta C' (V_beta = (X'V^-1X)^-1), as on the per-row path. Cost: the solve
is linear in the number of observations; the variances cost one q2 x q2 triangular
inverse and a product (units x q2), formed in chunks.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import solve_triangular

from ..engine.linalg.blocked import coupling_product
from ..engine.sparse import BlockedFactor, sparse_factor
from ..engine.sparse_stats import SparseStats, _row_latents
from ..model.coefficients import coefficient_design
from .posterior_core import Posterior, obs_mean
from ..arrays import unique

__all__ = ["sparse_posterior", "blocked_solve"]

#: largest dense chunk (entries) of the units x q2 product formed for the variances
CHUNK = 4_000_000


def blocked_solve(factor: BlockedFactor, stats: SparseStats, rhs: np.ndarray) -> np.ndarray:
    """T M^-1 T' rhs for rhs (q, K) over the global latents of ``stats``."""
    q2 = stats.q2
    K = rhs.shape[1]
    lat2 = block_two(stats)
    T2 = factor.T2_matrix() if q2 else np.zeros((0, 0))
    out = np.zeros_like(rhs, dtype=float)
    z1s, Ys = [], []
    v = np.zeros((q2, K))
    for i, (c, f) in enumerate(zip(stats.classes, factor.classes)):
        Tt = np.swapaxes(f.T, 1, 2)
        R1 = Tt @ rhs[c.lat]                                     # (U, b, K)
        z1 = np.linalg.solve(f.L, R1) if c.size > 1 else R1 / f.L
        Y = coupling_product(factor.pair_y(stats, i), c.pair_row, c.pair_unit, q2,
                             c.n_units)
        if q2:
            v += Y @ z1.reshape(c.n_units * c.size, K)
        z1s.append(z1)
        Ys.append(Y)
    t = np.zeros((q2, K))
    if q2:
        r2 = T2.T @ (rhs[lat2] - v)
        z2 = solve_triangular(factor.L2, r2, lower=True, check_finite=False)
        x2 = solve_triangular(factor.L2, z2, lower=True, trans="T", check_finite=False)
        t = T2 @ x2
        out[lat2] = t
    for c, f, z1, Y in zip(stats.classes, factor.classes, z1s, Ys):
        back = z1 - (Y.T @ t).reshape(c.n_units, c.size, K) if q2 else z1
        Lt = np.swapaxes(f.L, 1, 2)
        x1 = np.linalg.solve(Lt, back) if c.size > 1 else back / Lt
        out[c.lat] = f.T @ x1
    return out


def conditional_variances(factor: BlockedFactor, stats: SparseStats) -> np.ndarray:
    """diag(T M^-1 T') over the global latents of ``stats`` (q,)."""
    q2 = stats.q2
    out = np.zeros(stats.n_latents)
    J = None
    if q2:
        J = solve_triangular(factor.L2, factor.T2_matrix().T, lower=True, check_finite=False)
        out[block_two(stats)] = np.einsum("ij,ij->j", J, J)
    for i, (c, f) in enumerate(zip(stats.classes, factor.classes)):
        b, U = c.size, c.n_units
        Ft = np.linalg.solve(f.L, np.swapaxes(f.T, 1, 2)) if b > 1 else \
            np.swapaxes(f.T, 1, 2) / f.L                          # F' = L^-1 T'
        F = np.swapaxes(Ft, 1, 2)
        var = np.einsum("uij,uij->ui", F, F)
        if q2 and len(c.pair_row):
            Yt = coupling_product(factor.pair_y(stats, i), c.pair_row, c.pair_unit, q2,
                                  U).T.tocsr()
            step = max(1, CHUNK // max(b * q2, 1))
            for u0 in range(0, U, step):
                u1 = min(U, u0 + step)
                G = np.asarray(Yt[u0 * b:u1 * b] @ J.T).reshape(u1 - u0, b, q2)
                H = F[u0:u1] @ G                                  # (chunk, b, q2)
                var[u0:u1] += np.einsum("uij,uij->ui", H, H)
        out[c.lat] = var
    return out


def block_two(stats: SparseStats) -> np.ndarray:
    """Global latents of block 2, in block-2 order (ascending, as the statistics put them)."""
    in1 = np.zeros(stats.n_latents, dtype=bool)
    for c in stats.classes:
        in1[c.lat.ravel()] = True
    return np.flatnonzero(~in1)


def prior_variances(factor: BlockedFactor, stats: SparseStats) -> np.ndarray:
    """Each global latent's variance (diagonal of Phi)."""
    out = np.zeros(stats.n_latents)
    if stats.q2:
        out[block_two(stats)] = factor.ext[np.diag(stats.phi2_lab)]
    for c in stats.classes:
        idx = np.arange(c.size)
        out[c.lat] = factor.ext[c.phi_lab[:, idx, idx]]
    return out


def sparse_posterior(fit) -> Posterior | None:
    """:class:`.posterior.Posterior` of a fit on the sparse path; None when some row has
    a latent none of whose loadings is nonzero (the sparse statistics leave it out, the
    per-row computation of :func:`.posterior.posterior` covers it)."""
    model, stats = fit.model, fit.stats
    if not isinstance(stats, SparseStats):
        raise TypeError("sparse_posterior needs a fit on the sparse path")
    data = model.data
    Zs, g_row, g_lat = _row_latents(model)
    if Zs.shape[1] != stats.n_latents:
        raise ValueError("the fit's sparse statistics do not match its model's latents")
    if _has_unloaded_latents(model, Zs.shape[1]):
        return None
    values = np.asarray(fit.values, dtype=float)
    factor = sparse_factor(values, stats)
    if factor is None:
        raise ValueError("the estimates are not admissible (M is not positive definite); "
                         "no BLUPs")
    xb = obs_mean(model, values, model.X, data.slot)
    y = data.y
    Xt, _ = coefficient_design(model)
    k = Xt.shape[1]
    xtvx = fit.evaluation.xtvx
    Vb = np.linalg.inv(xtvx) if xtvx is not None and len(xtvx) else np.zeros((0, 0))
    res = values[model.resid_of_obs()]
    w = 1.0 / res
    rhs = np.asarray(Zs.T @ (w[:, None] * np.column_stack([Xt, y - xb])))
    sol = blocked_solve(factor, stats, rhs)
    mean, C = sol[:, k], sol[:, :k]
    var = conditional_variances(factor, stats)
    pev = var + (np.einsum("ik,kl,il->i", C, Vb, C) if k else 0.0)
    fitted = xb + Zs @ mean
    return Posterior(row=g_row.astype(np.int64), latent=g_lat.astype(np.int64), mean=mean,
                     var=var, pev=pev, prior=prior_variances(factor, stats), xb=xb,
                     fitted=fitted, rstandard=(y - fitted) / np.sqrt(res),
                     n_latents=len(model.latent_table))


def _has_unloaded_latents(model, q: int) -> bool:
    """Whether the per-row pairs (every latent a row's observations load on, a zero
    loading included) outnumber the sparse path's (nonzero loadings only)."""
    if not model.Z.shape[1]:
        return False
    lat = model.effect_latent[model.data.slot]
    ok = lat >= 0
    L = max(len(model.latent_table), 1)
    rows = np.repeat(model.data.row, lat.shape[1]).reshape(lat.shape)
    return len(unique(rows[ok] * L + lat[ok])) != q
