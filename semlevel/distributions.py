"""The few distribution functions semlevel reports with (normal, t, chi2, F tails and
quantiles). Signatures follow ``scipy.stats`` (``chi2_sf(x, df)`` is
``scipy.stats.chi2.sf(x, df)``); ``tests/test_distributions.py`` compares them with it.

The normal tail and quantile and the chi-squared tail at whole degrees of freedom (every
Wald, LR and score test) are computed here from ``math.erfc`` and ``math.lgamma``:
importing ``scipy.special`` costs ~0.1 s (``scipy.stats`` ~0.5 s), which every
command-line call and every worker would pay. t and F tails (``dfmethod()``'s
fractional degrees of freedom) and chi2 at fractional degrees of freedom use
``scipy.special``, imported when first needed. This module imports nothing from
semlevel: every layer may use it.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["norm_sf", "norm_ppf", "chi2_sf", "t_sf", "t_ppf", "f_sf"]

def _erfc(x: np.ndarray) -> np.ndarray:
    """``math.erfc`` of each entry (a list comprehension: ``np.vectorize`` costs ~15 us
    a call, more than the few numbers a results table has)."""
    return np.array([math.erfc(v) for v in x.ravel().tolist()], dtype=float) \
        .reshape(x.shape)


def norm_sf(x):
    """P(Z > x), Z standard normal (accurate in the far tail: erfc, not 1 - cdf)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(invalid="ignore"):
        out = 0.5 * _erfc(x / math.sqrt(2.0)) if x.size else np.zeros(x.shape)
    return np.float64(out) if x.ndim == 0 else out


# Acklam's rational approximation of the normal quantile (relative error 1.15e-9),
# refined by one Halley step on erfc (to double precision)
_A = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
      1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
_B = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
      6.680131188771972e+01, -1.328068155288572e+01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
      -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
      3.754408661907416e+00)


def _ppf_one(p: float) -> float:
    if not 0.0 <= p <= 1.0 or p != p:
        return math.nan
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    lo = 0.02425
    if p < lo or p > 1 - lo:
        q = math.sqrt(-2 * math.log(p if p < lo else 1 - p))
        x = (((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]) / \
            ((((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1)
        x = x if p < lo else -x
    else:
        q = p - 0.5
        r = q * q
        x = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q / \
            (((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1)
    # Halley step on the tail that holds p (no cancellation: erfc of the far tail)
    if x < 0:
        e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    else:
        e = (1.0 - p) - 0.5 * math.erfc(x / math.sqrt(2.0))
        # F(x) - p = (1 - p) - sf(x); 1 - p is exact enough where p is not tiny
    u = e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    return x - u / (1 + x * u / 2)


_ppf = np.vectorize(_ppf_one, otypes=[float])


def norm_ppf(p):
    """The p quantile of the standard normal."""
    p = np.asarray(p, dtype=float)
    with np.errstate(invalid="ignore"):                  # nan in, nan out
        out = _ppf(p) if p.size else np.zeros(p.shape)
    return np.float64(out) if p.ndim == 0 else out


def _chi2_sf_one(x: float, k: float) -> float:
    """P(X > x) for whole ``k``: the Poisson sum (even k) or erfc plus the half-integer
    sum (odd k), added in log space so that no term under- or overflows."""
    if x != x or k != k:
        return math.nan
    if x <= 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    h = x / 2.0
    if int(k) % 2 == 0:
        m = int(k) // 2
        logs = [-h + j * math.log(h) - math.lgamma(j + 1) for j in range(m)]
        base = 0.0
    else:
        m = (int(k) - 1) // 2
        logs = [-h + (j - 0.5) * math.log(h) - math.lgamma(j + 0.5) for j in range(1, m + 1)]
        base = math.erfc(math.sqrt(h))
    if not logs:
        return base
    top = max(logs)
    total = math.fsum(math.exp(v - top) for v in logs)
    return min(1.0, base + math.exp(top + math.log(total)))


_chi2_sf = np.vectorize(_chi2_sf_one, otypes=[float])


def chi2_sf(x, df):
    """P(X > x), X chi-squared with ``df`` degrees of freedom (nan for df <= 0)."""
    x = np.asarray(x, dtype=float)
    df = np.asarray(df, dtype=float)
    whole = np.all(np.isfinite(df) & (df > 0) & (df == np.round(df)) & (df <= 1e6))
    if not whole:
        from scipy import special
        out = special.chdtrc(df, x)
    else:
        with np.errstate(invalid="ignore"):              # nan in, nan out
            out = _chi2_sf(x, df)
    return np.float64(out) if np.ndim(out) == 0 else out


def t_sf(x, df):
    """P(T > x), T Student's t with ``df`` degrees of freedom."""
    from scipy import special
    return special.stdtr(np.asarray(df, dtype=float), -np.asarray(x, dtype=float))


def t_ppf(p, df):
    """The p quantile of Student's t with ``df`` degrees of freedom."""
    from scipy import special
    return special.stdtrit(np.asarray(df, dtype=float), np.asarray(p, dtype=float))


def f_sf(x, dfn, dfd):
    """P(F > x), F with (``dfn``, ``dfd``) degrees of freedom."""
    from scipy import special
    return special.fdtrc(np.asarray(dfn, dtype=float), np.asarray(dfd, dtype=float),
                         np.asarray(x, dtype=float))
