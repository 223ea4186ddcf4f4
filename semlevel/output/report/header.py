"""The report's header: title and number of observations, the group information, the
model test (``Wald chi2``, or ``F`` with the ``dfmethod()`` DF summary) and the log
likelihood; the note on rows the sample dropped."""
from __future__ import annotations

from . import vce
from .cells import abbrev, f, g, hline, integer, wrap

__all__ = ["header", "sample_note"]


def header(fit, opts: set[str]) -> list[str]:
    title = vce.title(fit, f"Mixed-effects {'REML' if fit.reml else 'ML'} regression")
    lines = hline(title, "Number of obs", integer(fit.n_obs))
    groups = None if "nogroup" in opts else fit.group_summary()
    if groups is not None and len(groups) == 1:
        name, r = groups.index[0], groups.iloc[0]
        lines += hline(f"Group variable: {name}", "Number of groups", integer(r["groups"]))
        lines += ["", " " * 48 + "Obs per group:"]
        for stat, val in (("min", integer(r["min"])), ("avg", f"{float(r['avg']):,.1f}"),
                          ("max", integer(r["max"]))):
            lines.append(" " * 62 + f"{stat} = {val:>10}")
    elif groups is not None and len(groups) > 1:
        lines += [""] + _group_table(groups)
    if getattr(fit, "small_sample", None) is not None:
        return lines + _small_sample_lines(fit)
    lines.append("")
    chi2, df, p = fit.wald
    lines += hline("", f"Wald chi2({int(df)})", f(chi2, ".2f", 10, blank=False).strip())
    ll_name = vce.loglik_name(fit, "Log restricted-likelihood" if fit.reml else
                              "Log likelihood")
    left = f"{ll_name} = {g(fit.loglik, 10, blank=False)}"
    lines += hline(left, "Prob > chi2", f(p, ".4f", 10, blank=False).strip())
    return lines


def _small_sample_lines(fit) -> list[str]:
    """Under ``dfmethod()``: ``DF method: ...`` with the DF's min/avg/max, and the model
    ``F(l, ddf)`` test with ``Prob > F`` (the chi2 test when an exact method's DF differ
    among the coefficients, as the manual says)."""
    ss = fit.small_sample
    lo, avg, hi = ss.df_summary
    lines = hline(f"DF method: {ss.method.title}", "DF:           min",
                  f(lo, ".2f", 10, blank=False).strip())
    for name, v in (("avg", avg), ("max", hi)):
        lines.append(" " * 62 + f"{name} = {f(v, '.2f', 10, blank=False)}")
    lines.append("")
    test = ss.model_test
    ll_name = "Log restricted-likelihood" if fit.reml else "Log likelihood"
    left = f"{ll_name} = {g(fit.loglik, 10, blank=False)}"
    if test is None:
        return lines + [left]
    name, p_name = (f"F({test.df}, {test.ddf:.2f})", "Prob > F") if test.kind == "F" \
        else (f"Wald chi2({test.df})", "Prob > chi2")
    lines += hline("", name, f(test.statistic, ".2f", 10, blank=False).strip())
    lines += hline(left, p_name, f(test.p, ".4f", 10, blank=False).strip())
    return lines


def _group_table(groups) -> list[str]:
    """Stata's *Grouping information* table (several levels)."""
    rule = "-" * 61
    out = [rule,
           " " * 16 + "|     No. of       Observations per group",
           " Group variable |     groups    Minimum    Average    Maximum",
           "-" * 16 + "+" + "-" * 44]
    for name, r in groups.iterrows():
        out.append(f"{abbrev(name, 15):>15} |{integer(r['groups']):>11}"
                   f"{integer(r['min']):>11}{float(r['avg']):>11,.1f}{integer(r['max']):>11}")
    out.append(rule)
    return out


def sample_note(fit) -> list[str]:
    """Rows of the input data not used, and why (only when some were dropped)."""
    sample = getattr(getattr(fit.model, "data", None), "sample", None)
    if sample is None or (not sample.dropped and sample.n_used >= sample.n_input):
        return []
    return wrap(f"Note: {sample.describe()}", "      ")
