"""Parser for Stata ``mixed`` command lines.

``parse_mixed("weight week || id: week, cov(un) reml")`` returns a
:class:`~semlevel.syntax.spec.MixedSpec`.  The text is what follows the word ``mixed``::

    depvar [indepvars] [if] [in] [weight] [, fe_options]
        [|| levelvar: [varlist] [, re_options]] ... [, options]

Options are matched with Stata's minimal abbreviations.  ``covariance()`` and
``noconstant`` given after a level equation belong to that equation; every other option
is global wherever it appears (after the fixed part or after any equation), as in the
manual's ``|| tooth:, reml nolog``.  Display-only options are recorded in
``spec.extra["display"]``; options for features not implemented by this parser
(``residuals()``, ``vce()``, ``dfmethod()``, weights, ``if``/``in``, maximisation
options, ...) are read by their own parsers here (:mod:`.residuals`, :mod:`.survey`,
:mod:`.smallsample`) into typed fields of the spec; what no parser takes is kept in
``spec.extra["unsupported"]``, which the model builder refuses by name.  Every syntax error is a :class:`MixedSyntaxError`
whose message names the offending token and its 1-based character position.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np

from .residuals import parse_residuals
from .factor import expand_terms, parse_term
from .spec import COVARIANCE_STRUCTURES, LevelEquation, MixedSpec

__all__ = ["MixedSyntaxError", "MixedOptionError", "parse_mixed", "OPTION_NAMES"]

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME_FULL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


from .errors import MixedOptionError, MixedSyntaxError  # noqa: E402  (re-exported)


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class _Opt:
    name: str
    minlen: int
    kind: str  # covariance | noconstant | reml | mle | level | variance | stddev | display | pending
    arg: bool = False  # takes a parenthesised argument


_OPTIONS: tuple[_Opt, ...] = (
    # model / re_options
    _Opt("covariance", 3, "covariance", True),
    _Opt("noconstant", 6, "noconstant"),
    _Opt("reml", 4, "reml"),
    _Opt("mle", 2, "mle"),
    # reporting
    _Opt("level", 1, "level", True),
    _Opt("variance", 3, "variance"),
    _Opt("stddeviations", 6, "stddev"),
    # display-only
    _Opt("nolog", 5, "display"),
    _Opt("log", 3, "display"),
    _Opt("nogroup", 4, "display"),
    _Opt("nofetable", 5, "display"),
    _Opt("noretable", 5, "display"),
    _Opt("noheader", 6, "display"),
    _Opt("nofvlabel", 9, "display"),
    _Opt("fvlabel", 7, "display"),
    _Opt("nolrtest", 4, "display"),
    _Opt("nostderr", 5, "display"),
    _Opt("emlog", 5, "display"),
    _Opt("emdots", 6, "display"),
    _Opt("noomitted", 6, "display"),
    _Opt("omitted", 7, "display"),
    _Opt("estmetric", 4, "display"),
    _Opt("nocnsreport", 6, "display"),
    _Opt("noci", 4, "display"),
    _Opt("nopvalues", 4, "display"),
    _Opt("vsquish", 7, "display"),
    _Opt("noemptycells", 12, "display"),
    _Opt("emptycells", 10, "display"),
    _Opt("baselevels", 10, "display"),
    _Opt("allbaselevels", 13, "display"),
    _Opt("nolstretch", 10, "display"),
    _Opt("lstretch", 8, "display"),
    _Opt("coeflegend", 5, "display"),
    _Opt("trace", 3, "display"),
    _Opt("gradient", 4, "display"),
    _Opt("showstep", 8, "display"),
    _Opt("hessian", 4, "display"),
    _Opt("showtolerance", 6, "display"),
    _Opt("cformat", 7, "display", True),
    _Opt("pformat", 7, "display", True),
    _Opt("sformat", 7, "display", True),
    _Opt("fvwrap", 6, "display", True),
    _Opt("fvwrapon", 8, "display", True),
    # options with their own parsers (residuals, survey, smallsample) or unsupported:
    # collected as strings, each taken out by its parser, the rest in extra["unsupported"]
    _Opt("residuals", 3, "pending", True),
    _Opt("vce", 3, "pending", True),
    _Opt("dfmethod", 3, "pending", True),
    _Opt("dftable", 3, "pending", True),
    _Opt("fweight", 2, "pending", True),
    _Opt("pweight", 2, "pending", True),
    _Opt("pwscale", 3, "pending", True),
    _Opt("constraints", 5, "pending", True),
    _Opt("small", 5, "pending"),
    _Opt("collinear", 3, "pending"),
    _Opt("emiterate", 5, "pending", True),
    _Opt("emtolerance", 5, "pending", True),
    _Opt("emonly", 6, "pending"),
    _Opt("matsqrt", 7, "pending"),
    _Opt("matlog", 6, "pending"),
    _Opt("iterate", 3, "pending", True),
    _Opt("tolerance", 3, "pending", True),
    _Opt("ltolerance", 4, "pending", True),
    _Opt("nrtolerance", 4, "pending", True),
    _Opt("nonrtolerance", 6, "pending"),
    _Opt("technique", 4, "pending", True),
    _Opt("difficult", 4, "pending"),
)

#: Full names of every option the parser knows.
OPTION_NAMES: tuple[str, ...] = tuple(o.name for o in _OPTIONS)

_DISPLAY_FLAGS = tuple(o.name for o in _OPTIONS if o.kind == "display" and not o.arg)

# covariance values: (name, minimal abbreviation length) as in Stata
_COV_VALUES = (("independent", 3), ("exchangeable", 2), ("identity", 2), ("unstructured", 2))
assert {c for c, _ in _COV_VALUES} == set(COVARIANCE_STRUCTURES)

_WEIGHT_TYPES = {
    "fw": "fweight", "fweight": "fweight", "frequency": "fweight",
    "pw": "pweight", "pweight": "pweight",
}


def _match_option(name: str, has_arg: bool) -> _Opt | None | list[_Opt]:
    """Resolve an option name (possibly abbreviated); a list means ambiguous."""
    low = name.lower()
    exact = [o for o in _OPTIONS if o.name == low]
    if exact:
        return exact[0]
    cands = [o for o in _OPTIONS if o.name.startswith(low) and len(low) >= o.minlen]
    if len(cands) > 1:
        narrowed = [o for o in cands if o.arg == has_arg]
        cands = narrowed or cands
    if not cands:
        return None
    if len(cands) > 1:
        return cands
    return cands[0]


def _match_covariance(value: str) -> str | list[str] | None:
    low = value.strip().lower()
    for full, minlen in _COV_VALUES:
        if full.startswith(low) and len(low) >= minlen:
            return full
    pref = [full for full, _ in _COV_VALUES if low and full.startswith(low)]
    return pref if len(pref) > 1 else None


# --------------------------------------------------------------------------- scanning


class _Text:
    """The command string with bracket matching and error helpers."""

    def __init__(self, text: str):
        self.s = text
        self.n = len(text)
        self.match: dict[int, int] = {}
        self.separators: list[int] = []  # 0-based positions of top-level '||'
        self._scan()

    def error(self, message: str, token: str, pos0: int) -> MixedSyntaxError:
        pos = pos0 + 1
        return MixedSyntaxError(f"{message} at position {pos}", token=token, position=pos)

    def _scan(self) -> None:
        s = self.s
        stack: list[int] = []
        i = 0
        while i < self.n:
            ch = s[i]
            if ch == '"':
                j = s.find('"', i + 1)
                if j < 0:
                    raise self.error("unmatched '\"'", '"', i)
                i = j + 1
                continue
            if ch in "([":
                stack.append(i)
            elif ch in ")]":
                want = "(" if ch == ")" else "["
                if not stack or s[stack[-1]] != want:
                    raise self.error(f"unexpected token '{ch}'", ch, i)
                self.match[stack.pop()] = i
            elif ch == "|" and not stack and s.startswith("||", i):
                self.separators.append(i)
                i += 2
                continue
            i += 1
        if stack:
            k = stack[-1]
            raise self.error(f"unmatched '{s[k]}'", s[k], k)

    def skip_ws(self, i: int, end: int) -> int:
        while i < end and self.s[i].isspace():
            i += 1
        return i

    def top_level_comma(self, start: int, end: int) -> int:
        """Position of the first comma outside brackets/quotes in [start, end), or -1."""
        i = start
        while i < end:
            ch = self.s[i]
            if ch in "([":
                i = self.match[i] + 1
                continue
            if ch == '"':
                i = self.s.find('"', i + 1) + 1
                continue
            if ch == ",":
                return i
            i += 1
        return -1


def _normalize_term(raw: str) -> str:
    """Drop whitespace outside parentheses; collapse it to single spaces inside."""
    out: list[str] = []
    depth = 0
    pending_space = False
    for ch in raw:
        if ch == "(":
            depth += 1
            pending_space = False
            out.append(ch)
        elif ch == ")":
            depth -= 1
            pending_space = False
            out.append(ch)
        elif ch.isspace():
            if depth > 0 and out and out[-1] != "(":
                pending_space = True
        else:
            if pending_space:
                out.append(" ")
                pending_space = False
            out.append(ch)
    return "".join(out)


_TERM_CHARS = re.compile(r"[A-Za-z0-9_.#]")
_OP_BEFORE_PAREN = re.compile(r"(?:\A|[#.])(?:i|ib|ibn)\Z|\.\Z", re.IGNORECASE)


def _read_term(t: _Text, i: int, end: int) -> tuple[str, int, int]:
    """Read one term starting at ``i``; return (normalised term, start, next index)."""
    s = t.s
    start = i
    while i < end:
        ch = s[i]
        if ch == "(":
            if i == start:
                raise t.error("unexpected token '('", "(", i)
            if not _OP_BEFORE_PAREN.search(s[start:i].rstrip()):
                raise t.error("unexpected token '('", "(", i)
            i = t.match[i] + 1
            continue
        if ch.isspace():
            j = t.skip_ws(i, end)
            if j < end and (
                s[j] == "#"
                or s[i - 1] == "#"
                or (s[j] == "(" and _OP_BEFORE_PAREN.search(s[start:i]))
            ):
                i = j
                continue
            break
        if ch in ",[":
            break
        if not _TERM_CHARS.match(ch):
            raise t.error(f"unexpected token '{ch}'", ch, i)
        i += 1
    return _normalize_term(s[start:i]), start, i


def _check_term(t: _Text, term: str, pos0: int) -> None:
    try:
        parse_term(term)
    except ValueError as exc:
        raise t.error(f"invalid term '{term}' ({exc})", term, pos0) from None


def _scan_terms(
    t: _Text, start: int, end: int, qualifiers: dict[str, str] | None
) -> list[tuple[str, int]]:
    """Terms in [start, end); ``if``/``in``/``[weight]`` go to ``qualifiers`` when given."""
    s = t.s
    terms: list[tuple[str, int]] = []
    i = t.skip_ws(start, end)
    while i < end:
        ch = s[i]
        word = _IDENT_RE.match(s, i)
        word_txt = word.group(0) if word else ""
        word_end = word.end() if word else i
        standalone = word is not None and (
            word_end >= end or s[word_end].isspace() or s[word_end] in "(\""
        )
        if ch == "[":
            if qualifiers is None:
                raise t.error("unexpected token '['", "[", i)
            close = t.match[i]
            inner = s[i + 1 : close].strip()
            m = re.match(r"([A-Za-z]+)\s*=\s*(.+)\Z", inner, re.S)
            if not m or m.group(1).lower() not in _WEIGHT_TYPES:
                raise t.error(f"invalid weight '{s[i:close + 1]}'", s[i : close + 1], i)
            if "weight" in qualifiers:
                raise t.error("weights specified more than once", s[i : close + 1], i)
            qualifiers["weight"] = f"{m.group(1).lower()}={m.group(2).strip()}"
            i = t.skip_ws(close + 1, end)
            continue
        if word_txt in ("if", "in") and standalone:
            if qualifiers is None:
                raise t.error(f"unexpected token '{word_txt}'", word_txt, i)
            if word_txt in qualifiers:
                raise t.error(f"'{word_txt}' specified more than once", word_txt, i)
            j = t.skip_ws(word_end, end)
            k = j
            while k < end:
                c = s[k]
                if c in "(":
                    k = t.match[k] + 1
                    continue
                if c == '"':
                    k = s.find('"', k + 1) + 1
                    continue
                if c == "[":
                    break
                other = "in" if word_txt == "if" else "if"
                if s.startswith(other, k) and (k == 0 or s[k - 1].isspace()) and (
                    k + 2 >= end or s[k + 2].isspace()
                ):
                    break
                k += 1
            expr = s[j:k].strip()
            if not expr:
                raise t.error(f"'{word_txt}' without an expression", word_txt, i)
            qualifiers[word_txt] = expr
            i = t.skip_ws(k, end)
            continue
        if qualifiers is not None and ("if" in qualifiers or "in" in qualifiers or "weight" in qualifiers):
            tok = s[i:word_end] if word else ch
            raise t.error(f"unexpected token '{tok}' after if/in/weight", tok, i)
        term, pos0, i = _read_term(t, i, end)
        if not term:
            raise t.error(f"unexpected token '{s[i]}'", s[i], i)
        _check_term(t, term, pos0)
        terms.append((term, pos0))
        i = t.skip_ws(i, end)
    return terms


def _scan_options(t: _Text, start: int, end: int) -> list[tuple[str, str | None, int, str]]:
    """Options in [start, end) as (name, argument or None, 0-based position, raw text)."""
    s = t.s
    out: list[tuple[str, str | None, int, str]] = []
    i = t.skip_ws(start, end)
    while i < end:
        m = _IDENT_RE.match(s, i)
        if not m or m.end() > end:
            raise t.error(f"unexpected token '{s[i]}'", s[i], i)
        name = m.group(0)
        j = t.skip_ws(m.end(), end)
        if j < end and s[j] == "(":
            close = t.match[j]
            arg: str | None = s[j + 1 : close].strip()
            nxt = close + 1
        else:
            arg, nxt = None, m.end()
        raw = s[i:nxt]
        if nxt < end and not s[nxt].isspace() and not (arg is not None and _IDENT_RE.match(s, nxt)):
            bad = s[nxt]
            raise t.error(f"unexpected token '{bad}'", bad, nxt)
        out.append((name, arg, i, raw))
        i = t.skip_ws(nxt, end)
    return out


# --------------------------------------------------------------------------- parsing


@dataclass
class _Eq:
    level: str
    pos0: int
    terms: list[tuple[str, int]]
    noconstant: bool = False
    covariance: str | None = None
    cov_pos0: int | None = None
    pending: dict | None = None


class _Globals:
    def __init__(self) -> None:
        self.reml: bool | None = None
        self.reml_pos: int | None = None
        self.mle_pos: int | None = None
        self.level = 95.0
        self.variance_pos: int | None = None
        self.stddev_pos: int | None = None
        self.display: list[str] = []
        self.pending: dict[str, str] = {}
        self.fixed_noconstant = False


def _apply_options(
    t: _Text,
    opts: list[tuple[str, str | None, int, str]],
    g: _Globals,
    eq: _Eq | None,
) -> None:
    """Apply options found after the fixed part (``eq is None``) or after an equation."""
    for name, arg, pos0, raw in opts:
        spec = _match_option(name, arg is not None)
        if spec is None:
            raise t.error(f"unknown option '{raw}'", raw, pos0)
        if isinstance(spec, list):
            names = " or ".join(o.name for o in spec)
            raise t.error(f"ambiguous option '{raw}' ({names})", raw, pos0)
        if spec.arg and arg is None:
            raise t.error(f"option {spec.name}() requires an argument: '{raw}'", raw, pos0)
        if not spec.arg and arg is not None:
            raise t.error(f"option {spec.name} does not take an argument: '{raw}'", raw, pos0)
        kind = spec.kind
        if kind == "covariance":
            if eq is None:
                raise t.error(
                    f"option '{raw}' is a random-effects option, not allowed in the "
                    "fixed-effects equation", raw, pos0,
                )
            value = _match_covariance(arg or "")
            if value is None or isinstance(value, list):
                what = "ambiguous" if isinstance(value, list) else "unknown"
                hint = f" ({' or '.join(value)})" if isinstance(value, list) else (
                    " (independent, exchangeable, identity, unstructured)"
                )
                raise t.error(f"{what} covariance structure '{arg}'{hint} in '{raw}'", raw, pos0)
            if eq.covariance is not None and eq.covariance != value:
                raise t.error(
                    f"option covariance() specified more than once for level '{eq.level}': "
                    f"'{raw}'", raw, pos0,
                )
            eq.covariance, eq.cov_pos0 = value, pos0
        elif kind == "noconstant":
            if eq is None:
                g.fixed_noconstant = True
            else:
                eq.noconstant = True
        elif kind in ("reml", "mle"):
            if kind == "reml":
                g.reml_pos = pos0
            else:
                g.mle_pos = pos0
            if g.reml_pos is not None and g.mle_pos is not None:
                raise t.error("options reml and mle may not be combined", raw, pos0)
            g.reml = kind == "reml"
        elif kind == "level":
            try:
                lev = float(arg)  # type: ignore[arg-type]
            except ValueError:
                raise t.error(f"invalid confidence level in '{raw}'", raw, pos0) from None
            if not 10.0 <= lev <= 99.99:
                raise t.error(
                    f"confidence level in '{raw}' must be between 10 and 99.99", raw, pos0
                )
            g.level = lev
        elif kind in ("variance", "stddev"):
            if kind == "variance":
                g.variance_pos = pos0
            else:
                g.stddev_pos = pos0
            if g.variance_pos is not None and g.stddev_pos is not None:
                raise t.error(
                    "options variance and stddeviations may not be combined", raw, pos0
                )
        elif kind == "display":
            entry = spec.name if arg is None else f"{spec.name}({arg})"
            if entry not in g.display:
                g.display.append(entry)
        elif kind == "pending":
            g.pending[spec.name] = "" if arg is None else arg
            if eq is not None and spec.name in ("fweight", "pweight"):
                eq.pending = dict(eq.pending or {})
                eq.pending[spec.name] = arg or ""
        else:  # pragma: no cover - table and handler out of sync
            raise AssertionError(kind)


def _term_dims(terms: list[str]) -> int | None:
    """Number of random-effect columns the terms make, or None if data-dependent."""
    total = 0
    for term in expand_terms(terms):
        if term.kind == "R":
            return None
        fparts = [p for p in term.parts if p.factor]
        if not fparts:
            total += 1
        elif all(p.select is not None for p in fparts):
            n = 1
            for p in fparts:
                n *= len(p.select or ())
            total += n
        else:
            return None
    return total


def _bool_kw(key: str, value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise MixedOptionError(
        f"keyword option '{key}' must be True or False, got {value!r}", token=key
    )


def parse_mixed(text: str, **options: Any) -> MixedSpec:
    """Parse a Stata ``mixed`` command line (without the word ``mixed``) into a MixedSpec.

    Keyword ``options`` override what the text says: ``reml``, ``mle``, ``noconstant``
    (fixed constant), ``level``, ``variance``, ``stddeviations`` and any display option
    name (``nolog=True``) as a bool.  Raises :class:`MixedSyntaxError` on any syntax
    error or conflict, :class:`MixedOptionError` (also a ``TypeError``) for an unknown
    keyword.

    The steps: the fixed part (:func:`_fixed_part`), each ``|| level:`` equation
    (:func:`_equation`), the runs of repeated levels (:func:`_check_level_runs`), each
    equation's constant and covariance (:func:`_level_equations`), the keyword overrides
    (:func:`_keyword_overrides`) and the options with parsers of their own
    (:func:`_typed_options`).
    """
    if not isinstance(text, str):
        raise MixedOptionError(f"mixed command must be a string, got {type(text).__name__}")
    try:
        key = tuple((k, type(v), v) for k, v in sorted(options.items()))
        hash(key)                            # (typed: 1 and True are different options)
    except TypeError:                        # an unhashable option value: not kept
        return _parse_mixed(text, **options)
    spec = _parsed(text, key)
    # the same (immutable) spec, with its own ``extra`` (a caller may add to it)
    return replace(spec, extra=dict(spec.extra))


@lru_cache(maxsize=256)
def _parsed(text: str, options: tuple) -> MixedSpec:
    """:func:`_parse_mixed` of a text and options seen before, kept (a bootstrap or a
    simulation fits the same model string hundreds of times; errors are not kept)."""
    return _parse_mixed(text, **{k: v for k, _, v in options})


def _parse_mixed(text: str, **options: Any) -> MixedSpec:
    """:func:`parse_mixed`'s work."""
    if not isinstance(text, str):
        raise MixedOptionError(f"mixed command must be a string, got {type(text).__name__}")
    t = _Text(text)
    if not text.strip():
        raise MixedSyntaxError("empty mixed specification: missing depvar at position 1",
                               token="", position=1)
    bounds = [0] + [p + 2 for p in t.separators]
    ends = list(t.separators) + [t.n]
    g = _Globals()
    depvar, fixed_terms, qualifiers = _fixed_part(t, ends[0], g)
    eqs = [_equation(t, sep, bounds[k + 1], ends[k + 1], g)
           for k, sep in enumerate(t.separators)]
    _check_level_runs(t, eqs)
    equations, eq_info = _level_equations(t, eqs)
    g.pending.update(qualifiers)                 # if/in: not supported, refused by name
    reml, stddev, fixed_constant, level, display = _keyword_overrides(options, g)
    residuals, typed = _typed_options(dict(g.pending), equations, eq_info, options, reml)
    return MixedSpec(
        depvar=depvar,
        fixed_terms=tuple(tm for tm, _ in fixed_terms),
        constant=fixed_constant,
        equations=tuple(equations),
        reml=reml,
        level=level,
        variance=not stddev,
        stddeviations=stddev,
        residuals=residuals,
        extra={"display": display, **typed, "equations": eq_info, "text": text},
    )


