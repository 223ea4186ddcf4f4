"""Escaping of user text (variable names, value labels, level names, file names, model
strings, diagram options) for every output format: one function per format, used by every
writer of that format (docs/security.md).

Text a user or a data file supplies may hold any character. Each function here returns
text that, embedded where its name says, reads as that text and nothing more: it cannot
end a LaTeX comment, add a Markdown table cell, close a DOT string or inject XML.
Control characters (NUL, bell, ...) are shown as their Unicode control pictures
(U+2400 + code: ``\\x07`` -> ``␇``) so that they are visible rather than dropped.

This module imports nothing from semlevel: every layer may use it.
"""
from __future__ import annotations

import re

__all__ = ["visible", "one_line", "latex_text", "latex_comment", "markdown_text",
           "markdown_code", "dot_text", "xml_text", "safe_fontname", "CSV_OPTIONS"]

#: keyword arguments of every ``DataFrame.to_csv`` semlevel calls. RFC 4180's CRLF line
#: ends: Python's csv writer quotes a field only when it holds a character of the line
#: terminator, so with ``"\n"`` a lone carriage return in a label would end the row.
CSV_OPTIONS = {"lineterminator": "\r\n"}

# C0 controls but tab/newline/CR, DEL, C1 controls, and Unicode line/paragraph separators
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_BREAKS = re.compile(r"\r\n|[\r\n]")


def _picture(m: re.Match) -> str:
    c = ord(m.group(0))
    if c < 0x20:
        return chr(0x2400 + c)
    if c == 0x7F:
        return "\u2421"
    return "\ufffd"


def visible(text) -> str:
    """``text`` with control characters (but tab, newline and CR) made visible."""
    return _CONTROL.sub(_picture, str(text))


def one_line(text) -> str:
    """``text`` on one line: line breaks become ``⏎``, tabs spaces, control characters
    visible; what ``str.splitlines`` splits on never remains."""
    return _BREAKS.sub("\u23ce", visible(text)).replace("\t", " ")


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
          "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
          "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
          "|": r"\textbar{}", "\u23ce": " ", "\t": " "}


def latex_text(text) -> str:
    """``text`` for a LaTeX document (table cell, node text): special characters
    escaped, on one line."""
    return "".join(_LATEX.get(ch, ch) for ch in one_line(text))


def latex_comment(text) -> str:
    """``text`` for the rest of a ``%`` comment line: it cannot end the line."""
    return one_line(text)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def markdown_text(text) -> str:
    """``text`` for Markdown prose or a pipe-table cell: Markdown and HTML specials
    escaped, one line (a cell cannot be split, a table cannot gain a column)."""
    s = one_line(text)
    s = "".join(_HTML.get(ch, ch) for ch in s)
    return _MD_SPECIAL.sub(r"\\\1", s)


def markdown_code(text) -> str:
    """``text`` as inline code in Markdown, safe in a pipe-table cell: a code span
    whose fence is longer than any run of backticks in ``text``; ``|`` escaped (GFM
    splits cells at ``|`` even inside code)."""
    s = one_line(text).replace("|", "\\|")
    run = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (run + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def dot_text(text) -> str:
    """``text`` inside a double-quoted DOT string (a label): backslash and quote
    escaped, a newline a DOT line break (``\\n``), an ``&`` that could start an entity
    written as ``&amp;`` (Graphviz copies an ``&name;`` into SVG as is), control characters
    visible; line breaks at either end are dropped (the WebAssembly Graphviz traps on an
    edge label that starts with one). ``html.unescape`` of Graphviz's label gives the
    text back."""
    s = visible(text).strip("\r\n").replace("\\", "\\\\").replace('"', '\\"')
    s = re.sub(r"&(?=[#A-Za-z])", "&amp;", s)
    return _BREAKS.sub("\\\\n", s).replace("\t", " ")


def xml_text(text) -> str:
    """``text`` for XML/HTML character data or a quoted attribute value."""
    s = visible(text)
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


_FONT = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ,._+-]{0,79}\Z")


def safe_fontname(name) -> str:
    """A font name as Graphviz and SVG take it: letters, digits, spaces and ``,._+-``
    (``"Helvetica"``, ``"Times-Roman"``, ``"DejaVu Sans"``); anything else is refused,
    since Graphviz copies it unescaped into the SVG's ``font-family`` attribute."""
    if not isinstance(name, str) or not _FONT.match(name):
        raise ValueError(f"fontname={name!r}: a font name has letters, digits, spaces and "
                         "',._+-' only (at most 80 characters), e.g. 'Helvetica'")
    return name
