"""Kernels of the blocked Cholesky factorisation used by the sparse path.

The system M = I + T' A T (T a square root of the latent covariance Phi, A = Z' Theta^-1 Z)
is ordered as [[M11, M12], [M21, M22]] with M11 block diagonal (small units). Its
Cholesky factor is then a batch of small factors L11, the coupling L21 = M21 L11^-T (never
formed: only its products are needed) and the dense factor of the Schur complement
S = M22 - M21 M11^-1 M12.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["psd_sqrt", "batched_sqrt", "coupling_product"]


def psd_sqrt(Phi: np.ndarray, tol: float = 1e-12) -> np.ndarray | None:
    """A square root T of a positive semi-definite matrix (T T' = Phi): the Cholesky
    factor when it exists, else from the eigen-decomposition; None when Phi has a
    negative eigenvalue beyond rounding."""
    try:
        return np.linalg.cholesky(Phi)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(Phi)
        if w.min() < -tol * max(abs(w).max(), 1e-300):
            return None
        return V * np.sqrt(np.maximum(w, 0.0))


def batched_sqrt(Phi: np.ndarray, tol: float = 1e-12) -> np.ndarray | None:
    """:func:`psd_sqrt` of a stack (U, b, b) of small matrices."""
    if Phi.shape[1] == 1:
        if np.any(Phi < 0):
            return None
        return np.sqrt(Phi)
    try:
        return np.linalg.cholesky(Phi)
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(Phi)
        scale = np.maximum(np.abs(w).max(axis=1), 1e-300)
        if np.any(w.min(axis=1) < -tol * scale):
            return None
        return V * np.sqrt(np.maximum(w, 0.0))[:, None, :]


def coupling_product(y: np.ndarray, pair_row: np.ndarray, pair_unit: np.ndarray,
                     n_rows: int, n_units: int) -> sp.csr_matrix:
    """The sparse n_rows x (n_units * b) matrix Y whose entry (i, u*b + j) is y[p, j] for
    the coupling pair p = (i, u): Y Y' is the correction of the Schur complement."""
    b = y.shape[1]
    cols = (pair_unit[:, None] * b + np.arange(b)).ravel()
    return sp.csr_matrix((y.ravel(), (np.repeat(pair_row, b), cols)),
                         shape=(n_rows, n_units * b))
