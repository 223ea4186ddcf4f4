"""A user's DataFrame read column by column, each column once, as arrays.

Building a model reads the outcome, the covariates and the level ids several times (the
input checks, the estimation sample, the hierarchy, the wide form). In pandas 3 every
``frame[name]`` makes a Series (10-20 us, more with string column names), which for the
manual's small models was a tenth of a fit; the reader makes each once.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from ..columns import column_values

__all__ = ["ColumnReader"]


class ColumnReader:
    """The columns of ``frame`` as arrays (:func:`column_values`), each read once:
    ``reader[name]``; ``reader.columns`` and ``len(reader)`` as the frame's. The arrays
    are the frame's own (not copies): read them, do not write to them."""

    __slots__ = ("frame", "_read")

    def __init__(self, frame: pd.DataFrame) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"data must be a pandas DataFrame, not {type(frame).__name__}")
        self.frame = frame
        self._read: dict[Any, Any] = {}

    @classmethod
    def of(cls, data: "pd.DataFrame | ColumnReader") -> "ColumnReader":
        """The reader of a DataFrame, or the reader given."""
        return data if isinstance(data, ColumnReader) else cls(data)

    def __getitem__(self, name: Any) -> Any:
        got = self._read.get(name)
        if got is None:
            got = self._read[name] = column_values(self.frame[name])
        return got

    @property
    def columns(self) -> pd.Index:
        return self.frame.columns

    def __len__(self) -> int:
        return len(self.frame)
