"""Linear equations in coefficient names, parsed without ``eval``.

Used by Wald tests (``fit.test("2.drug = 3.drug")``) and by fixed-effects constraints
(``constraints=["week = 6"]``). Grammar::

    equation := expr ['=' expr ...]            (no '=': the expression equals 0)
    expr     := term (('+' | '-') term)*
    term     := factor (('*' | '/') factor)*
    factor   := ('+' | '-') factor | number | name | '_b[' name ']' | '(' expr ')'

A *name* is one of the coefficient labels given by the caller (``week``, ``_cons``,
``2.drug``, ``c.age#c.age``); the longest label that matches at a position wins, so
``2.drug`` is a name, not the number 2. Products of two names and division by a name
are not linear and are refused. ``a = b = c`` gives two equations (a = b, b = c), as
Stata's ``test`` does; a list of names without operators (``"2.drug 3.drug"``) is the
joint hypothesis that each is zero.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["LinearSyntaxError", "LinearForm", "parse_equations", "equations_matrix"]

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME_END = re.compile(r"[A-Za-z0-9_.#]")


class LinearSyntaxError(ValueError):
    """A hypothesis or constraint that is not a linear equation in known coefficients."""


@dataclass(frozen=True)
class LinearForm:
    """``sum_j coef[j] * b_j + const``."""

    coef: dict
    const: float = 0.0

    def scaled(self, s: float) -> "LinearForm":
        return LinearForm({k: v * s for k, v in self.coef.items()}, self.const * s)

    def plus(self, other: "LinearForm", sign: float = 1.0) -> "LinearForm":
        out = dict(self.coef)
        for k, v in other.coef.items():
            out[k] = out.get(k, 0.0) + sign * v
        return LinearForm(out, self.const + sign * other.const)

    @property
    def is_constant(self) -> bool:
        return all(v == 0 for v in self.coef.values())


class _Parser:
    def __init__(self, text: str, names: Sequence[str]):
        self.text = text
        self.names = sorted(set(names), key=len, reverse=True)
        self.tokens = self._tokenize()
        self.i = 0

    # ---- tokens: (kind, value, position)
    def _error(self, message: str, pos: int) -> LinearSyntaxError:
        return LinearSyntaxError(f"{message} at position {pos + 1} of {self.text!r}")

    def _name_at(self, pos: int) -> str | None:
        s = self.text
        for name in self.names:
            end = pos + len(name)
            if s.startswith(name, pos) and (end >= len(s) or not _NAME_END.match(s[end])):
                return name
        return None

    def _tokenize(self) -> list[tuple[str, object, int]]:
        s, i, out = self.text, 0, []
        while i < len(s):
            ch = s[i]
            if ch.isspace():
                i += 1
                continue
            if s.startswith("_b[", i):
                close = s.find("]", i)
                if close < 0:
                    raise self._error("unmatched '_b['", i)
                inner = s[i + 3:close].strip()
                if inner not in self.names:
                    raise self._error(f"unknown coefficient {inner!r} "
                                      f"(coefficients: {', '.join(sorted(self.names))})", i)
                out.append(("name", inner, i))
                i = close + 1
                continue
            name = self._name_at(i)
            if name is not None:
                out.append(("name", name, i))
                i += len(name)
                continue
            m = _NUMBER.match(s, i)
            if m and not (m.end() < len(s) and re.match(r"[A-Za-z_#]", s[m.end()])):
                out.append(("num", float(m.group(0)), i))
                i = m.end()
                continue
            if ch in "+-*/()=":
                out.append((ch, ch, i))
                i += 1
                continue
            word = re.match(r"[A-Za-z0-9_.#]+", s[i:])
            tok = word.group(0) if word else ch
            if word:
                import difflib
                close = difflib.get_close_matches(tok, self.names, n=3)
                hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else \
                    f" (coefficients: {', '.join(sorted(self.names))})"
                raise self._error(f"unknown coefficient {tok!r}{hint}", i)
            raise self._error(f"unexpected character {tok!r}", i)
        return out

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", None, len(self.text))

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    # ---- grammar
    def equations(self) -> list[tuple[LinearForm, LinearForm]]:
        if not self.tokens:
            raise LinearSyntaxError(f"empty hypothesis {self.text!r}")
        if all(k == "name" for k, _, _ in self.tokens) and len(self.tokens) > 1:
            return [(LinearForm({v: 1.0}), LinearForm({})) for _, v, _ in self.tokens]
        sides = [self.expr()]
        while self.peek()[0] == "=":
            self.take()
            sides.append(self.expr())
        kind, _, pos = self.peek()
        if kind != "end":
            raise self._error(f"unexpected {self.tokens[self.i][1]!r}", pos)
        if len(sides) == 1:
            return [(sides[0], LinearForm({}))]
        return [(sides[j], sides[j + 1]) for j in range(len(sides) - 1)]

    def expr(self) -> LinearForm:
        out = self.term()
        while self.peek()[0] in ("+", "-"):
            op = self.take()[0]
            out = out.plus(self.term(), 1.0 if op == "+" else -1.0)
        return out

    def term(self) -> LinearForm:
        out = self.factor()
        while self.peek()[0] in ("*", "/"):
            op, _, pos = self.take()
            rhs = self.factor()
            if op == "*":
                if out.is_constant:
                    out = rhs.scaled(out.const)
                elif rhs.is_constant:
                    out = out.scaled(rhs.const)
                else:
                    raise self._error("product of two coefficients is not linear", pos)
            else:
                if not rhs.is_constant:
                    raise self._error("division by a coefficient is not linear", pos)
                if rhs.const == 0:
                    raise self._error("division by zero", pos)
                out = out.scaled(1.0 / rhs.const)
        return out

    def factor(self) -> LinearForm:
        kind, value, pos = self.take()
        if kind in ("+", "-"):
            f = self.factor()
            return f if kind == "+" else f.scaled(-1.0)
        if kind == "num":
            return LinearForm({}, float(value))
        if kind == "name":
            return LinearForm({value: 1.0})
        if kind == "(":
            inner = self.expr()
            if self.take()[0] != ")":
                raise self._error("missing ')'", pos)
            return inner
        if kind == "end":
            raise self._error("unexpected end of expression", pos)
        raise self._error(f"unexpected {value!r}", pos)


def parse_equations(text: str, names: Sequence[str]) -> list[tuple[dict, float]]:
    """Equations in ``text`` as (coefficients by name, right-hand side) pairs:
    ``"2*a - b = 1"`` -> ``[({"a": 2.0, "b": -1.0}, 1.0)]``. Names must be in ``names``."""
    if not isinstance(text, str):
        raise TypeError(f"a hypothesis must be a string, not {type(text).__name__}")
    out = []
    for lhs, rhs in _Parser(text, names).equations():
        diff = lhs.plus(rhs, -1.0)
        coef = {k: v for k, v in diff.coef.items() if v != 0}
        if not coef:
            raise LinearSyntaxError(f"{text!r} involves no coefficient")
        out.append((coef, 0.0 - diff.const))
    return out


def equations_matrix(spec, names: Sequence[str], r: Sequence[float] | None = None
                     ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(R, r, descriptions) from equations given as a string, a list of strings, or a
    matrix ``R`` (one row per equation, one column per name) with ``r`` (zeros if
    omitted). Every row of R restricts ``R @ b = r`` over ``names`` in order."""
    names = list(names)
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, np.ndarray) or (isinstance(spec, (list, tuple)) and spec and
                                        not all(isinstance(s, str) for s in spec)):
        R = np.atleast_2d(np.asarray(spec, dtype=float))
        if R.shape[1] != len(names):
            raise ValueError(f"the restriction matrix has {R.shape[1]} columns; it needs one "
                             f"per coefficient ({len(names)}: {', '.join(names)})")
        rv = np.zeros(R.shape[0]) if r is None else np.asarray(r, dtype=float).ravel()
        if rv.shape != (R.shape[0],):
            raise ValueError(f"r has {rv.size} entries; R has {R.shape[0]} rows")
        if not np.all(np.isfinite(R)) or not np.all(np.isfinite(rv)):
            raise ValueError("R and r must be finite numbers")
        return R, rv, [_describe(dict(zip(names, row)), v) for row, v in zip(R, rv)]
    if r is not None:
        raise ValueError("r is only used with a matrix R; write equations as 'a = 1'")
    if not isinstance(spec, (list, tuple)) or not spec:
        raise ValueError("give a hypothesis as a string, a list of strings, or a matrix R")
    rows, rhs, text = [], [], []
    for item in spec:
        for coef, value in parse_equations(item, names):
            rows.append([coef.get(n, 0.0) for n in names])
            rhs.append(value)
            text.append(_describe(coef, value))
    return np.array(rows, dtype=float), np.array(rhs, dtype=float), text


def _describe(coef: dict, value: float) -> str:
    """Stata's display of a restriction: ``2.drug - 3.drug = 0``."""
    parts = []
    for name, c in coef.items():
        if c == 0:
            continue
        sign = "-" if c < 0 else "+"
        mag = "" if abs(c) == 1 else f"{abs(c):g}*"
        parts.append((sign, f"{mag}{name}"))
    if not parts:
        return f"0 = {value:g}"
    first = ("- " if parts[0][0] == "-" else "") + parts[0][1]
    rest = "".join(f" {s} {t}" for s, t in parts[1:])
    return f"{first}{rest} = {value:g}"