def _fixed_part(t: _Text, f_end: int, g: _Globals):
    """The outcome, the fixed terms (with positions) and the ``if``/``in`` qualifiers of
    the text before the first ``||``; its options applied to ``g``."""
    text = t.s
    comma = t.top_level_comma(0, f_end)
    main_end = comma if comma >= 0 else f_end
    i = t.skip_ws(0, main_end)
    if i >= main_end:
        tok = text[i] if i < t.n else ""
        where = i if i < t.n else max(t.n - 1, 0)
        raise t.error(f"missing depvar{f' before {tok!r}' if tok else ''}", tok, where)
    m = _IDENT_RE.match(text, i)
    dep_end = m.end() if m else i
    if not m or (dep_end < main_end and not text[dep_end].isspace() and text[dep_end] != "["):
        j = i
        while j < main_end and not text[j].isspace():
            j += 1
        tok = text[i:j]
        raise t.error(f"invalid depvar '{tok}' (must be a variable name)", tok, i)
    depvar = m.group(0)
    if depvar in ("if", "in"):
        raise t.error(f"missing depvar before '{depvar}'", depvar, i)
    qualifiers: dict[str, str] = {}
    fixed_terms = _scan_terms(t, dep_end, main_end, qualifiers)
    for term, pos0 in fixed_terms:
        if parse_term(term)[0].kind == "R":
            raise t.error(
                f"'{term}': R. notation is only allowed in random-effects equations", term, pos0
            )
    if comma >= 0:
        _apply_options(t, _scan_options(t, comma + 1, f_end), g, None)
    return depvar, fixed_terms, qualifiers


