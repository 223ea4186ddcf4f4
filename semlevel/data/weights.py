"""Frequency and sampling weights evaluated on the estimation sample.

Weights enter the (pseudo) likelihood of the manual's equation (14), generalised to any
number of levels: a weight at a level raises the integrated density of each of its
groups to that power, a top-level weight multiplies the row's log likelihood, an
observation weight raises the observation's conditional density. A frequency weight is
therefore exactly a replication of the group (or observation) it belongs to.

:class:`Weights` holds, per observation (sorted as the wide data), the weight of each of
its groups at every level (top first) and its own weight, plus what the engine derives
from them (``row``, ``omega``, ``cumulative``). ``pwscale()`` (two-level models) is
applied here, following the manual's Methods and formulas.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from ..syntax.expression import evaluate as evaluate_expression
from ..syntax.expression import names as expression_names
from ..syntax.expression import parse_expression
from ..syntax.survey import WeightSpec
from .wide import WideData

__all__ = ["Weights", "evaluate_weights", "survey_columns", "pwscale_weights"]


@dataclass(frozen=True, eq=False)
class Weights:
    """Weights of the used observations (sorted as :class:`~.wide.WideData`).

    ``by_level[:, l]`` is the weight of the observation's group at hierarchy level ``l``
    (0 = the top level, one group per wide row), the last column the observation's own
    weight; 1 where the model has no weight at that level.
    """

    kind: str                  # "fweight" | "pweight"
    spec: WeightSpec
    by_level: np.ndarray       # (n_obs, n_levels + 1)
    obs_row: np.ndarray        # (n_obs,) wide row of each observation

    @property
    def levels(self) -> int:
        """Number of grouping levels (columns of ``by_level`` less the observations)."""
        return int(self.by_level.shape[1] - 1)

    @cached_property
    def row(self) -> np.ndarray:
        """Top-level weight of each wide row."""
        first = np.flatnonzero(np.r_[True, self.obs_row[1:] != self.obs_row[:-1]])
        return self.by_level[first, 0].copy()

    @cached_property
    def cumulative(self) -> np.ndarray:
        """``cumulative[:, m-1]`` = product of the weights of levels 1..m (below the top)
        of each observation; the last column is ``omega``."""
        return np.cumprod(self.by_level[:, 1:], axis=1)

    @property
    def omega(self) -> np.ndarray:
        """Product of every weight below the top level: the observation's replication
        count within its row."""
        return self.cumulative[:, -1]

    @property
    def intermediate(self) -> bool:
        """Weights at a grouping level between the top and the observations."""
        return bool(np.any(self.by_level[:, 1:-1] != 1.0))

    @property
    def total(self) -> float:
        """Sum of the replication counts: the number of observations the weighted
        likelihood stands for (Stata's number of observations under frequency weights)."""
        return float(np.sum(self.row[self.obs_row] * self.omega))

    def describe(self) -> str:
        parts = []
        if self.spec.observation:
            parts.append(f"[{self.kind[:2]}={self.spec.observation}]")
        parts += [f"{lvl}: {self.kind}({e})" for lvl, e in self.spec.levels]
        if self.spec.pwscale:
            parts.append(f"pwscale({self.spec.pwscale})")
        return ", ".join(parts)


def survey_columns(spec, data: pd.DataFrame) -> list[str]:
    """Data columns the weights and the cluster variable of ``spec`` use (they join the
    listwise deletion), checked to exist."""
    from .sample import check_columns
    extra = getattr(spec, "extra", None) or {}
    cols: list[str] = []
    weights = extra.get("weights")
    if weights is not None:
        cols += weights.variables()
        check_columns(data, cols, "weight variable")
    vce = extra.get("vce")
    if vce is not None and vce.kind == "cluster":
        check_columns(data, [vce.cluster], "cluster variable")
        cols.append(vce.cluster)
    return list(dict.fromkeys(cols))


def _evaluate(expr: str, wide: WideData) -> np.ndarray:
    """The weight expression on the used observations: parsed by
    :func:`~semlevel.syntax.expression.parse_expression` and evaluated with numpy on the
    columns it names (never by ``eval``)."""
    tree = parse_expression(expr)
    cols = {}
    for v in expression_names(tree):
        col = pd.Series(wide.column(v))
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise ValueError(f"weight variable {v!r} is not numeric (dtype {col.dtype})")
        cols[v] = col.to_numpy(dtype=float)
    return evaluate_expression(tree, cols, wide.n_obs)


def _check(values: np.ndarray, what: str, kind: str) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(f"{what}: {int(bad.sum())} weights are not finite")
    if np.any(values <= 0):
        raise ValueError(f"{what}: {int(np.sum(values <= 0))} weights are zero or negative; "
                         "weights must be positive (drop those observations first)")
    if kind == "fweight" and np.any(values != np.round(values)):
        raise ValueError(f"{what}: frequency weights must be integers "
                         "(use sampling weights, [pw=] / pweight(), for non-integer weights)")


def pwscale_weights(method: str, w_obs: np.ndarray, w_top: np.ndarray, group: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Rescale two-level sampling weights as ``pwscale(method)`` (manual, Methods and
    formulas; n_j = observations of cluster j):

    * ``size``:      w*_{i|j} = n_j w_{i|j} / sum_i w_{i|j}
    * ``effective``: w*_{i|j} = w_{i|j} sum_i w_{i|j} / sum_i w_{i|j}^2
    * ``gk``:        w*_j = n_j^-1 sum_i w_{i|j} w_j,  w*_{i|j} = 1

    (``w_obs``, ``w_top`` per observation, ``group`` the cluster code of each.)
    Returns the scaled (observation, top-level) weights per observation.
    """
    n_j = np.bincount(group).astype(float)
    s1 = np.bincount(group, weights=w_obs)
    if method == "size":
        return w_obs * (n_j / s1)[group], w_top
    if method == "effective":
        s2 = np.bincount(group, weights=w_obs * w_obs)
        return w_obs * (s1 / s2)[group], w_top
    if method == "gk":
        top = np.bincount(group, weights=w_obs * w_top) / n_j
        return np.ones_like(w_obs), top[group]
    raise ValueError(f"unknown pwscale method {method!r}")


def evaluate_weights(spec: WeightSpec, wide: WideData) -> Weights:
    """The weights of ``spec`` on the estimation sample of ``wide``, checked: positive,
    integer for frequency weights, constant within the groups of their level."""
    h = wide.hierarchy
    levels = list(h.levels)
    by_level = np.ones((wide.n_obs, len(levels) + 1))
    if spec.observation:
        w = _evaluate(spec.observation, wide)
        _check(w, f"observation weights {spec.observation!r}", spec.kind)
        by_level[:, -1] = w
    for level, expr in spec.levels:
        if level not in levels:
            raise ValueError(f"{spec.kind}({expr}) is given for {level!r}, which is not a "
                             f"level of the model ({', '.join(levels)})")
        l = levels.index(level)
        w = _evaluate(expr, wide)
        what = f"{spec.kind}({expr}) at level {level!r}"
        _check(w, what, spec.kind)
        codes = h.codes[:, l]
        lo = np.full(codes.max() + 1, np.inf)
        hi = np.full(codes.max() + 1, -np.inf)
        np.minimum.at(lo, codes, w)
        np.maximum.at(hi, codes, w)
        varying = np.flatnonzero(hi - lo > 1e-12 * np.maximum(np.abs(hi), 1.0))
        if len(varying):
            raise ValueError(f"{what}: the weights are not constant within {level!r} groups "
                             f"({len(varying)} groups have differing values); a level's "
                             "weights must be constant within its groups")
        by_level[:, l] = w
    if spec.pwscale:
        if len(levels) != 1:
            raise ValueError("pwscale() is supported only with two-level models")
        w_obs, w_top = pwscale_weights(spec.pwscale, by_level[:, 1], by_level[:, 0],
                                       h.codes[:, 0])
        by_level[:, 1], by_level[:, 0] = w_obs, w_top
    return Weights(kind=spec.kind, spec=spec, by_level=by_level, obs_row=wide.row)
