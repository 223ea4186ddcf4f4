"""Batched products and solves of many tiny matrices (a row's latents: q = 1, 2, 3).

numpy's stacked ``matmul``/``solve``/``slogdet`` call a small kernel per matrix; for
10,000 matrices of 2 x 2 that costs ~0.5-1 ms each, several times the arithmetic. Written
out entry by entry over the stack axis, the same products take a vectorised pass per
entry. Larger matrices go to numpy.
"""
from __future__ import annotations

import numpy as np

__all__ = ["bmm", "solve_logdet", "inverse_logdet", "SMALL"]

#: largest inner/outer dimension written out entry by entry
SMALL = 3
#: smallest stack written out entry by entry: below it numpy's per-matrix kernel costs
#: less than the m x n x k vectorised passes (a model whose rows share one pattern, as
#: the manual's pig data, has a stack of one)
STACK = 32


def bmm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for stacks (P, m, k) @ (P, k, n)."""
    P, m, k = a.shape
    n = b.shape[2]
    if k == 1:                      # an outer product per matrix: one broadcast
        return a * b
    if max(m, k, n) > SMALL or P < STACK:
        return a @ b
    out = np.empty((P, m, n), dtype=np.result_type(a, b))
    for i in range(m):
        for j in range(n):
            acc = a[:, i, 0] * b[:, 0, j]
            for t in range(1, k):
                acc = acc + a[:, i, t] * b[:, t, j]
            out[:, i, j] = acc
    return out


def inverse_logdet(M: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``solve_logdet(M, I)``: the inverse, the sign and the log |determinant| of each M
    in a stack (P, q, q); for q <= 2 the explicit inverse without the product with I
    (the same numbers: multiplying by one and adding zeros changes no bit)."""
    q = M.shape[1]
    if q > 2:
        return solve_logdet(M, np.broadcast_to(np.eye(q), M.shape))
    if q == 1:
        d = M[:, 0, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            return (1.0 / d)[:, None, None], np.sign(d.real), np.log(np.abs(d))
    inv, det = _inverse_2x2(M)
    with np.errstate(divide="ignore"):
        return inv, np.sign(det.real), np.log(np.abs(det))


def _inverse_2x2(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The explicit inverse and the determinant of each 2 x 2 matrix in a stack."""
    m00, m01, m10, m11 = M[:, 0, 0], M[:, 0, 1], M[:, 1, 0], M[:, 1, 1]
    det = m00 * m11 - m01 * m10
    inv = np.empty_like(M)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 1.0 / det
        inv[:, 0, 0], inv[:, 0, 1] = m11 * r, -m01 * r
        inv[:, 1, 0], inv[:, 1, 1] = -m10 * r, m00 * r
    return inv, det


def solve_logdet(M: np.ndarray, B: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``solve(M, B)``, the sign and the log |determinant| of each M in a stack (P, q, q).

    For q <= 2 by the explicit inverse; a singular M gives sign 0 (the caller rejects it).
    A complex M (a complex-step derivative) is solved as such; its sign and log
    determinant are those of its real part's determinant, as far as the step is
    negligible.
    """
    P, q, _ = M.shape
    if q == 1:
        d = M[:, 0, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            return B / d[:, None, None], np.sign(d.real), np.log(np.abs(d))
    if q == 2:
        inv, det = _inverse_2x2(M)
        with np.errstate(divide="ignore", invalid="ignore"):
            return bmm(inv, B), np.sign(det.real), np.log(np.abs(det))
    sign, logdet = np.linalg.slogdet(M)
    sign = np.real(sign)
    if np.any(sign <= 0):
        return np.full_like(B, np.nan), sign, logdet
    return np.linalg.solve(M, B), sign, logdet
