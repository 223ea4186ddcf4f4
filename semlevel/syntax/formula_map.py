"""From an lme4-style formula to the equivalent Stata ``mixed`` specification.

The formula is parsed (:mod:`semlevel.syntax.formula`), written as the Stata command line
that means the same model, and that line is parsed by :func:`parse_mixed`: both front ends
build the same :class:`MixedSpec` by construction.

Random-effects terms become ``|| level:`` equations:

* ``(x | g)`` correlated effects: ``|| g: x, covariance(unstructured)``;
* ``(x || g)``, ``(1 | g) + (0 + x | g)``: ``|| g: x`` (independent);
* ``(0 + x | g)``: ``|| g: x, noconstant``; blocks of one grouping that are not all
  single effects become repeated-level equations (block-diagonal covariance);
* ``(1 | a/b)`` = ``(1 | a) + (1 | a:b)``: nested levels ``|| a: || b:``;
* crossed ``(1 | a) + (1 | b)``: ``|| _all: R.a || b:`` (the manual's example 10): one
  grouping keeps a level equation (the one with random slopes, else the one with the
  most levels in ``data``, else the last written), the others must be random intercepts
  and become ``R.`` terms of ``_all``.  With ``data``, a grouping whose values are
  nested in another's (``class`` ids unique across ``school``) is nested, as lme4's
  result is the same and the nested form is much cheaper.

Factors: ``factor(x)``, ``as.factor(x)``, ``C(x)`` and, given ``data``, every non-numeric
column, as R does; the base level is the lowest (``C(x, Treatment(k))``: level ``k``).
R's coding rules and Stata's agree (a factor in a term is coded by contrasts when the rest
of the term is in the model), except that without an intercept R codes the first factor
main effect with all its levels: that term is written ``ibn.x``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import pandas as pd

from .formula import Formula, FormulaSyntaxError, parse_formula_terms
from .mixed import MixedOptionError, MixedSyntaxError, parse_mixed
from .spec import MixedSpec

__all__ = ["formula_to_stata", "parse_formula"]


@dataclass
class _Block:
    terms: list
    intercept: bool
    position: int

    def single_effect(self) -> bool:
        """One column: an intercept alone, or one continuous term without intercept."""
        if not self.terms:
            return True
        return (not self.intercept and len(self.terms) == 1
                and all(a.kind != "factor" for a in self.terms[0]))


def _factor_columns(data: pd.DataFrame | None) -> frozenset[str]:
    if data is None:
        return frozenset()
    out = set()
    for name in data.columns:
        col = data[name]
        if (isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col)
                or not pd.api.types.is_numeric_dtype(col)):
            out.add(str(name))
    return frozenset(out)


def _term_text(f: Formula, term: frozenset, full_coding: bool) -> str:
    atoms = f.atoms_in_order(term)
    parts = []
    for a in atoms:
        if a.kind == "product":
            parts.append("#".join(f"c.{v}" for v in a.vars))
        elif a.kind == "var":
            parts.append(a.name if len(atoms) == 1 else f"c.{a.name}")
        elif a.base is not None:
            parts.append(f"ib{a.base}.{a.name}")
        else:
            parts.append(f"ibn.{a.name}" if full_coding else f"i.{a.name}")
    return "#".join(parts)


def _terms_text(f: Formula, terms: list, intercept: bool) -> list[str]:
    """Stata terms; without an intercept R codes the first factor main effect fully."""
    out, full_done = [], intercept
    for t in terms:
        atoms = list(t)
        full = (not full_done and len(atoms) == 1 and atoms[0].kind == "factor"
                and atoms[0].base is None)
        full_done = full_done or full
        out.append(_term_text(f, t, full))
    return out


# --------------------------------------------------------------------------- data facts


class _DataFacts:
    """What the mapping may ask of the data: number of levels and nesting."""

    def __init__(self, data: pd.DataFrame | None):
        self.data = data

    def has(self, name: str) -> bool:
        return self.data is not None and name in self.data.columns

    def n_levels(self, name: str) -> int | None:
        return int(self.data[name].nunique()) if self.has(name) else None

    def nested(self, child: str, parent: str) -> bool:
        """Each value of ``child`` occurs with one value of ``parent`` (and is finer)."""
        if not (self.has(child) and self.has(parent)) or child == parent:
            return False
        pair = self.data[[child, parent]].dropna()
        if pair.empty or pair[child].nunique() <= pair[parent].nunique():
            return False
        return bool((pair.groupby(child, sort=False)[parent].nunique() <= 1).all())


def _closure(groupings: list[tuple[str, ...]], facts: _DataFacts) -> dict[str, frozenset]:
    """Each singleton grouping name with the singleton groupings it is nested in."""
    singles = [g[0] for g in groupings if len(g) == 1]
    parent: dict[str, str] = {}
    for child in singles:
        cands = [p for p in singles if facts.nested(child, p)]
        if cands:       # the finest parent: the one with the most levels
            parent[child] = max(cands, key=lambda p: facts.n_levels(p) or 0)
    out: dict[str, frozenset] = {}
    for name in singles:
        chain, cur = {name}, name
        while cur in parent and parent[cur] not in chain:
            cur = parent[cur]
            chain.add(cur)
        out[name] = frozenset(chain)
    return out


# --------------------------------------------------------------------------- mapping


def _blocks_by_grouping(f: Formula, facts: _DataFacts):
    """{grouping (frozenset of names): [blocks]} in order of appearance, after closure."""
    raw = [g for r in f.random for g in r.groupings]
    closure = _closure(raw, facts)
    groups: dict[frozenset, list[_Block]] = {}
    written: dict[frozenset, tuple[str, ...]] = {}
    for r in f.random:
        for g in r.groupings:
            key = frozenset().union(*(closure.get(n, frozenset([n])) for n in g))
            written.setdefault(key, g)
            blocks = groups.setdefault(key, [])
            if r.correlated:
                blocks.append(_Block(list(r.terms), r.intercept, r.position))
            else:                      # (a + b || g) = (1 | g) + (0 + a | g) + (0 + b | g)
                if r.intercept:
                    blocks.append(_Block([], True, r.position))
                blocks.extend(_Block([t], False, r.position) for t in r.terms)
    return groups, written


def _level_of(chain: list[frozenset], k: int) -> str:
    (name,) = chain[k] - chain[k - 1] if k else chain[0]
    return name


def _chain(groups: dict, written: dict, facts: _DataFacts) -> tuple[list, list]:
    """Split groupings into a nested chain (level equations) and crossed R. intercepts."""
    multi = sorted((g for g in groups if len(g) > 1), key=len)
    singles = [g for g in groups if len(g) == 1]
    def slopes(g):
        return any(b.terms for b in groups[g])
    def where(g):
        return groups[g][0].position
    for a, b in zip(multi, multi[1:]):
        if len(b) != len(a) + 1 or not a < b:
            raise FormulaSyntaxError(
                f"groupings {':'.join(written[a])} and {':'.join(written[b])} are neither "
                f"nested one in the other nor crossed single factors at position {where(b)}; "
                "write nested groupings as (1 | a/b)", token=":".join(written[b]),
                position=where(b))
    if multi:
        first = multi[0]
        top = [g for g in singles if g < first]
        if len(first) != 2 or not top:
            raise FormulaSyntaxError(
                f"grouping {':'.join(written[first])} at position {where(first)} needs the "
                "grouping it is nested in as a random-effects term too (write (1 | a/b)), "
                "or make one id column for the combination", token=":".join(written[first]),
                position=where(first))
    else:
        top = list(singles)
    with_slopes = [g for g in top if slopes(g)]
    if len(with_slopes) > 1:
        g = with_slopes[1]
        raise FormulaSyntaxError(
            f"crossed random effects with random slopes on more than one grouping factor "
            f"({', '.join(':'.join(written[x]) for x in with_slopes)}) are not supported "
            f"(at position {where(g)}): crossed factors other than one are random "
            "intercepts (Stata's R. notation)", token=":".join(written[g]), position=where(g))
    if with_slopes:
        head = with_slopes[0]
    else:
        counts = [facts.n_levels(next(iter(g))) for g in top]
        if all(c is not None for c in counts):
            head = top[max(range(len(top)), key=lambda i: (counts[i], i))]
        else:
            head = top[-1]
    chain = [head] + multi
    crossed = [g for g in singles if g != head]
    for g in crossed:
        if slopes(g) or len(groups[g]) > 1:
            raise FormulaSyntaxError(
                f"crossed grouping {written[g][0]} at position {where(g)} may only have a "
                "random intercept (1 | g): another grouping carries the nested levels",
                token=written[g][0], position=where(g))
    return chain, crossed


def _level_equations(f: Formula, level: str, blocks: list[_Block]) -> list[str]:
    with_cons = [b for b in blocks if b.intercept]
    if len(with_cons) > 1:
        raise FormulaSyntaxError(
            f"two random intercepts for grouping {level} at position {with_cons[1].position} "
            f"(the first at {with_cons[0].position})", token=level,
            position=with_cons[1].position)
    seen: list = []
    for b in blocks:
        for t in b.terms:
            if t in seen:
                raise FormulaSyntaxError(
                    f"the same random effect appears twice for grouping {level} "
                    f"(position {b.position})", token=level, position=b.position)
            seen.append(t)
    singles = [b for b in blocks if b.single_effect()]
    multis = [b for b in blocks if not b.single_effect()]
    eqs: list[tuple[list[str], bool, bool]] = []      # (terms, constant, unstructured)
    if singles:
        terms = [x for b in singles for x in _terms_text(f, b.terms, b.intercept)]
        eqs.append((terms, any(b.intercept for b in singles), False))
    for b in multis:
        eqs.append((_terms_text(f, b.terms, b.intercept), b.intercept, True))
    eqs.sort(key=lambda e: e[1])                       # the one with _cons last (Stata)
    out = []
    for terms, constant, un in eqs:
        opts = ([] if constant else ["noconstant"]) + (["covariance(unstructured)"] if un else [])
        text = f"|| {level}:" + "".join(f" {t}" for t in terms)
        out.append(text + (", " + " ".join(opts) if opts else ""))
    return out


def _stata_text(f: Formula, data: pd.DataFrame | None) -> str:
    facts = _DataFacts(data)
    fixed = _terms_text(f, f.fixed, f.intercept)
    text = " ".join([f.depvar] + fixed) + ("" if f.intercept else ", noconstant")
    if not f.random:
        raise FormulaSyntaxError(
            "the formula has no random-effects term (... | group): that is a linear "
            f"regression, not a mixed model (position {len(f.text) + 1})", token="",
            position=len(f.text) + 1)
    groups, written = _blocks_by_grouping(f, facts)
    chain, crossed = _chain(groups, written, facts)
    if crossed and data is None:
        warnings.warn(
            "crossed groupings mapped without data: the one written last keeps its level "
            f"equation ({', '.join(written[g][0] for g in chain)}) and the others become "
            "R. terms of "
            "_all; with data= (as sl.lmer has) the grouping with the most levels keeps it, "
            "so pass data= to see the mapping lmer() fits", UserWarning, stacklevel=3)
    eqs = [f"|| _all: R.{written[g][0]}" for g in crossed]
    for k in range(len(chain)):
        eqs.extend(_level_equations(f, _level_of(chain, k), groups[chain[k]]))
    return " ".join([text] + eqs)


def formula_to_stata(formula: str, data: pd.DataFrame | None = None) -> str:
    """The Stata ``mixed`` command line (without ``mixed``) of an lme4-style formula.

    ``data`` (optional) tells which columns are factors (non-numeric ones, as in R), how
    many levels each grouping has and which groupings are nested in others; without it
    every bare name is continuous and groupings are crossed unless written ``a/b``.
    """
    f = parse_formula_terms(formula, _factor_columns(data))
    return _stata_text(f, data)


def parse_formula(formula: str, data: pd.DataFrame | None = None, **options) -> MixedSpec:
    """The :class:`MixedSpec` of an lme4-style formula (see :func:`formula_to_stata`).

    ``options`` are :func:`parse_mixed`'s keyword options (``reml=True``, ``level=90``);
    ``spec.extra["formula"]`` keeps the formula, ``spec.extra["text"]`` the Stata line.
    """
    text = formula_to_stata(formula, data)
    try:
        spec = parse_mixed(text, **options)
    except MixedOptionError:
        raise
    except MixedSyntaxError as exc:        # a mapping the Stata grammar refuses
        raise FormulaSyntaxError(f"formula {formula!r} maps to the Stata specification "
                                 f"{text!r}, which is invalid: {exc}") from None
    spec.extra["formula"] = formula
    return spec

