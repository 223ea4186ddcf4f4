"""Stata term names with value labels: ``2.drug`` -> ``Drug B`` (what ``fvlabel`` shows)."""
from __future__ import annotations

import re

from ..escape import one_line
from ..io.labels import ValueLabels, level_label

__all__ = ["term_value_label", "levels_display", "FV_PART"]

#: one factor part of a Stata term name: level, base/omitted mark, variable (``2b.drug``)
FV_PART = re.compile(r"^(\d+)(b|o|bn|e)?\.([A-Za-z_][A-Za-z0-9_]*)$")


def term_value_label(term: str, labels: ValueLabels) -> str | None:
    """The term with its factor levels replaced by their value labels (``2.drug#c.age``
    -> ``Drug B#c.age``); None when no level of it has a label."""
    if not labels:
        return None
    parts, hit = [], False
    for part in str(term).split("#"):
        m = FV_PART.match(part)
        lab = level_label(labels, m.group(3), m.group(1)) if m else None
        hit = hit or lab is not None
        parts.append(one_line(lab) if lab is not None else part)
    return "#".join(parts) if hit else None


def levels_display(group: str, levels: str, labels: ValueLabels) -> str | None:
    """A factor row of Stata's table (``group`` ``drug`` or ``a#b``, ``levels`` ``"2"`` or
    ``"1 2"``) by its value labels, joined by ``#`` as Stata does; None when unlabelled."""
    if not labels:
        return None
    names, codes = group.split("#"), levels.split()
    if len(names) != len(codes):
        return None
    shown = [level_label(labels, n, c) for n, c in zip(names, codes)]
    if all(s is None for s in shown):
        return None
    return "#".join(one_line(s) if s is not None else c for s, c in zip(shown, codes))
