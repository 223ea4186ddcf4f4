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

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cholesky, solve_triangular

from .deviance import Evaluation, coefficient_gradient, profile
from .linalg.blocked import batched_sqrt, coupling_product, psd_sqrt
from .sparse_stats import SparseStats

__all__ = ["evaluate_sparse", "sparse_cross_products", "sparse_factor", "BlockedFactor",
           "ClassFactor"]


@dataclass(frozen=True)
class ClassFactor:
    """The factor of one class of block-1 units: ``T`` (U, b, b) square roots of the
    units' Phi blocks, ``L`` (U, b, b) Cholesky factors of M_u = I + T_u' A_u T_u, and the
    coupling Y = A21 T1 L11^-T as per-pair values ``y`` (n_pairs, b), or, for units of
    one latent with precomputed Schur maps, ``r`` = T_u / L_u (y_p = r_u sum_g w_g a_g,p)."""

    T: np.ndarray
    L: np.ndarray
    y: np.ndarray | None = None
    r: np.ndarray | None = None


@dataclass(frozen=True)
class BlockedFactor:
    """The blocked Cholesky factor of M = I + T' A T at one set of label values.

    ``w`` (G,) residual precisions; ``classes`` one :class:`ClassFactor` per unit class
    of the statistics; block 2: ``t2`` (q2,) when Phi_22 is diagonal (T2 = diag(t2)),
    else ``T2`` (q2, q2), and ``L2`` the Cholesky factor of S = I + T2'(A22 - Y Y')T2;
    ``logdet`` = log|Theta| + log|M|."""

    ext: np.ndarray
    w: np.ndarray
    classes: list[ClassFactor]
    t2: np.ndarray | None
    T2: np.ndarray | None
    L2: np.ndarray | None
    logdet: float

    def pair_y(self, stats: SparseStats, i: int) -> np.ndarray:
        """The coupling values y (n_pairs, b) of class ``i``."""
        f, c = self.classes[i], stats.classes[i]
        if f.y is not None:
            return f.y
        if not len(c.pair_row):
            return np.zeros((0, c.size))
        a = np.einsum("g,gpb->pb", self.w, c.A12)
        return a * f.r[c.pair_unit][:, None]

    def T2_matrix(self) -> np.ndarray:
        """T2 as a dense matrix."""
        return np.diag(self.t2) if self.T2 is None else self.T2


def sparse_factor(values: np.ndarray, stats: SparseStats) -> BlockedFactor | None:
    """The blocked factor of M at label values ``values``; None when not admissible."""
    return _factor(values, stats)[0]


