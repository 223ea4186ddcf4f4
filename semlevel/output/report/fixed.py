"""The fixed-effects table: one renderer for every layout, driven by a column spec.

The layouts are Stata's: z tests (``P>|z|``) for large-sample inference; under
``dfmethod()`` t tests with ``dftable(default)``, the DF with t and p
(``dftable(pvalue)``) or the DF with the confidence interval (``dftable(ci)``). Factor
variables are grouped under their name with the base level shown as ``0  (base)``,
levels by their value labels (Stata's ``fvlabel``; ``nofvlabel`` shows the codes); a
coefficient that constraints fix prints ``(constrained)``; the constraints are listed
before the table (``nocnsreport`` hides them).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...io.labels import fit_value_labels
from ..terms import FV_PART, levels_display
from . import vce
from .cells import abbrev, display_options, f, g, level_text

__all__ = ["Column", "columns_of", "fixed_table", "fixed_plan", "constraint_lines",
           "split_term"]


@dataclass(frozen=True)
class Column:
    """One column of the table: its heading (with the spacing before it) and its cell
    (with the spacing before it) of a row of ``fit.fixed``."""

    heading: str
    cell: Callable[[object], str]


def _ci_cells(gap: str) -> Callable[[object], str]:
    return lambda r: gap + g(r["ci_lower"]) + "   " + g(r["ci_upper"])


def columns_of(fit) -> tuple[list[Column], int]:
    """The columns after Coefficient and Std. err. for the fit's inference and layout,
    and the table's width (Stata's: 78, or 65 for ``dftable(pvalue)``)."""
    ci = f"[{level_text(fit.level)} conf. interval]"
    if getattr(fit, "small_sample", None) is None:
        stat, layout = "z", "default"
    else:
        stat, layout = "t", str(fit.model.info.dftable or "default")
    test = Column(f"      {stat}", lambda r: " " + f(r[stat], ".2f", 8))
    p = Column(f"    P>|{stat}|", lambda r: "   " + f(r["p"], ".3f", 5))
    df = Column("       df", lambda r: " " + f(r["df"], ".1f", 8))
    if layout == "pvalue":
        return [df, Column(f"        {stat}", test.cell), p], 65
    if layout == "ci":
        return [df, Column(f"  {ci:>27}", _ci_cells("     "))], 78
    return [test, p, Column(f"{ci:>25}", _ci_cells("    "))], 78


_LEAD = [Column(" Coefficient", lambda r: "  " + g(r["coef"])),
         Column("  Std. err.", lambda r: "  " + g(r["se"]))]


def fixed_table(fit) -> list[str]:
    """The table's lines, with the cluster note and the robust heading where they apply."""
    cols, width = columns_of(fit)
    cols = _LEAD + cols
    depvar = abbrev(getattr(fit.model, "outcome", "") or "", 12)
    heading = f"{depvar:>12} |" + "".join(c.heading for c in cols)
    rule = "-" * width

    def line(lab: str, r) -> str:
        if r["se"] == 0 and not np.isfinite(r["p"]):       # fixed by a constraint
            return lab + "  " + g(r["coef"]) + "  (constrained)"
        return lab + "".join(c.cell(r) for c in cols)

    shown = _level_names(fit)
    out = [*vce.cluster_note(fit), rule, *vce.robust_header(fit, heading, 13),
           "-" * 13 + "+" + "-" * (width - 14)]
    group = ""
    for item in fixed_plan(fit):
        if item[0] == "blank":
            out.append(" " * 13 + "|")
        elif item[0] == "head":
            group = item[1]
            out.append(f"{abbrev(item[1], 12):>12} |")
        elif item[0] == "row" and not item[3] and len(item[1]) > 12 and "#" in item[1]:
            first, rest = _split_name(item[1])
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


# --------------------------------------------------------------------------- the plan

def split_term(label: str):
    """``"2.drug"`` -> ("drug", "2", False); ``"1b.a#2.b"`` -> ("a#b", "1 2", True);
    ``"c.age#c.age"`` / ``"week"`` -> (label, None, False)."""
    parts = str(label).split("#")
    names, levels, base = [], [], False
    for part in parts:
        m = FV_PART.match(part)
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


def fixed_plan(fit) -> list[tuple]:
    """Display plan of the fixed table: ("blank",), ("head", name), ("row", name, values,
    indent) and ("base", name)."""
    bases: dict[str, list[str]] = {}
    for lab in fit.model.info.fixed_base or []:
        group, levels, _ = split_term(lab)
        if levels is not None:
            bases.setdefault(group, []).append(levels)

    # consecutive runs of one factor group
    runs: list[tuple[str | None, list]] = []
    for term, r in fit.fixed.iterrows():
        group, levels, _ = split_term(term)
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
                except ValueError:          # levels that are not integers: as they came
                    pass
            plan.append(("head", group))
            for lv, r in rows:
                plan.append(("base", lv) if r is None else ("row", lv, r, True))
        if boxed and i < len(runs) - 1:
            plan.append(("blank",))
    return plan


def _level_names(fit):
    """Factor levels as the table shows them: by their value labels (Stata's ``fvlabel``
    default; ``nofvlabel`` shows the codes), see :mod:`semlevel.io.labels`."""
    labels = {} if "nofvlabel" in display_options(fit) else fit_value_labels(fit)
    return lambda group, levels: levels_display(group, levels, labels) or levels


def _split_name(name: str) -> tuple[str, str]:
    """A long interaction name over two lines, as Stata does: ``c.unemp#`` / ``c.unemp``."""
    cut = name.rfind("#", 0, 12)
    if cut < 0:
        cut = name.find("#")
    return abbrev(name[: cut + 1], 12), name[cut + 1:]
