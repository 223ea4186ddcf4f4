"""The FIML deviance and gradient as sums over partitions, for statistics kept on the
workers (rows whose random-slope values differ pool with nothing, so the whole data's
statistics are as large as the data).

:func:`semlevel.engine.deviance.evaluate` profiles beta from S = sum_r W_r' Sigma_r^-1 W_r,
which is not additive in what it returns; but S, sum_r log|Sigma_r| and the gradient, which
is linear in Gamma = gamma gamma' (+ (X'V^-1X)^-1 under REML), are. Each partition
returns S, the log-determinant, and the gradient as g0 + L . Gamma; the client adds them
up, profiles beta (:func:`~semlevel.engine.deviance.profile`) and finishes the gradient.
The formulas are those of ``evaluate`` written linearly in Gamma; tests assert both agree.
"""
from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..engine.protocol import REMOTE, Capabilities
from ..engine.coefficient_basis import CoefficientBasis
from ..engine.deviance import (Evaluation, bincount, coefficient_gradient,
                               expected_information, profile)
from ..engine.stats import PoolStats

__all__ = ["Pieces", "partition_pieces", "partition_information", "RemoteStats"]


@dataclass
class Pieces:
    """Additive parts of one evaluation (``admissible`` False: some pool is not)."""

    admissible: bool
    S: np.ndarray | None = None          # (K1, K1)
    logdet: float = 0.0
    g0: np.ndarray | None = None         # (n_ext,)
    L: np.ndarray | None = None          # (n_ext, K1, K1)


def partition_pieces(stats: PoolStats | None, values: np.ndarray, gradient: bool,
                     check_psd: bool) -> Pieces | None:
    """The :class:`Pieces` of one partition's statistics at label values ``values``."""
    if stats is None:
        return None
    ext = np.concatenate([values, [0.0, 1.0]])
    Phi = ext[stats.phi_idx]
    theta = ext[stats.resid_ids]
    if np.any(np.real(theta) <= 0):
        return Pieces(False)
    P, G, q = stats.ZZ.shape[:3]
    if check_psd and q > 0 and P:
        ev = np.linalg.eigvalsh(Phi)
        scale = np.maximum(np.abs(ev).max(axis=1), 1e-300)
        if np.any(ev.min(axis=1) < -1e-12 * scale):
            return Pieces(False)
    w = 1.0 / theta
    cnt = stats.count
    K1 = stats.C.shape[-1]
    A = np.einsum("g,pgab->pab", w, stats.ZZ)
    M = np.eye(q) + Phi @ A
    sign, logdet_m = np.linalg.slogdet(M)
    if np.any(np.real(sign) <= 0) or not np.all(np.isfinite(logdet_m)):
        return Pieces(False)
    Minv = np.linalg.inv(M)
    N = Minv @ Phi
    N = 0.5 * (N + np.swapaxes(N, 1, 2))
    # Tw[p,a,b,i,j] = sum_gh w_g w_h T[p,g,a,i,h,b,j], as a (P*q*q, K1*K1) matrix
    Tw = np.einsum("g,h,pgaihbj->pabij", w, w, stats.T, optimize=True)
    Twm = Tw.reshape(P * q * q, K1 * K1)
    S = np.einsum("g,pgij->ij", w, stats.C) - (N.reshape(1, -1) @ Twm).reshape(K1, K1)
    logdet = float(np.real(cnt @ (stats.n @ np.log(theta) + logdet_m)))
    if not gradient:
        return Pieces(True, S=S, logdet=logdet)
    n_ext = len(ext)
    # A - A N A = A M^-1, I - A N = M^-T (as engine.deviance.evaluate: no cancellation)
    AMi = A @ Minv
    AMi = 0.5 * (AMi + np.swapaxes(AMi, 1, 2))
    MM = np.swapaxes(Minv, 1, 2)
    # latent (co)variances: cnt (A - A N A) - MM (sum_ij Tw_ij Gam_ij) MM'
    g0 = bincount(stats.phi_idx.ravel(), (cnt[:, None, None] * AMi).ravel(), n_ext)
    # Q[p,(a,b),(i,j)] = sum_cd MM[p,a,c] MM[p,b,d] Tw[p,c,d,i,j]: (MM (x) MM) Tw per pool
    kron = np.einsum("pac,pbd->pabcd", MM, MM).reshape(P, q * q, q * q)
    Q = (kron @ Tw.reshape(P, q * q, K1 * K1)).reshape(P * q * q, K1 * K1)
    ind = sp.csr_matrix((np.ones(P * q * q), (stats.phi_idx.ravel(), np.arange(P * q * q))),
                        shape=(n_ext, P * q * q))
    L = -np.asarray(ind @ Q).reshape(n_ext, K1, K1)
    # residual variances
    trNZ = np.einsum("pab,pgba->pg", N, stats.ZZ)
    g_theta = (cnt[:, None] * (stats.n * w[None, :] - trNZ * (w * w)[None, :])).sum(axis=0)
    C = stats.C.sum(axis=0)                                            # (G, K1, K1)
    X1 = np.einsum("h,pab,phaigbj->gij", w, N, stats.T, optimize=True)
    NZN = N[:, None] @ stats.ZZ @ N[:, None]                           # (P, G, q, q)
    X2 = (NZN.transpose(1, 0, 2, 3).reshape(G, -1) @ Twm).reshape(G, K1, K1)
    np.add.at(g0, stats.resid_ids, g_theta)
    np.add.at(L, stats.resid_ids, -(w * w)[:, None, None] * (C - 2.0 * X1 + X2))
    return Pieces(True, S=S, logdet=logdet, g0=g0, L=L)


