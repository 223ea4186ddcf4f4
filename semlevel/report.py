"""The Stata-like text report of a fitted `mixed` model (what ``Fit.summary()`` returns).

The layout is Stata's own (78 columns, ``|`` separators, ``----+----`` rules):

* header: title and ``Number of obs``, group information (one level: ``Group
  variable``/``Number of groups``/``Obs per group``; several: the *Grouping information*
  table), ``Wald chi2``/``Prob > chi2`` and the log (restricted) likelihood;
* fixed-effects table (factor variables grouped under their name, base levels shown as
  ``0  (base)``);
* random-effects table, one section per covariance block, ``var(Residual)`` last;
* LR test versus the linear model, and warnings (non-convergence, boundary variances).

Numbers follow Stata's display formats, see :func:`stata_g`. Display options recorded by
the parser (``noheader``, ``nogroup``, ``nofetable``, ``noretable``, ``nolrtest``) are
honoured.
"""
from __future__ import annotations

import re
import textwrap

from . import report_vce
from .output.numbers import is_missing as _missing
from .output.numbers import stata_g

__all__ = ["stata_g", "stata_report", "replay"]

WIDTH = 78          # Stata's table width
_RULE = "-" * WIDTH


# --------------------------------------------------------------------------- numbers


def _g(x, width: int = 9, blank: bool = True) -> str:
    """``stata_g`` right-aligned in ``width`` columns; missing values blank (or ``.``)."""
    if _missing(x):
        return ("" if blank else ".").rjust(width)
    return stata_g(x, width).rjust(width)


def _f(x, fmt: str, width: int, blank: bool = True) -> str:
    """Fixed format (``%8.2f`` ...) right-aligned; falls back to ``%g`` when too wide."""
    if _missing(x):
        return ("" if blank else ".").rjust(width)
    s = format(float(x), fmt)
    if len(s) > width:
        s = stata_g(x, width)
    return s.rjust(width)


def _abbrev(name: str, width: int) -> str:
    """Stata-style abbreviation of a too-long name: ``verylongvar~e``."""
    name = str(name)
    if len(name) <= width:
        return name
    if width < 3:
        return name[:width]
    return name[: width - 2] + "~" + name[-1]


def _block_lines(block: str, width: int) -> list[str]:
    """A random-effects block title on lines of ``width``, broken after a comma (Stata
    prints ``Residual: Independent,`` then ``    by week``); a single word too long for a
    line is abbreviated."""
    if len(block) <= width:
        return [block]
    head, sep, rest = block.rpartition(", ")
    if sep and len(head) + 1 <= width:
        return [head + ","] + [_abbrev("    " + rest.strip(), width)]
    return [_abbrev(block, width)]


def _int(n) -> str:
    return "." if _missing(n) else f"{int(round(float(n))):,}"


def _level_text(level: float) -> str:
    return f"{float(level):g}%"


def _wrap(text: str, indent: str = "         ") -> list[str]:
    return textwrap.wrap(text, WIDTH, subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False) or [""]


# --------------------------------------------------------------------------- header


def _hline(left: str, label: str, value: str) -> list[str]:
    """A header line: free text on the left, ``label = value`` from column 49."""
    right = f"{label:<18}= {value:>10}"
    if len(left) > 47:
        return [left, " " * 48 + right]
    return [f"{left:<48}{right}"]


def _display(fit) -> set[str]:
    spec = fit.spec
    extra = getattr(spec, "extra", None) or {}
    return set(extra.get("display", []) or [])


def _header(fit, opts: set[str]) -> list[str]:
    title = report_vce.title(fit, f"Mixed-effects {'REML' if fit.reml else 'ML'} regression")
    lines = _hline(title, "Number of obs", _int(fit.n_obs))
    groups = None
    if "nogroup" not in opts:
        try:
            groups = fit.group_summary()
        except Exception:            # pragma: no cover - models without levels
            groups = None
    if groups is not None and len(groups) == 1:
        name, r = groups.index[0], groups.iloc[0]
        lines += _hline(f"Group variable: {name}", "Number of groups", _int(r["groups"]))
        lines += ["", " " * 48 + "Obs per group:"]
        for stat, val in (("min", _int(r["min"])), ("avg", f"{float(r['avg']):,.1f}"),
                          ("max", _int(r["max"]))):
            lines.append(" " * 62 + f"{stat} = {val:>10}")
    elif groups is not None and len(groups) > 1:
        lines += [""] + _group_table(groups)
    if getattr(fit, "small_sample", None) is not None:       # dfmethod(): report_df
        from .report_df import small_header
        return lines + small_header(fit, _hline, _f, _g)
    lines.append("")
    chi2, df, p = fit.wald
    lines += _hline("", f"Wald chi2({int(df)})", _f(chi2, ".2f", 10, blank=False).strip())
    ll_name = report_vce.loglik_name(
        fit, "Log restricted-likelihood" if fit.reml else "Log likelihood")
    left = f"{ll_name} = {_g(fit.loglik, 10, blank=False)}"
    lines += _hline(left, "Prob > chi2", _f(p, ".4f", 10, blank=False).strip())
    return lines