def _equation(t: _Text, sep: int, start: int, end: int, g: _Globals) -> _Eq:
    """The ``level: terms, options`` equation after the ``||`` at ``sep``."""
    text = t.s
    i = t.skip_ws(start, end)
    if i >= end:
        raise t.error("'||' not followed by a level equation", "||", sep)
    m = _IDENT_RE.match(text, i)
    if text[i] == ":":
        raise t.error("missing level name before ':'", ":", i)
    if not m or m.end() > end:
        j = i
        while j < end and not text[j].isspace() and text[j] not in ":,":
            j += 1
        tok = text[i:max(j, i + 1)]
        raise t.error(f"invalid level name '{tok}' after '||'", tok, i)
    level = m.group(0)
    j = t.skip_ws(m.end(), end)
    if j >= end or text[j] != ":":
        if j < end:
            found = re.match(r"\S+", text[j:end]).group(0)  # type: ignore[union-attr]
            raise t.error(
                f"missing ':' after level '{level}' (found '{found}')", found, j
            )
        raise t.error(f"missing ':' after level '{level}'", level, m.end() if m.end() < t.n else i)
    comma = t.top_level_comma(j + 1, end)
    terms_end = comma if comma >= 0 else end
    eq = _Eq(level=level, pos0=i, terms=_scan_terms(t, j + 1, terms_end, None))
    r_terms = [(tm, p) for tm, p in eq.terms if parse_term(tm)[0].kind == "R"]
    if r_terms and len(eq.terms) > 1:
        tm, p = r_terms[0]
        raise t.error(
            f"'{tm}' must be the only term of its random-effects equation "
            f"(level '{level}' has {len(eq.terms)} terms)",
            tm, p,
        )
    if comma >= 0:
        _apply_options(t, _scan_options(t, comma + 1, end), g, eq)
    return eq


