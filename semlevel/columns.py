"""ColumnTable: a small table held as named numpy columns, a DataFrame on request.

A model's tables (labels, latents, random effects, latent and residual covariances) are
a few rows each, read column by column by the engine many times a fit and by a user
rarely. In pandas 3 every construction of such a frame costs 0.2-0.5 ms and every
column read 15-30 us (string columns are arrow arrays: ``benchmarks/micro.py "pandas
small calls"``), which made a small model's fit (pig: 10 evaluations of 0.2 ms) take
13 ms. The builder therefore makes these tables as columns; the engine reads the
columns; :meth:`ColumnTable.to_frame` makes the DataFrame a user sees, once, when asked.

Columns are read-only arrays (strings and tuples as ``object`` arrays): a changed table
is a new table (:meth:`ColumnTable.assign`), as a changed model is a new model.
:class:`FrameField` makes such a table a dataclass field whose attribute is the
DataFrame; :func:`float_frame` and :func:`names_index` make the results' float tables
without pandas' per-column and string-inference costs.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator, Mapping

import numpy as np

__all__ = ["ColumnTable", "FrameField", "columns_of", "replace_fields", "float_frame",
           "names_index", "column_values"]


def column_values(column: Any) -> Any:
    """A DataFrame column's values: its numpy array, or its pandas array for other dtypes
    (categoricals, nullable numbers, strings keep theirs)."""
    return column.to_numpy() if isinstance(column.dtype, np.dtype) else column.array


def _is_pandas_array(values: Any) -> bool:
    """A pandas array (categorical, nullable, arrow string...): an array of another
    dtype than numpy's, which a data table keeps as it is."""
    return not isinstance(values, np.ndarray) and hasattr(values, "_from_sequence")


def _column(values: Any, n: int | None) -> Any:
    """``values`` as a read-only 1-d array: numbers keep their dtype, anything else
    (strings, None, tuples) becomes an ``object`` array, one element per entry; a pandas
    array (categorical, nullable) is kept as it is (pandas arrays have no read-only flag:
    the table never writes to it)."""
    if _is_pandas_array(values):
        if n is not None and len(values) != n:
            raise ValueError(f"a column of {len(values)} entries in a table of {n} rows")
        return values
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype.kind not in "US":
        a = values.view()
    else:
        seq = values if isinstance(values, (list, tuple, np.ndarray)) else list(values)
        a = None
        if len(seq) and all(isinstance(v, (bool, int, float, np.number, np.bool_))
                            for v in seq):
            a = np.asarray(seq)
        if a is None or a.ndim != 1:
            a = np.empty(len(seq), dtype=object)
            for i, v in enumerate(seq):
                a[i] = v
    if n is not None and len(a) != n:
        raise ValueError(f"a column of {len(a)} entries in a table of {n} rows")
    a.flags.writeable = False
    return a


class ColumnTable:
    """Named columns of equal length, optionally with row names (``index``).

    ``table["kind"]`` is a column (a read-only array), ``len(table)`` the number of rows,
    ``"kind" in table`` whether a column exists, :meth:`to_frame` the DataFrame (made
    once and kept), :meth:`of` the table of a DataFrame.
    """

    __slots__ = ("_columns", "index", "index_name", "_n", "_frame")

    def __init__(self, columns: Mapping[str, Any], index: Any = None,
                 index_name: str | None = None, n: int | None = None) -> None:
        if index is not None:
            index = _column(index, None)
            n = len(index)
        cols: dict[str, np.ndarray] = {}
        for name, values in columns.items():
            cols[name] = _column(values, n)
            n = len(cols[name])
        self._columns = cols
        self.index = index
        self.index_name = index_name
        self._n = 0 if n is None else n
        self._frame = None

    @classmethod
    def of(cls, frame, keep_dtypes: bool = False) -> "ColumnTable":
        """The table of a DataFrame: its columns as arrays (strings as ``object``, or
        with ``keep_dtypes`` every column that is not a numpy one as its pandas array:
        the data's categoricals and nullable numbers), its index as row names unless it
        is the default 0..n-1."""
        import pandas as pd
        index = None
        if not (isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0
                and frame.index.step == 1 and frame.index.name is None):
            index = frame.index.to_numpy(dtype=object)
        cols = {}
        for c in frame.columns:
            s = frame[c]
            kind = s.dtype.kind if isinstance(s.dtype, np.dtype) else "O"
            if keep_dtypes:
                cols[c] = s.to_numpy() if isinstance(s.dtype, np.dtype) else s.array
            else:
                cols[c] = s.to_numpy() if kind in "biufc" else s.to_numpy(dtype=object)
        out = cls(cols, index=index, index_name=frame.index.name, n=len(frame))
        out._frame = frame
        return out

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"no column {name!r} (columns: {', '.join(self._columns)})") \
                from None

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __iter__(self) -> Iterator[str]:
        return iter(self._columns)

    def assign(self, **columns: Any) -> "ColumnTable":
        """A new table with these columns added or replaced (same rows)."""
        return ColumnTable({**self._columns, **columns}, index=self.index,
                           index_name=self.index_name, n=self._n)

    def copy(self) -> "ColumnTable":
        """The same columns (shared: they are read-only) in a new table, whose DataFrame
        is its own."""
        return self.assign()

    def to_frame(self):
        """The pandas DataFrame of this table (made once; a copy a user may edit into a
        new table: the model keeps this table)."""
        if self._frame is None:
            import pandas as pd
            index = (None if self.index is None
                     else pd.Index(self.index, name=self.index_name))
            # writable copies: pandas may keep the arrays it is given
            self._frame = pd.DataFrame({c: a.copy() if _is_pandas_array(a) else np.array(a)
                                        for c, a in self._columns.items()},
                                       index=index,
                                       columns=list(self._columns) if self._columns else None)
        return self._frame

    def __repr__(self) -> str:
        return f"<ColumnTable {self._n} rows: {', '.join(self._columns)}>"


