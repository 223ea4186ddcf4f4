"""Nested grouping structure of long data: group codes per level, whatever the id coding."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..arrays import unique_inverse

__all__ = ["Hierarchy", "build_hierarchy"]


@dataclass(frozen=True)
class Hierarchy:
    """Nested groups of the observations of a long data set, levels top to bottom.

    ``codes[:, l]`` is the group of each observation at level ``l``, numbered 0.. within
    the whole data and *nested*: two observations share a level-``l`` group only if they
    share every level above it too (Stata enforces nesting whatever the id coding; so do
    we). ``keys[l]`` is the level's own id value of each observation (the slot key of a
    nested level). Observations are in their input order; ``order`` sorts them by group.
    """

    levels: tuple[str, ...]
    codes: np.ndarray
    keys: tuple[np.ndarray, ...]
    order: np.ndarray

    @property
    def n_obs(self) -> int:
        return int(self.codes.shape[0])

    def n_groups(self, level: int | str) -> int:
        """Number of groups at a level (by position or name)."""
        col = self.levels.index(level) if isinstance(level, str) else level
        return int(self.codes[:, col].max()) + 1 if self.n_obs else 0

    def group_summary(self) -> pd.DataFrame:
        """One row per level: number of groups and min/avg/max observations per group."""
        rows = []
        for l, name in enumerate(self.levels):
            sizes = np.bincount(self.codes[:, l])
            rows.append({"level": name, "groups": len(sizes), "min": int(sizes.min()),
                         "avg": float(sizes.mean()), "max": int(sizes.max())})
        return pd.DataFrame(rows).set_index("level")


def _factorize(values) -> np.ndarray:
    """Codes 0..K-1 of the sorted distinct values (-1 for a missing one); integer ids
    by the table route of :func:`~semlevel.arrays.unique_inverse` (the same codes as
    ``pd.factorize(sort=True)``, without its hashing)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return unique_inverse(values)[1].astype(np.int64, copy=False)
    codes, _ = pd.factorize(values, sort=True)
    return codes.astype(np.int64)


def build_hierarchy(data: "pd.DataFrame | Mapping[str, pd.Series]",
                    levels: tuple[str, ...] | list[str]) -> Hierarchy:
    """Nested group codes for ``levels`` (top to bottom) of complete-case long data.

    Ids may be numbers, strings or categoricals and may repeat across parents; nesting is
    enforced by coding each level within the groups of the level above. ``data`` may be
    the level columns alone, as a mapping of equally long Series.
    """
    levels = tuple(levels)
    n = len(data) if isinstance(data, pd.DataFrame) else len(next(iter(data.values())))
    codes = np.zeros((n, len(levels)), dtype=np.int64)
    keys = []
    parent = np.zeros(n, dtype=np.int64)
    for l, name in enumerate(levels):
        own = _factorize(data[name])
        keys.append(np.asarray(data[name]))
        if l == 0 and (not n or own.min() >= 0):
            codes[:, 0] = own                 # (already the sorted codes 0..K-1)
        else:
            combined = parent * (int(own.max()) + 1 if n else 1) + own
            codes[:, l] = unique_inverse(combined)[1]
        parent = codes[:, l]
    order = np.lexsort(tuple(codes[:, l] for l in reversed(range(len(levels))))) if levels \
        else np.arange(n)
    return Hierarchy(levels=levels, codes=codes, keys=tuple(keys), order=order)