def _check_level_runs(t: _Text, eqs: list[_Eq]) -> None:
    """A repeated level must be listed consecutively (``|| id: || id:``)."""
    seen_runs: list[str] = []
    for k, eq in enumerate(eqs):
        if k > 0 and eqs[k - 1].level == eq.level:
            continue
        if eq.level in seen_runs:
            raise t.error(
                f"repeated level '{eq.level}' must be listed consecutively", eq.level, eq.pos0
            )
        seen_runs.append(eq.level)


def _level_equations(t: _Text, eqs: list[_Eq]) -> tuple[list[LevelEquation], list[dict]]:
    """Each equation with its constant (the last of a run of a repeated level has it) and
    covariance structure (Stata's defaults), and the parser's information on it."""
    equations: list[LevelEquation] = []
    eq_info: list[dict] = []
    for k, eq in enumerate(eqs):
        is_r = any(parse_term(tm)[0].kind == "R" for tm, _ in eq.terms)
        last_of_run = k == len(eqs) - 1 or eqs[k + 1].level != eq.level
        constant = not eq.noconstant and not is_r and last_of_run
        terms = [tm for tm, _ in eq.terms]
        if eq.covariance is not None:
            cov = eq.covariance
            if is_r and cov not in ("identity", "exchangeable"):
                raise t.error(
                    f"covariance({cov}) is not allowed with R. notation (only identity or "
                    "exchangeable)", cov, eq.cov_pos0 if eq.cov_pos0 is not None else eq.pos0,
                )
        elif is_r:
            cov = "identity"
        else:
            dims = _term_dims(terms)
            cov = "identity" if dims is not None and dims + int(constant) == 1 else "independent"
        equations.append(
            LevelEquation(level=eq.level, terms=tuple(terms), constant=constant, covariance=cov)
        )
        eq_info.append(
            {
                "position": eq.pos0 + 1,
                "covariance_explicit": eq.covariance is not None,
                "crossed": is_r,
                "pending": dict(eq.pending or {}),
            }
        )
    return equations, eq_info


