"""What a PathModel carries besides its arrays and parameter table: typed fields, set by
the builder and the operations that derive models (relax by a variable, constraints,
survey options, small-sample options).

``ModelInfo`` is also a read-only mapping of its set fields, so ``dict(model.info,
by=...)`` and ``model.info.get("structure")`` keep working while code moves to the
attributes (``model.info.structure``).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["ModelInfo", "as_info"]


@dataclass(frozen=True)
class ModelInfo(Mapping):
    """The model's typed state.

    spec : the parsed ``MixedSpec`` the model was built from.
    fixed_base : base levels of the factor terms of the fixed part.
    factor_levels : the levels of each factor variable of the fixed part.
    cov_blocks : label names of each unstructured covariance block (Cholesky
        parametrised by the optimiser).
    residuals : the residual-structure specification (``residuals(...)``), or None.
    structure : the nonlinear residual structure (AR, MA, Toeplitz, exponential), or None.
    notes : sentences the report prints (e.g. an equation dropped for having no effects).
    by, by_values : the variable labels were released by, and its values.
    weights : the sampling/frequency weights (``semlevel.data.weights.Weights``), or None.
    vce : the variance estimator (``VCESpec``), or None.
    constraints : the equality constraints of ``model.constrain(...)``, or None.
    dfmethod, dftable : the small-sample degrees-of-freedom options, or None.
    level : the confidence level, or None (95).
    """

    spec: Any = None
    fixed_base: list = field(default_factory=list)
    factor_levels: dict = field(default_factory=dict)
    cov_blocks: list = field(default_factory=list)
    residuals: Any = None
    structure: Any = None
    notes: list = field(default_factory=list)
    by: str | None = None
    by_values: list | None = None
    weights: Any = None
    vce: Any = None
    constraints: Any = None
    dfmethod: Any = None
    dftable: Any = None
    level: float | None = None

    # ---- the read-only mapping of the fields that are set ---------------------------
    def _set(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        value = getattr(self, key)
        if value is None:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._set())

    def __len__(self) -> int:
        return len(self._set())

    @classmethod
    def _names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def updated(self, **changes) -> "ModelInfo":
        """A copy with fields replaced (unknown names are refused)."""
        unknown = set(changes) - self._names()
        if unknown:
            raise TypeError(f"ModelInfo has no field {sorted(unknown)[0]!r}")
        return replace(self, **changes)


def as_info(value) -> ModelInfo:
    """``value`` (a ModelInfo, a mapping of its field names, or None) as a ModelInfo."""
    if isinstance(value, ModelInfo):
        return value
    if value is None:
        return ModelInfo()
    if not isinstance(value, Mapping):
        raise TypeError(f"model info must be a mapping, not {type(value).__name__}")
    unknown = set(value) - ModelInfo._names()
    if unknown:
        raise TypeError(f"model info has no field {sorted(unknown)[0]!r}")
    return ModelInfo(**dict(value))
