"""The few distribution functions semlevel reports with (normal, t, chi2, F tails and
quantiles), from ``scipy.special``: importing ``scipy.stats`` costs about 0.5 s, which every
command-line call and every worker would pay. Signatures follow ``scipy.stats``
(``chi2_sf(x, df)`` is ``scipy.stats.chi2.sf(x, df)``); tests compare them with it.
This module imports nothing from semlevel: every layer may use it.
"""
from __future__ import annotations

import numpy as np
from scipy import special

__all__ = ["norm_sf", "norm_ppf", "chi2_sf", "t_sf", "t_ppf", "f_sf"]


def norm_sf(x):
    """P(Z > x), Z standard normal."""
    return special.ndtr(-np.asarray(x, dtype=float))


def norm_ppf(p):
    """The p quantile of the standard normal."""
    return special.ndtri(np.asarray(p, dtype=float))


def chi2_sf(x, df):
    """P(X > x), X chi-squared with ``df`` degrees of freedom."""
    return special.chdtrc(np.asarray(df, dtype=float), np.asarray(x, dtype=float))


def t_sf(x, df):
    """P(T > x), T Student's t with ``df`` degrees of freedom."""
    return special.stdtr(np.asarray(df, dtype=float), -np.asarray(x, dtype=float))


def t_ppf(p, df):
    """The p quantile of Student's t with ``df`` degrees of freedom."""
    return special.stdtrit(np.asarray(df, dtype=float), np.asarray(p, dtype=float))


def f_sf(x, dfn, dfd):
    """P(F > x), F with (``dfn``, ``dfd``) degrees of freedom."""
    return special.fdtrc(np.asarray(dfn, dtype=float), np.asarray(dfd, dtype=float),
                         np.asarray(x, dtype=float))
