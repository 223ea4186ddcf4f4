"""Stata factor-variable notation: parse terms and build design matrices.

Supported notation (operators are case-insensitive except ``R.``):

* ``x`` / ``c.x``            continuous variable (label ``x`` as a main effect)
* ``i.x``                    indicators of the levels of ``x``, base (lowest) level omitted
* ``ibn.x``                  indicators of all levels, no base
* ``ib#.x``                  base level ``#`` (a level value)
* ``ib(first).x``, ``ib(last).x``, ``ib(freq).x``, ``ib(##k).x`` (k-th level)
* ``#.x``, ``i#.x``, ``i(# #).x``  indicators of the selected levels only
* ``a#b#...``                interaction; bare names inside an interaction are factors
* ``a##b##...``              full factorial, Stata order (``a b c a#b a#c b#c a#b#c``)
* ``i.(a b)``                operator applied to a group of variables
* ``R.x``                    crossed-effects notation (random-effects equations of
                             ``_all`` only); parsed and flagged ``kind="R"``, but
                             :func:`design_matrix` rejects it for now.

Base levels (Stata's rules): a factor main effect ``i.x`` always omits its base level.
Inside an interaction, a factor's base level is omitted only when the rest of the
interaction (the term with that factor removed) is itself a term of the same equation;
otherwise all of its levels are kept (``i.girl#c.age`` without ``c.age`` gives
``0.girl#c.age 1.girl#c.age``).  Interaction cells of two or more factors that have no
observations are dropped (Stata's "empty" cells) and listed in :attr:`Design.empty`.
"""
from __future__ import annotations

import difflib
import functools
import itertools
import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence, Union

import numpy as np
import pandas as pd
from ..arrays import unique
from ..columns import column_values

__all__ = [
    "Part",
    "Term",
    "Design",
    "parse_term",
    "expand_terms",
    "variables_of",
    "design_matrix",
    "find_collinear",
]

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RANK_TOL = 1e-9


# --------------------------------------------------------------------------- terms


@dataclass(frozen=True)
class Part:
    """One variable inside a term.

    ``factor`` says whether it is a factor (indicators) or continuous.  For factors,
    ``base`` is one of ``"default"`` (lowest level), ``"first"``, ``"last"``, ``"freq"``,
    ``"value"`` (level ``base_arg``), ``"index"`` (the ``base_arg``-th level, 1-based) or
    ``"none"`` (``ibn.``); ``select`` restricts the indicators to the listed levels
    (``2.x``) and implies no base.
    """

    var: str
    factor: bool
    base: str = "default"
    base_arg: int | None = None
    select: tuple[int, ...] | None = None

    @property
    def text(self) -> str:
        """The part written back in Stata notation."""
        if not self.factor:
            return f"c.{self.var}"
        if self.select is not None:
            if len(self.select) == 1:
                return f"{self.select[0]}.{self.var}"
            return f"i({' '.join(str(v) for v in self.select)}).{self.var}"
        op = {
            "default": "i",
            "none": "ibn",
            "first": "ib(first)",
            "last": "ib(last)",
            "freq": "ib(freq)",
            "value": f"ib{self.base_arg}",
            "index": f"ib(#{self.base_arg})",
        }[self.base]
        return f"{op}.{self.var}"

    @property
    def key(self) -> tuple[str, bool]:
        """Identity of the part for matching terms (variable and factor/continuous)."""
        return (self.var, self.factor)


