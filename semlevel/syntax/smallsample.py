"""The ``dfmethod()``, ``dftable()`` and ``constraints()`` options of a ``mixed`` command.

String forms (taken by :func:`read_small_sample` from the options :mod:`.mixed` read) and
keyword equivalents:

=======================================  ================================================
``dfmethod(kroger)``                     ``dfmethod="kroger"``
``dfmethod(satterthwaite, oim)``         ``dfmethod="satterthwaite, oim"``
``dftable(pvalue)``                      ``dftable="pvalue"``
(Stata's ``constraints(1 2)``)           ``constraints=["week = 6", "2.drug = 3.drug"]``
                                         or ``constraints=(R, r)``
=======================================  ================================================

Stata's ``constraints(numlist)`` names constraints defined beforehand with ``constraint
define``; there is no such registry here, so the constraints themselves are given as the
``constraints`` keyword. The manual's rules checked here: satterthwaite and kroger need
REML, ``dftable()`` needs ``dfmethod()``. (Weights and ``vce()`` other than oim with
``dfmethod()`` are refused by :mod:`.survey`.)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DF_METHODS", "DFTABLES", "DFMethod", "parse_dfmethod", "parse_dftable",
           "read_small_sample", "check_small_sample", "SMALL_SAMPLE_OPTIONS"]

#: the options this module takes out of the parser's option strings
SMALL_SAMPLE_OPTIONS = ("dfmethod", "dftable", "constraints")

DF_METHODS = ("residual", "repeated", "anova", "satterthwaite", "kroger")
DFTABLES = ("default", "ci", "pvalue")
_TITLES = {"residual": "Residual", "repeated": "Repeated", "anova": "ANOVA",
           "satterthwaite": "Satterthwaite", "kroger": "Kenward-Roger"}


@dataclass(frozen=True)
class DFMethod:
    """A DF method and, for satterthwaite/kroger, the information matrix (eim/oim)."""

    method: str
    information: str = "eim"

    @property
    def title(self) -> str:
        return _TITLES[self.method]

    @property
    def approximate(self) -> bool:
        """Satterthwaite or Kenward-Roger (REML only)."""
        return self.method in ("satterthwaite", "kroger")

    def __str__(self) -> str:
        return self.method + (f", {self.information}" if self.approximate else "")


def _match(word: str, choices: tuple[str, ...], what: str) -> str:
    low = word.strip().lower()
    hits = [c for c in choices if c == low] or \
        [c for c in choices if low and c.startswith(low) and len(low) >= 3]
    if len(hits) != 1:
        detail = "ambiguous" if len(hits) > 1 else "unknown"
        raise ValueError(f"{detail} {what} {word.strip()!r}; one of {', '.join(choices)}")
    return hits[0]


def parse_dfmethod(value) -> DFMethod:
    """``"kroger"``, ``"satterthwaite, oim"`` (as inside Stata's parentheses), or a DFMethod.
    Unique abbreviations of three or more letters are accepted (``"satt"``)."""
    if isinstance(value, DFMethod):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"dfmethod must be one of {', '.join(DF_METHODS)}, not {value!r}")
    head, _, opts = value.partition(",")
    method = _match(head, DF_METHODS, "dfmethod")
    words = opts.split()
    if not words:
        return DFMethod(method)
    if len(words) > 1 or words[0].lower() not in ("eim", "oim"):
        raise ValueError(f"invalid dfmethod() suboption {opts.strip()!r}: eim or oim")
    if method not in ("satterthwaite", "kroger"):
        raise ValueError(f"dfmethod({method}) takes no suboption ({words[0]} is for "
                         "satterthwaite and kroger)")
    return DFMethod(method, words[0].lower())


def parse_dftable(value) -> str:
    """``default``, ``ci`` or ``pvalue``."""
    if not isinstance(value, str):
        raise ValueError(f"dftable must be one of {', '.join(DFTABLES)}, not {value!r}")
    low = value.strip().lower()
    if low not in DFTABLES:
        raise ValueError(f"unknown dftable {value!r}; one of {', '.join(DFTABLES)}")
    return low


def read_small_sample(pending: dict, options: dict[str, Any]) -> dict:
    """``dfmethod``, ``dftable`` and ``constraints``, taken out of ``pending`` (the
    parser's option strings, modified in place) and ``options`` (keywords, which win),
    parsed, for ``spec.extra``; ``constraints_numbered`` keeps the text of Stata's
    numbered ``constraints(1 2)`` for the error :func:`check_small_sample` gives. How
    they combine with the rest of the model (REML) is checked when the model is built."""
    raw_df = options.get("dfmethod", pending.pop("dfmethod", None))
    raw_tab = options.get("dftable", pending.pop("dftable", None))
    numbered = pending.pop("constraints", None)
    constraints = options.get("constraints")
    if constraints is not None and not (isinstance(constraints, (str, list, tuple)) or
                                        hasattr(constraints, "shape")):
        raise ValueError("constraints must be an equation, a list of equations, or (R, r)")
    return {"dfmethod": parse_dfmethod(raw_df) if raw_df is not None else None,
            "dftable": parse_dftable(raw_tab) if raw_tab is not None else None,
            "constraints": constraints, "constraints_numbered": numbered}


def check_small_sample(extra: dict, reml: bool) -> None:
    """The manual's rules: satterthwaite and kroger need REML, ``dftable()`` needs
    ``dfmethod()``; Stata's numbered ``constraints(1 2)`` cannot be resolved here."""
    dfm, table = extra.get("dfmethod"), extra.get("dftable")
    if table is not None and dfm is None:
        raise ValueError("dftable() requires dfmethod()")
    if dfm is not None and dfm.approximate and not reml:
        raise ValueError(f"dfmethod({dfm.method}) is supported only with REML estimation; "
                         "add the option reml")
    raw = extra.get("constraints_numbered")
    if raw is not None and extra.get("constraints") is None:
        raise ValueError(
            f"constraints({raw}) refers to Stata's numbered constraints, which do not "
            "exist here: give the constraints themselves, e.g. "
            "constraints=['week = 6', '2.drug = 3.drug']")
