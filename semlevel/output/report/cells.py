"""The cells of Stata's 78-column report: numbers in its display formats, abbreviated
names, wrapped notes and the ``label = value`` header lines."""
from __future__ import annotations

import textwrap

from ..numbers import is_missing, stata_g

__all__ = ["WIDTH", "RULE", "g", "f", "abbrev", "block_lines", "integer", "level_text",
           "wrap", "hline", "display_options"]

WIDTH = 78          # Stata's table width
RULE = "-" * WIDTH


def g(x, width: int = 9, blank: bool = True) -> str:
    """``stata_g`` right-aligned in ``width`` columns; missing values blank (or ``.``)."""
    if is_missing(x):
        return ("" if blank else ".").rjust(width)
    return stata_g(x, width).rjust(width)


def f(x, fmt: str, width: int, blank: bool = True) -> str:
    """Fixed format (``%8.2f`` ...) right-aligned; falls back to ``%g`` when too wide."""
    if is_missing(x):
        return ("" if blank else ".").rjust(width)
    s = format(float(x), fmt)
    if len(s) > width:
        s = stata_g(x, width)
    return s.rjust(width)


def abbrev(name: str, width: int) -> str:
    """Stata-style abbreviation of a too-long name: ``verylongvar~e``."""
    name = str(name)
    if len(name) <= width:
        return name
    if width < 3:
        return name[:width]
    return name[: width - 2] + "~" + name[-1]


def block_lines(block: str, width: int) -> list[str]:
    """A random-effects block title on lines of ``width``, broken after a comma (Stata
    prints ``Residual: Independent,`` then ``    by week``); a single word too long for a
    line is abbreviated."""
    if len(block) <= width:
        return [block]
    head, sep, rest = block.rpartition(", ")
    if sep and len(head) + 1 <= width:
        return [head + ","] + [abbrev("    " + rest.strip(), width)]
    return [abbrev(block, width)]


def integer(n) -> str:
    """A count with thousands separators (``.`` when missing)."""
    return "." if is_missing(n) else f"{int(round(float(n))):,}"


def level_text(level: float) -> str:
    return f"{float(level):g}%"


def wrap(text: str, indent: str = "         ") -> list[str]:
    return textwrap.wrap(text, WIDTH, subsequent_indent=indent, break_long_words=True,
                         break_on_hyphens=False) or [""]


def hline(left: str, label: str, value: str) -> list[str]:
    """A header line: free text on the left, ``label = value`` from column 49."""
    right = f"{label:<18}= {value:>10}"
    if len(left) > 47:
        return [left, " " * 48 + right]
    return [f"{left:<48}{right}"]


def display_options(fit) -> set[str]:
    """The display options the parser recorded (``noheader``, ``nofvlabel``, ...)."""
    extra = getattr(fit.spec, "extra", None) or {}
    return set(extra.get("display", []) or [])