def _group_table(groups) -> list[str]:
    """Stata's *Grouping information* table (several levels)."""
    rule = "-" * 61
    out = [rule,
           " " * 16 + "|     No. of       Observations per group",
           " Group variable |     groups    Minimum    Average    Maximum",
           "-" * 16 + "+" + "-" * 44]
    for name, r in groups.iterrows():
        out.append(f"{_abbrev(name, 15):>15} |{_int(r['groups']):>11}{_int(r['min']):>11}"
                   f"{float(r['avg']):>11,.1f}{_int(r['max']):>11}")
    out.append(rule)
    return out


def _sample_note(fit) -> list[str]:
    """Rows of the input data not used, and why (only when some were dropped)."""
    sample = getattr(getattr(fit.model, "data", None), "sample", None)
    if sample is None or (not sample.dropped and sample.n_used >= sample.n_input):
        return []
    return _wrap(f"Note: {sample.describe()}", "      ")


# --------------------------------------------------------------------------- fixed effects

_FV_PART = re.compile(r"^(\d+)(b|o|bn|e)?\.([A-Za-z_][A-Za-z0-9_]*)$")


def _split_term(label: str):
    """``"2.drug"`` -> ("drug", "2", False); ``"1b.a#2.b"`` -> ("a#b", "1 2", True);
    ``"c.age#c.age"`` / ``"week"`` -> (label, None, False)."""
    parts = str(label).split("#")
    names, levels, base = [], [], False
    for part in parts:
        m = _FV_PART.match(part)
        if m:
            levels.append(m.group(1))
            names.append(m.group(3))
            base = base or m.group(2) == "b"
        else:
            names.append(part)
    if not levels:
        return str(label), None, False
    return "#".join(names), " ".join(levels), base


def _level_key(levels: str):
    return tuple(int(v) for v in levels.split())


def _fixed_rows(fit) -> list[tuple]:
    """Display plan of the fixed table: ("blank",), ("head", name), ("row", name, values,
    indent) and ("base", name)."""
    fx = fit.fixed
    info = getattr(fit.model, "info", {}) or {}
    bases: dict[str, list[str]] = {}
    for lab in info.get("fixed_base", []) or []:
        group, levels, _ = _split_term(lab)
        if levels is not None:
            bases.setdefault(group, []).append(levels)

    # consecutive runs of one factor group
    runs: list[tuple[str | None, list]] = []
    for term, r in fx.iterrows():
        group, levels, _ = _split_term(term)
        if levels is None:
            runs.append((None, [(str(term), r)]))
        elif runs and runs[-1][0] == group:
            runs[-1][1].append((levels, r))
        else:
            runs.append((group, [(levels, r)]))

    plan: list[tuple] = []
    used_bases: set[str] = set()
    for i, (group, items) in enumerate(runs):
        boxed = group is not None or "#" in items[0][0]
        if boxed and plan and plan[-1] != ("blank",):
            plan.append(("blank",))
        if group is None:
            name, r = items[0]
            plan.append(("row", name, r, False))
        else:
            rows = [(lv, r) for lv, r in items]
            if group in bases and group not in used_bases:
                used_bases.add(group)
                have = {lv for lv, _ in rows}
                rows += [(lv, None) for lv in bases[group] if lv not in have]
                try:
                    rows.sort(key=lambda t: _level_key(t[0]))
                except ValueError:
                    pass
            plan.append(("head", group))
            for lv, r in rows:
                plan.append(("base", lv) if r is None else ("row", lv, r, True))
        if boxed and i < len(runs) - 1:
            plan.append(("blank",))
    return plan


