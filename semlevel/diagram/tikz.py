"""LaTeX/TikZ export of a diagram, from the same positioned layout as the SVG.

Coordinates are Graphviz points (1/72 in), so the picture has the size of the SVG; text
uses the document's font at ``\\small`` (nodes) and ``\\scriptsize`` (edge labels).
Needs ``\\usetikzlibrary{arrows.meta}``.
"""
from __future__ import annotations

import html
import re

from .. import escape
from .layout import _parse_pos, position

__all__ = ["to_tikz", "latex_text", "tikz_document_header", "PREAMBLE"]

# characters of diagram labels that need math or a text symbol in LaTeX; everything else
# goes through semlevel.escape.latex_text
_SYMBOLS = {"ε": r"$\varepsilon$", "×": r"$\times$", "†": r"\dag{}", "‡": r"\ddag{}",
            "§": r"\S{}", "¶": r"\P{}", "‖": r"$\|$", "–": "--"}


def _dot_lines(text: str) -> list[str]:
    """A DOT label string split at its line breaks (``\\n``, ``\\l``, ``\\r``), with
    DOT's escapes (``\\\\``, ``\\"``) and the entities of
    :func:`semlevel.escape.dot_text` undone."""
    lines, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in "nlr":
                lines.append("".join(cur))
                cur = []
            else:
                cur.append(nxt)
            i += 2
            continue
        cur.append(ch)
        i += 1
    if cur:
        lines.append("".join(cur))
    return [html.unescape(line) for line in lines]


def _line_latex(line: str) -> str:
    return "".join(_SYMBOLS.get(c) or escape.latex_text(c) for c in line)


def latex_text(text: str, sub: str = "") -> str:
    """DOT label text -> LaTeX (lines split at ``\\n``/``\\l`` become ``\\\\``); ``sub``:
    the slot suffix the first line ends with, written as a subscript (``y\\textsubscript{12}``,
    ``weight\\textsubscript{i}``)."""
    lines = _dot_lines(text)
    out = []
    for k, line in enumerate(lines):
        if k == 0 and sub and line.endswith(sub) and len(line) > len(sub):
            out.append(_line_latex(line[:-len(sub)]) + r"\textsubscript{" + _line_latex(sub)
                       + "}")
        else:
            out.append(_line_latex(line))
    return r"\\".join(out)


def _pt(p) -> str:
    return f"({p[0]:.2f},{p[1]:.2f})"


#: what a document needs for :func:`to_tikz`'s picture (Latex arrow tips; ellipses,
#: diamonds and triangles)
PREAMBLE = ("\\usepackage{tikz}\n"
            "\\usetikzlibrary{arrows.meta, shapes.geometric}\n")


def tikz_document_header() -> str:
    """The comment lines a ``.tex`` file of :func:`to_tikz` starts with: the packages
    and TikZ libraries it needs in the preamble."""
    return ("% semlevel path diagram (TikZ). In the preamble:\n"
            + "".join(f"%   {line}\n" for line in PREAMBLE.splitlines()))


def to_tikz(diagram) -> str:
    """The figure of ``diagram`` as a ``tikzpicture`` environment."""
    j = position(diagram).layout
    tables = getattr(diagram, "tables", None)
    subs = {}
    if tables is not None and "sub" in tables.nodes:
        subs = {i: sb for i, sb in zip(tables.nodes["id"], tables.nodes["sub"])
                if isinstance(sb, str) and sb}
    objects = j.get("objects", [])
    out = [r"\begin{tikzpicture}[x=1pt, y=1pt, >={Latex[length=4pt]},",
           r"  every node/.style={font=\small, inner sep=1pt}]"]
    for o in objects:
        if "pos" not in o or "nodes" in o or "invis" in o.get("style", ""):
            continue
        x, y = (float(v) for v in o["pos"].split(",")[:2])
        w, h = float(o.get("width", 0.75)) * 72, float(o.get("height", 0.5)) * 72
        shape = o.get("shape", "ellipse")
        label = latex_text(o.get("label", ""), subs.get(o.get("name"), ""))
        size = f"minimum width={w:.1f}pt, minimum height={h:.1f}pt"
        if shape == "box":
            style = f"draw, rectangle, align=center, {size}"
        elif shape in ("ellipse", "circle"):
            style = f"draw, ellipse, align=center, {size}"
        elif shape == "diamond":
            style = f"draw, diamond, aspect=2, font=\\scriptsize, {size}"
        elif shape == "point":
            style, label = "circle, fill, inner sep=1.6pt", ""
        elif shape == "triangle":
            style = f"draw, regular polygon, regular polygon sides=3, {size}"
        elif o.get("class") == "note":
            style, label = (f"align=left, font=\\scriptsize, text width={w:.1f}pt",
                            latex_text(o.get("label", "")))
        else:
            style = "align=center"
        out.append(f"  \\node[{style}] ({_tikz_id(o['name'])}) at ({x:.2f},{y:.2f}) {{{label}}};")
    for e in j.get("edges", []):
        if "pos" not in e or "invis" in e.get("style", ""):
            continue
        s, t, pts = _parse_pos(e["pos"])
        if not pts:
            continue
        dirn = e.get("dir", "forward")
        arrow_s = s is not None or dirn in ("back", "both")
        arrow_e = t is not None or dirn in ("forward", "both")
        if e.get("arrowhead") == "none" and dirn == "forward":
            arrow_e = False
        tip = ("<" if arrow_s else "") + "-" + (">" if arrow_e else "")
        style = [tip] + (["dashed"] if "dashed" in e.get("style", "") else [])
        path = []
        if s is not None:
            path.append(_pt(s) + " -- ")
        path.append(_pt(pts[0]))
        for i in range(1, len(pts) - 2, 3):
            path.append(f" .. controls {_pt(pts[i])} and {_pt(pts[i + 1])} .. {_pt(pts[i + 2])}")
        if t is not None:
            path.append(" -- " + _pt(t))
        out.append(f"  \\draw[{', '.join(style)}] {''.join(path)};")
        if "lp" in e and e.get("label"):
            x, y = (float(v) for v in e["lp"].split(",")[:2])
            out.append(f"  \\node[font=\\scriptsize] at ({x:.2f},{y:.2f}) "
                       f"{{{latex_text(e['label'])}}};")
    out.append(r"\end{tikzpicture}")
    return "\n".join(out) + "\n"


def _tikz_id(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_-]", "-", name)