#: keyword options of parse_mixed besides the display flags
_KEYWORDS = {"reml", "mle", "noconstant", "level", "variance", "stddeviations",
             "vce", "fweight", "pweight", "pwscale", "dfmethod", "dftable", "constraints"}


def _keyword_overrides(options: dict[str, Any], g: _Globals):
    """reml, stddeviations, the fixed constant, the level and the display options: as
    the text says unless a keyword option says otherwise."""
    reml = bool(g.reml) if g.reml is not None else False
    stddev = g.stddev_pos is not None
    fixed_constant = not g.fixed_noconstant
    level = g.level
    display = list(g.display)
    for key in options:
        if key not in _KEYWORDS and key not in _DISPLAY_FLAGS:
            raise MixedOptionError(
                f"unknown keyword option '{key}' for parse_mixed()", token=key
            )
    kw_reml = _bool_kw("reml", options["reml"]) if "reml" in options else None
    kw_mle = _bool_kw("mle", options["mle"]) if "mle" in options else None
    if kw_reml is not None and kw_mle is not None and kw_reml == kw_mle:
        raise MixedOptionError(
            f"conflicting keyword options reml={kw_reml} and mle={kw_mle}", token="reml"
        )
    if kw_reml is not None:
        reml = kw_reml
    elif kw_mle is not None:
        reml = not kw_mle
    kw_var = _bool_kw("variance", options["variance"]) if "variance" in options else None
    kw_sd = (
        _bool_kw("stddeviations", options["stddeviations"]) if "stddeviations" in options else None
    )
    if kw_var is not None and kw_sd is not None and kw_var == kw_sd:
        raise MixedOptionError(
            f"conflicting keyword options variance={kw_var} and stddeviations={kw_sd}",
            token="variance",
        )
    if kw_sd is not None:
        stddev = kw_sd
    elif kw_var is not None:
        stddev = not kw_var
    if "noconstant" in options:
        fixed_constant = not _bool_kw("noconstant", options["noconstant"])
    if "level" in options:
        try:
            level = float(options["level"])
        except (TypeError, ValueError):
            raise MixedOptionError(
                f"keyword option level must be a number, got {options['level']!r}", token="level"
            ) from None
        if not 10.0 <= level <= 99.99:
            raise MixedOptionError(
                f"keyword option level={options['level']!r} must be between 10 and 99.99",
                token="level",
            )
    for key in _DISPLAY_FLAGS:
        if key in options:
            if _bool_kw(key, options[key]):
                if key not in display:
                    display.append(key)
            elif key in display:
                display.remove(key)

    return reml, stddev, fixed_constant, level, display