def _fixed_table(fit) -> list[str]:
    if getattr(fit, "small_sample", None) is not None:       # dfmethod(): report_df
        from .report_df import small_fixed_table
        return small_fixed_table(fit, _fixed_rows(fit), _abbrev, _g, _f, _level_text,
                                 _split_name, _level_names(fit))
    depvar = _abbrev(getattr(fit.model, "outcome", "") or "", 12)
    ci = f"[{_level_text(fit.level)} conf. interval]"
    out = [*report_vce.cluster_note(fit), _RULE,
           *report_vce.robust_header(
               fit, f"{depvar:>12} | Coefficient  Std. err.      z    P>|z|{ci:>25}", 13),
           "-" * 13 + "+" + "-" * 64]
    shown = _level_names(fit)
    group = ""
    for item in _fixed_rows(fit):
        if item[0] == "blank":
            out.append(" " * 13 + "|")
        elif item[0] == "head":
            group = item[1]
            out.append(f"{_abbrev(item[1], 12):>12} |")
        elif item[0] == "row" and not item[3] and len(item[1]) > 12 and "#" in item[1]:
            first, rest = _split_name(item[1])
            out.append(f"{first:>12} |")
            out.append(_fixed_line(f"{_abbrev(rest, 12):>12} |", item[2]))
        elif item[0] == "base":
            out.append(f"{_abbrev(shown(group, item[1]), 11):>11}  |{'0':>11}  (base)")
        else:
            _, name, r, indent = item
            name = shown(group, name) if indent else name
            lab = f"{_abbrev(name, 11):>11}  |" if indent else f"{_abbrev(name, 12):>12} |"
            out.append(_fixed_line(lab, r))
    out.append(_RULE)
    return out


def _level_names(fit):
    """Factor levels as the table shows them: by their value labels (Stata's ``fvlabel``
    default; ``nofvlabel`` shows the codes), see :mod:`semlevel.io.labels`."""
    from .io.labels import fit_value_labels
    from .output.terms import levels_display

    labels = {} if "nofvlabel" in _display(fit) else fit_value_labels(fit)
    return lambda group, levels: levels_display(group, levels, labels) or levels


def _fixed_line(lab: str, r) -> str:
    from .report_df import constrained_line
    fixed_by_constraint = constrained_line(lab, r, _g)
    if fixed_by_constraint is not None:
        return fixed_by_constraint
    return (lab + "  " + _g(r["coef"]) + "  " + _g(r["se"]) + " " + _f(r["z"], ".2f", 8)
            + "   " + _f(r["p"], ".3f", 5) + "    " + _g(r["ci_lower"]) + "   "
            + _g(r["ci_upper"]))


def _split_name(name: str) -> tuple[str, str]:
    """A long interaction name over two lines, as Stata does: ``c.unemp#`` / ``c.unemp``."""
    cut = name.rfind("#", 0, 12)
    if cut < 0:
        cut = name.find("#")
    return _abbrev(name[: cut + 1], 12), name[cut + 1:]


# --------------------------------------------------------------------------- random effects


def _equation_of(fit, label: str):
    """The random-effects equation a variance-component label belongs to (or None);
    separates repeated-level equations that share a block title."""
    try:
        m = fit.model
        name = label.replace(": sd(", ": var(", 1).replace(": corr(", ": cov(", 1)
        j = m.labels.index.get_loc(name)
        rows = m.phi[m.phi["label"] == j]
        a = int(rows["a"].iloc[0])
        return int(m.latents["equation"].iloc[a])
    except Exception:
        return None


def _random_table(fit) -> list[str]:
    use_sd = bool(getattr(fit.spec, "stddeviations", False))
    tab = fit.random_sd if use_sd else fit.random_variance
    boundary = set(getattr(fit, "boundary", []) or [])
    ci = f"[{_level_text(fit.level)} conf. interval]"
    mid = "-" * 29 + "+" + "-" * 48
    out = [_RULE,
           *report_vce.robust_header(
               fit, f"{'Random-effects parameters':^29}|   Estimate   Std. err.{ci:>25}", 29),
           mid]
    sections: list[tuple] = []
    for label, r in tab.iterrows():
        block = str(r.get("block", "")) if "block" in tab.columns else ""
        key = (block, _equation_of(fit, str(label)) if block != "Residual" else None)
        if not sections or sections[-1][0] != key:
            sections.append((key, []))
        sections[-1][1].append((str(label), r))
    for s, ((block, _), rows) in enumerate(sections):
        if s:
            out.append(mid)
        residual = block == "Residual"
        if not residual and block:
            out.extend(f"{part:<29}|" for part in _block_lines(block, 28))
        for label, r in rows:
            shown = label.split(": ", 1)[1] if (": " in label and not residual) else label
            at_bound = bool(r.get("boundary", False)) if "boundary" in tab.columns else False
            var_name = label.replace("sd(", "var(", 1).replace("corr(", "cov(", 1)
            at_bound = at_bound or label in boundary or var_name in boundary
            line = f"{_abbrev(shown, 28):>28} |  " + _g(r["estimate"], blank=False)
            if at_bound:
                line += "  (boundary)"
            else:
                line += ("  " + _g(r["se"]) + "     " + _g(r["ci_lower"]) + "   "
                         + _g(r["ci_upper"]))
            out.append(line.rstrip())
    out.append(_RULE)
    return out


