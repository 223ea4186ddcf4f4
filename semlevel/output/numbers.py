"""Number formatting shared by the Markdown, LaTeX and CSV writers."""
from __future__ import annotations

import math

__all__ = ["num", "level_text", "fixed_columns", "RANDOM_COLUMNS", "headline"]


def num(x, fmt: str = ".7g") -> str:
    """``x`` formatted, ``"."`` (Stata's missing) for None, NaN and infinities."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "."
    if not math.isfinite(x):
        return "."
    return format(x, fmt)


def level_text(level: float) -> str:
    return f"{float(level):g}%"


_FIXED = [("coef", "Coef.", ".7g"), ("se", "Std. err.", ".7g"), ("z", "z", ".2f"),
          ("p", "P>|z|", ".3f"), ("ci_lower", "CI lower", ".7g"),
          ("ci_upper", "CI upper", ".7g")]

#: (column, header, format) of the random-effects table.
RANDOM_COLUMNS = [("estimate", "Estimate", ".7g"), ("se", "Std. err.", ".7g"),
                  ("ci_lower", "CI lower", ".7g"), ("ci_upper", "CI upper", ".7g")]


def fixed_columns(fit) -> list[tuple[str, str, str]]:
    """(column, header, format) of the fixed-effects table (t and df under dfmethod)."""
    cols = list(_FIXED)
    if "t" in fit.fixed.columns:
        cols[2] = ("t", "t", ".2f")
        cols[3] = ("p", "P>|t|", ".3f")
    if "df" in fit.fixed.columns:
        cols.insert(3, ("df", "df", ".2f"))
    return cols


def headline(fit, model: str | None) -> list[tuple[str, str]]:
    """Key facts of a fit as (name, text) pairs."""
    lines = []
    if model:
        lines.append(("Model", model))
    lines += [("Method", "REML" if fit.reml else "ML"),
              ("Number of obs", str(fit.n_obs)),
              ("Log restricted likelihood" if fit.reml else "Log likelihood",
               num(fit.loglik, ".5f")),
              ("AIC", num(fit.aic, ".4f")), ("BIC", num(fit.bic, ".4f")),
              ("Converged", "yes" if fit.converged else "NO")]
    if fit.boundary:
        lines.append(("At the boundary (zero)", ", ".join(fit.boundary)))
    return lines
