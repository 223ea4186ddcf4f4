"""The client's model of data that stay on the cluster.

The model's structure (labels, latents, slots, paths) is built once on the client by the
ordinary builder, from a small *prototype* frame that has every slot of the whole data,
every combination of factor levels seen and generic values elsewhere; its observations
are then dropped. What the model then holds in place of the data (:class:`RemoteWide`)
knows the global counts and refuses any access to observations.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..data.hierarchy import Hierarchy
from ..data.sample import Sample
from ..data.wide import WideData
from ..model.builder import build_mixed_model
from ..model.pathmodel import PathModel
from .facts import Facts
from .plan import Plan

__all__ = ["RemoteWide", "RemoteHierarchy", "RemoteSample", "prototype_design",
           "prototype_frame", "skeleton_of", "check_nesting", "REMOTE_MESSAGE"]

REMOTE_MESSAGE = ("the observations of this model are in a Dask DataFrame, not on the "
                  "client")


@dataclass(frozen=True)
class RemoteSample(Sample):
    """Listwise-deletion counts of data on the cluster (no per-row mask)."""

    total_used: int = 0

    @property
    def n_used(self) -> int:
        return int(self.total_used)


@dataclass(frozen=True)
class RemoteHierarchy(Hierarchy):
    """Levels and group sizes of data on the cluster (no per-observation codes)."""

    summary: pd.DataFrame | None = None

    def n_groups(self, level: int | str) -> int:
        name = level if isinstance(level, str) else self.levels[level]
        return int(self.summary.loc[name, "groups"])

    def group_summary(self) -> pd.DataFrame:
        return self.summary.copy()


@dataclass(frozen=True)
class RemoteWide(WideData):
    """The wide form's slot table and counts; the observations stay on the cluster."""

    total_obs: int = 0
    total_rows: int = 0

    @property
    def n_obs(self) -> int:
        return int(self.total_obs)

    @property
    def n_rows(self) -> int:
        return int(self.total_rows)

    @property
    def y(self) -> np.ndarray:
        raise NotImplementedError(REMOTE_MESSAGE)

    def column(self, name: str) -> np.ndarray:
        raise NotImplementedError(f"variable {name!r}: {REMOTE_MESSAGE}")

    def to_frame(self, variables: list[str] | None = None) -> pd.DataFrame:
        raise NotImplementedError(REMOTE_MESSAGE + "; compute the wide form on the cluster "
                                  "with semlevel.distributed.wide_frame")


def prototype_design(plan: Plan, facts: Facts, dtypes: pd.Series) -> pd.DataFrame:
    """Rows that make every partition's design matrix have the global columns.

    Every combination of factor levels seen in the whole data appears ``r`` times, with
    generic (random normal) values of the continuous variables, ``r`` exceeding the number
    of terms: prepended to any partition's rows, the factor levels, observed interaction
    cells and base levels, and so the columns, are those of the whole data, and the
    design has full rank whenever the whole data's has.
    """
    r = plan.n_terms + 2
    combos = facts.combos.reset_index(drop=True)
    n_combo = max(len(combos), 1) if plan.factor_vars else 1
    idx = np.tile(np.arange(n_combo), r)
    rng = np.random.default_rng(20240917)
    out = {}
    for v in plan.factor_vars:
        out[v] = combos[v].iloc[idx].reset_index(drop=True).astype(dtypes[v])
    for v in [plan.depvar, *plan.continuous_vars]:
        if v not in out:
            out[v] = rng.standard_normal(len(idx))
    return pd.DataFrame(out)


def prototype_frame(plan: Plan, facts: Facts, design: pd.DataFrame,
                    dtypes: pd.Series) -> pd.DataFrame:
    """Long rows realising every slot of the whole data: units (top-level ids 0, 1, ...)
    each with the whole slot table, and the prototype design's values cycled over them."""
    slots = facts.slots
    n_slots = len(slots)
    units = max(1, -(-len(design) // n_slots))
    top = np.repeat(np.arange(units), n_slots)
    top_dtype = dtypes[plan.top]
    frame = {plan.top: top if pd.api.types.is_numeric_dtype(top_dtype)
             and not pd.api.types.is_bool_dtype(top_dtype) else top.astype(str)}
    for lev in plan.levels[1:]:
        frame[lev] = np.tile(slots[lev].to_numpy(), units)
    n = units * n_slots
    cyc = np.arange(n) % len(design)
    for col in design.columns:
        frame[col] = design[col].iloc[cyc].to_numpy()
    out = pd.DataFrame(frame)
    for col in design.columns:
        if isinstance(design[col].dtype, pd.CategoricalDtype):
            out[col] = out[col].astype(design[col].dtype)
    return out


def skeleton_of(plan: Plan, facts: Facts, dtypes: pd.Series) -> tuple[PathModel, pd.DataFrame]:
    """The model of the whole data without its observations, and the prototype design."""
    design = prototype_design(plan, facts, dtypes)
    proto = prototype_frame(plan, facts, design, dtypes)
    built = build_mixed_model(plan.spec, proto, key_by=plan.key_by)
    keys = [c for c in facts.slots.columns if c != "n_obs"]
    got = built.data.slots[keys].reset_index(drop=True)
    want = facts.slots[keys].reset_index(drop=True)
    if not got.equals(want.astype(got.dtypes.to_dict())) or len(got) != len(want):
        raise RuntimeError("internal error: the prototype does not reproduce the slot table")
    levels = list(plan.levels)
    summary = pd.DataFrame({"level": levels, "groups": facts.groups[:, 0],
                            "min": facts.groups[:, 1],
                            "avg": facts.n_obs / np.maximum(facts.groups[:, 0], 1),
                            "max": facts.groups[:, 2]}).set_index("level")
    hierarchy = RemoteHierarchy(levels=tuple(levels),
                                codes=np.zeros((0, len(levels)), dtype=np.int64),
                                keys=tuple(np.zeros(0) for _ in levels),
                                order=np.zeros(0, dtype=np.int64), summary=summary)
    order = {f"missing {v}": i for i, v in enumerate(plan.columns)}
    order.update({f"missing {v} (level id)": len(order) + i for i, v in enumerate(levels)})
    dropped = dict(sorted(facts.dropped.items(), key=lambda kv: order.get(kv[0], 1 << 30)))
    sample = RemoteSample(n_input=facts.n_input, used=np.zeros(0, dtype=bool),
                          dropped=dropped, total_used=facts.n_obs)
    empty = np.zeros(0, dtype=np.int64)
    wide = RemoteWide(outcome=plan.depvar, hierarchy=hierarchy, row=empty, slot=empty,
                      slots=facts.slots.reset_index(drop=True), row_ids=np.zeros(0),
                      data=built.data.data.iloc[:0], source=empty, sample=sample,
                      original=None, total_obs=facts.n_obs, total_rows=facts.n_rows)
    model = replace(built, data=wide, X=np.zeros((0, built.X.shape[1])),
                    Z=np.zeros((0, built.Z.shape[1])))
    return model, design


def check_nesting(plan: Plan, facts: Facts) -> None:
    """The builder's check that each level splits its parent, on the global counts."""
    g = facts.groups[:, 0]
    for l in range(1, len(plan.levels)):
        if g[l] == g[l - 1]:
            up, low = plan.levels[l - 1], plan.levels[l]
            raise ValueError(
                f"level {low!r} is not nested within {up!r}: every {up!r} group contains "
                f"exactly one {low!r} group, so the two levels are the same grouping and "
                "their variances are not identified (levels are listed top to bottom: did "
                f"you mean '|| {low}: || {up}:'?)")