# --------------------------------------------------------------------------- tests, notes


def _lr_lines(fit) -> list[str]:
    lr = getattr(fit, "lr_linear", None)
    if not lr:
        return []
    kind = str(lr.get("kind", f"chi2({lr.get('df', '.')})"))
    stat = _f(lr.get("statistic"), ".2f", 8, blank=False).strip()
    p = _f(lr.get("p"), ".4f", 6, blank=False).strip()
    left = f"LR test vs. linear model: {kind} = {stat}"
    right = f"Prob >= {kind.split('(')[0]} = {p}" if kind.startswith("chibar2") \
        else f"Prob > {kind.split('(')[0]} = {p}"
    gap = WIDTH - len(left) - len(right)
    lines = [left + " " * gap + right] if gap >= 2 else [left, " " * (WIDTH - len(right))
                                                          + right]
    if lr.get("note"):
        lines += [""] + _wrap(f"Note: {lr['note']}", "      ")
    return lines


def _warnings(fit) -> list[str]:
    lines: list[str] = []
    if not fit.converged:
        lines += _wrap(f"Warning: convergence not achieved; {fit.optimization}", "         ")
    boundary = list(getattr(fit, "boundary", []) or [])
    if boundary:
        lines += _wrap("Warning: variance at the boundary (zero): " + ", ".join(boundary)
                       + " (its standard error and confidence interval are not shown)",
                       "         ")
    return lines


# --------------------------------------------------------------------------- report


def stata_report(fit) -> str:
    """The report of a fitted model, laid out as Stata's ``mixed`` output (78 columns)."""
    opts = _display(fit)
    blocks: list[list[str]] = []
    if "noheader" not in opts:
        blocks.append(_header(fit, opts))
    note = _sample_note(fit)
    if note:
        blocks.append(note)
    for text in (fit.model.info or {}).get("notes", []):
        blocks.append(_wrap(f"Note: {text}.", "      "))
    from .report_df import constraint_lines
    cns = constraint_lines(fit, opts)
    if cns:
        blocks.append(cns)
    if "nofetable" not in opts:
        blocks.append(_fixed_table(fit))
        if fit.se_convention == "full":
            blocks.append(["Note: standard errors of the fixed effects from the joint observed "
                           "information of the", "coefficients and the variance parameters "
                           "(se='full', as sem and lavaan)."])
    tail: list[str] = []
    if "noretable" not in opts:
        tail += _random_table(fit)
    if "nolrtest" not in opts:
        tail += _lr_lines(fit)
    if tail:
        blocks.append(tail)
    warn = _warnings(fit)
    if warn:
        blocks.append(warn)
    text = "\n\n".join("\n".join(b) for b in blocks)
    return "\n".join(line.rstrip() for line in text.split("\n")) + "\n"


def replay(fit, small: bool = True, dftable: str | None = None) -> str:
    """The report of ``fit`` with another ``dftable``, or (``small=False``) its
    large-sample results (z tests, Wald chi2), as Stata's replay of ``mixed``."""
    import dataclasses

    from .syntax.smallsample import parse_dftable
    info = dict(fit.model.info)
    if not small:
        info.pop("dfmethod", None)
        info.pop("dftable", None)
    elif dftable is not None:
        if info.get("dfmethod") is None:
            raise ValueError("dftable() requires a fit made with dfmethod()")
        info["dftable"] = parse_dftable(dftable)
    view = dataclasses.replace(fit, model=fit.model.with_labels(fit.model.labels, info=info))
    return stata_report(view)
