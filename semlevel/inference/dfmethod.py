"""Small-sample inference for fixed effects: Stata's ``dfmethod()`` and ``dftable()``.

``mixed(..., dfmethod="kroger")`` or ``"..., reml dfmethod(satterthwaite, oim)"``: the
fixed-effects table gets t statistics with per-coefficient DF (column ``df``), and the
model test in the header is an F test. Methods (see the manual's *Small-sample inference
for fixed effects* and *Denominator degrees of freedom*):

* ``residual``, ``repeated``, ``anova``: :mod:`.exact_df` (ML or REML);
* ``satterthwaite[, eim|oim]``: :mod:`.satterthwaite` (REML only);
* ``kroger[, eim|oim]``: :mod:`.kenward_roger` (REML only); the table's standard errors
  are the adjusted ones (``small_sample.vcov``; ``fit.fixed_vcov`` stays the conventional
  covariance, Stata's ``e(V)``).

``eim`` (the default, as in Stata) takes the covariance of the variance parameters from
the expected REML information, ``oim`` from the observed one (R's lmerTest).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..distributions import t_ppf, t_sf
from ..model.constraints import coefficient_map
from ..syntax.smallsample import DFMethod
from .exact_df import EXACT_METHODS, exact_df

__all__ = ["SmallSample", "small_sample", "small_sample_table"]


def _approximation(fit, dfm: DFMethod) -> tuple:
    """(REML terms, W, Kenward-Roger Phi_A or None) of a satterthwaite/kroger fit."""
    from .kenward_roger import adjusted_vcov
    from .reml_terms import reml_terms
    from .satterthwaite import variance_covariance
    terms = reml_terms(fit)
    W = variance_covariance(fit, terms, dfm.information)
    return terms, W, (adjusted_vcov(terms, W) if dfm.method == "kroger" else None)


@dataclass(frozen=True, eq=False)
class SmallSample:
    """Small-sample results of a fit: per-coefficient ``df`` (over ``names``), the
    covariance used for t statistics (``vcov``: Kenward-Roger's adjusted one under
    kroger), and the model test (``model_test``). ``approx`` holds the REML terms, W and
    Phi_A of satterthwaite/kroger (over the estimated coefficients)."""

    fit: object
    method: DFMethod
    names: list[str]
    df: np.ndarray
    vcov: np.ndarray
    approx: tuple | None = None

    def fai_cornelius(self, L: np.ndarray) -> float:
        """Satterthwaite (Fai-Cornelius) DDF of L g = r over the estimated coefficients."""
        from .satterthwaite import fai_cornelius_ddf
        terms, W, _ = self.approx
        return fai_cornelius_ddf(terms, W, L)[0]

    def kenward_roger(self, L: np.ndarray, diff: np.ndarray):
        """Kenward-Roger test of L g = r given diff = L g - r."""
        from .kenward_roger import kenward_roger_test
        terms, W, Phi_A = self.approx
        return kenward_roger_test(terms, W, Phi_A, L, diff)

    @cached_property
    def model_test(self):
        """The header's test that all coefficients but the constant are zero: F, or chi2
        when the exact methods' DF differ among the coefficients (None: nothing to test)."""
        from .wald import model_test
        return model_test(self.fit)

    @property
    def df_summary(self) -> tuple[float, float, float]:
        """min, average, max of the coefficients' DF (as the header shows)."""
        d = self.df[np.isfinite(self.df)]
        return (float(d.min()), float(d.mean()), float(d.max())) if len(d) else \
            (np.nan, np.nan, np.nan)


def small_sample(fit) -> SmallSample | None:
    """The small-sample results of a fit made with ``dfmethod()`` (None otherwise)."""
    dfm = fit.model.info.dfmethod
    if dfm is None:
        return None
    if dfm.approximate and not fit.reml:
        raise ValueError(f"dfmethod({dfm.method}) is supported only with REML estimation")
    cmap = coefficient_map(fit.model)
    xtvx = fit.evaluation.xtvx
    Vg = np.linalg.inv(xtvx) if xtvx is not None and len(xtvx) else np.zeros((0, 0))
    if dfm.method in EXACT_METHODS:
        return SmallSample(fit=fit, method=dfm, names=cmap.names,
                           df=exact_df(fit, dfm.method), vcov=cmap.T @ Vg @ cmap.T.T)
    from .satterthwaite import satterthwaite_df
    terms, W, Phi_A = approx = _approximation(fit, dfm)
    df = np.array([satterthwaite_df(terms, W, t) if np.linalg.norm(t) > 1e-9 else np.nan
                   for t in cmap.T])
    V = cmap.T @ (Phi_A if Phi_A is not None else Vg) @ cmap.T.T
    return SmallSample(fit=fit, method=dfm, names=cmap.names, df=df, vcov=V, approx=approx)


def small_sample_table(fit, table: pd.DataFrame) -> pd.DataFrame:
    """The fixed-effects table with t statistics: coef, se, t, p, ci_lower, ci_upper, df."""
    ss = fit.small_sample
    coef = table["coef"].to_numpy()
    se = np.sqrt(np.clip(np.diag(ss.vcov), 0.0, None))
    se = np.where(np.isnan(ss.df), table["se"].to_numpy(), se)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, coef / se, np.nan)
        p = 2.0 * t_sf(np.abs(t), ss.df)
        q = t_ppf(0.5 + fit.level / 200.0, ss.df)
    return pd.DataFrame({"coef": coef, "se": se, "t": t, "p": p, "ci_lower": coef - q * se,
                         "ci_upper": coef + q * se, "df": ss.df}, index=table.index)
