"""The FIML deviance (-2 log L, ML or REML) with beta profiled by GLS, and its gradient.

For a row with latent covariance Phi and residual covariance Theta = sum_g theta_g P_g,
Sigma = Theta + Z Phi Z'. With A = Z' Theta^-1 Z (q x q) the Woodbury identity gives

    Sigma^-1 = Theta^-1 - Theta^-1 Z N Z' Theta^-1,   N = (I + Phi A)^-1 Phi,
    log|Sigma| = sum_g n_g log theta_g + log|I + Phi A|,

so nothing larger than q x q is ever factored, and Phi may be singular (a variance on the
boundary). Everything is evaluated from the pooled statistics of :mod:`.stats`.
"""
from __future__ import annotations

import cmath
import math
from dataclasses import dataclass, field

import numpy as np

from .coefficient_basis import CoefficientBasis
from .linalg.small import bmm, inverse_logdet, solve_logdet
from .stats import PoolStats

__all__ = ["Evaluation", "evaluate", "profile", "coefficient_gradient", "LOG2PI"]

LOG2PI = float(np.log(2.0 * np.pi))
#: the constants 0 and 1 that follow the labels' values in the extended vector
_CONSTANTS = np.array([0.0, 1.0])
_CONSTANTS.flags.writeable = False


@dataclass
class Evaluation:
    """Result of one evaluation at a parameter vector (all labels, extended)."""

    deviance: float                 # -2 log L (or -2 log L_R); inf when not admissible
    beta: np.ndarray | None = None  # GLS coefficients (free coefficient labels)
    gradient: np.ndarray | None = None  # d deviance / d label value (all labels)
    #: X'V^-1X in the internal coordinates and their basis, from which :attr:`xtvx` is
    #: made when asked (a fit asks at its last point only; the optimiser's evaluations
    #: before it never)
    internal_information: tuple | None = field(default=None, repr=False)

    @property
    def xtvx(self) -> np.ndarray | None:
        """X' V^-1 X (original coordinates of the coefficients)."""
        if self.internal_information is None:
            return None
        made = self.__dict__.get("_xtvx")
        if made is None:
            Sxx, basis = self.internal_information
            made = self.__dict__["_xtvx"] = basis.original_information(Sxx)
        return made


def _inadmissible() -> Evaluation:
    return Evaluation(deviance=np.inf)


def profile(S: np.ndarray, k: int, n_obs: int, logdet: float, reml: bool,
            beta: np.ndarray | None, gradient: bool, basis: CoefficientBasis | None = None
            ) -> tuple[Evaluation, np.ndarray | None]:
    """The deviance from the summed cross-products S = sum_r W_r' Sigma_r^-1 W_r
    (W = [X, y]) and sum_r log|Sigma_r|: beta by GLS unless given, ML or REML; with
    ``gradient`` also Gamma = gamma gamma' (+ (X'V^-1X)^-1 in the X block under REML),
    gamma = [-b, 1], through which every path's gradient is written. Gamma is None
    when no gradient is wanted or the point is inadmissible. ``basis``: W is in the
    internal coordinates of the coefficients (:mod:`.coefficient_basis`; b there); the
    given and the returned beta, and ``xtvx``, are in the original ones."""
    basis = basis if basis is not None else CoefficientBasis.identity(k)
    if beta is not None:
        beta = basis.to_internal(beta)
    S = 0.5 * (S + S.T)
    Sxx, Sxy, syy = S[:k, :k], S[:k, k], S[k, k]
    if k:
        try:
            cf = np.linalg.cholesky(Sxx.real)     # (complex S: a complex-step derivative)
        except np.linalg.LinAlgError:
            return _inadmissible(), None
        logdet_xx = (2.0 * float(np.log(np.diag(cf)).sum()) - 2.0 * basis.logdet()) \
            if reml else 0.0                              # (ML: not a term)
        if beta is None:
            beta = np.linalg.solve(Sxx, Sxy)
            quad = float(np.real(syy - Sxy @ beta))
        else:
            quad = float(np.real(syy - 2.0 * Sxy @ beta + beta @ Sxx @ beta))
    else:
        beta, quad, logdet_xx = np.zeros(0), float(np.real(syy)), 0.0
    dev = ((n_obs - k) * LOG2PI + logdet + logdet_xx + quad) if reml else \
        (n_obs * LOG2PI + logdet + quad)
    out = Evaluation(deviance=float(dev), beta=basis.to_original(beta),
                     internal_information=(Sxx, basis))
    if not gradient:
        return out, None
    gamma = np.empty(k + 1, dtype=np.result_type(beta, float))
    gamma[:k] = -beta
    gamma[k] = 1.0
    Gam = gamma[:, None] * gamma[None, :]             # (np.outer's own product)
    if reml and k:
        Gam[:k, :k] += np.linalg.inv(Sxx)
    return out, Gam


