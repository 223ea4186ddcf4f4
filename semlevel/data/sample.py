"""The estimation sample: which input rows are used, and why the others were dropped."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .reader import ColumnReader

__all__ = ["Sample", "select_sample", "check_columns", "check_unique_columns"]


@dataclass(frozen=True)
class Sample:
    """Bookkeeping of listwise deletion: no input row is lost without a count."""

    n_input: int
    used: np.ndarray                      # boolean mask over the input rows
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows

    @property
    def n_used(self) -> int:
        return int(self.used.sum())

    def describe(self) -> str:
        """One line for reports, e.g. ``432 of 440 rows used; dropped: 8 missing weight``."""
        text = f"{self.n_used} of {self.n_input} rows used"
        if self.dropped:
            text += "; dropped: " + ", ".join(f"{n} {why}" for why, n in self.dropped.items())
        return text


def check_columns(data: pd.DataFrame, names: list[str], what: str = "variable") -> None:
    """Raise a ValueError naming any column that is not in ``data`` (with suggestions)."""
    for name in names:
        if name not in data.columns:
            close = difflib.get_close_matches(name, [str(c) for c in data.columns], n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(f"unknown {what} {name!r}: not a column of the data{hint}")


def check_unique_columns(data: pd.DataFrame) -> None:
    """Raise a ValueError naming column names that occur more than once (a variable must
    name one column)."""
    if data.columns.is_unique:
        return
    dup = data.columns[data.columns.duplicated()]
    if len(dup):
        names = ", ".join(repr(str(c)) for c in dict.fromkeys(dup))
        raise ValueError(f"the data have duplicate column names: {names}; each variable "
                         "must name exactly one column (rename or drop the copies)")


def _missing(values) -> np.ndarray:
    """Which entries of a column's array (numpy or pandas) are missing (a new array):
    NaN in a float column, none in an integer or boolean numpy column (they cannot hold
    one), ``isna`` otherwise."""
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iub":
        return np.zeros(len(values), dtype=bool)
    if isinstance(dtype, np.dtype) and dtype.kind in "fc":
        return np.isnan(values)
    return np.array(pd.isna(values), dtype=bool)


def select_sample(data: "pd.DataFrame | ColumnReader", outcome: str, covariates: list[str],
                  levels: list[str]) -> Sample:
    """Listwise deletion on the outcome, covariates and level ids, counting each reason.

    A row missing several things is counted once, under the first reason that applies
    (outcome, then covariates, then level ids).
    """
    data = ColumnReader.of(data)
    n = len(data)
    used = np.ones(n, dtype=bool)
    dropped: dict[str, int] = {}
    groups = [("outcome", [outcome]), ("covariate", covariates), ("level id", levels)]
    for kind, cols in groups:
        for col in dict.fromkeys(cols):
            values = data[col]
            miss = _missing(values)
            if kind == "level id" and not pd.api.types.is_numeric_dtype(values.dtype):
                text = pd.Series(values, copy=False)
                miss |= (text.astype(str) == "").to_numpy() & text.notna().to_numpy()
            miss &= used
            if miss.any():
                dropped[f"missing {col}" + (" (level id)" if kind == "level id" else "")] = \
                    int(miss.sum())
                used &= ~miss
    if not used.any():
        raise ValueError("no observations left: every row has a missing outcome, covariate "
                         "or level id (" + ", ".join(f"{n} {w}" for w, n in dropped.items())
                         + ")")
    return Sample(n_input=n, used=used, dropped=dropped)