def _factor(values: np.ndarray, stats: SparseStats, with_z: bool = False):
    """The factor, and (with ``with_z``) W' Sigma^-1 W and the block-2 right-hand side
    accumulated along the way in the order the deviance has always used."""
    ext = np.concatenate([np.asarray(values, dtype=float), [0.0, 1.0]])
    theta = ext[stats.resid_ids]
    if np.any(theta <= 0):
        return None, None
    w = 1.0 / theta
    logdet = float(stats.n @ np.log(theta))
    S = np.einsum("g,gij->ij", w, stats.C) if with_z else None
    q2 = stats.q2
    K1 = stats.C.shape[1]
    if not q2:
        K = np.zeros((0, 0))
    elif len(w) == 1:
        K = stats.A22[0] * w[0]          # (an einsum over one label costs twice this)
    else:
        K = np.einsum("g,gij->ij", w, stats.A22)
    v = np.zeros((q2, K1)) if with_z else None
    factors = []
    for c in stats.classes:
        T = batched_sqrt(ext[c.phi_lab])
        if T is None:
            return None, None
        Tt = np.swapaxes(T, 1, 2)
        M = Tt @ np.einsum("g,gubc->ubc", w, c.A11) @ T
        M[:, np.arange(c.size), np.arange(c.size)] += 1.0
        try:
            L = np.linalg.cholesky(M)
        except np.linalg.LinAlgError:
            return None, None
        logdet += 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
        if with_z:
            R1 = Tt @ np.einsum("g,gubk->ubk", w, c.B1)
            z1 = np.linalg.solve(L, R1) if c.size > 1 else R1 / L
            S -= np.einsum("ubk,ubl->kl", z1, z1)
        y_pairs = r_units = None
        if c.schur_maps is not None:
            # one latent per unit: y_p = a_p t_u / L_u, so Y Y' = sum_u c_u a a' with
            # c_u = (t_u / L_u)^2, through the precomputed maps
            r = (T[:, 0, 0] / L[:, 0, 0])
            r_units = r
            cu = r * r
            G = len(w)
            for (g, h), Mgh in c.schur_maps.items():
                # (the scalar on the U weights, not on the q2 x q2 result: one pass less)
                X = (Mgh @ (cu * (w[g] * w[h]))).reshape(q2, q2)
                K -= X
                if g != h:
                    K -= X.T
            if with_z:
                zr = z1[:, 0, :] * r[:, None]
                for g in range(G):
                    v += w[g] * (c.A12_csr[g] @ zr)
        elif len(c.pair_row):
            x = np.einsum("pb,pbc->pc", np.einsum("g,gpb->pb", w, c.A12), T[c.pair_unit])
            Lp = L[c.pair_unit]
            y = (np.linalg.solve(Lp, x[:, :, None])[:, :, 0] if c.size > 1
                 else x / Lp[:, :, 0])
            y_pairs = y
            Y = coupling_product(y, c.pair_row, c.pair_unit, q2, c.n_units)
            K -= (Y @ Y.T).toarray()
            if with_z:
                v += Y @ z1.reshape(c.n_units * c.size, K1)
        else:
            y_pairs = np.zeros((0, c.size))
        factors.append(ClassFactor(T=T, L=L, y=y_pairs, r=r_units))
    t2 = T2 = L2 = None
    if q2:
        if stats.phi2_diagonal:
            d = ext[np.diag(stats.phi2_lab)]          # the diagonal only: no q2 x q2 gather
            if np.any(d < 0):
                return None, None
            t2 = np.sqrt(d)
            Sc = K                                    # (K is this call's own: scaled in place)
            if t2.min() == t2.max():
                Sc *= d[0]                            # one variance for all (crossed factor)
            else:
                Sc *= t2[:, None]
                Sc *= t2[None, :]
        else:
            T2 = psd_sqrt(ext[stats.phi2_lab])
            if T2 is None:
                return None, None
            if any(c.schur_lower for c in stats.classes):
                K = np.tril(K) + np.tril(K, -1).T     # the maps filled the lower half
            Sc = T2.T @ K @ T2
        Sc[np.diag_indices(q2)] += 1.0
        try:
            # (reads the lower triangle only: the Schur maps may have filled no more)
            L2 = cholesky(Sc, lower=True, overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:
            return None, None
        logdet += 2.0 * float(np.log(np.diag(L2)).sum())
    factor = BlockedFactor(ext=ext, w=w, classes=factors, t2=t2, T2=T2, L2=L2,
                           logdet=logdet)
    return factor, (S, v)


def sparse_cross_products(values: np.ndarray, stats: SparseStats
                          ) -> tuple[float, np.ndarray] | None:
    """log|Sigma| and W' Sigma^-1 W summed over rows; None when not admissible."""
    factor, acc = _factor(values, stats, with_z=True)
    if factor is None:
        return None
    S, v = acc
    if stats.q2:
        B2 = np.einsum("g,gik->ik", factor.w, stats.B2)
        if factor.T2 is None:
            r2 = factor.t2[:, None] * (B2 - v)
        else:
            r2 = factor.T2.T @ (B2 - v)
        z2 = solve_triangular(factor.L2, r2, lower=True, check_finite=False)
        S -= z2.T @ z2
    return factor.logdet, S


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
    out, _ = profile(S, k, stats.n_obs, logdet, reml, beta, False, stats.basis)
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
        grad[stats.coef_ids] = coefficient_gradient(S, k, beta, stats.basis)
    out.gradient = grad
    return out


def variance_labels(stats: SparseStats) -> np.ndarray:
    """Label rows that enter the covariance (residual and latent labels)."""
    return stats.variance_labels


def _typical(values: np.ndarray, stats: SparseStats) -> float:
    return float(np.max(np.abs(values[stats.resid_ids]))) or 1.0