def _typed_options(pending: dict[str, str], equations: list[LevelEquation],
                   eq_info: list[dict], options: dict[str, Any], reml: bool):
    """The options with parsers of their own, taken out of ``pending`` (the option
    strings): ``residuals()`` (:mod:`.residuals`), ``vce()`` and weights (:mod:`.survey`),
    ``dfmethod()``, ``dftable()`` and ``constraints`` (:mod:`.smallsample`). Returns the
    residual structure and the typed fields of ``spec.extra``, with ``unsupported`` (what
    no parser takes, refused by name when a model is built) and ``option_text`` (the
    other options as written; vce and weights are shown by their own specs)."""
    from .survey import parse_survey      # vce(), weights, pwscale(): semlevel.syntax.survey
    from .smallsample import read_small_sample  # dfmethod(), dftable(), constraints
    raw_residuals = pending.pop("residuals", None)
    residuals = parse_residuals(raw_residuals) if raw_residuals is not None else None
    vce, weights = parse_survey(pending, [{"level": e.level, **i} for e, i in
                                          zip(equations, eq_info)],
                                tuple(dict.fromkeys(e.level for e in equations)), options, reml)
    option_text = dict(pending, **({"residuals": raw_residuals}
                                   if raw_residuals is not None else {}))
    small = read_small_sample(pending, options)
    return residuals, {"vce": vce, "weights": weights, "unsupported": pending,
                       "option_text": option_text, **small}
