"""Parser for lme4-style model formulas (``weight ~ week + (week | id)``).

:func:`parse_formula_terms` reads the text into a :class:`Formula`: the outcome, the
fixed-effects terms with the intercept flag, and the random-effects terms ``(lhs | g)``,
each with its own terms, intercept flag, whether its effects are correlated (``|``) or
not (``||``) and its groupings (``a/b`` gives ``a`` and ``a:b``).  Nothing in the text is
evaluated: names are names, ``factor(x)``, ``as.factor(x)`` and ``C(x)`` mark a factor,
``I(x^2)`` / ``I(x*z)`` are products of variables (written ``c.x#c.x``), and any other
function call or arithmetic is refused with an error naming its position.

Operators, with R's precedence: ``^`` (``(a+b)^2``), then ``:`` (interaction), then
``*`` (``a*b`` = ``a + b + a:b``) and ``/`` (``a/b`` = ``a + a:b``), then ``+`` and
``-`` (``- 1`` / ``+ 0`` drop the intercept, ``- a`` drops a term).  The mapping to the
Stata ``mixed`` specification is in :mod:`semlevel.syntax.formula_map`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .mixed import MixedSyntaxError

__all__ = ["FormulaSyntaxError", "Atom", "Term", "RandomTerm", "Formula", "parse_formula_terms"]


class FormulaSyntaxError(MixedSyntaxError):
    """A formula that cannot be parsed or mapped; ``position`` is 1-based."""


@dataclass(frozen=True)
class Atom:
    """One variable of a term: continuous (``x``), a factor (``factor(x)``, base level
    ``base`` as a level value, or ``None`` for the lowest), or a product of continuous
    variables from ``I()`` (``vars`` holds them, repeated for powers)."""

    kind: str                      # "var" | "factor" | "product"
    name: str
    base: int | None = None
    vars: tuple[str, ...] = ()


#: A term is a set of atoms (``a:b`` is {a, b}; ``a:a`` is {a}).
Term = frozenset


@dataclass
class RandomTerm:
    """``(lhs | g)`` or ``(lhs || g)``: effects, intercept, correlation, groupings."""

    terms: list
    intercept: bool
    correlated: bool
    groupings: list                 # tuples of names, e.g. [("a",), ("a", "b")]
    position: int                   # 1-based position of its '('


@dataclass
class Formula:
    """A parsed formula: outcome, fixed terms (R order), intercept, random terms."""

    depvar: str
    fixed: list = field(default_factory=list)
    intercept: bool = True
    random: list = field(default_factory=list)
    text: str = ""
    order: dict = field(default_factory=dict)   # term -> its atoms as first written

    def atoms_in_order(self, term: frozenset) -> list:
        """The atoms of ``term`` in the order they were first written."""
        return list(self.order.get(term, sorted(term, key=lambda a: a.name)))


_TOKEN_RE = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?)|(?P<name>[A-Za-z._][A-Za-z0-9._]*)|(?P<op>\|\||[~+\-*/:^|(),=])"
    r"|(?P<bad>\S))"
)
_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FACTOR_FUNCS = ("factor", "as.factor", "C")
_KNOWN_REFUSED = {
    "offset": "offsets are not supported",
    "poly": "orthogonal polynomials are not supported; use I(x^2) or c.x#c.x terms",
    "ordered": "ordered factors (polynomial contrasts) are not supported; use factor()",
    "log": "transformations are not evaluated; add the transformed column to the data",
    "exp": "transformations are not evaluated; add the transformed column to the data",
    "sqrt": "transformations are not evaluated; add the transformed column to the data",
    "scale": "transformations are not evaluated; add the transformed column to the data",
}


@dataclass
class _Tok:
    kind: str      # num | name | op | end
    text: str
    pos: int       # 0-based


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(text):
        m = _TOKEN_RE.match(text, i)
        if m is None or m.end() == i:      # only trailing whitespace left
            break
        kind = m.lastgroup or "end"
        start = m.start(kind)
        toks.append(_Tok(kind, m.group(kind), start))
        if kind == "bad":          # reported when the parser gets there
            return toks
        i = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


@dataclass
class _Model:
    """Intermediate value of an expression: ordered terms and intercept changes."""

    terms: list = field(default_factory=list)
    intercept: bool | None = None      # None: not mentioned
    number: str | None = None          # a bare 0 or 1
    random: RandomTerm | None = None
    pos: int = 0                       # 0-based start

    def add(self, other: "_Model") -> None:
        for t in other.terms:
            if t not in self.terms:
                self.terms.append(t)


#: deepest nesting of parentheses accepted in a formula
MAX_NESTING = 50


class _Parser:
    def __init__(self, text: str, factors: frozenset[str]):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.factors = factors
        self.seen: dict = {}            # term -> atoms in written order
        self.depth = 0                  # open parentheses (bounded: no RecursionError)

    def note(self, atom: Atom, pos0: int) -> Atom:
        self.seen.setdefault(frozenset([atom]), (atom,))
        return atom

    def cross(self, a: list, b: list) -> list:
        """All interactions x:y of the terms of ``a`` and ``b`` (R's ``:``)."""
        out: list = []
        for x in a:
            for y in b:
                t = x | y
                if t not in self.seen:
                    first = self.seen.get(x, tuple(x)) + self.seen.get(y, tuple(y))
                    self.seen[t] = tuple(dict.fromkeys(first))
                if t not in out:
                    out.append(t)
        return out

    # ---------------------------------------------------------------- helpers
    def peek(self) -> _Tok:
        tok = self.toks[self.i]
        if tok.kind == "bad":
            raise FormulaSyntaxError(f"unexpected character '{tok.text}' at position "
                                     f"{tok.pos + 1}", token=tok.text, position=tok.pos + 1)
        return tok

    def next(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def error(self, message: str, tok: _Tok | None = None, pos0: int | None = None) -> FormulaSyntaxError:
        tok = tok or self.peek()
        where = tok.pos if pos0 is None else pos0
        shown = tok.text or "end of formula"
        return FormulaSyntaxError(f"{message} at position {where + 1}", token=shown,
                                  position=where + 1)

    def expect(self, op: str) -> _Tok:
        tok = self.peek()
        if tok.kind != "op" or tok.text != op:
            found = f"'{tok.text}'" if tok.text else "end of formula"
            raise self.error(f"expected '{op}', found {found}")
        return self.next()

    # ---------------------------------------------------------------- grammar
    def formula(self) -> Formula:
        tok = self.peek()
        if tok.kind == "end":
            raise self.error("empty formula: expected 'outcome ~ terms'")
        if tok.kind == "op" and tok.text == "~":
            raise self.error("missing outcome before '~'")
        if tok.kind != "name" or not _VAR_RE.match(tok.text):
            raise self.error(f"the outcome must be a variable name, found '{tok.text}'")
        self.next()
        if self.peek().kind == "op" and self.peek().text == "(":
            raise self.error(f"the outcome must be a variable name, not a call of '{tok.text}'"
                             " (transformations are not evaluated)", tok)
        if not (self.peek().kind == "op" and self.peek().text == "~"):
            found = self.peek()
            raise self.error("expected '~' after the outcome"
                             + (f", found '{found.text}'" if found.text else ""))
        self.next()
        if self.peek().kind == "end":
            raise self.error("missing terms after '~'")
        out = Formula(depvar=tok.text, text=self.text, order=self.seen)
        model = self.sum(top=True, out=out)
        if self.peek().kind != "end":
            raise self.error(f"unexpected '{self.peek().text}'")
        out.fixed = sorted(model.terms, key=len)       # R: terms ordered by degree
        out.intercept = True if model.intercept is None else model.intercept
        return out

    def sum(self, top: bool = False, out: Formula | None = None) -> _Model:
        acc = _Model(pos=self.peek().pos)
        sign = "+"
        if self.peek().kind == "op" and self.peek().text in ("+", "-"):
            sign = self.next().text
        while True:
            start = self.peek()
            part = self.product()
            self._combine(acc, part, sign, start, top, out)
            tok = self.peek()
            if tok.kind == "op" and tok.text in ("+", "-"):
                sign = self.next().text
                if self.peek().kind == "end":
                    raise self.error(f"missing term after '{sign}'")
                continue
            return acc

    def _combine(self, acc: _Model, part: _Model, sign: str, start: _Tok, top: bool,
                 out: Formula | None) -> None:
        if part.random is not None:
            if not top or out is None:
                raise self.error("a random-effects term (... | group) is only allowed as a "
                                 "term of the formula's right-hand side", start)
            if sign == "-":
                raise self.error("a random-effects term cannot be subtracted", start)
            out.random.append(part.random)
            return
        if part.number is not None:
            keep = (part.number == "1") == (sign == "+")
            acc.intercept = keep
            return
        if sign == "+":
            acc.add(part)
        else:
            for t in part.terms:
                if t in acc.terms:
                    acc.terms.remove(t)

    def product(self) -> _Model:
        left = self.interaction()
        while self.peek().kind == "op" and self.peek().text in ("*", "/"):
            op = self.next()
            right = self.interaction()
            self._no_special(left, op)
            self._no_special(right, op)
            if op.text == "*":
                res = _Model(pos=left.pos)
                res.add(left)
                res.add(right)
                res.add(_Model(terms=self.cross(left.terms, right.terms)))
            else:                                          # a/b = a + a:b
                whole = frozenset().union(*left.terms) if left.terms else frozenset()
                res = _Model(pos=left.pos)
                res.add(left)
                res.add(_Model(terms=self.cross([whole], right.terms)))
            left = res
        return left

    def interaction(self) -> _Model:
        left = self.power()
        while self.peek().kind == "op" and self.peek().text == ":":
            op = self.next()
            right = self.power()
            self._no_special(left, op)
            self._no_special(right, op)
            left = _Model(terms=self.cross(left.terms, right.terms), pos=left.pos)
        return left

    def power(self) -> _Model:
        base = self.atom()
        if self.peek().kind == "op" and self.peek().text == "^":
            op = self.next()
            tok = self.next()
            if tok.kind != "num" or not tok.text.isdigit() or int(tok.text) < 1:
                raise self.error("'^' must be followed by a positive whole number", tok)
            self._no_special(base, op)
            res = _Model(terms=list(base.terms), pos=base.pos)
            for _ in range(int(tok.text) - 1):
                nxt = _Model(pos=base.pos)
                nxt.add(res)
                nxt.add(_Model(terms=self.cross(res.terms, base.terms)))
                res = nxt
            return res
        return base

    def _no_special(self, m: _Model, op: _Tok) -> None:
        if m.random is not None:
            raise self.error(f"a random-effects term cannot be used with '{op.text}'", op)
        if m.number is not None:
            raise self.error(f"the number {m.number} cannot be used with '{op.text}'", op)

    def atom(self) -> _Model:
        tok = self.peek()
        if tok.kind == "num":
            self.next()
            if tok.text not in ("0", "1"):
                raise self.error(f"unexpected number '{tok.text}' (only 0 and 1 mean something"
                                 " in a formula: no intercept / intercept)", tok)
            return _Model(number=tok.text, pos=tok.pos)
        if tok.kind == "name":
            self.next()
            if self.peek().kind == "op" and self.peek().text == "(":
                return self.call(tok)
            return _Model(terms=[frozenset([self.note(self.variable(tok), tok.pos)])], pos=tok.pos)
        if tok.kind == "op" and tok.text == "(":
            open_ = self.next()
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise self.error(f"parentheses nested more than {MAX_NESTING} deep", open_)
            inner = self.sum()
            self.depth -= 1
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text in ("|", "||"):
                self.next()
                groupings = self.grouping()
                self.expect(")")
                return _Model(random=self._random(inner, nxt.text == "|", groupings, open_),
                              pos=open_.pos)
            self.expect(")")
            if inner.intercept is not None and not inner.terms:
                return _Model(number="1" if inner.intercept else "0", pos=open_.pos)
            if inner.intercept is not None:
                raise self.error("an intercept (0/1) inside parentheses is not supported; "
                                 "write it as a term of the formula", open_)
            inner.pos = open_.pos
            return inner
        if tok.kind == "end":
            raise self.error("unexpected end of formula (missing term)")
        raise self.error(f"unexpected '{tok.text}'")

    def variable(self, tok: _Tok) -> Atom:
        if not _VAR_RE.match(tok.text):
            raise self.error(f"'{tok.text}' is not a usable variable name (letters, digits and"
                             " '_' only; rename the column)", tok)
        kind = "factor" if tok.text in self.factors else "var"
        return Atom(kind, tok.text)

    def call(self, fn: _Tok) -> _Model:
        name = fn.text
        self.expect("(")
        if name in _FACTOR_FUNCS:
            arg = self.next()
            if arg.kind != "name":
                raise self.error(f"{name}() takes a variable name", arg)
            var = self.variable(arg)
            base = None
            if name == "C" and self.peek().kind == "op" and self.peek().text == ",":
                self.next()
                base = self.contrast()
            elif self.peek().kind == "op" and self.peek().text == ",":
                raise self.error(f"{name}() with further arguments is not supported", self.peek())
            self.expect(")")
            atom = self.note(Atom("factor", var.name, base), fn.pos)
            return _Model(terms=[frozenset([atom])], pos=fn.pos)
        if name == "I":
            return self.identity(fn)
        why = _KNOWN_REFUSED.get(name, "function calls are not evaluated; add the computed "
                                 "column to the data")
        raise self.error(f"'{name}(...)': {why}", fn)

    def contrast(self) -> int:
        """``Treatment(k)`` / ``Treatment(reference=k)`` (patsy): base level value ``k``."""
        tok = self.next()
        if tok.kind != "name" or tok.text not in ("Treatment", "T"):
            raise self.error("only treatment contrasts are supported in C(): "
                             "C(x, Treatment(reference=k))", tok)
        self.expect("(")
        if self.peek().kind == "name" and self.peek().text == "reference":
            self.next()
            self.expect("=")
        num = self.next()
        if num.kind != "num" or not num.text.isdigit():
            raise self.error("the reference level must be a whole number (a level value)", num)
        self.expect(")")
        return int(num.text)

    def identity(self, fn: _Tok) -> _Model:
        """``I(x^k)`` and ``I(x*z*...)``: products of variables, nothing evaluated."""
        names: list[str] = []
        while True:
            tok = self.next()
            if tok.kind != "name" or not _VAR_RE.match(tok.text):
                raise self.error("I() is not evaluated: only products and whole powers of "
                                 "variables (I(x^2), I(x*z)) are supported; add other "
                                 "computed columns to the data", tok)
            power = 1
            if self.peek().kind == "op" and self.peek().text == "^":
                self.next()
                num = self.next()
                if num.kind != "num" or not num.text.isdigit() or int(num.text) < 1:
                    raise self.error("I(): the power must be a positive whole number", num)
                power = int(num.text)
            names.extend([tok.text] * power)
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text == "*":
                self.next()
                continue
            if nxt.kind == "op" and nxt.text == ")":
                self.next()
                break
            raise self.error("I() is not evaluated: only products and whole powers of "
                             f"variables are supported, found '{nxt.text or 'end of formula'}'",
                             nxt)
        for n in names:
            if n in self.factors:
                raise self.error(f"I(): '{n}' is a factor (non-numeric column)", fn)
        if len(names) == 1:
            atom = Atom("var", names[0])
        else:
            atom = Atom("product", "*".join(names), vars=tuple(names))
        return _Model(terms=[frozenset([self.note(atom, fn.pos)])], pos=fn.pos)

    def grouping(self) -> list[tuple[str, ...]]:
        """``g``, ``a:b``, ``a/b`` (= ``a`` and ``a:b``), ``a/b/c``."""
        segments: list[list[str]] = [[self.group_name()]]
        while self.peek().kind == "op" and self.peek().text in (":", "/"):
            op = self.next().text
            name = self.group_name()
            if op == ":":
                segments[-1].append(name)
            else:
                segments.append([name])
        out: list[tuple[str, ...]] = []
        acc: list[str] = []
        for seg in segments:
            for n in seg:
                if n not in acc:
                    acc.append(n)
            out.append(tuple(acc))
        return out

    def group_name(self) -> str:
        tok = self.next()
        if tok.kind == "name" and tok.text in _FACTOR_FUNCS and self.peek().text == "(":
            self.expect("(")
            inner = self.group_name()
            self.expect(")")
            return inner
        if tok.kind != "name":
            shown = f"'{tok.text}'" if tok.text else "end of formula"
            raise self.error(f"expected a grouping variable after '|', found {shown}", tok)
        if not _VAR_RE.match(tok.text):
            raise self.error(f"'{tok.text}' is not a usable grouping variable name", tok)
        return tok.text

    def _random(self, inner: _Model, correlated: bool, groupings: list, open_: _Tok) -> RandomTerm:
        if inner.random is not None:
            raise self.error("nested random-effects terms", open_)
        intercept = True if inner.intercept is None else inner.intercept
        if not inner.terms and not intercept:
            raise self.error("random-effects term with no effects (0 and no variables)", open_)
        return RandomTerm(terms=sorted(inner.terms, key=len), intercept=intercept,
                          correlated=correlated, groupings=groupings, position=open_.pos + 1)


def parse_formula_terms(text: str, factors: frozenset[str] | set[str] = frozenset()) -> Formula:
    """Parse an lme4-style formula; bare names in ``factors`` are factors (R treats
    non-numeric columns so).  Raises :class:`FormulaSyntaxError` with a 1-based position."""
    if not isinstance(text, str):
        raise FormulaSyntaxError(f"formula must be a string, got {type(text).__name__}")
    return _Parser(text, frozenset(factors)).formula()

