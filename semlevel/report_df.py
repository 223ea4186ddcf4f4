"""The report's small-sample parts (``dfmethod()``, ``dftable()``) and constraints.

* header: ``DF method: ...`` with the DF's min/avg/max, and the model ``F(l, ddf)`` test
  with ``Prob > F`` instead of ``Wald chi2`` (the chi2 test when an exact method's DF
  differ among the coefficients, as the manual says);
* fixed-effects table: ``t`` and ``P>|t|`` (``dftable(default)``), or the DF with t and
  p (``dftable(pvalue)``) or with the confidence interval (``dftable(ci)``);
* the constraints, listed before the table as Stata does (``nocnsreport`` hides them), and
  ``(constrained)`` for a coefficient that they fix.

:func:`replay` re-renders a fit with another ``dftable`` or its large-sample results.
"""
from __future__ import annotations

import numpy as np

__all__ = ["small_header", "small_fixed_table", "constraint_lines", "constrained_line"]


def small_header(fit, hline, fmt_f, fmt_g) -> list[str]:
    """Header lines after the group information: DF summary, model test, log likelihood."""
    ss = fit.small_sample
    lo, avg, hi = ss.df_summary
    lines = hline(f"DF method: {ss.method.title}", "DF:           min",
                  fmt_f(lo, ".2f", 10, blank=False).strip())
    for name, v in (("avg", avg), ("max", hi)):
        lines.append(" " * 62 + f"{name} = {fmt_f(v, '.2f', 10, blank=False)}")
    lines.append("")
    test = ss.model_test
    ll_name = "Log restricted-likelihood" if fit.reml else "Log likelihood"
    left = f"{ll_name} = {fmt_g(fit.loglik, 10, blank=False)}"
    if test is None:
        return lines + [left]
    if test.kind == "F":
        lines += hline("", f"F({test.df}, {test.ddf:.2f})",
                       fmt_f(test.statistic, ".2f", 10, blank=False).strip())
        lines += hline(left, "Prob > F", fmt_f(test.p, ".4f", 10, blank=False).strip())
    else:
        lines += hline("", f"Wald chi2({test.df})",
                       fmt_f(test.statistic, ".2f", 10, blank=False).strip())
        lines += hline(left, "Prob > chi2", fmt_f(test.p, ".4f", 10, blank=False).strip())
    return lines


def _layout(fit) -> str:
    return str(fit.model.info.dftable or "default")


def small_fixed_table(fit, plan, abbrev, fmt_g, fmt_f, level_text, split_name,
                      shown=None) -> list[str]:
    """The fixed-effects table with t statistics (and DF), per the fit's ``dftable``."""
    layout = _layout(fit)
    depvar = abbrev(getattr(fit.model, "outcome", "") or "", 12)
    ci = f"[{level_text(fit.level)} conf. interval]"
    if layout == "pvalue":
        head = f"{depvar:>12} | Coefficient  Std. err.       df        t    P>|t|"
        width = 65
    elif layout == "ci":
        head = f"{depvar:>12} | Coefficient  Std. err.       df  {ci:>27}"
        width = 78
    else:
        head = f"{depvar:>12} | Coefficient  Std. err.      t    P>|t|{ci:>25}"
        width = 78
    rule = "-" * width
    out = [rule, head, "-" * 13 + "+" + "-" * (width - 14)]

    def line(lab: str, r) -> str:
        if r["se"] == 0 and not np.isfinite(r["df"]):
            return lab + "  " + fmt_g(r["coef"]) + "  (constrained)"
        start = lab + "  " + fmt_g(r["coef"]) + "  " + fmt_g(r["se"])
        if layout == "pvalue":
            return (start + " " + fmt_f(r["df"], ".1f", 8) + " " + fmt_f(r["t"], ".2f", 8)
                    + "   " + fmt_f(r["p"], ".3f", 5))
        if layout == "ci":
            return (start + " " + fmt_f(r["df"], ".1f", 8) + "     " + fmt_g(r["ci_lower"])
                    + "   " + fmt_g(r["ci_upper"]))
        return (start + " " + fmt_f(r["t"], ".2f", 8) + "   " + fmt_f(r["p"], ".3f", 5)
                + "    " + fmt_g(r["ci_lower"]) + "   " + fmt_g(r["ci_upper"]))

    shown = shown or (lambda group, levels: levels)    # factor levels by their labels
    group = ""
    for item in plan:
        if item[0] == "blank":
            out.append(" " * 13 + "|")
        elif item[0] == "head":
            group = item[1]
            out.append(f"{abbrev(item[1], 12):>12} |")
        elif item[0] == "row" and not item[3] and len(item[1]) > 12 and "#" in item[1]:
            first, rest = split_name(item[1])
            out.append(f"{first:>12} |")
            out.append(line(f"{abbrev(rest, 12):>12} |", item[2]))
        elif item[0] == "base":
            out.append(f"{abbrev(shown(group, item[1]), 11):>11}  |{'0':>11}  (base)")
        else:
            _, name, r, indent = item
            name = shown(group, name) if indent else name
            lab = f"{abbrev(name, 11):>11}  |" if indent else f"{abbrev(name, 12):>12} |"
            out.append(line(lab, r))
    out.append(rule)
    return out


def constraint_lines(fit, opts: set[str]) -> list[str]:
    """`` ( 1)  week = 6`` for every fixed-effects constraint (none under nocnsreport)."""
    cmap = fit.model.info.constraints
    if cmap is None or "nocnsreport" in opts:
        return []
    return [f" ({i + 1:2d})  {t}" for i, t in enumerate(cmap.text)]


def constrained_line(lab: str, r, fmt_g) -> str | None:
    """The row of a coefficient the constraints fix (se 0, no test), else None."""
    if r["se"] == 0 and not np.isfinite(r.get("p", np.nan)):
        return lab + "  " + fmt_g(r["coef"]) + "  (constrained)"
    return None
