"""lme4-style entry points: ``sl.lmer("weight ~ week + (week | id)", data=df)``.

The formula is translated to the equivalent Stata ``mixed`` specification
(:func:`semlevel.syntax.formula_map.formula_to_stata`) and fitted by the same engine as
:func:`semlevel.mixed`.  As in lme4, :func:`lmer` fits by REML unless ``reml=False``
(``REML=False`` is accepted too); :func:`semlevel.mixed` keeps Stata's default, ML.
"""
from __future__ import annotations

import pandas as pd

from .model.builder import build_mixed_model
from .model.pathmodel import PathModel
from .results import Fit
from .syntax.formula_map import formula_to_stata, parse_formula
from .syntax.mixed import MixedOptionError

__all__ = ["lmer", "lmer_model", "formula_to_stata"]


def _reml_choice(reml: bool | None, REML: bool | None) -> bool:  # noqa: N803 - lme4 name
    for name, value in (("reml", reml), ("REML", REML)):
        if value is not None and not isinstance(value, bool):
            raise MixedOptionError(f"{name} must be True or False, got {value!r}", token=name)
    if reml is not None and REML is not None and reml != REML:
        raise MixedOptionError(f"conflicting options reml={reml} and REML={REML}", token="reml")
    if reml is not None:
        return reml
    return True if REML is None else REML


def lmer_model(formula: str, data: pd.DataFrame, *, reml: bool | None = None,
               REML: bool | None = None, key_by: str = "value",  # noqa: N803
               slot_key: str | None = None, **options) -> PathModel:
    """Build (without fitting) the path model of an lme4-style formula.

    REML by default, as lme4 (``reml=False`` or ``REML=False`` for ML). ``options`` are
    :func:`semlevel.mixed`'s other keyword options (``level=90``, ...).  Non-numeric
    columns of ``data`` are factors, as in R.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if "mle" in options:
        raise MixedOptionError("lmer() takes reml=True/False (or REML=), not mle", token="mle")
    spec = parse_formula(formula, data, reml=_reml_choice(reml, REML), **options)
    return build_mixed_model(spec, data, key_by=key_by, slot_key=slot_key)


def lmer(formula: str, data: pd.DataFrame, *, reml: bool | None = None,
         REML: bool | None = None, key_by: str = "value", **options) -> Fit:  # noqa: N803
    """Fit an lme4-style formula, e.g. ``lmer("weight ~ week + (week | id)", data=df)``.

    Same model, engine and results as :func:`semlevel.mixed` with the equivalent Stata
    specification (``fit.spec.extra["text"]``); REML unless ``reml=False`` (lme4's
    default; :func:`semlevel.mixed` defaults to ML like Stata).  Output labels are
    Stata's (``week``, ``2.drug``, ``id: var(_cons)``).
    """
    return lmer_model(formula, data, reml=reml, REML=REML, key_by=key_by, **options).fit()
