"""Number formatting shared by the Markdown, LaTeX and CSV writers."""
from __future__ import annotations

import math

__all__ = ["num", "level_text", "fixed_columns", "RANDOM_COLUMNS", "headline", "stata_g"]


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


def is_missing(x) -> bool:
    """None, NaN, an infinity or not a number: Stata's missing value."""
    try:
        return x is None or not math.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def stata_g(x, width: int = 9) -> str:
    """``x`` as Stata's ``%<width>.0g`` displays it (without the padding).

    Stata shows as many significant digits as fit: the digits and decimal point take at
    most ``width - 1`` characters (one column is kept for the sign), the leading zero of
    a fraction is dropped and trailing zeros are removed (``.0390124``, ``-.0984378``,
    ``6.209896``, ``5.04926``, ``.0000209``); when fixed notation would show fewer
    significant digits than scientific notation, scientific is used (``6.71e-10``,
    ``7.84e-06``). Missing values (None, NaN, inf) are ``"."``.

    >>> stata_g(0.03901237), stata_g(-1014.92684, 10), stata_g(7.8412e-06)
    ('.0390124', '-1014.9268', '7.84e-06')
    """
    if is_missing(x):
        return "."
    x = float(x)
    if x == 0:
        return "0"
    body = max(width - 1, 1)
    sign = "-" if x < 0 else ""
    a = abs(x)

    fixed, fixed_sig = None, -1
    for dec in range(body, -1, -1):
        s = f"{a:.{dec}f}"
        if s.startswith("0."):
            s = s[1:]
        sig = len(s.replace(".", "").lstrip("0"))   # trailing zeros count: 3.40e-4
        if sig == 0:
            continue            # rounds to zero: fixed notation shows no digit
        if len(s) <= body:
            fixed = s.rstrip("0").rstrip(".") if "." in s else s
            fixed_sig = sig
            break

    sci, sci_sig = None, -1
    for dec in range(max(body - 5, 0), -1, -1):
        s = f"{a:.{dec}e}"
        mant, exp = s.split("e")
        sgn, digits = exp[0], exp[1:].lstrip("0")
        s = f"{mant}e{sgn}{digits.rjust(2, '0')}"
        if len(s) <= body:
            sci, sci_sig = s, dec + 1
            break

    if fixed is not None and fixed_sig >= sci_sig:
        return sign + fixed
    if sci is not None:
        return sign + sci
    return sign + (fixed if fixed is not None else f"{a:.0e}")
