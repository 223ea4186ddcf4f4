"""Deviance on the sparse path (rows with many latents: crossed designs).

With T a square root of Phi (T T' = Phi), D = Theta^-1 and A = Z' D Z,

    log|Sigma| = log|Theta| + log|M|,          M = I + T' A T,
    W' Sigma^-1 W = W' D W - R' M^-1 R,        R = T' Z' D W,

so the only factorisation is M's, done blockwise (:mod:`.linalg.blocked`): small Cholesky
factors of the block-1 units, then the dense Schur complement of block 2. T may be
singular (a variance on the boundary). beta is profiled as on every path
(:func:`.deviance.profile`). The gradient is by central differences of the deviance
(an analytic one needs selected entries of M^-1, which cost more than the differences
for the few variance labels of such models).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import cholesky, solve_triangular

from .deviance import Evaluation, profile
from .linalg.blocked import batched_sqrt, coupling_product, psd_sqrt
from .sparse_stats import SparseStats

__all__ = ["evaluate_sparse", "sparse_cross_products"]


def sparse_cross_products(values: np.ndarray, stats: SparseStats
                          ) -> tuple[float, np.ndarray] | None:
    """log|Sigma| and W' Sigma^-1 W summed over rows; None when not admissible."""
    ext = np.concatenate([np.asarray(values, dtype=float), [0.0, 1.0]])
    theta = ext[stats.resid_ids]
    if np.any(theta <= 0):
        return None
    w = 1.0 / theta
    logdet = float(stats.n @ np.log(theta))
    S = np.einsum("g,gij->ij", w, stats.C)
    q2 = stats.q2
    K1 = S.shape[0]
    K = np.einsum("g,gij->ij", w, stats.A22) if q2 else np.zeros((0, 0))
    v = np.zeros((q2, K1))
    for c in stats.classes:
        T = batched_sqrt(ext[c.phi_lab])
        if T is None:
            return None
        Tt = np.swapaxes(T, 1, 2)
        M = Tt @ np.einsum("g,gubc->ubc", w, c.A11) @ T
        M[:, np.arange(c.size), np.arange(c.size)] += 1.0
        try:
            L = np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            return None
        logdet += 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
        R1 = Tt @ np.einsum("g,gubk->ubk", w, c.B1)
        z1 = np.linalg.solve(L, R1) if c.size > 1 else R1 / L
        S -= np.einsum("ubk,ubl->kl", z1, z1)
        if c.schur_maps is not None:
            # one latent per unit: y_p = a_p t_u / L_u, so Y Y' = sum_u c_u a a' with
            # c_u = (t_u / L_u)^2, through the precomputed maps
            r = (T[:, 0, 0] / L[:, 0, 0])
            cu = r * r
            G = len(w)
            for (g, h), Mgh in c.schur_maps.items():
                X = (Mgh @ cu).reshape(q2, q2)
                K -= w[g] * w[h] * (X if g == h else X + X.T)
            zr = z1[:, 0, :] * r[:, None]
            for g in range(G):
                v += w[g] * (c.A12_csr[g] @ zr)
        elif len(c.pair_row):
            x = np.einsum("pb,pbc->pc", np.einsum("g,gpb->pb", w, c.A12), T[c.pair_unit])
            Lp = L[c.pair_unit]
            y = (np.linalg.solve(Lp, x[:, :, None])[:, :, 0] if c.size > 1
                 else x / Lp[:, :, 0])
            Y = coupling_product(y, c.pair_row, c.pair_unit, q2, c.n_units)
            K -= (Y @ Y.T).toarray()
            v += Y @ z1.reshape(c.n_units * c.size, K1)
    if q2:
        B2 = np.einsum("g,gik->ik", w, stats.B2)
        Phi2 = ext[stats.phi2_lab]
        if stats.phi2_diagonal:
            d = np.diag(Phi2)
            if np.any(d < 0):
                return None
            t2 = np.sqrt(d)
            Sc = (t2[:, None] * K) * t2[None, :]
            r2 = t2[:, None] * (B2 - v)
        else:
            T2 = psd_sqrt(Phi2)
            if T2 is None:
                return None
            Sc = T2.T @ K @ T2
            r2 = T2.T @ (B2 - v)
        Sc[np.diag_indices(q2)] += 1.0
        try:
            L2 = cholesky(Sc, lower=True, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None
        logdet += 2.0 * float(np.log(np.diag(L2)).sum())
        z2 = solve_triangular(L2, r2, lower=True, check_finite=False)
        S -= z2.T @ z2
    return logdet, S


def evaluate_sparse(values: np.ndarray, stats: SparseStats, reml: bool, gradient: bool = True,
                    check_psd: bool = True, beta: np.ndarray | None = None) -> Evaluation:
    """Deviance (and gradient w.r.t. every label's value), as :func:`.deviance.evaluate`."""
    del check_psd          # a square root of Phi is taken: Phi must be PSD here anyway
    if beta is not None and reml:
        raise ValueError("the REML criterion has beta profiled; give beta only under ML")
    values = np.asarray(values, dtype=float)
    got = sparse_cross_products(values, stats)
    if got is None:
        return Evaluation(deviance=np.inf)
    logdet, S = got
    k = stats.n_coef
    out, _ = profile(S, k, stats.n_obs, logdet, reml, beta, False, stats.beta_shift)
    if not gradient or not np.isfinite(out.deviance):
        return out
    grad = np.zeros(len(values))
    for lab in variance_labels(stats):
        h = 1e-6 * max(abs(values[lab]), 1e-4 * _typical(values, stats))
        up, dn = values.copy(), values.copy()
        up[lab] += h
        dn[lab] -= h
        f_up = evaluate_sparse(up, stats, reml, False, beta=beta).deviance
        f_dn = evaluate_sparse(dn, stats, reml, False, beta=beta).deviance
        if np.isfinite(f_up) and np.isfinite(f_dn):
            grad[lab] = (f_up - f_dn) / (2 * h)
        elif np.isfinite(f_up):
            grad[lab] = (f_up - out.deviance) / h
        elif np.isfinite(f_dn):
            grad[lab] = (out.deviance - f_dn) / h
        else:
            grad[lab] = np.nan
    if k and beta is not None:
        b = np.asarray(beta, dtype=float) - stats.beta_shift
        grad[stats.coef_ids] = -2.0 * (S[:k, k] - S[:k, :k] @ b)
    out.gradient = grad
    return out


def variance_labels(stats: SparseStats) -> np.ndarray:
    """Label rows that enter the covariance (residual and latent labels)."""
    parts = [stats.resid_ids, stats.phi2_lab.ravel()] + [c.phi_lab.ravel() for c in stats.classes]
    labs = np.unique(np.concatenate(parts))
    return labs[labs < stats.n_labels]


def _typical(values: np.ndarray, stats: SparseStats) -> float:
    return float(np.max(np.abs(values[stats.resid_ids]))) or 1.0
