"""Text of the diagram: display names of variables and parameters, numbers, notes."""
from __future__ import annotations

import math
import re
import textwrap
import unicodedata
from collections.abc import Mapping

import graphviz

from ..escape import dot_text

__all__ = ["fmt_number", "slot_suffix", "text_width", "stars_of", "EQUAL_SYMBOLS", "wrap_note"]

#: symbols that mark parameters constrained equal in the estimates view (in this order;
#: then doubled); typographic footnote marks every text font has
EQUAL_SYMBOLS = ("†", "‡", "§", "¶", "‖", "#")


#: significant digits of the default number format (at least two decimals)
SIGNIFICANT = 3


def fmt_number(x: float, digits: int | None = None, leading_zero: bool = True) -> str:
    """``x`` with ``digits`` decimals, or by default with three significant digits and at
    least two decimals (0.0013 prints ``0.0013``, 12.345 ``12.35``); ``-0.00`` printed as
    ``0.00``; ``.46`` without the leading zero when ``leading_zero`` is False; an
    undefined value (NaN) as an empty string."""
    if x is None or not math.isfinite(float(x)):
        return ""
    x = float(x)
    if digits is None:
        mag = math.floor(math.log10(abs(x))) if x != 0 else 0
        places = max(2, SIGNIFICANT - 1 - mag)
        s = f"{x:.{places}f}"
        if places > 2:                            # trailing zeros beyond two decimals
            s = s.rstrip("0")
            head, _, tail = s.partition(".")
            s = f"{head}.{tail.ljust(2, '0')}"
    else:
        s = f"{x:.{digits}f}"
    if s.startswith("-") and float(s) == 0.0:
        s = s[1:]
    if not leading_zero:
        s = re.sub(r"^(-?)0\.", r"\1.", s)
    return s


def stars_of(p: float, thresholds: tuple[float, ...]) -> str:
    """``*`` per threshold that ``p`` is below (thresholds from loosest to strictest)."""
    if p is None or not math.isfinite(float(p)):
        return ""
    return "*" * sum(1 for t in thresholds if p < t)


def slot_suffix(keys: Mapping, key_names: bool = False) -> str:
    """Display suffix of a slot: ``11`` for keys (1, 1) as the article writes y11,
    ``(10,2)`` when a key has more than one character."""
    vals = [str(k) for k in keys.keys()] if key_names else [str(v) for v in keys.values()]
    if not vals:
        return ""
    if all(len(v) == 1 for v in vals):
        return "".join(vals)
    return "(" + ",".join(vals) + ")"


# Helvetica advance widths (1/1000 em) of printable ASCII, from the standard AFM metrics;
# used to place labels before Graphviz has measured them (the check afterwards uses
# Graphviz's own measurements)
_HELV = [278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
         556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
         1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
         667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
         333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
         556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584]


def char_width(ch: str) -> float:
    """Advance width of one character in em (Helvetica-like; East Asian wide = 1 em)."""
    o = ord(ch)
    if 32 <= o < 127:
        return _HELV[o - 32] / 1000.0
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    if unicodedata.combining(ch):
        return 0.0
    return 0.62


def text_width(text: str, fontsize: float) -> float:
    """Width in points of the widest line of ``text`` (lines split at DOT's ``\\n``)."""
    lines = re.split(r"\\[nlr]|\n", text)
    return max((sum(char_width(c) for c in line) for line in lines), default=0.0) * fontsize


def n_lines(text: str) -> int:
    return len([1 for _ in re.split(r"\\[nlr]|\n", text.rstrip("\\n"))])


def has_wide(text: str) -> bool:
    return any(unicodedata.east_asian_width(c) in ("W", "F") for c in text)


def wrap_note(note: str, width_pt: float, fontsize: float) -> str:
    """A figure note wrapped to ``width_pt`` as left-aligned DOT lines."""
    chars = max(40, int(width_pt / (0.5 * fontsize)))
    lines = textwrap.wrap(note, chars)
    return graphviz.nohtml("".join(dot_text(line) + "\\l" for line in lines))
