"""Arithmetic expressions of variables (weight expressions such as ``w1/w2``): parsed here
into a small tree, never handed to Python's ``eval``.

The grammar is exactly::

    expr   := term (('+' | '-') term)*
    term   := factor (('*' | '/') factor)*
    factor := ('+' | '-') factor | NUMBER | NAME | '(' expr ')'

``NAME`` is a Stata variable name (letters, digits, ``_``; not starting with a digit) and
``NUMBER`` a decimal literal (``2``, ``.5``, ``1e-3``). Nothing else is accepted: a ``.``
after a name (attribute access), a call ``f(x)``, ``**``, a string, a comma or any other
character is refused with an error naming the offending text and its position. The tree is
evaluated by :func:`evaluate` with numpy on columns the caller supplies, so user text is
never executed as code (docs/security.md).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["ExpressionError", "Expression", "Number", "Name", "Unary", "Binary",
           "parse_expression", "names", "evaluate", "MAX_EXPRESSION_LENGTH"]

#: longest expression accepted (a weight is a column or a short ratio of columns)
MAX_EXPRESSION_LENGTH = 500
_MAX_DEPTH = 50

_TOKEN = re.compile(r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/()]))")


class ExpressionError(ValueError):
    """An expression that is not arithmetic of variable names and numbers."""


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Unary:
    op: str                 # "+" | "-"
    operand: "Expression"


@dataclass(frozen=True)
class Binary:
    op: str                 # "+" | "-" | "*" | "/"
    left: "Expression"
    right: "Expression"


Expression = Number | Name | Unary | Binary


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    n = len(text)
    while pos < n:
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None:
            start = pos + (len(text[pos:]) - len(text[pos:].lstrip()))
            raise ExpressionError(
                f"invalid expression {text!r}: {text[start:start + 10]!r} at position "
                f"{start} is not allowed (use variable names, numbers, + - * / and "
                "parentheses)")
        kind = m.lastgroup or ""
        start = m.start(kind)
        out.append((kind, m.group(kind), start))
        pos = m.end()
        if kind == "number" and pos < n and (text[pos].isalpha() or text[pos] in "_."):
            raise ExpressionError(f"invalid expression {text!r}: a number at position {start} "
                                  f"is followed by {text[pos]!r}")
        if kind == "name" and pos < n and text[pos] == ".":
            raise ExpressionError(f"invalid expression {text!r}: '.' after {m.group(kind)!r} at "
                                  f"position {pos} is not allowed (no attribute access)")
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def fail(self, what: str) -> ExpressionError:
        tok = self.peek()
        where = f"{tok[1]!r} at position {tok[2]}" if tok else "the end"
        return ExpressionError(f"invalid expression {self.text!r}: {what} at {where}")

    def expr(self) -> Expression:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise ExpressionError(f"invalid expression {self.text[:40]!r}...: nested more "
                                  f"than {_MAX_DEPTH} deep")
        node = self.term()
        while (tok := self.peek()) is not None and tok[1] in "+-" and tok[0] == "op":
            self.i += 1
            node = Binary(tok[1], node, self.term())
        self.depth -= 1
        return node

    def term(self) -> Expression:
        node = self.factor()
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in "*/":
            self.i += 1
            nxt = self.peek()
            if nxt is not None and nxt[1] in "*/":
                raise self.fail("an operand expected")
            node = Binary(tok[1], node, self.factor())
        return node

    def factor(self) -> Expression:
        tok = self.peek()
        if tok is None:
            raise self.fail("an operand expected")
        kind, text, _ = tok
        if kind == "op" and text in "+-":
            self.i += 1
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise ExpressionError(f"invalid expression {self.text[:40]!r}...: nested "
                                      f"more than {_MAX_DEPTH} deep")
            out = Unary(text, self.factor())
            self.depth -= 1
            return out
        if kind == "number":
            self.i += 1
            return Number(float(text))
        if kind == "name":
            self.i += 1
            nxt = self.peek()
            if nxt is not None and nxt[1] == "(":
                raise self.fail(f"function calls are not allowed ({text}(...))")
            return Name(text)
        if text == "(":
            self.i += 1
            node = self.expr()
            if (tok := self.peek()) is None or tok[1] != ")":
                raise self.fail("')' expected")
            self.i += 1
            return node
        raise self.fail("an operand expected")


def parse_expression(text: str) -> Expression:
    """Parse ``text`` (arithmetic of variable names and numbers) into a tree; anything
    else raises :class:`ExpressionError` naming the offending part."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"expression of {len(text)} characters: at most "
                              f"{MAX_EXPRESSION_LENGTH} are accepted")
    if "\x00" in text:
        raise ExpressionError("invalid expression: it contains a NUL character")
    if not text.strip():
        raise ExpressionError("empty expression: give a variable name or arithmetic of "
                              "variables and numbers")
    p = _Parser(text)
    node = p.expr()
    if p.peek() is not None:
        raise p.fail("unexpected text")
    return node


def names(node: Expression) -> list[str]:
    """Variable names of ``node`` in order of first appearance."""
    out: list[str] = []

    def walk(n: Expression) -> None:
        if isinstance(n, Name):
            if n.name not in out:
                out.append(n.name)
        elif isinstance(n, Unary):
            walk(n.operand)
        elif isinstance(n, Binary):
            walk(n.left)
            walk(n.right)

    walk(node)
    return out


_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide}


def evaluate(node: Expression, columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """Value of ``node`` on ``n`` rows, each name taken from ``columns`` (float arrays).
    Division by zero gives inf/nan (the caller checks finiteness), never a warning."""
    def ev(x: Expression) -> np.ndarray:
        if isinstance(x, Number):
            return np.full(n, x.value)
        if isinstance(x, Name):
            return np.asarray(columns[x.name], dtype=float)
        if isinstance(x, Unary):
            v = ev(x.operand)
            return -v if x.op == "-" else v
        return _BINARY[x.op](ev(x.left), ev(x.right))

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.broadcast_to(ev(node), (n,)).astype(float)