@dataclass(frozen=True)
class Term:
    """A single (already expanded) term: a main effect or an interaction of parts.

    ``kind`` is ``"fv"`` for ordinary factor-variable terms and ``"R"`` for ``R.x``.
    """

    parts: tuple[Part, ...]
    kind: str = "fv"

    @property
    def text(self) -> str:
        """The term in Stata notation (``i.a#c.x``; ``R.x`` for crossed effects)."""
        if self.kind == "R":
            return f"R.{self.parts[0].var}"
        return "#".join(p.text for p in self.parts)

    @property
    def key(self) -> tuple:
        """Order-free identity by variables (factor or not), used by the base rules."""
        return (self.kind, tuple(sorted(p.key for p in self.parts)))

    @property
    def spec_key(self) -> tuple:
        """Order-free identity including base specifications, used for de-duplication."""
        return (self.kind, tuple(sorted(p.text for p in self.parts)))

    @property
    def variables(self) -> list[str]:
        """Data columns used by the term, in order."""
        out: list[str] = []
        for p in self.parts:
            if p.var not in out:
                out.append(p.var)
        return out

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.text


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses (``sep`` is ``"##"`` or ``"#"``)."""
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced ')' in term '{text}'")
        if depth == 0 and text.startswith(sep, i):
            if sep == "#" and text.startswith("##", i):
                raise ValueError(f"invalid term '{text}'")
            out.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(ch)
        i += 1
    if depth != 0:
        raise ValueError(f"unbalanced '(' in term '{text}'")
    out.append("".join(cur))
    return out


def _split_ws_top(text: str) -> list[str]:
    """Split on whitespace outside parentheses."""
    out: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch.isspace() and depth == 0:
            if cur:
                out.append("".join(cur))
                cur = []
            continue
        cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


_OP_RE = re.compile(
    r"""\A(?:
        (?P<c>c)
      | (?P<ibn>ibn)
      | ib(?P<bval>\d+)
      | ib\(\s*(?P<bkw>first|last|freq)\s*\)
      | ib\(\s*\#(?P<bidx>\d+)\s*\)
      | i\(\s*(?P<sel>\d+(?:\s+\d+)*)\s*\)
      | i?(?P<one>\d+)(?:bn|b)?
      | (?P<i>i)
    )\Z""",
    re.IGNORECASE | re.VERBOSE,
)


def _parse_part(text: str, in_interaction: bool, whole: str) -> list[Part]:
    """Parse ``op.var`` / ``op.(v1 v2)`` / ``var`` into one or more parts."""
    text = text.strip()
    if not text:
        raise ValueError(f"empty component in term '{whole}'")
    if "." not in text:
        if not _NAME_RE.match(text):
            raise ValueError(f"invalid variable name '{text}' in term '{whole}'")
        return [Part(text, factor=in_interaction)]
    # the operator is everything before the last '.' that is outside parentheses
    depth = 0
    dot = -1
    for k, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "." and depth == 0:
            dot = k
            break
    if dot < 0:
        raise ValueError(f"invalid term '{whole}'")
    op, rest = text[:dot].strip(), text[dot + 1 :].strip()
    if rest.startswith("(") and rest.endswith(")"):
        names = rest[1:-1].split()
        if not names:
            raise ValueError(f"empty variable group in term '{whole}'")
    else:
        names = [rest]
    for nm in names:
        if not _NAME_RE.match(nm):
            raise ValueError(f"invalid variable name '{nm}' in term '{whole}'")
    m = _OP_RE.match(op)
    if m is None:
        if op.upper() in {"L", "F", "D", "S"} or re.match(r"\A[LFDS]\d*\Z", op, re.I):
            raise ValueError(f"time-series operator '{op}.' in term '{whole}' is not supported")
        raise ValueError(f"unknown factor-variable operator '{op}.' in term '{whole}'")
    g = m.groupdict()
    if g["c"]:
        return [Part(nm, factor=False) for nm in names]
    if g["ibn"]:
        kw = dict(base="none")
    elif g["bval"] is not None:
        kw = dict(base="value", base_arg=int(g["bval"]))
    elif g["bkw"] is not None:
        kw = dict(base=g["bkw"].lower())
    elif g["bidx"] is not None:
        idx = int(g["bidx"])
        if idx < 1:
            raise ValueError(f"invalid base '#{idx}' in term '{whole}'")
        kw = dict(base="index", base_arg=idx)
    elif g["sel"] is not None:
        kw = dict(base="none", select=tuple(sorted({int(v) for v in g["sel"].split()})))
    elif g["one"] is not None:
        kw = dict(base="none", select=(int(g["one"]),))
    else:
        kw = dict(base="default")
    return [Part(nm, factor=True, **kw) for nm in names]


def parse_term(text: str) -> list[Term]:
    """Parse one term string (``"i.a##c.x"``, ``"R.id"``, ...) into expanded terms.

    Raises ``ValueError`` with a message naming the term when the notation is invalid.
    """
    return list(_parsed_term(text))


@functools.lru_cache(maxsize=1024)
def _parsed_term(text: str) -> tuple[Term, ...]:
    """:func:`parse_term`'s terms of ``text``, kept for the texts already parsed (a fit
    parses its terms several times: checks, sample, designs; Terms are immutable)."""
    whole = text.strip()
    if not whole:
        raise ValueError("empty term")
    if whole[:2] == "R.":
        name = whole[2:].strip()
        if not _NAME_RE.match(name):
            raise ValueError(f"R. notation takes a single variable name, got '{whole}'")
        return (Term((Part(name, factor=True, base="none"),), kind="R"),)
    if "R." in whole and re.search(r"(?:\A|#)\s*R\.", whole):
        raise ValueError(f"R. notation cannot be part of an interaction: '{whole}'")
    in_inter = "#" in whole
    operands = _split_top(whole, "##")
    # each operand: list of alternatives, each alternative a tuple of parts
    operand_alts: list[list[tuple[Part, ...]]] = []
    for opnd in operands:
        if not opnd.strip():
            raise ValueError(f"invalid term '{whole}'")
        factors = _split_top(opnd, "#")
        per_part = [_parse_part(f, in_inter, whole) for f in factors]
        operand_alts.append([tuple(c) for c in itertools.product(*per_part)])
    out: list[Term] = []
    for combo in itertools.product(*operand_alts):
        if len(operands) == 1:
            subsets = [combo]
        else:
            subsets = [
                tuple(p for idx in sel for p in combo[idx])
                for r in range(1, len(combo) + 1)
                for sel in itertools.combinations(range(len(combo)), r)
            ]
        for parts in subsets:
            if not isinstance(parts[0], Part):  # single operand: combo is a tuple of tuples
                parts = tuple(p for grp in parts for p in grp)
            seen_f = [p.var for p in parts if p.factor]
            dup = {v for v in seen_f if seen_f.count(v) > 1}
            if dup:
                raise ValueError(
                    f"factor variable '{sorted(dup)[0]}' appears more than once in "
                    f"interaction '{whole}'"
                )
            out.append(Term(tuple(parts)))
    return tuple(out)


def expand_terms(terms: Union[str, Sequence[Union[str, Term]]]) -> list[Term]:
    """Expand factor-variable term strings into a de-duplicated list of :class:`Term`.

    ``##`` becomes its full factorial in Stata order, ``op.(a b)`` groups are
    distributed, and repeated terms (in any part order) are kept once, first
    occurrence wins.  A single string may hold several whitespace-separated terms.
    """
    if isinstance(terms, str):
        terms = [terms]
    out: list[Term] = []
    seen: set = set()
    for t in terms:
        if isinstance(t, Term):
            expanded = [t]
        else:
            expanded = []
            for piece in _split_ws_top(str(t)):
                expanded.extend(parse_term(piece))
        for term in expanded:
            if term.spec_key in seen:
                continue
            seen.add(term.spec_key)
            out.append(term)
    return out


def variables_of(terms: Union[str, Sequence[Union[str, Term]]]) -> list[str]:
    """Data columns used by ``terms`` (strings or :class:`Term`), first-use order."""
    out: list[str] = []
    for term in expand_terms(terms):
        for v in term.variables:
            if v not in out:
                out.append(v)
    return out


# --------------------------------------------------------------------------- design


@dataclass
class Design:
    """A design matrix with Stata coefficient names.

    ``matrix``: float64 (n, k).  ``labels``: Stata coefficient names (``_cons`` last when
    there is a constant).  ``re_labels``: the names Stata prints inside ``var(...)``
    (``c.`` dropped inside interactions).  ``variables``: data columns used.
    ``base``: omitted base cells for display (``1b.drug``, ``1b.program#4.day``).
    ``factor_levels``: var -> sorted levels seen.  ``empty``: interaction cells with no
    observations that were dropped.  ``terms``: expanded terms; ``term_of_column``: for
    each column, the index into ``terms`` (-1 for ``_cons``).
    """

    matrix: np.ndarray
    labels: list[str]
    re_labels: list[str]
    variables: list[str]
    base: list[str] = field(default_factory=list)
    factor_levels: dict = field(default_factory=dict)
    empty: list[str] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)
    term_of_column: list[int] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        """Shape of :attr:`matrix`."""
        return self.matrix.shape


def _column_source(data) -> tuple[list, "Callable[[str], object]"]:
    """(the column names, name -> the column's array) of a DataFrame (numpy arrays, or
    pandas arrays for categoricals and nullable numbers) or of a mapping of such arrays
    (the wide data's ColumnTable)."""
    if isinstance(data, pd.DataFrame):
        return list(data.columns), lambda name: column_values(data[name])
    return list(data), data.__getitem__


def _check_columns(vars_: Iterable[str], columns: list) -> None:
    present = set(columns)
    for v in vars_:
        if v not in present:
            cols = [str(c) for c in columns]
            close = difflib.get_close_matches(v, cols, n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(f"variable '{v}' not found in data{hint}")


def _factor_codes(var: str, col) -> tuple[np.ndarray, list]:
    """Integer codes (0..L-1) and sorted level values of a factor column (its numpy or
    pandas array)."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        codes = np.asarray(col.codes)
        if (codes < 0).any():
            raise ValueError(f"factor variable '{var}' has missing values")
        cats = list(col.categories)
        used = unique(codes)
        remap = np.full(len(cats), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        levels = [cats[i] for i in used]
        levels = [_py_level(v) for v in levels]
        return remap[codes], levels
    if pd.api.types.is_bool_dtype(dtype):
        if pd.isna(col).any():
            raise ValueError(f"factor variable '{var}' has missing values")
        vals = np.asarray(col).astype(np.int64)
        uniq, codes = np.unique(vals, return_inverse=True)
        return codes.astype(np.int64), [int(u) for u in uniq]
    if pd.api.types.is_numeric_dtype(dtype):
        arr = _float_values(col)
        if not np.isfinite(arr).all():
            raise ValueError(
                f"factor variable '{var}' has missing or infinite values; drop rows with "
                "missing values in variables_of(terms) first"
            )
        if not (arr == np.round(arr)).all():
            bad = arr[arr != np.round(arr)][0]
            raise ValueError(
                f"factor variable '{var}' has non-integer values (e.g. {bad:g}); "
                "factor levels must be integers"
            )
        if (arr < 0).any():
            raise ValueError(
                f"factor variable '{var}' has negative values (e.g. {arr[arr < 0][0]:g}); "
                "factor levels must be nonnegative integers"
            )
        uniq, codes = np.unique(arr, return_inverse=True)
        return codes.astype(np.int64), [int(u) for u in uniq]
    if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
        if pd.isna(col).any():
            raise ValueError(f"factor variable '{var}' has missing values")
        try:
            codes, uniques = pd.factorize(col, sort=True)
        except TypeError as exc:
            raise ValueError(
                f"factor variable '{var}' mixes values that cannot be ordered ({exc})"
            ) from None
        return np.asarray(codes, dtype=np.int64), [_py_level(u) for u in uniques]
    raise ValueError(f"variable '{var}' of dtype {dtype} cannot be used as a factor")


def _py_level(v):
    """Plain Python level value (numpy scalars to int/str)."""
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def _float_values(col) -> np.ndarray:
    """A numeric column as float64, missing values as NaN: a numpy column by a cast (a
    float column's NaN stays NaN, an integer column has none; ``to_numpy(dtype,
    na_value)`` takes 70 us where the cast takes 3), a pandas array (nullable integers,
    floats) by ``to_numpy`` with ``na_value``."""
    if isinstance(col, np.ndarray):
        return np.array(col, dtype=np.float64)                # (a copy, as before)
    return col.to_numpy(dtype=np.float64, na_value=np.nan)


def _continuous(var: str, col) -> np.ndarray:
    """Float64 values of a continuous column, with clear errors."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise ValueError(
            f"variable '{var}' is not numeric (dtype {dtype}); write i.{var} to use it "
            "as a factor"
        )
    arr = _float_values(col)
    if not np.isfinite(arr).all():
        raise ValueError(
            f"variable '{var}' has missing or infinite values; drop rows with missing "
            "values in variables_of(terms) first"
        )
    return arr


def _base_index(part: Part, levels: list, codes: np.ndarray) -> int | None:
    """Index (into ``levels``) of the base level requested by ``part``."""
    if part.base in ("default", "first"):
        return 0
    if part.base == "last":
        return len(levels) - 1
    if part.base == "freq":
        return int(np.argmax(np.bincount(codes, minlength=len(levels))))
    if part.base == "value":
        if part.base_arg not in levels:
            raise ValueError(
                f"base level {part.base_arg} of factor variable '{part.var}' does not "
                f"occur in the estimation sample (levels: {_fmt_levels(levels)})"
            )
        return levels.index(part.base_arg)
    if part.base == "index":
        if part.base_arg > len(levels):
            raise ValueError(
                f"base '#{part.base_arg}' of factor variable '{part.var}': only "
                f"{len(levels)} levels"
            )
        return part.base_arg - 1
    return None


def _fmt_levels(levels: list, limit: int = 10) -> str:
    txt = ", ".join(str(v) for v in levels[:limit])
    return txt + (", ..." if len(levels) > limit else "")


def _level_label(level, var: str, is_base: bool = False) -> str:
    return f"{level}{'b' if is_base else ''}.{var}"


#: largest dense fixed-effects design allocated (bytes); larger designs are refused
MAX_DESIGN_BYTES = 2 * 2**30


def design_matrix(
    terms: Union[str, Sequence[Union[str, Term]]],
    data: pd.DataFrame,
    constant: bool,
    check_rank: bool = True,
    name: str = "fixed-effects",
) -> Design:
    """Build the design matrix of ``terms`` on ``data`` (``_cons`` last if ``constant``).

    Rows with missing values in :func:`variables_of` must already be dropped.  With
    ``check_rank`` the matrix must have full column rank, otherwise a ``ValueError``
    names the columns collinear with earlier ones, the constant counting as the first
    column (``name`` is used in the message, e.g. ``"fixed-effects"``).

    The steps: each variable's codes or values (:func:`_variable_values`), each term's
    columns (:func:`_continuous_term`, :func:`_factor_term`: a factor term's observed
    cells less its base levels), the matrix (:func:`_assemble`) and its rank.
    """
    expanded = expand_terms(terms)
    for t in expanded:
        if t.kind == "R":
            raise ValueError(
                f"'{t.text}': R. terms are only allowed in random-effects equations of "
                "_all and are not supported yet"
            )
    variables = variables_of(expanded)
    columns, column = _column_source(data)
    _check_columns(variables, columns)
    n = len(data)
    if n == 0:
        raise ValueError("no observations in the estimation sample")
    values = _variable_values(expanded, column)
    cols = _Columns()
    term_keys = {t.key for t in expanded}
    for ti, term in enumerate(expanded):
        cont: np.ndarray | None = None            # the product of the continuous parts
        for p in term.parts:
            if not p.factor:
                cont = values.cont[p.var] if cont is None else cont * values.cont[p.var]
        if any(p.factor for p in term.parts):
            _factor_term(term, ti, cont, values, term_keys, n, cols)
        else:
            _continuous_term(term, ti, cont, n, cols)
    X = _assemble(cols, n, constant)
    if constant:
        cols.labels.append("_cons")
        cols.re_labels.append("_cons")
        cols.term_of_column.append(-1)
    design = Design(
        matrix=X,
        labels=cols.labels,
        re_labels=cols.re_labels,
        variables=variables,
        base=cols.base,
        factor_levels={v: list(values.levels[v]) for v in values.levels},
        empty=cols.empty,
        terms=expanded,
        term_of_column=cols.term_of_column,
    )
    if check_rank and X.shape[1]:
        _check_rank(X, cols.labels, constant, name)
    return design


@dataclass
class _VariableValues:
    """A factor variable's codes and levels, a continuous variable's values."""

    codes: dict[str, np.ndarray]
    levels: dict[str, list]
    cont: dict[str, np.ndarray]


def _variable_values(expanded: list[Term], column) -> _VariableValues:
    """Codes and levels of the factor variables, values of the continuous ones
    (``column``: name -> the column's array)."""
    factor_vars = [p.var for t in expanded for p in t.parts if p.factor]
    codes_of: dict[str, np.ndarray] = {}
    levels_of: dict[str, list] = {}
    for v in dict.fromkeys(factor_vars):
        codes, levels = _factor_codes(v, column(v))
        if len(levels) < 2:
            raise ValueError(
                f"factor variable '{v}' has only one level ({levels[0]}) in the "
                "estimation sample"
            )
        codes_of[v], levels_of[v] = codes, levels
    cont_of: dict[str, np.ndarray] = {}
    for t in expanded:
        for p in t.parts:
            if not p.factor and p.var not in cont_of:
                cont_of[p.var] = _continuous(p.var, column(p.var))
    return _VariableValues(codes_of, levels_of, cont_of)


@dataclass
class _Columns:
    """The columns made so far: labels (fixed and random-effects spelling), base and
    empty cells, the term of each column and the blocks (rows, columns within the block,
    values or None for ones, first column, width) to fill the matrix from."""

    labels: list[str] = field(default_factory=list)
    re_labels: list[str] = field(default_factory=list)
    base: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    term_of_column: list[int] = field(default_factory=list)
    blocks: list[tuple] = field(default_factory=list)
    width: int = 0


def _continuous_term(term: Term, ti: int, cont: np.ndarray, n: int, cols: _Columns) -> None:
    main = len(term.parts) == 1
    cols.labels.append(term.parts[0].var if main else term.text)
    cols.re_labels.append(term.parts[0].var if main else "#".join(p.var for p in term.parts))
    cols.term_of_column.append(ti)
    cols.blocks.append((np.arange(n), np.zeros(n, dtype=np.int64), cont, cols.width, 1))
    cols.width += 1


def _factor_term(term: Term, ti: int, cont: np.ndarray | None, values: _VariableValues,
                 term_keys: set, n: int, cols: _Columns) -> None:
    """A factor term's columns: one per observed cell of its factors' levels, less the
    base levels (which a lower-order term present in the model absorbs); unobserved
    cells of an interaction are recorded as empty."""
    levels_of, codes_of = values.levels, values.codes
    main = len(term.parts) == 1
    fparts = [p for p in term.parts if p.factor]
    # per factor part: kept level indices and dropped base
    kept_idx: list[np.ndarray] = []
    base_idx: list[int | None] = []
    for p in fparts:
        levels = levels_of[p.var]
        if p.select is not None:
            missing = [v for v in p.select if v not in levels]
            if missing:
                raise ValueError(
                    f"level {missing[0]} of factor variable '{p.var}' does not occur "
                    f"in the estimation sample (levels: {_fmt_levels(levels)})"
                )
            kept_idx.append(np.array([levels.index(v) for v in p.select]))
            base_idx.append(None)
            continue
        b = _base_index(p, levels, codes_of[p.var])
        if b is not None and not main:
            rest = tuple(sorted(q.key for q in term.parts if q is not p))
            if (term.kind, rest) not in term_keys:
                b = None
        base_idx.append(b)
        kept_idx.append(np.array([i for i in range(len(levels)) if i != b], dtype=np.int64))
    sizes = [len(levels_of[p.var]) for p in fparts]
    cid = np.zeros(n, dtype=np.int64)
    for p, size in zip(fparts, sizes):
        cid = cid * size + codes_of[p.var]
    observed = unique(cid)
    # decode observed cells into per-part level indices (first part slowest)
    dec = np.empty((len(observed), len(fparts)), dtype=np.int64)
    rem = observed.copy()
    for j in range(len(fparts) - 1, -1, -1):
        dec[:, j] = rem % sizes[j]
        rem //= sizes[j]
    keep_mask = np.ones(len(observed), dtype=bool)
    is_base = np.zeros((len(observed), len(fparts)), dtype=bool)
    for j in range(len(fparts)):
        keep_mask &= np.isin(dec[:, j], kept_idx[j])
        if base_idx[j] is not None:
            is_base[:, j] = dec[:, j] == base_idx[j]
    # select-parts: cells outside the selection are neither kept nor base
    selected = np.ones(len(observed), dtype=bool)
    for j, p in enumerate(fparts):
        if p.select is not None:
            selected &= np.isin(dec[:, j], kept_idx[j])

    def cell_label(cell_row: np.ndarray, base_row: np.ndarray, for_re: bool) -> str:
        out, fj = [], 0
        for p in term.parts:
            if p.factor:
                lvl = levels_of[p.var][cell_row[fj]]
                out.append(_level_label(lvl, p.var, bool(base_row[fj])))
                fj += 1
            else:
                out.append(p.var if for_re else f"c.{p.var}")
        return "#".join(out)

    for r in np.flatnonzero(selected & ~keep_mask & is_base.any(axis=1)):
        cols.base.append(cell_label(dec[r], is_base[r], False))
    kept_cells = observed[keep_mask]
    kept_dec = dec[keep_mask]
    nofalse = np.zeros(len(fparts), dtype=bool)
    for r in range(len(kept_cells)):
        cols.labels.append(cell_label(kept_dec[r], nofalse, False))
        cols.re_labels.append(cell_label(kept_dec[r], nofalse, True))
        cols.term_of_column.append(ti)
    if len(fparts) >= 2:
        total = int(np.prod([len(k) for k in kept_idx]))
        if total > len(kept_cells) and total <= 100_000:
            have = set(kept_cells.tolist())
            for combo in itertools.product(*kept_idx):
                code = 0
                for c_, size in zip(combo, sizes):
                    code = code * size + int(c_)
                if code not in have:
                    cols.empty.append(cell_label(np.array(combo), nofalse, False))
    pos = np.searchsorted(kept_cells, cid)
    pos_c = np.minimum(pos, max(len(kept_cells) - 1, 0))
    valid = (kept_cells[pos_c] == cid) if len(kept_cells) else np.zeros(n, dtype=bool)
    rows = np.arange(n)[valid]
    cols.blocks.append((rows, pos_c[valid], None if cont is None else cont[valid],
                        cols.width, len(kept_cells)))
    cols.width += len(kept_cells)


def _assemble(cols: _Columns, n: int, constant: bool) -> np.ndarray:
    """The matrix from the blocks (``_cons`` last), refused above MAX_DESIGN_BYTES."""
    k = cols.width + (1 if constant else 0)
    if n * k * 8 > MAX_DESIGN_BYTES:
        wide = max(((b[4], b[3]) for b in cols.blocks), default=(0, 0))[0]
        raise ValueError(
            f"the fixed-effects design would have {n:,} rows x {k:,} columns "
            f"({n * k * 8 / 2**30:.1f} GiB; a factor term has {wide:,} levels): more than "
            f"the {MAX_DESIGN_BYTES / 2**30:.0f} GiB semlevel allocates for it. A factor with "
            "that many levels is a grouping variable: make it a random effect (|| var:) "
            "instead of i.var")
    X = np.zeros((n, k), dtype=np.float64)
    for rows, cc, vals, start, width in cols.blocks:
        if width == 0:
            continue
        X[rows, start + cc] = 1.0 if vals is None else vals
    if constant:
        X[:, -1] = 1.0
    return X


def _check_rank(X: np.ndarray, labels: list[str], constant: bool, name: str) -> None:
    """Full column rank, or a ValueError naming the columns collinear with earlier ones
    (like Stata's _rmcoll, the constant is kept in preference to other columns)."""
    k = X.shape[1]
    order = [k - 1] + list(range(k - 1)) if constant else list(range(k))
    bad = sorted(order[j] for j in find_collinear(X[:, order]))
    if bad:
        names = ", ".join(f"'{labels[j]}'" for j in bad)
        verb = "is" if len(bad) == 1 else "are"
        raise ValueError(
            f"singular {name} design: {names} {verb} collinear with earlier columns"
        )


def find_collinear(X: np.ndarray, tol: float = _RANK_TOL) -> list[int]:
    """Indices of columns of ``X`` that are (numerically) linear combinations of earlier ones.

    Columns are scaled to unit length.  A Cholesky factor of their Gram matrix certifies
    clear full rank cheaply; otherwise the columns are reduced to a k x k triangular
    factor by a Householder QR (columnwise backward stable) and tested in order by
    Gram-Schmidt with re-orthogonalisation: column j is collinear when its distance to
    the span of the earlier independent columns is at most ``tol``.
    """
    X = np.asarray(X, dtype=np.float64)
    n, k = X.shape
    if k == 0:
        return []
    G = X.T @ X
    norms = np.sqrt(np.clip(np.diag(G), 0.0, None))
    bad = [j for j in range(k) if not norms[j] > 0]
    good = np.flatnonzero(norms > 0)
    if len(good) == 0:
        return bad
    if n > len(good):
        # fast path: the Gram matrix of unit-length columns certifies clear full rank
        Gs = G[np.ix_(good, good)] / np.outer(norms[good], norms[good])
        try:
            L = np.linalg.cholesky(Gs)
            if np.min(np.abs(np.diag(L))) > 1e-3:
                return bad
        except np.linalg.LinAlgError:
            pass
        R = np.linalg.qr(X[:, good] / norms[good], mode="r")
    else:
        R = X[:, good] / norms[good]
    m = R.shape[0]
    Q = np.zeros((m, len(good)))
    nq = 0
    for jj, j in enumerate(good):
        v = R[:, jj].copy()
        total = np.linalg.norm(v)
        for _ in range(2):  # classical Gram-Schmidt, twice is enough
            B = Q[:, :nq]
            v -= B @ (B.T @ v)
        resid = np.linalg.norm(v)
        if resid <= tol * max(total, 1.0):
            bad.append(int(j))
        else:
            Q[:, nq] = v / resid
            nq += 1
    return sorted(bad)