def bincount(index: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """``np.bincount(index, weights, minlength=n)``, also for complex weights."""
    if np.iscomplexobj(weights):
        return (np.bincount(index, weights.real, minlength=n)
                + 1j * np.bincount(index, weights.imag, minlength=n))
    return np.bincount(index, weights=weights, minlength=n)


def coefficient_gradient(S: np.ndarray, k: int, beta: np.ndarray,
                         basis: CoefficientBasis | None) -> np.ndarray:
    """d deviance / d beta at the original ``beta`` (ML), from S in internal coordinates."""
    basis = basis if basis is not None else CoefficientBasis.identity(k)
    b = basis.to_internal(beta)
    S = 0.5 * (S + S.T)
    return basis.original_gradient(-2.0 * (S[:k, k] - S[:k, :k] @ b))


def _eigen_range(Phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest eigenvalue of each symmetric matrix in a stack (from
    its lower triangle, as ``eigvalsh``): for 2 x 2 real ones in closed form (a small
    stack's ``eigvalsh`` costs more than the rest of a deviance evaluation)."""
    if Phi.shape[1] == 2 and not np.iscomplexobj(Phi):
        a, b, d = Phi[:, 0, 0], Phi[:, 1, 0], Phi[:, 1, 1]
        mid, half = 0.5 * (a + d), 0.5 * (a - d)
        rad = np.sqrt(half * half + b * b)
        return mid - rad, mid + rad
    ev = np.linalg.eigvalsh(Phi)
    return ev.min(axis=1), ev.max(axis=1)


def evaluate(values: np.ndarray, stats: PoolStats, reml: bool, gradient: bool = True,
             check_psd: bool = True, beta: np.ndarray | None = None) -> Evaluation:
    """Deviance (and gradient w.r.t. every label's value) at label values ``values``.

    ``values`` holds one entry per label row (coefficient entries are ignored: beta is
    profiled by GLS, unless ``beta`` is given (ML only): then the deviance is evaluated at
    that beta and the gradient's coefficient entries are d deviance / d beta). Returns
    ``deviance=inf`` when a variance is negative, a latent covariance matrix is not positive
    semi-definite or the marginal covariance is not positive definite.
    """
    if beta is not None and reml:
        raise ValueError("the REML criterion has beta profiled; give beta only under ML")
    given_beta = beta is not None
    if not given_beta:
        kern = stats.kernel
        real = values.dtype == np.float64
        if kern.single and real:
            return _evaluate_single(values, stats, reml, gradient, check_psd)
        if (kern.single or kern.pair) and (real or (values.dtype == np.complex128
                                                    and not check_psd)):
            one_pool = _evaluate_single if kern.single else _evaluate_pair
            got = one_pool(values, stats, reml, gradient, check_psd)
            if got is not None:
                return got
    ext = np.concatenate((values, _CONSTANTS))
    Phi = ext[stats.phi_idx]                                   # (P,q,q)
    theta = ext[stats.resid_ids]                               # (G,)
    # (array methods, not np.any/np.all: their dispatch is most of a small model's check)
    if (theta.real <= 0).any():
        return _inadmissible()
    if check_psd and Phi.shape[1] > 0:
        if Phi.shape[1] == 1:
            if (Phi[:, 0, 0] < 0).any():
                return _inadmissible()
        else:
            lo, hi = _eigen_range(Phi)
            scale = np.maximum(np.maximum(np.abs(lo), np.abs(hi)), 1e-300)
            if (lo < -1e-12 * scale).any():
                return _inadmissible()
    w = 1.0 / theta
    P, G, q = stats.ZZ.shape[:3]
    k = stats.n_coef
    cnt = stats.count
    kern = stats.kernel
    A = w[0] * kern.ZZ0 if G == 1 else np.einsum("g,pgab->pab", w, stats.ZZ)
    M = kern.eye + bmm(Phi, A)
    Minv, sign, logdet_m = inverse_logdet(M)
    if (sign <= 0).any() or not np.isfinite(logdet_m).all():
        return _inadmissible()
    N = bmm(Minv, Phi)                                          # M^-1 Phi
    if q > 1:                   # (1 x 1: symmetric already, and 0.5 (x + x) is x exactly)
        N = 0.5 * (N + np.swapaxes(N, 1, 2))
    # weighted outer products: Tw = sum_r B_r (x) B_r with B_r = sum_g w_g B_{g,r}
    T = stats.T
    P, K1 = T.shape[0], T.shape[3]
    if kern.C00 is not None:           # one pool, one residual label: einsum's 0 + w C
        S = kern.C00 * w[0] + 0.0
    else:
        S = np.einsum("g,pgij->ij", w, stats.C)
    if G == 1:
        # one residual label: the contractions are matrix products over (p, a, b)
        Tqq = stats.T_by_latent_pair                             # (P*q*q, K1*K1)
        S = S - (w[0] * w[0]) * (N.reshape(1, -1) @ Tqq).reshape(K1, K1)
    else:
        Tw = np.einsum("g,h,pgaihbj->paibj", w, w, T)
        S = S - np.einsum("pab,paibj->ij", N, Tw)
    logdet = float(np.real(cnt @ (stats.n @ np.log(theta) + logdet_m)))
    n_obs = stats.n_obs if stats.n_weighted is None else stats.n_weighted   # weights
    out, Gam = profile(S, k, n_obs, logdet, reml, beta, gradient, stats.basis)
    if Gam is None:
        return out
    # U[p,g,a,h,b] = sum_ij T[p,g,a,i,h,b,j] Gam[i,j]
    if G == 1:
        U = (Tqq @ Gam.ravel()).reshape(P, 1, q, 1, q)
    else:
        U = np.einsum("pgaihbj,ij->pgahb", T, Gam)
    if G == 1:                                                  # sum_r B_r Gam B_r'
        TG = (w[0] * w[0]) * U[:, 0, :, 0, :]
    else:
        TG = np.einsum("g,h,pgahb->pab", w, w, U)
    # A - A N A = A M^-1 and I - A N = M^-T (push-through identity): so written, the
    # latents' gradient does not cancel A against A N A, which for a latent that its
    # row's data determine well (Phi A >> 1) costs that ratio in digits
    AMi = bmm(A, Minv)
    if q > 1:
        AMi = 0.5 * (AMi + np.swapaxes(AMi, 1, 2))
    MM = np.swapaxes(Minv, 1, 2) if q > 1 else Minv             # (1 x 1: itself)
    GPhi = cnt[:, None, None] * AMi - bmm(bmm(MM, TG), Minv)
    grad = bincount(kern.phi_flat, GPhi.ravel(), len(ext))
    # residual variances
    if G == 1:
        # one residual label: the per-pool terms below summed directly
        # (per pool first: the data terms cancel, and do so best at the pool's scale)
        ZZ0 = kern.ZZ0
        tr_nz = (N * kern.ZZ0_T).sum(axis=(1, 2))
        cg = kern.C0_flat @ Gam.ravel()
        x1 = w[0] * (N * U[:, 0, :, 0, :]).sum(axis=(1, 2))
        x2 = (bmm(bmm(N, ZZ0), N) * TG).sum(axis=(1, 2))
        w2 = w[0] * w[0]
        grad[stats.resid_ids[0]] += (cnt * (kern.n0 * w[0] - tr_nz * w2)
                                     - w2 * (cg - 2.0 * x1 + x2)).sum()
    else:
        trNZ = np.einsum("pab,pgba->pg", N, stats.ZZ)            # tr(N ZZ_g)
        term1 = cnt[:, None] * (stats.n * w[None, :] - trNZ * (w * w)[None, :])
        CG = np.einsum("pgij,ij->pg", stats.C, Gam)
        X1 = np.einsum("h,pab,phagb->pg", w, N, U)               # tr(Gam B_r' N B_{g,r})
        NZN = np.einsum("pab,pgbc,pcd->pgad", N, stats.ZZ, N)
        X2 = np.einsum("pgab,pab->pg", NZN, TG)
        term2 = (w * w)[None, :] * (CG - 2.0 * X1 + X2)
        np.add.at(grad, stats.resid_ids, (term1 - term2).sum(axis=0))
    out.gradient = grad[: len(values)]
    if k and given_beta:
        out.gradient[stats.coef_ids] = coefficient_gradient(S, k, out.beta, stats.basis)
    return out


def _one_pool_profile(stats: PoolStats, S: np.ndarray, log_theta: float, logdet_m: float,
                      reml: bool, gradient: bool) -> tuple[Evaluation, np.ndarray | None]:
    """The one-pool kernels' profiling step: the deviance from the cross-products ``S``
    and the pool's log-determinants (log theta, log|M|), and Gamma flattened (None
    without a gradient or where the point is not admissible)."""
    kern = stats.kernel
    logdet = kern.cnt0 * (kern.n00 * log_theta + logdet_m)
    n_obs = stats.n_obs if stats.n_weighted is None else stats.n_weighted
    out, Gam = profile(S, stats.n_coef, n_obs, logdet, reml, None, gradient, stats.basis)
    return out, (None if Gam is None else Gam.ravel())


def _evaluate_single(values: np.ndarray, stats: PoolStats, reml: bool, gradient: bool,
                     check_psd: bool) -> Evaluation:
    """:func:`evaluate` where the statistics are one pool of one latent and one residual
    label (a balanced random-intercept model: every row alike; the manual's pig data),
    at real values: its operations on arrays of one number done on Python floats. Each
    is the same IEEE operation as numpy's on the one-element array (the same bits;
    tests/test_small_models.py compares the two kernels on random statistics); the
    sums and products of more than one number (C, T, the profiled coefficients) stay
    numpy's, as there. A fit of such a model makes ten evaluations: this one costs a
    third of the general kernel's numpy calls. At complex values (the standard errors'
    complex steps, without the PSD check) the same formulas on Python complex numbers:
    the general kernel's numbers to rounding, not its bits (CPython divides complex
    numbers otherwise than numpy); None there where a value is not finite."""
    kern = stats.kernel
    n_lab = len(values)
    lp, rid = kern.phi_label, kern.resid_label
    cplx = values.dtype == np.complex128
    if cplx:
        phi = values[lp].item() if lp < n_lab else (0.0 if lp == stats.const0 else 1.0)
        theta = values[rid].item()
        if not (cmath.isfinite(phi) and cmath.isfinite(theta)):
            return None
        if theta.real <= 0.0:
            return _inadmissible()
    else:
        phi = float(values[lp]) if lp < n_lab else (0.0 if lp == stats.const0 else 1.0)
        theta = float(values[rid])
        if theta <= 0.0 or (check_psd and phi < 0.0):
            return _inadmissible()
    w = 1.0 / theta
    A = w * kern.z
    M = 1.0 + phi * A
    if cplx:
        if not (M.real > 0.0 and cmath.isfinite(M)):
            return _inadmissible()
        logdet_m, log_theta = math.log(abs(M)), math.log(abs(theta))
    else:
        if not 0.0 < M < math.inf:                 # (sign <= 0 or log|M| not finite)
            return _inadmissible()
        logdet_m, log_theta = float(np.log(M)), float(np.log(theta))
    Minv = 1.0 / M
    N = Minv * phi
    w2 = w * w
    K1 = kern.C00.shape[0]
    S = (kern.C00 * w + 0.0) - w2 * (kern.Tqq * N).reshape(K1, K1)
    out, g = _one_pool_profile(stats, S, log_theta, logdet_m, reml, gradient)
    if g is None:
        return out
    U = (kern.Tqq @ g)[0].item()
    TG = w2 * U
    GPhi = kern.cnt0 * (A * Minv) - (Minv * TG) * Minv
    grad = np.zeros(n_lab, dtype=values.dtype)
    if lp < n_lab:
        grad[lp] = 0.0 + GPhi                      # (bincount adds to a zero)
    tr_nz = N * kern.z
    cg = (kern.C0_flat @ g)[0].item()
    x1 = w * (N * U)
    x2 = ((N * kern.z) * N) * TG
    grad[rid] = 0.0 + (kern.cnt0 * (kern.n00 * w - tr_nz * w2)
                       - w2 * (cg - 2.0 * x1 + x2))
    out.gradient = grad
    return out


def _evaluate_pair(values: np.ndarray, stats: PoolStats, reml: bool, gradient: bool,
                   check_psd: bool) -> Evaluation | None:
    """:func:`evaluate` where the statistics are one pool of two latents and one residual
    label (a balanced random-slope model: the manual's pig data with ``|| id: week``),
    its 2 x 2 products written out on Python numbers (real, or complex at a complex
    step without the PSD check). Not the general kernel's bits (numpy's 2 x 2 products
    may fuse a multiply and an add): its numbers to rounding (tested); the kernel is
    chosen by the statistics' shape alone, so a fit takes it from any order of the rows
    and from Dask's pooled statistics alike. None where a value is not finite (the
    general kernel then says what such a point gives)."""
    kern = stats.kernel
    n_lab = len(values)
    ext = values.tolist()
    ext += (0.0, 1.0)
    l00, l01, l10, l11 = kern.pair_labels
    p00, p01, p10, p11 = ext[l00], ext[l01], ext[l10], ext[l11]
    rid = kern.resid_label
    theta = ext[rid]
    finite = cmath.isfinite if values.dtype == np.complex128 else math.isfinite
    if not (finite(theta) and finite(p00) and finite(p01) and finite(p10) and finite(p11)):
        return None
    if theta.real <= 0.0:
        return _inadmissible()
    if check_psd:                         # (real values: the 2 x 2 eigenvalue range)
        mid, half = 0.5 * (p00 + p11), 0.5 * (p00 - p11)
        rad = math.sqrt(half * half + p10 * p10)
        lo, hi = mid - rad, mid + rad
        if lo < -1e-12 * max(abs(lo), abs(hi), 1e-300):
            return _inadmissible()
    w = 1.0 / theta
    z00, z01, z10, z11 = kern.pair_z
    a00, a01, a10, a11 = w * z00, w * z01, w * z10, w * z11
    m00 = 1.0 + (p00 * a00 + p01 * a10)                       # M = I + Phi A
    m01 = p00 * a01 + p01 * a11
    m10 = p10 * a00 + p11 * a10
    m11 = 1.0 + (p10 * a01 + p11 * a11)
    det = m00 * m11 - m01 * m10
    if not det.real > 0.0 or not finite(det):
        return _inadmissible()
    logdet_m = math.log(abs(det))
    r = 1.0 / det
    i00, i01, i10, i11 = m11 * r, -m01 * r, -m10 * r, m00 * r  # M^-1
    n00 = i00 * p00 + i01 * p10                                # N = M^-1 Phi, symmetrised
    n11 = i10 * p01 + i11 * p11
    n01 = 0.5 * ((i00 * p01 + i01 * p11) + (i10 * p00 + i11 * p10))
    w2 = w * w
    K1 = kern.C00.shape[0]
    Tqq = kern.Tqq
    S = (kern.C00 * w + 0.0) - w2 * (np.array((n00, n01, n01, n11)) @ Tqq).reshape(K1, K1)
    log_theta = math.log(abs(theta)) if values.dtype == np.complex128 else math.log(theta)
    out, g = _one_pool_profile(stats, S, log_theta, logdet_m, reml, gradient)
    if g is None:
        return out
    u00, u01, u10, u11 = (Tqq @ g).tolist()
    t00, t01, t10, t11 = w2 * u00, w2 * u01, w2 * u10, w2 * u11   # TG
    cnt = kern.cnt0
    # A M^-1 (symmetrised) and M^-T TG M^-1: the latents' gradient, as evaluate writes it
    b00 = a00 * i00 + a01 * i10
    b11 = a10 * i01 + a11 * i11
    b01 = 0.5 * ((a00 * i01 + a01 * i11) + (a10 * i00 + a11 * i10))
    x00, x01 = i00 * t00 + i10 * t10, i00 * t01 + i10 * t11      # M^-T TG
    x10, x11 = i01 * t00 + i11 * t10, i01 * t01 + i11 * t11
    y00, y01 = x00 * i00 + x01 * i10, x00 * i01 + x01 * i11      # (M^-T TG) M^-1
    y10, y11 = x10 * i00 + x11 * i10, x10 * i01 + x11 * i11
    grad = np.zeros(len(ext), dtype=values.dtype)
    grad[l00] += cnt * b00 - y00
    grad[l01] += cnt * b01 - y01
    grad[l10] += cnt * b01 - y10
    grad[l11] += cnt * b11 - y11
    # the residual variance
    tr_nz = (n00 * z00 + n01 * z10) + (n01 * z01 + n11 * z11)
    cg = (kern.C0_flat[0] @ g).item()
    x1 = w * ((n00 * u00 + n01 * u01) + (n01 * u10 + n11 * u11))
    c00, c01 = n00 * z00 + n01 * z10, n00 * z01 + n01 * z11      # N ZZ
    c10, c11 = n01 * z00 + n11 * z10, n01 * z01 + n11 * z11
    e00, e01 = c00 * n00 + c01 * n01, c00 * n01 + c01 * n11      # N ZZ N
    e10, e11 = c10 * n00 + c11 * n01, c10 * n01 + c11 * n11
    x2 = (e00 * t00 + e01 * t01) + (e10 * t10 + e11 * t11)
    grad[rid] += cnt * (kern.n00 * w - tr_nz * w2) - w2 * (cg - 2.0 * x1 + x2)
    out.gradient = grad[:n_lab]
    return out


def expected_information(values: np.ndarray, stats: PoolStats) -> np.ndarray | None:
    """:func:`information_at` ``values``, kept for the last point asked of ``stats``: a fit
    asks at its starting values twice (the identification check, then the first scoring
    step: the optimiser's coordinates give the same values back, to the bit)."""
    key = np.asarray(values).tobytes()
    last = stats.__dict__.get("_information_at")
    if last is not None and last[0] == key:
        info = last[1]
    else:
        info = information_at(values, stats)
        stats.__dict__["_information_at"] = (key, info)
    return None if info is None else info.copy()


def _information_single(values: np.ndarray, stats: PoolStats) -> np.ndarray | None:
    """:func:`information_at` for one pool of one latent and one residual label, on
    Python floats as :func:`_evaluate_single` (the same bits: tested)."""
    kern = stats.kernel
    n_lab = len(values)
    lp, rid = kern.phi_label, kern.resid_label
    phi = float(values[lp]) if lp < n_lab else (0.0 if lp == stats.const0 else 1.0)
    theta = float(values[rid])
    if not theta > 0.0:              # (NaN too: there the general routine's N is NaN)
        return None
    w = 1.0 / theta
    z, cnt = kern.z, kern.cnt0
    A = 0.0 + w * z
    M = 1.0 + phi * A
    if not M > 0.0:                                # (sign <= 0; NaN: N is not finite)
        return None
    N = phi / M
    if not math.isfinite(N):
        return None
    AN = A * N
    Om = A - AN * A
    MM = 1.0 - AN
    w2 = w * w
    info = np.zeros((n_lab, n_lab))
    if lp < n_lab:
        info[lp, lp] = 0.5 * (0.0 + (cnt * Om) * Om)
        cross = 0.5 * (0.0 + ((cnt * w2) * 1.0) * ((MM * z) * MM))
        info[lp, rid] = cross
        info[rid, lp] = cross
    NZ = N * z
    gg = 0.0 + ((cnt * w2) * w2) * (0.0 + NZ * NZ)
    diag = ((0.0 + cnt * (kern.n00 - (2.0 * w) * (0.0 + NZ))) * w) * w
    info[rid, rid] = 0.5 * (gg + diag)
    return info


#: what a one-pool kernel returns where the general one is to say (a value not finite)
_GENERAL = object()

def _information_pair(values: np.ndarray, stats: PoolStats):
    """:func:`information_at` for one pool of two latents and one residual label, on
    Python floats as :func:`_evaluate_pair` (its numbers to rounding: tested);
    ``_GENERAL`` where a value is not finite."""
    kern = stats.kernel
    n_lab = len(values)
    ext = values.tolist()
    ext += (0.0, 1.0)
    plab = kern.pair_labels
    p00, p01, p10, p11 = (ext[i] for i in plab)
    rid = kern.resid_label
    theta = ext[rid]
    if not all(map(math.isfinite, (theta, p00, p01, p10, p11))):
        return _GENERAL
    if theta <= 0.0:
        return None
    w = 1.0 / theta
    z00, z01, z10, z11 = kern.pair_z
    a00, a01, a10, a11 = w * z00, w * z01, w * z10, w * z11
    m00 = 1.0 + (p00 * a00 + p01 * a10)
    m01 = p00 * a01 + p01 * a11
    m10 = p10 * a00 + p11 * a10
    m11 = 1.0 + (p10 * a01 + p11 * a11)
    det = m00 * m11 - m01 * m10
    if not det > 0.0:
        return None
    r = 1.0 / det
    i00, i01, i10, i11 = m11 * r, -m01 * r, -m10 * r, m00 * r
    n00 = i00 * p00 + i01 * p10
    n11 = i10 * p01 + i11 * p11
    n01 = 0.5 * ((i00 * p01 + i01 * p11) + (i10 * p00 + i11 * p10))
    if not all(map(math.isfinite, (n00, n01, n11))):
        return None
    N = ((n00, n01), (n01, n11))
    A = ((a00, a01), (a10, a11))
    Z = ((z00, z01), (z10, z11))
    AN = [[A[i][0] * N[0][j] + A[i][1] * N[1][j] for j in (0, 1)] for i in (0, 1)]
    Om = [[A[i][j] - (AN[i][0] * A[0][j] + AN[i][1] * A[1][j]) for j in (0, 1)]
          for i in (0, 1)]
    MM = [[(1.0 if i == j else 0.0) - AN[i][j] for j in (0, 1)] for i in (0, 1)]
    MZ = [[MM[i][0] * Z[0][j] + MM[i][1] * Z[1][j] for j in (0, 1)] for i in (0, 1)]
    Bz = [[MZ[i][0] * MM[j][0] + MZ[i][1] * MM[j][1] for j in (0, 1)] for i in (0, 1)]
    cnt, w2 = kern.cnt0, w * w
    info = np.zeros((n_lab, n_lab))
    for lab, at in kern.pair_positions:
        for mab, at_m in kern.pair_positions:
            t = sum(Om[b][c] * Om[d][a] for a, b in at for c, d in at_m)
            info[lab, mab] = 0.5 * (cnt * t)
        cross = 0.5 * (cnt * w2 * sum(Bz[b][a] for a, b in at))
        info[lab, rid] = cross
        info[rid, lab] = cross
    NZ = [[N[i][0] * Z[0][j] + N[i][1] * Z[1][j] for j in (0, 1)] for i in (0, 1)]
    tr_nz = NZ[0][0] + NZ[1][1]
    quad = (NZ[0][0] * NZ[0][0] + NZ[0][1] * NZ[1][0]) + (NZ[1][0] * NZ[0][1]
                                                        + NZ[1][1] * NZ[1][1])
    gg = cnt * w2 * w2 * quad
    diag = cnt * (kern.n00 - 2.0 * w * tr_nz) * w * w
    info[rid, rid] = 0.5 * (gg + diag)
    return info


def information_at(values: np.ndarray, stats: PoolStats) -> np.ndarray | None:
    """Expected (Fisher) information of the variance labels under ML, from the pooled
    statistics: with Omega = Z' Sigma^-1 Z = A - A N A and E_l the positions of label l
    in a pool's Phi,

        I[l, m] = 1/2 sum_p c_p tr(E_l Omega E_m Omega),
        I[l, g] = 1/2 sum_p c_p w_g^2 tr(E_l (I - AN) ZZ_g (I - AN)'),
        I[g, h] = 1/2 sum_p c_p w_g w_h [d_gh (n_g - 2 w_g tr(N ZZ_g)) + w_g w_h tr(ZZ_h N ZZ_g N)].

    Used by the optimiser as a cheap positive (semi-)definite curvature (Fisher scoring);
    None when the point is not admissible. (n_labels x n_labels; zero outside the variance
    labels.)"""
    if stats.kernel.single and values.dtype == np.float64:
        return _information_single(values, stats)
    if stats.kernel.pair and values.dtype == np.float64:
        got = _information_pair(values, stats)
        if got is not _GENERAL:
            return got
    ext = np.concatenate((values, _CONSTANTS))
    Phi = ext[stats.phi_idx]
    theta = ext[stats.resid_ids]
    if (theta <= 0).any():
        return None
    w = 1.0 / theta
    P, G, q = stats.ZZ.shape[:3]
    cnt = stats.count
    eye = stats.kernel.eye
    A = np.einsum("g,pgab->pab", w, stats.ZZ)
    M = eye + bmm(Phi, A)
    N, sign, _ = solve_logdet(M, Phi)
    if (sign <= 0).any() or not np.isfinite(N).all():
        return None
    if q > 1:                                      # (1 x 1: symmetric, as in evaluate)
        N = 0.5 * (N + np.swapaxes(N, 1, 2))
    AN = bmm(A, N)
    Om = A - bmm(AN, A)
    MM = eye - AN
    n_lab = len(values)                  # = stats.const0: ext's constants follow the labels
    labs, E = stats.label_positions                                             # (P,L,q,q)
    ll, lr, rl, rr = stats.information_blocks                # (np.ix_'s index pairs)
    info = np.zeros((n_lab, n_lab))
    if len(labs):
        EO = E @ Om[:, None]
        info[ll] += 0.5 * np.einsum("p,plij,pmji->lm", cnt, EO, EO)
        Bz = MM[:, None] @ stats.ZZ @ np.swapaxes(MM, 1, 2)[:, None]           # (P,G,q,q)
        cross = 0.5 * np.einsum("p,g,plij,pgji->lg", cnt, w * w, E, Bz)
        info[lr] += cross
        info[rl] += cross.T
    trNZ = np.einsum("pab,pgba->pg", N, stats.ZZ)
    NZ = N[:, None] @ stats.ZZ                                                  # (P,G,q,q)
    quad = np.einsum("pgab,phba->pgh", NZ, NZ)                                  # tr(N ZZ_g N ZZ_h)
    gg = np.einsum("p,g,h,pgh->gh", cnt, w * w, w * w, quad)
    diag = np.einsum("p,pg->g", cnt, stats.n - 2.0 * w[None, :] * trNZ) * w * w
    info[rr] += 0.5 * (gg + np.diag(diag))
    return info
