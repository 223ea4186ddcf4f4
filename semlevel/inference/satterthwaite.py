"""Satterthwaite degrees of freedom (Giesbrecht and Burns 1985) and their extension to
several restrictions (Fai and Cornelius 1996), as in Stata's ``dfmethod(satterthwaite)``.

For one restriction c'b: nu = 2 (c'Phi c)^2 / (d' W d), with d_i = d(c'Phi c)/dsigma_i =
c'Phi P_i Phi c and W the covariance of the variance-parameter estimates: the inverse of
the expected REML information (``eim``, Stata's default) or of the observed one (``oim``,
the Hessian of the REML criterion; what R's lmerTest uses).

For L b (rank l): with L Phi L' = U diag(lambda) U', the F statistic is the mean of l
independent squared t statistics of the contrasts c_m = L'u_m, each with its own nu_m;
E = sum nu_m / (nu_m - 2) and the denominator DF are 2E / (E - l). As in lmerTest, when
some nu_m <= 2 (E undefined) the DF are 2, and equal nu_m give that common value.
"""
from __future__ import annotations

import numpy as np

from .reml_terms import RemlTerms

__all__ = ["variance_covariance", "satterthwaite_df", "fai_cornelius_ddf", "combine_df"]


def variance_covariance(fit, terms: RemlTerms, information: str) -> np.ndarray:
    """W: covariance of the variance-parameter estimates, ``"eim"`` or ``"oim"``."""
    if information == "eim":
        info = terms.expected_information()
        try:
            return np.linalg.inv(info)
        except np.linalg.LinAlgError:
            return np.linalg.pinv(info)
    if information != "oim":
        raise ValueError(f"information must be 'eim' or 'oim', not {information!r}")
    free = list(fit._free_var)
    sel = [free.index(j) for j in terms.var_ids]
    W = np.asarray(fit.theta_vcov)[np.ix_(sel, sel)]
    if not np.all(np.isfinite(W)):
        raise ValueError("the observed information of the variance parameters is not "
                         "invertible; use the expected information (eim)")
    return W


def satterthwaite_df(terms: RemlTerms, W: np.ndarray, c: np.ndarray) -> float:
    """DF of the t statistic of the contrast ``c`` (over the estimated coefficients)."""
    c = np.asarray(c, dtype=float)
    v = float(c @ terms.Phi @ c)
    d = terms.gradient(c)
    den = float(d @ W @ d)
    if den <= 0:
        return np.inf
    return 2.0 * v * v / den


def combine_df(nu: np.ndarray, tol: float = 1e-8) -> float:
    """Denominator DF of an F statistic that is the mean of independent t^2 (nu each)."""
    nu = np.asarray(nu, dtype=float)
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2.0)))
    return 2.0 * E / (E - len(nu))


def fai_cornelius_ddf(terms: RemlTerms, W: np.ndarray, L: np.ndarray) -> tuple[float, np.ndarray]:
    """Denominator DF of the F test of L b (L of full row rank) and the per-direction nu."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    lam, U = np.linalg.eigh(L @ terms.Phi @ L.T)
    order = np.argsort(lam)[::-1]
    lam, U = lam[order], U[:, order]
    nu = np.array([satterthwaite_df(terms, W, L.T @ U[:, m]) for m in range(len(lam))])
    return combine_df(nu), nu