def partition_information(stats: PoolStats | None, values: np.ndarray):
    """One partition's expected information (None: no rows; False: not admissible)."""
    if stats is None:
        return None
    info = expected_information(values, stats)
    return False if info is None else info


@dataclass
class RemoteStats:
    """Pooled statistics kept on the workers, one PoolStats per partition.

    Implements the engine's statistics protocol (:mod:`semlevel.engine.protocol`):
    ``evaluate`` (the deviance path, one map-reduce), ``expected_information``,
    ``n_obs``, ``coef_ids``; ``evaluate`` takes complex values, as the pooled path does."""

    capabilities: ClassVar[Capabilities] = REMOTE

    handles: list
    backend: object
    n_obs: int
    n_coef: int
    coef_ids: np.ndarray
    basis: CoefficientBasis
    n_weighted: float | None = None

    def evaluate(self, values: np.ndarray, reml: bool, gradient: bool = True,
                 check_psd: bool = True, beta: np.ndarray | None = None) -> Evaluation:
        """Deviance and gradient as :func:`semlevel.engine.deviance.evaluate` gives them."""
        if beta is not None and reml:
            raise ValueError("the REML criterion has beta profiled; give beta only under ML")
        values = np.asarray(values)          # complex: a complex-step derivative
        parts = [p for p in self.backend.map(partition_pieces, self.handles, values,
                                             gradient, check_psd) if p is not None]
        if not all(p.admissible for p in parts):
            return Evaluation(deviance=np.inf)
        S = sum(p.S for p in parts)
        logdet = float(sum(p.logdet for p in parts))
        k = self.n_coef
        n = self.n_obs if self.n_weighted is None else self.n_weighted
        out, Gam = profile(S, k, n, logdet, reml, beta, gradient, self.basis)
        if Gam is None:
            return out
        g0 = sum(p.g0 for p in parts)
        L = sum(p.L for p in parts)
        out.gradient = (g0 + np.einsum("lij,ij->l", L, Gam))[: len(values)]
        if k and beta is not None:
            out.gradient[self.coef_ids] = coefficient_gradient(S, k, out.beta, self.basis)
        return out

    def expected_information(self, values: np.ndarray) -> np.ndarray | None:
        """Expected information of the variance labels (sum over partitions)."""
        parts = [p for p in self.backend.map(partition_information, self.handles,
                                             np.asarray(values, dtype=float))
                 if p is not None]
        if any(p is False for p in parts):
            return None
        return sum(parts)
