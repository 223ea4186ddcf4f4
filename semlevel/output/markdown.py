"""A fit as Markdown (``Fit.to_markdown()``): a key/value header and pipe tables."""
from __future__ import annotations

import re

from ..escape import markdown_code, markdown_text, one_line
from ..io.labels import fit_value_labels
from .numbers import RANDOM_COLUMNS, fixed_columns, headline, level_text, num
from .records import random_blocks
from .terms import term_value_label

__all__ = ["fit_to_markdown", "markdown_table"]


def markdown_table(header: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
    """Lines of a pipe table; ``align`` holds ``"l"`` or ``"r"`` per column. Cells are
    Markdown already (escape user text with :mod:`semlevel.escape` first); a ``|`` or a
    line break left in a cell is escaped here, so the table keeps its columns."""
    out = ["| " + " | ".join(_cell(h) for h in header) + " |",
           "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def _cell(s) -> str:
    """A cell on one line with no unescaped ``|``."""
    return re.sub(r"(?<!\\)\|", r"\\|", one_line(s))


def fit_to_markdown(fit, model: str | None = None, data: str | None = None) -> str:
    """The fit as Markdown: header facts, groups, fixed and random tables, LR test."""
    if model is None:
        model = (getattr(fit.spec, "extra", None) or {}).get("text")
    title = "Mixed-effects " + ("REML" if fit.reml else "ML") + " regression"
    lines = [f"## {title}", ""]
    head = [(k, markdown_code(v) if k == "Model" else markdown_text(v))
            for k, v in headline(fit, model)]
    if data:
        head.insert(1 if model else 0, ("Data", markdown_text(data)))
    lines += [f"- **{k}:** {v}" for k, v in head]
    lines.append("")

    g = fit.group_summary()
    lines += ["### Groups", ""]
    lines += markdown_table(["Level", "Groups", "Min obs", "Avg obs", "Max obs"],
                            [[markdown_text(lv), str(int(r["groups"])), str(int(r["min"])),
                              num(r["avg"], ".1f"), str(int(r["max"]))]
                             for lv, r in g.iterrows()],
                            ["l", "r", "r", "r", "r"])
    lines.append("")

    cols = fixed_columns(fit)
    ci = level_text(fit.level)
    labels = fit_value_labels(fit)
    lines += [f"### Fixed effects ({markdown_text(fit.model.data.outcome)})", ""]
    header = ["Term"] + [c[1].replace("CI", ci + " CI") for c in cols]
    rows = []
    for term, r in fit.fixed.iterrows():
        shown = term_value_label(str(term), labels)
        name = markdown_code(term) + (f" ({markdown_text(shown)})" if shown else "")
        rows.append([name] + [num(r[c], f) for c, _, f in cols])
    lines += markdown_table(header, rows, ["l"] + ["r"] * len(cols))
    lines.append("")

    lines += ["### Random-effects parameters", ""]
    blocks = random_blocks(fit)
    header = ["Parameter", "Block"] + [c[1].replace("CI", ci + " CI") for c in RANDOM_COLUMNS]
    rows = []
    for lab, r in fit.random.iterrows():
        cells = [num(r[c], f) for c, _, f in RANDOM_COLUMNS]
        name = markdown_code(lab) + (" (boundary)" if lab in fit.boundary else "")
        rows.append([name, markdown_text(blocks.get(str(lab), ""))] + cells)
    lines += markdown_table(header, rows, ["l", "l"] + ["r"] * len(RANDOM_COLUMNS))
    lr = _lr(fit)
    if lr:
        lines += ["", f"LR test vs. linear model: {lr['kind']} = {num(lr['statistic'], '.2f')}, "
                      f"Prob > chi2 = {num(lr['p'], '.4f')}"]
        if lr.get("note"):
            lines.append(f"({lr['note']})")
    return "\n".join(lines) + "\n"


def _lr(fit) -> dict | None:
    try:
        return dict(fit.lr_linear)
    except (AttributeError, KeyError, ValueError, TypeError):
        return None
