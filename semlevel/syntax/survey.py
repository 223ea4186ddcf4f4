"""The ``vce()`` option and weights of a ``mixed`` command: parsed, checked, no data.

Stata's forms (collected as strings by :mod:`.mixed`, globally and per equation, and taken out here) and the
keyword equivalents:

=================================  ==============================================
``vce(oim)`` / ``vce(robust)``     ``vce="robust"``
``vce(cluster school)``            ``vce="cluster school"`` or ``("cluster", "school")``
``[fw=w1]`` / ``[pw=w1]``          ``fweight="w1"`` / ``pweight="w1"``
``|| school:, pweight(w2)``        ``pweight={"school": "w2"}`` (``"_obs"``: level one)
``pwscale(size|effective|gk)``     ``pwscale="size"``
=================================  ==============================================

Keyword weights replace every weight given in the string. The manual's rules are
enforced here: frequency and sampling weights are not mixed, no weights and no robust
variance under REML or with ``dfmethod()``, ``pwscale()`` only with sampling weights in a
two-level model, sampling weights imply ``vce(robust)`` (``vce(oim)`` is refused).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .expression import ExpressionError, names, parse_expression
from .errors import MixedSyntaxError

__all__ = ["VCESpec", "WeightSpec", "SurveyOptionError", "parse_survey", "OBS_LEVEL",
           "expression_variables"]

#: key of the observation (first) level in a keyword weight dict
OBS_LEVEL = "_obs"

_VCE_TYPES = (("oim", 1), ("robust", 1), ("cluster", 2))
_PWSCALE = ("size", "effective", "gk")


class SurveyOptionError(MixedSyntaxError):
    """An invalid ``vce()``, weight or ``pwscale()`` specification."""

    def __init__(self, message: str):
        super().__init__(message)


@dataclass(frozen=True)
class VCESpec:
    """Requested variance estimator: ``oim`` (default), ``robust`` (clustered at the top
    level) or ``cluster`` (clustered by the variable ``cluster``)."""

    kind: str = "oim"
    cluster: str | None = None
    explicit: bool = False      # given by the user (vs implied by sampling weights)

    @property
    def robust(self) -> bool:
        return self.kind in ("robust", "cluster")


@dataclass(frozen=True)
class WeightSpec:
    """Weights of a model: their type, the observation-level expression and the
    expressions of the grouping levels (``(level, expression)``, top to bottom)."""

    kind: str                                   # "fweight" | "pweight"
    observation: str | None = None
    levels: tuple[tuple[str, str], ...] = ()
    pwscale: str | None = None

    @property
    def level_map(self) -> dict[str, str]:
        return dict(self.levels)

    def variables(self) -> list[str]:
        """Data variables the weight expressions use."""
        exprs = ([self.observation] if self.observation else []) + [e for _, e in self.levels]
        out: list[str] = []
        for e in exprs:
            out += [v for v in expression_variables(e) if v not in out]
        return out


def expression_variables(expr: str) -> list[str]:
    """Variable names of a weight expression (a name, or arithmetic of names and numbers:
    ``w_fstuwt/wnrschbw``, parsed by :mod:`.expression`); anything else is refused."""
    try:
        return names(parse_expression(expr))
    except ExpressionError as exc:
        raise SurveyOptionError(str(exc).replace("invalid expression", "invalid weight "
                                                 "expression", 1)) from None


def _match_vce(text: str) -> VCESpec:
    words = str(text).split()
    if not words:
        raise SurveyOptionError("vce() needs a type: oim, robust or cluster clustvar")
    low = words[0].lower()
    kind = next((k for k, n in _VCE_TYPES if k.startswith(low) and len(low) >= n), None)
    if kind is None:
        raise SurveyOptionError(f"vce({text}) is not allowed: the types are oim, robust and "
                                "cluster clustvar (bootstrap and jackknife are not supported)")
    if kind == "cluster":
        if len(words) != 2:
            raise SurveyOptionError(f"vce({text}): cluster needs exactly one variable, as in "
                                    "vce(cluster school)")
        return VCESpec("cluster", words[1], explicit=True)
    if len(words) != 1:
        raise SurveyOptionError(f"vce({text}): {kind} takes no argument")
    return VCESpec(kind, None, explicit=True)


def _vce_keyword(value: Any) -> VCESpec:
    if isinstance(value, VCESpec):
        return value
    if isinstance(value, (tuple, list)):
        value = " ".join(str(v) for v in value)
    if not isinstance(value, str):
        raise SurveyOptionError(f"keyword vce must be a string such as 'robust' or "
                                f"'cluster school', got {value!r}")
    return _match_vce(value)


def _weights_keyword(kind: str, value: Any, levels: tuple[str, ...]
                     ) -> tuple[str | None, dict[str, str]]:
    if isinstance(value, str):
        return value, {}
    if isinstance(value, Mapping):
        obs = None
        lv: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(v, str):
                raise SurveyOptionError(f"keyword {kind}: the weight of {k!r} must be a "
                                        f"variable name or expression, got {v!r}")
            if k in (OBS_LEVEL, None):
                obs = v
            elif k in levels:
                lv[k] = v
            else:
                raise SurveyOptionError(f"keyword {kind}: {k!r} is not a level of the model "
                                        f"(levels: {', '.join(levels)}; {OBS_LEVEL!r} for "
                                        "the observations)")
        return obs, lv
    raise SurveyOptionError(f"keyword {kind} must be a variable name (observation weights) "
                            f"or a dict level -> variable, got {value!r}")


def _string_weights(pending: dict, equations: list[dict], levels: tuple[str, ...]
                    ) -> tuple[dict[str, str | None], dict[str, dict[str, str]]]:
    """Observation and level weights of the command text, by type."""
    obs: dict[str, str | None] = {"fweight": None, "pweight": None}
    raw = pending.get("weight")
    if raw:
        typ, expr = raw.split("=", 1)
        typ = "fweight" if typ.strip().lower() in ("fw", "fweight", "frequency") else "pweight"
        obs[typ] = expr.strip()
    lv: dict[str, dict[str, str]] = {"fweight": {}, "pweight": {}}
    for info in equations:
        level = info.get("level")
        for typ, expr in (info.get("pending") or {}).items():
            if typ not in lv:
                continue
            old = lv[typ].get(level)
            if old is not None and old != expr:
                raise SurveyOptionError(f"{typ}() given twice for level {level!r} with "
                                        f"different weights ({old} and {expr})")
            lv[typ][level] = expr
    return obs, lv


def parse_survey(pending: dict, equations: list[dict], levels: tuple[str, ...],
                 keywords: Mapping[str, Any], reml: bool
                 ) -> tuple[VCESpec, WeightSpec | None]:
    """Take ``vce``, weights and ``pwscale`` out of ``pending`` (modified in place) and
    the keyword options; check the manual's rules. ``equations`` are the per-equation
    info dicts of the parser (with ``level`` and ``pending``)."""
    vce = _match_vce(pending.pop("vce")) if "vce" in pending else VCESpec()
    if "vce" in keywords and keywords["vce"] is not None:
        vce = _vce_keyword(keywords["vce"])
    obs, lv = _string_weights(pending, equations, levels)
    pending.pop("weight", None)
    has_eq = any(t in (e.get("pending") or {}) for e in equations for t in ("fweight", "pweight"))
    for typ in ("fweight", "pweight"):
        if typ in pending and not has_eq:
            raise SurveyOptionError(f"{typ}() is an option of a random-effects equation "
                                    f"(|| level:, {typ}(var)); observation-level weights are "
                                    f"given as [{typ[:2]}=var]")
        pending.pop(typ, None)
    pwscale = pending.pop("pwscale", None)
    if any(k in keywords and keywords[k] is not None for k in ("fweight", "pweight")):
        obs = {"fweight": None, "pweight": None}
        lv = {"fweight": {}, "pweight": {}}
        for typ in ("fweight", "pweight"):
            if keywords.get(typ) is not None:
                obs[typ], lv[typ] = _weights_keyword(typ, keywords[typ], levels)
    if keywords.get("pwscale") is not None:
        pwscale = keywords["pwscale"]
    kinds = [t for t in ("fweight", "pweight") if obs[t] or lv[t]]
    if len(kinds) > 1:
        raise SurveyOptionError("frequency weights and sampling weights may not be combined")
    weights = None
    if kinds:
        kind = kinds[0]
        weights = WeightSpec(kind=kind, observation=obs[kind],
                             levels=tuple((l, lv[kind][l]) for l in levels if l in lv[kind]))
        for expr in ([weights.observation] if weights.observation else []) + \
                [e for _, e in weights.levels]:
            expression_variables(expr)
        for level, _ in weights.levels:
            if level == "_all":
                raise SurveyOptionError("weights at the _all level are not supported "
                                        "(crossed random effects)")
    if pwscale is not None:
        low = str(pwscale).strip().lower()
        match = [m for m in _PWSCALE if m.startswith(low) and low]
        if len(match) != 1:
            raise SurveyOptionError(f"pwscale({pwscale}) is not allowed: use size, effective "
                                    "or gk")
        pwscale = match[0]
        if weights is None or weights.kind != "pweight":
            raise SurveyOptionError("pwscale() requires sampling weights ([pw=] or pweight())")
        if len(levels) != 1:
            raise SurveyOptionError("pwscale() is supported only with two-level models "
                                    f"(this model has {len(levels) + 1} levels)")
        weights = WeightSpec(weights.kind, weights.observation, weights.levels, pwscale)
    if weights is not None and weights.kind == "pweight":
        if vce.explicit and vce.kind == "oim":
            raise SurveyOptionError("vce(oim) is not allowed with sampling weights: their "
                                    "standard errors are robust (vce(robust) or "
                                    "vce(cluster clustvar))")
        if not vce.robust:
            vce = VCESpec("robust", None, explicit=False)
    if reml and weights is not None:
        raise SurveyOptionError("weights are not allowed with REML estimation (use ML)")
    if reml and vce.robust:
        raise SurveyOptionError(f"vce({vce.kind}) is not allowed with REML estimation: the "
                                "restricted likelihood does not separate by top-level groups "
                                "(use ML)")
    if "dfmethod" in pending or keywords.get("dfmethod") is not None:
        if weights is not None:
            raise SurveyOptionError("weights are not allowed with dfmethod()")
        if vce.robust:
            raise SurveyOptionError("only vce(oim) is allowed with dfmethod()")
    return vce, weights
