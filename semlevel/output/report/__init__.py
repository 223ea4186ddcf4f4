"""The Stata-like text report of a fitted `mixed` model (what ``Fit.summary()`` returns),
in one place: :mod:`.cells` (Stata's number formats, abbreviations, header lines),
:mod:`.header`, :mod:`.fixed` (one fixed-effects renderer driven by a column spec, for
z tests and every ``dftable()`` layout), :mod:`.random` (the variance components and the
LR test against the linear model), :mod:`.vce` (what robust SEs and weights change).

The layout is Stata's own (78 columns, ``|`` separators, ``----+----`` rules). Display
options recorded by the parser (``noheader``, ``nogroup``, ``nofetable``, ``noretable``,
``nolrtest``, ``nocnsreport``, ``nofvlabel``) are honoured.
"""
from __future__ import annotations

import dataclasses

from ..numbers import stata_g
from .cells import display_options, wrap
from .fixed import constraint_lines, fixed_table
from .header import header, sample_note
from .random import lr_lines, random_table

__all__ = ["stata_g", "stata_report", "replay"]


def _warnings(fit) -> list[str]:
    lines: list[str] = []
    if not fit.converged:
        lines += wrap(f"Warning: convergence not achieved; {fit.optimization}", "         ")
    boundary = list(getattr(fit, "boundary", []) or [])
    if boundary:
        lines += wrap("Warning: variance at the boundary (zero): " + ", ".join(boundary)
                      + " (its standard error and confidence interval are not shown)",
                      "         ")
    return lines


def stata_report(fit) -> str:
    """The report of a fitted model, laid out as Stata's ``mixed`` output (78 columns)."""
    opts = display_options(fit)
    blocks: list[list[str]] = []
    if "noheader" not in opts:
        blocks.append(header(fit, opts))
    note = sample_note(fit)
    if note:
        blocks.append(note)
    for text in fit.model.info.notes or []:
        blocks.append(wrap(f"Note: {text}.", "      "))
    cns = constraint_lines(fit, opts)
    if cns:
        blocks.append(cns)
    if "nofetable" not in opts:
        blocks.append(fixed_table(fit))
        if fit.se_convention == "full":
            blocks.append(["Note: standard errors of the fixed effects from the joint observed "
                           "information of the", "coefficients and the variance parameters "
                           "(se='full', as sem and lavaan)."])
    tail: list[str] = []
    if "noretable" not in opts:
        tail += random_table(fit)
    if "nolrtest" not in opts:
        tail += lr_lines(fit)
    if tail:
        blocks.append(tail)
    warn = _warnings(fit)
    if warn:
        blocks.append(warn)
    text = "\n\n".join("\n".join(b) for b in blocks)
    return "\n".join(line.rstrip() for line in text.split("\n")) + "\n"


def replay(fit, small: bool = True, dftable: str | None = None) -> str:
    """The report of ``fit`` with another ``dftable``, or (``small=False``) its
    large-sample results (z tests, Wald chi2), as Stata's replay of ``mixed``."""
    from ...syntax.smallsample import parse_dftable
    info = dict(fit.model.info)
    if not small:
        info.pop("dfmethod", None)
        info.pop("dftable", None)
    elif dftable is not None:
        if info.get("dfmethod") is None:
            raise ValueError("dftable() requires a fit made with dfmethod()")
        info["dftable"] = parse_dftable(dftable)
    view = dataclasses.replace(fit, model=fit.model.replace(info=info))
    return stata_report(view)
