"""The ``residuals(restype [#], t(var) by(var))`` option of ``mixed``, parsed into a typed
:class:`ResidualSpec` (what the structures mean: :mod:`semlevel.model.residuals`)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["ResidualSpec", "parse_residuals", "RESTYPES"]

RESTYPES = ("independent", "exchangeable", "ar", "ma", "unstructured", "banded", "toeplitz",
            "exponential")
_ABBREV = {"ind": "independent", "exc": "exchangeable", "ar": "ar", "ma": "ma",
           "un": "unstructured", "ba": "banded", "to": "toeplitz", "exp": "exponential"}
_ORDERED = ("ar", "ma", "banded", "toeplitz")


@dataclass(frozen=True)
class ResidualSpec:
    """A parsed ``residuals(restype [#], t(var) by(var))`` option."""

    kind: str
    order: int | None = None
    time: str | None = None
    by: str | None = None
    #: the option's argument as written (``"ar 2, t(time)"``)
    text: str = field(default="", compare=False)


def parse_residuals(text: str) -> ResidualSpec:
    """Parse the argument of ``residuals(...)``, e.g. ``"ar 2, t(time)"``."""
    main, _, opts = text.partition(",")
    words = main.split()
    if not words:
        raise ValueError("residuals() needs a residual type, e.g. residuals(ar 1, t(time))")
    name = words[0].lower()
    kind = next((full for ab, full in _ABBREV.items()
                 if name.startswith(ab) and full.startswith(name)), None)
    if kind is None:
        raise ValueError(f"unknown residual type {words[0]!r} in residuals(); types are "
                         + ", ".join(RESTYPES))
    order = None
    if kind in _ORDERED:
        if len(words) > 2:
            raise ValueError(f"residuals({kind} #) takes one order; got "
                             f"{' '.join(words[1:])!r}")
        if len(words) < 2 and kind in ("ar", "ma"):
            order = 1                      # Stata: ar 1 / ma 1 are the defaults
        if len(words) >= 2:
            if not words[1].isdigit() or int(words[1]) < (1 if kind in ("ar", "ma") else 0):
                raise ValueError(f"residuals({kind} #): the order must be a whole number, "
                                 f"not {words[1]!r}")
            order = int(words[1])
    elif len(words) > 1:
        raise ValueError(f"residuals({kind}) takes no order; got {' '.join(words[1:])!r}")
    found = [(k.lower(), v.strip()) for k, v in re.findall(r"(\w+)\(([^)]*)\)", opts)]
    names = [k for k, _ in found]
    if len(set(names)) < len(names):
        dup = next(k for k in names if names.count(k) > 1)
        raise ValueError(f"suboption {dup}() is given twice in residuals()")
    sub = dict(found)
    unknown = [k for k in sub if k not in ("t", "by")]
    if unknown:
        raise ValueError(f"unknown suboption {unknown[0]}() in residuals(); allowed: t(), by()")
    time = sub.get("t") or None
    if kind in ("ar", "ma", "unstructured", "banded", "toeplitz", "exponential") and not time:
        raise ValueError(f"residuals({kind}) needs the time variable: add t(varname)")
    return ResidualSpec(kind=kind, order=order, time=time, by=sub.get("by") or None,
                        text=text.strip())
