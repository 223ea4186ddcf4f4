"""The coordinates the engine uses for the fixed effects: y centred by its OLS fit, the
coefficient design made orthonormal.

The profiled likelihood does not change when y loses a vector of the design's column
space (beta shifts by it) or when the design X is replaced by X B for an invertible B
(beta = B b). Both are chosen from the triangular factor R of [X, y] (X = Q R_xx):

* ``shift`` = R_xx^-1 r_xy, the OLS coefficients: the large means of y, whose
  cancellation in y'V^-1y - y'V^-1X beta costs digits of the deviance, are gone;
* ``basis`` = R_xx^-1: the columns of X B are orthonormal, so X'V^-1X is as well
  conditioned as V allows. Covariates with large means or scales otherwise make its
  entries large and their rounding errors (which differ with the order of summation)
  move the deviance's gradient by up to 1e-5 in flat directions of the likelihood, and
  the optimum with it (1e-7 of the estimates in the manual's example 5).

Both are rounded to :data:`BITS` significant bits. Nothing is lost (any shift and any
basis serve), and two computations of R that differ by rounding (an in-memory QR, a
reduction over Dask partitions, the rows in another order) give the same coordinates,
hence bit-identical statistics wherever the rows themselves are summed identically.
Two computations straddle a rounding boundary with probability about their relative
difference (1e-15) times 2^BITS: about 1e-6 per entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

__all__ = ["CoefficientBasis", "BITS", "round_bits", "triangular_factor", "solve_triangular"]

#: significant bits kept of the shift and the basis
BITS = 30

#: a triangular factor whose diagonal spans more than this ratio is treated as singular
#: (the identification check then names the dependent columns)
SINGULAR = 1e-10


#: designs with more columns are transformed by a BLAS product (see ``design``)
COLUMNWISE = 8


def solve_triangular(R: np.ndarray, b: np.ndarray, trans: str = "N") -> np.ndarray:
    """x with R x = b (``trans="T"``: R' x = b) for upper-triangular R, by substitution
    over its k rows (k is the number of coefficients: small). numpy only: scipy.linalg's
    import costs ~0.2 s that a fit on the pooled path otherwise never pays."""
    R = np.asarray(R, dtype=float)
    b = np.asarray(b)
    x = np.array(b, dtype=np.result_type(b, float), copy=True)
    k = R.shape[0]
    if trans == "T":                                  # R' lower triangular: forward
        for i in range(k):
            if i:
                x[i] -= R[:i, i] @ x[:i]
            x[i] /= R[i, i]
    else:                                             # back substitution
        for i in range(k - 1, -1, -1):
            if i < k - 1:
                x[i] -= R[i, i + 1:] @ x[i + 1:]
            x[i] /= R[i, i]
    return x


def triangular_factor(W: np.ndarray, transposed: bool = False) -> np.ndarray:
    """R (square) with R'R = W'W: by CholeskyQR2 (two Cholesky factorisations of Gram
    matrices: BLAS-3 products instead of Householder reflections on the tall matrix, as
    accurate for condition numbers up to ~1e8), else by Householder QR. ``transposed``:
    ``W`` is given as W' (columns x observations, each column contiguous: its products
    take half the time of the tall layout's)."""
    Wt = np.ascontiguousarray(W if transposed else W.T)
    p = Wt.shape[0]
    try:
        with np.errstate(all="ignore"):
            R1 = np.linalg.cholesky(Wt @ Wt.T).T
            # Q' = R1^-T W' by one product with the small inverse (half the time of a
            # triangular solve with the tall matrix; the second factorisation corrects
            # what the inverse loses, as CholeskyQR2 does for the first)
            Qt = solve_triangular(R1, np.eye(p)).T @ Wt
            R = np.linalg.cholesky(Qt @ Qt.T).T @ R1
        if np.all(np.isfinite(R)):
            return R
    except np.linalg.LinAlgError:
        pass                                   # too ill-conditioned: Householder below
    R = np.linalg.qr(Wt.T, mode="r")
    if R.shape[0] < p:
        R = np.vstack([R, np.zeros((p - R.shape[0], p))])
    return R


def round_bits(x: np.ndarray, bits: int = BITS) -> np.ndarray:
    """``x`` rounded to ``bits`` significant bits (exact in floating point)."""
    m, e = np.frexp(np.asarray(x, dtype=float))
    return np.ldexp(np.round(m * 2.0 ** bits) / 2.0 ** bits, e)


@dataclass(frozen=True)
class CoefficientBasis:
    """beta = shift + basis @ b, b the coefficients of the internal design X @ basis and
    the outcome y - X @ shift (``basis`` upper triangular)."""

    shift: np.ndarray
    basis: np.ndarray
    #: |OLS residual| / |y| of the data the basis was made from (NaN when unknown): the
    #: triangular factor of [X, y] holds it, so the perfect-fit check costs nothing
    residual_ratio: float = float("nan")
    #: the OLS residual sum of squares, R[k, k]^2 of the same factor (NaN when unknown
    #: or when X is singular): the moment the starting values split
    residual_ss: float = float("nan")

    @property
    def k(self) -> int:
        return len(self.shift)

    @property
    def exact_fit(self) -> bool:
        """y is an exact linear function of X (OLS residual below 1e-12 of |y|)."""
        return bool(self.residual_ratio <= 1e-12)

    @classmethod
    def identity(cls, k: int) -> "CoefficientBasis":
        return cls(np.zeros(k), np.eye(k))

    @classmethod
    def from_triangular(cls, R: np.ndarray) -> "CoefficientBasis":
        """From the (k+1) x (k+1) triangular factor of [X, y] (any row signs). A singular
        R_xx gives the OLS shift by least squares and the identity basis."""
        k = R.shape[0] - 1
        if k <= 0:
            return cls.identity(0)
        R = R[: k + 1, : k + 1] * np.where(np.diag(R) < 0, -1.0, 1.0)[:, None]
        d = np.diag(R)[:k]
        with np.errstate(all="ignore"):
            ratio = float(abs(R[k, k]) / max(float(np.linalg.norm(R[:, k])), 1e-300))
        if not np.all(np.isfinite(R)) or d.min() <= SINGULAR * max(d.max(), 1e-300):
            shift = np.linalg.lstsq(R[:k, :k], R[:k, k], rcond=None)[0]
            return cls(round_bits(np.nan_to_num(shift)), np.eye(k), ratio)
        shift = solve_triangular(R[:k, :k], R[:k, k])
        basis = np.triu(solve_triangular(R[:k, :k], np.eye(k)))
        return cls(round_bits(shift), round_bits(basis), ratio, float(R[k, k] ** 2))

    @classmethod
    def of(cls, X: np.ndarray, y: np.ndarray) -> "CoefficientBasis":
        """The basis of a design ``X`` and outcome ``y`` held in memory."""
        Wt = np.empty((X.shape[1] + 1, len(y)))
        Wt[:-1] = X.T
        Wt[-1] = y
        return cls.of_columns(Wt)

    @classmethod
    def of_columns(cls, Wt: np.ndarray) -> "CoefficientBasis":
        """The basis of [X, y] given as its columns, (k + 1) x n."""
        if Wt.shape[0] <= 1:
            return cls.identity(0)
        return cls.from_triangular(triangular_factor(Wt, transposed=True))

    # ---- the data in internal coordinates --------------------------------------------
    def design(self, X: np.ndarray) -> np.ndarray:
        """X @ basis, accumulated column by column so that each observation's value
        depends on its own row only (a BLAS product may sum in an order that depends on
        the row's position in the matrix). That costs k^2/2 passes over X: beyond
        :data:`COLUMNWISE` columns the BLAS product is used."""
        if self.k > COLUMNWISE:
            return X @ self.basis
        out = np.zeros((X.shape[0], self.k))
        for j in range(self.k):
            for i in range(j + 1):
                if self.basis[i, j] != 0.0:
                    out[:, j] += X[:, i] * self.basis[i, j]
        return out

    def design_rows(self, XT: np.ndarray, out: np.ndarray) -> None:
        """:meth:`design` in the transposed layout: ``out[j]`` (k x n) = column j of
        X @ basis from the columns ``XT`` (k x n) of X, each accumulated as there (the
        same products and sums in the same order: the same bits). ``out`` may be ``XT``
        itself (columns are written last to first: each uses only those before it)."""
        if self.k > COLUMNWISE:
            out[:] = self.basis.T @ XT
            return
        acc, tmp = np.empty(XT.shape[1]), np.empty(XT.shape[1])
        for j in range(self.k - 1, -1, -1):
            acc[:] = 0.0
            for i in range(j + 1):
                if self.basis[i, j] != 0.0:
                    np.multiply(XT[i], self.basis[i, j], out=tmp)
                    acc += tmp
            out[j] = acc

    def centre_rows(self, XT: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
        """:meth:`centre` in the transposed layout, into ``out`` (n,)."""
        out[:] = y
        tmp = np.empty(len(y))
        for j in range(self.k):
            np.multiply(XT[j], self.shift[j], out=tmp)
            out -= tmp

    def centre(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """y - X @ shift, accumulated column by column (see :meth:`design`; O(n k))."""
        out = np.array(y, dtype=float, copy=True)
        for j in range(self.k):
            out -= X[:, j] * self.shift[j]
        return out

    # ---- between internal and original coefficients ----------------------------------
    def to_internal(self, beta: np.ndarray) -> np.ndarray:
        """b of the original ``beta``."""
        if not self.k:
            return np.zeros(0)
        return solve_triangular(self.basis, np.asarray(beta, dtype=float) - self.shift)

    def to_original(self, b: np.ndarray) -> np.ndarray:
        """beta of the internal ``b``."""
        return self.shift + self.basis @ b if self.k else np.zeros(0)

    @cached_property
    def inverse(self) -> np.ndarray:
        """B^-1 (upper triangular), computed once: evaluations use it."""
        return solve_triangular(self.basis, np.eye(self.k)) if self.k else np.eye(0)

    def original_information(self, Sxx: np.ndarray) -> np.ndarray:
        """X'V^-1X from its internal counterpart B'X'V^-1XB (once per evaluation)."""
        if not self.k:
            return Sxx
        return self.inverse.T @ Sxx @ self.inverse

    def logdet(self) -> float:
        """log |det basis| (log|X'V^-1X| = log|internal| - 2 logdet())."""
        return self._logdet

    @cached_property
    def _logdet(self) -> float:
        return float(np.log(np.abs(np.diag(self.basis))).sum()) if self.k else 0.0

    def original_gradient(self, g: np.ndarray) -> np.ndarray:
        """A gradient w.r.t. beta from one w.r.t. b (last axis): B^-T g."""
        g = np.asarray(g, dtype=float)
        if not self.k:
            return g
        return solve_triangular(self.basis, g.reshape(-1, self.k).T, trans="T").T \
            .reshape(g.shape)
