"""First pass over the partitions: what must be known of the whole data before any
statistic is computed (the sample counts, the slot table, the factor levels seen, the
group sizes per level). Each partition holds whole top-level units, so these facts add
up across partitions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.wide import OBS_KEY, build_wide
from .plan import Plan, sample_of

__all__ = ["Facts", "partition_facts", "combine_facts"]


@dataclass
class Facts:
    """Facts of some partitions (see :func:`combine_facts`)."""

    n_input: int
    n_obs: int
    n_rows: int
    dropped: dict
    slots: pd.DataFrame            # slot key columns and n_obs, one row per slot seen
    combos: pd.DataFrame           # distinct combinations of the factor variables
    groups: np.ndarray             # (levels, 3): groups, smallest, largest group size


def _slot_columns(plan: Plan) -> list[str]:
    return list(plan.levels[1:]) + [OBS_KEY]


def partition_facts(df: pd.DataFrame, plan: Plan) -> Facts:
    """The facts of one partition (whole top-level units)."""
    sample = sample_of(df, plan)
    keys = _slot_columns(plan)
    n_lev = len(plan.levels)
    if not sample.used.any():
        return Facts(n_input=len(df), n_obs=0, n_rows=0, dropped=dict(sample.dropped),
                     slots=pd.DataFrame({**{k: df[k].iloc[:0] if k in df else [] for k in keys},
                                         "n_obs": np.zeros(0, np.int64)}),
                     combos=df[list(plan.factor_vars)].iloc[:0],
                     groups=np.tile([0, np.iinfo(np.int64).max, 0], (n_lev, 1)))
    wide = build_wide(df, plan.depvar, list(plan.levels), sample, list(plan.covariates),
                      key_by=plan.key_by)
    groups = np.empty((n_lev, 3), dtype=np.int64)
    for l in range(n_lev):
        sizes = np.bincount(wide.hierarchy.codes[:, l])
        groups[l] = len(sizes), sizes.min(), sizes.max()
    # (without factor variables: no rows, not one row per observation of no columns)
    combos = (wide.data[list(plan.factor_vars)].drop_duplicates() if plan.factor_vars
              else wide.data.iloc[:0, :0])
    return Facts(n_input=len(df), n_obs=wide.n_obs, n_rows=wide.n_rows,
                 dropped=dict(sample.dropped), slots=wide.slots, combos=combos,
                 groups=groups)


def combine_facts(parts: list[Facts]) -> Facts:
    """The facts of the union of disjoint sets of top-level units."""
    parts = list(parts)
    first = parts[0]
    dropped: dict = {}
    for p in parts:
        for why, n in p.dropped.items():
            dropped[why] = dropped.get(why, 0) + n
    keys = [c for c in first.slots.columns if c != "n_obs"]
    slot_frames = [p.slots for p in parts if len(p.slots)]
    if slot_frames:
        slots = (pd.concat(slot_frames, ignore_index=True)
                 .groupby(keys, sort=True)["n_obs"].sum().reset_index())
    else:
        slots = first.slots
    combo_frames = [p.combos for p in parts if len(p.combos)]
    combos = (pd.concat(combo_frames, ignore_index=True).drop_duplicates()
              .reset_index(drop=True) if combo_frames else first.combos)
    g = np.stack([p.groups for p in parts])
    groups = np.column_stack([g[:, :, 0].sum(axis=0), g[:, :, 1].min(axis=0),
                              g[:, :, 2].max(axis=0)])
    return Facts(n_input=sum(p.n_input for p in parts), n_obs=sum(p.n_obs for p in parts),
                 n_rows=sum(p.n_rows for p in parts), dropped=dropped, slots=slots,
                 combos=combos, groups=groups)
