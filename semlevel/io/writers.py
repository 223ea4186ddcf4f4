"""Writing DataFrames by the suffix of the target: CSV/TSV, Parquet, Stata, Excel, JSON.

Value labels (``frame.attrs["value_labels"]``) are written to Stata files as value labels
and kept in Parquet metadata; the other formats hold the codes.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import pandas as pd

from ..escape import CSV_OPTIONS
from .labels import value_labels
from .readers import DataFileError, file_kind, require

__all__ = ["write_data", "stata_names"]

_STATA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}\Z")


def stata_names(columns) -> dict[str, str]:
    """Stata-valid names (letters, digits, _; at most 32 characters; unique) for columns
    that need renaming: ``weight[obs=1]`` -> ``weight_obs_1``."""
    out: dict[str, str] = {}
    taken = {str(c) for c in columns if _STATA_NAME.match(str(c))}
    for c in columns:
        name = str(c)
        if _STATA_NAME.match(name):
            continue
        new = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "v"
        if not re.match(r"[A-Za-z_]", new):
            new = "_" + new
        new = new[:32]
        base, k = new, 1
        while new in taken:
            k += 1
            new = f"{base[:32 - len(str(k)) - 1]}_{k}"
        taken.add(new)
        out[name] = new
    return out


def write_data(frame: pd.DataFrame, path: str | Path, index: bool = False) -> dict[str, str]:
    """Write ``frame`` to ``path`` in the format of its suffix (``.csv``, ``.tsv``,
    ``.parquet``, ``.dta``, ``.xlsx``, ``.json``; CSV/TSV may be compressed: ``.csv.gz``).

    Returns the columns renamed for the format (Stata names allow letters, digits and
    underscores only), ``{}`` when none were. Raises :class:`DataFileError` for an unknown
    suffix or an unwritable path and ``MissingPackageError`` for a missing optional package.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() == ".json":
        kind, packages = "json", ()
    else:
        kind, packages = file_kind(path, what="write")
    require(packages, f"writing {path.suffix} files")
    renamed: dict[str, str] = {}
    try:
        if kind in ("csv", "tsv"):
            frame.to_csv(path, sep="," if kind == "csv" else "\t", index=index, **CSV_OPTIONS)
        elif kind == "parquet":
            frame.to_parquet(path, index=index)
        elif kind == "stata":
            out = frame.reset_index() if index else frame
            renamed = stata_names(out.columns)
            out = out.rename(columns=renamed)
            labels = {renamed.get(v, v): {int(k): str(l)[:32000] for k, l in m.items()}
                      for v, m in value_labels(frame).items() if renamed.get(v, v) in out}
            for var in labels:      # Stata labels integer-valued variables only
                if not pd.api.types.is_integer_dtype(out[var].dtype):
                    vals = out[var].dropna()
                    if (vals == vals.round()).all():
                        out[var] = out[var].astype("Int32" if out[var].isna().any()
                                                   else "int32")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")      # pandas' own renaming notices
                out.to_stata(path, write_index=False, value_labels=labels or None)
        elif kind == "excel":
            frame.to_excel(path, index=index)
        else:
            frame.to_json(path, orient="records", indent=1)
    except (OSError, ValueError, TypeError) as exc:
        raise DataFileError(f"cannot write {str(path)!r}: {exc}") from None
    return renamed