_NO_DEFAULT = object()


class FrameField:
    """A dataclass field (of a frozen dataclass: the model, its wide data) that holds a
    :class:`ColumnTable`: reading the attribute gives the table's DataFrame (made on
    first read), ``obj.__dict__[name]`` the columns, which is what the engine reads
    (the classes expose them: ``PathModel.label_table``, ``WideData.slot_table``).
    Setting it takes a ColumnTable or a DataFrame (kept as its columns; with
    ``keep_dtypes``, a data table, its pandas arrays as they are: :meth:`ColumnTable.of`)."""

    def __init__(self, default: Any = _NO_DEFAULT, keep_dtypes: bool = False) -> None:
        self.default = default
        self.keep_dtypes = keep_dtypes

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:                # the dataclass asking for the field's default
            if self.default is _NO_DEFAULT:
                raise AttributeError(self.name)
            return self.default
        return obj.__dict__[self.name].to_frame()

    def __set__(self, obj, value) -> None:
        if not isinstance(value, ColumnTable):
            import pandas as pd
            if not isinstance(value, pd.DataFrame):
                raise TypeError(f"{type(obj).__name__}.{self.name} is a table (a DataFrame "
                                f"or a ColumnTable), not {type(value).__name__}")
            value = ColumnTable.of(value, keep_dtypes=self.keep_dtypes)
        elif value is self.default:
            value = value.copy()       # each object's own frame (a user may edit one)
        obj.__dict__[self.name] = value


def columns_of(name: str) -> property:
    """A read-only property giving the :class:`FrameField` ``name`` as its columns (the
    ColumnTable; the attribute ``name`` itself is its DataFrame)."""
    return property(lambda self: self.__dict__[name],
                    doc=f"``{name}`` as columns (a ColumnTable; ``{name}`` is its DataFrame).")


def replace_fields(obj, **changes):
    """``dataclasses.replace(obj, **changes)`` for a dataclass with :class:`FrameField`
    s: the fields it keeps are passed as they are held (a table as its columns), so no
    DataFrame is made and read back."""
    from dataclasses import fields
    kw = {f.name: obj.__dict__[f.name] for f in fields(obj) if f.init}
    kw.update(changes)
    return type(obj)(**kw)


@lru_cache(maxsize=512)
def _index_of(names: tuple, name: Any) -> Any:
    import pandas as pd
    return pd.Index(list(names), name=name)


def names_index(names, name: Any = None):
    """``pd.Index(names, name=name)``, the same strings' index made once and copied
    (a copy shares the data: 4 us, where inferring the strings' dtype costs 60 us)."""
    return _index_of(tuple(names), name).copy()


def float_frame(columns: Mapping[str, Any], index: Any) -> Any:
    """A DataFrame of float columns (the tables of results), made from one 2-d array:
    a frame from a dict of columns costs ~15x more in pandas 3 (``benchmarks/micro.py
    "pandas small calls"``)."""
    import pandas as pd
    n = len(index)
    data = np.empty((n, len(columns)))
    for j, values in enumerate(columns.values()):
        data[:, j] = values
    return pd.DataFrame(data, index=index, columns=names_index(columns), copy=False)
