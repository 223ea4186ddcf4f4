"""Wald tests of linear hypotheses on the fixed effects (Stata's ``test`` after ``mixed``).

``fit.test("week = 0")``, ``fit.test(["2.drug", "3.drug"])`` (jointly zero),
``fit.test("2.drug = 3.drug")``, ``fit.test(R, r)``. Hypotheses are parsed by
:mod:`semlevel.syntax.linear` (never evaluated as code).

Large-sample: W = (Lb - r)'(L V L')^-1 (Lb - r) ~ chi2(l). Under ``dfmethod()`` the test is
an F test, as Stata's ``test`` after ``mixed, dfmethod()``:

* residual / repeated / anova: F = W / l with the DF the tested coefficients share; when
  they do not share one the DDF are undefined and the chi2 test is reported (as Stata's
  model test does);
* satterthwaite: F = W / l with Fai-Cornelius DDF;
* kroger: the Kenward-Roger scaled F with the adjusted covariance and its DDF.

Under fixed-effects constraints ``b = T g + a`` the hypothesis is tested in the estimated
coefficients g: rows that the constraints already fix (``L T = 0``) and rows linearly
dependent on earlier ones are dropped and listed, as Stata does.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..distributions import chi2_sf, f_sf
from ..model.constraints import coefficient_map
from ..syntax.linear import equations_matrix

__all__ = ["WaldTest", "wald_test", "model_test", "restriction"]


@dataclass(frozen=True)
class WaldTest:
    """Result of a Wald test: ``kind`` "chi2" or "F"; ``ddf`` for F tests."""

    statistic: float
    df: int
    p: float
    kind: str = "chi2"
    ddf: float | None = None
    hypotheses: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    note: str = ""
    scale: float | None = field(default=None, repr=False)   # Kenward-Roger lambda

    def __iter__(self):
        return iter((self.statistic, self.df, self.p))

    def __str__(self) -> str:
        lines = [f" ({i + 1:2d})  {h}" for i, h in enumerate(self.hypotheses)]
        for h in self.dropped:
            lines.append(f"       Constraint dropped: {h}")
        lines.append("")
        if self.kind == "F":
            lines.append(f"       F({self.df:3d}, {self.ddf:.2f}) = {self.statistic:8.2f}")
            lines.append(f"{'Prob > F':>20} = {self.p:9.4f}")
        else:
            lines.append(f"{f'chi2({self.df:3d})':>20} = {self.statistic:8.2f}")
            lines.append(f"{'Prob > chi2':>20} = {self.p:9.4f}")
        if self.note:
            lines.append(f"Note: {self.note}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"statistic": self.statistic, "df": self.df, "ddf": self.ddf, "p": self.p,
                "kind": self.kind, "hypotheses": list(self.hypotheses),
                "dropped": list(self.dropped), "note": self.note}


def restriction(fit, hypothesis, r=None) -> tuple[np.ndarray, np.ndarray, list[str],
                                                  np.ndarray, np.ndarray, list[str]]:
    """The hypothesis over the reported coefficients (R, r, text) and, over the estimated
    coefficients, its full-row-rank part (L, diff = R b - r of the kept rows, kept text),
    plus the dropped rows' text."""
    cmap = coefficient_map(fit.model)
    R, rv, text = equations_matrix(hypothesis, cmap.names, r)
    b = cmap.T @ _gamma(fit) + cmap.a
    Lg = R @ cmap.T
    diff = R @ b - rv
    keep: list[int] = []
    dropped: list[str] = []
    scale = max(float(np.abs(Lg).max(initial=0.0)), 1e-300)
    for i in range(len(R)):
        if np.abs(Lg[i]).max(initial=0.0) <= 1e-10 * scale:
            dropped.append(text[i])
            continue
        trial = Lg[keep + [i]]
        if np.linalg.matrix_rank(trial, tol=1e-9 * scale) == len(keep) + 1:
            keep.append(i)
        else:
            dropped.append(text[i])
    return Lg[keep], diff[keep], [text[i] for i in keep], R[keep], rv[keep], dropped


def _gamma(fit) -> np.ndarray:
    return np.asarray(fit.evaluation.beta, dtype=float)


def wald_test(fit, hypothesis, r=None, small: bool | None = None) -> WaldTest:
    """Wald test of ``hypothesis`` (equations, names jointly zero, or a matrix R with r).

    ``small``: F test with the fit's ``dfmethod()`` DDF (default when the fit has one);
    False forces the large-sample chi2 test.
    """
    ss = fit.small_sample if small is not False else None
    if small and ss is None:
        raise ValueError("small-sample tests need a fit with dfmethod(); refit with e.g. "
                         "', reml dfmethod(kroger)'")
    L, diff, text, R, _, dropped = restriction(fit, hypothesis, r)
    l = L.shape[0]
    if l == 0:
        raise ValueError("nothing to test: every restriction is fixed by the constraints or "
                         f"repeats another ({'; '.join(dropped)})")
    V = fit.fixed_vcov.to_numpy()            # T Var(g) T' (robust when the fit's vce is)
    chi2 = float(diff @ np.linalg.solve(R @ V @ R.T, diff))
    common = dict(hypotheses=tuple(text), dropped=tuple(dropped))
    large = WaldTest(statistic=chi2, df=l, p=float(chi2_sf(chi2, l)), kind="chi2", **common)
    if ss is None:
        return large
    method = ss.method.method
    if method == "kroger":
        kr = ss.kenward_roger(L, diff)
        return WaldTest(statistic=kr.F, df=l, ddf=kr.ddf, p=float(f_sf(kr.F, l, kr.ddf)),
                        kind="F", scale=kr.scale, **common)
    if method == "satterthwaite":
        ddf = ss.fai_cornelius(L)
    else:
        involved = np.flatnonzero(np.any(R != 0, axis=0))
        dfs = ss.df[involved]
        if not len(dfs) or not np.all(np.isfinite(dfs)) or np.ptp(dfs) > 0:
            return WaldTest(**{**large.__dict__, "note": (
                "the tested coefficients have different DF: the denominator DF are not "
                "defined and the large-sample chi2 test is reported")})
        ddf = float(dfs[0])
    F = chi2 / l
    return WaldTest(statistic=F, df=l, ddf=ddf, p=float(f_sf(F, l, ddf)), kind="F",
                    **common)


def model_test(fit, small: bool | None = None) -> WaldTest | None:
    """Test that every coefficient but the constant is zero (``mixed``'s header test);
    None when there is nothing to test."""
    names = [n for n in coefficient_map(fit.model).names if n != "_cons"]
    if not names:
        return None
    try:
        return wald_test(fit, [f"_b[{n}]" for n in names], small=small)
    except ValueError as exc:
        if str(exc).startswith("nothing to test"):
            return None
        raise
