"""Likelihood-ratio tests (MixedModels.jl's ``likelihoodratiotest``): between two nested
fits (Stata's ``lrtest``), and of a fit against the linear model without random
effects, with ``mixed``'s chibar2(01) for one variance on the boundary under the null
and its conservative note otherwise."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..distributions import chi2_sf
from ..model.coefficients import coefficient_design, fixed_offset
from ..model.pathmodel import PathModel

__all__ = ["LRTest", "linear_loglik", "lr_linear", "lrtest"]

_BOUNDARY_NOTE = ("The reported degrees of freedom assumes the null hypothesis is not on "
                  "the boundary of the parameter space. If this is not true, then the "
                  "reported test is conservative.")


@dataclass(frozen=True)
class LRTest:
    """A likelihood-ratio test between two nested fits."""

    statistic: float
    df: int
    p: float
    note: str = ""

    def __iter__(self):
        return iter((self.statistic, self.df, self.p))

    def __str__(self) -> str:
        text = f"LR chi2({self.df}) = {self.statistic:.2f}, Prob > chi2 = {self.p:.4f}"
        return text + (f"\nNote: {self.note}" if self.note else "")


def linear_loglik(model: PathModel, reml: bool) -> float:
    """Log likelihood (restricted under REML) of the linear model without random effects."""
    Xt, _ = coefficient_design(model)
    y = model.data.y - fixed_offset(model)           # fixed and constrained terms
    if model.info.weights is not None:
        from ..engine.weighting import linear_loglik as weighted
        return weighted(model, Xt, y)
    n, k = Xt.shape
    if k:
        coef, *_ = np.linalg.lstsq(Xt, y, rcond=None)
        rss = float(np.sum((y - Xt @ coef) ** 2))
    else:
        rss = float(np.sum(y ** 2))
    two_pi = np.log(2 * np.pi)
    if reml:
        s2 = rss / (n - k)
        return -0.5 * ((n - k) * (two_pi + np.log(s2) + 1) + np.linalg.slogdet(Xt.T @ Xt)[1])
    return -0.5 * n * (two_pi + np.log(rss / n) + 1)


def lr_linear(fit) -> dict:
    """LR test versus the linear model, with `mixed`'s chibar2 / conservative note (none
    with robust standard errors, as in Stata): kind, statistic, df, p[, note]."""
    if fit.vce is not None:
        return {}
    lab = fit.model.labels
    free = lab["free"].to_numpy()
    kinds = lab["kind"].to_numpy()
    n_re = int((free & np.isin(kinds, ["var", "cov"])).sum())
    n_res = max(int((free & np.isin(kinds, ["resvar", "rescov", "resstruct"])).sum()) - 1, 0)
    tested = n_re + n_res
    stat = max(2.0 * (fit.loglik - fit.linear_loglik), 0.0)
    if n_re == 1 and n_res == 0 and int((free & (kinds == "var")).sum()) == 1:
        return {"kind": "chibar2(01)", "statistic": stat, "df": 1,
                "p": 0.5 * float(chi2_sf(stat, 1)) if stat > 0 else 1.0}
    note = "LR test is conservative and provided only for reference." if n_re \
        else _BOUNDARY_NOTE
    return {"kind": f"chi2({tested})", "statistic": stat, "df": tested,
            "p": float(chi2_sf(stat, tested)) if tested else np.nan, "note": note}


def lrtest(a, b) -> LRTest:
    """Likelihood-ratio test of two nested fits (either order), as Stata's ``lrtest``:
    same sample, same criterion, under REML the same fixed effects."""
    if a.n_obs != b.n_obs:
        raise ValueError(f"the fits use different samples ({a.n_obs} vs {b.n_obs} "
                         "observations)")
    if a.reml != b.reml:
        raise ValueError("cannot compare an ML fit with a REML fit")
    if a.reml and list(a.fixed.index) != list(b.fixed.index):
        raise ValueError("REML fits with different fixed effects cannot be compared by an "
                         "LR test; refit both by ML")
    big, small = (a, b) if a.n_params >= b.n_params else (b, a)
    df = big.n_params - small.n_params
    stat = max(2.0 * (big.loglik - small.loglik), 0.0)
    p = float(chi2_sf(stat, df)) if df > 0 else np.nan
    return LRTest(statistic=stat, df=df, p=p, note=_BOUNDARY_NOTE)
