"""Reading data files by their suffix: CSV/TSV (also compressed), Parquet, Stata, Excel.

Parquet needs ``pyarrow`` (or ``fastparquet``) and Excel needs ``openpyxl``: both are in
the ``semlevel[formats]`` extra, and a missing one is named in the error. Stata files are
read with their value labels (``frame.attrs["value_labels"]``) and keep the codes as
values, as Stata's own commands see them; categorical columns of any format are encoded
the same way (see :mod:`semlevel.io.labels`).
"""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pandas as pd

from .labels import ATTR, encode_categoricals

__all__ = ["read_data", "DataFileError", "MissingPackageError", "file_kind", "READABLE"]


class DataFileError(ValueError):
    """A data file that cannot be read (missing, wrong type, unparsable, empty)."""


class MissingPackageError(ImportError):
    """An optional package needed for a file format is not installed."""


# suffix -> (kind, optional packages that can read it)
_KINDS = {
    ".csv": ("csv", ()), ".txt": ("csv", ()), ".tsv": ("tsv", ()), ".tab": ("tsv", ()),
    ".parquet": ("parquet", ("pyarrow", "fastparquet")), ".pq": ("parquet", ("pyarrow",
                                                                          "fastparquet")),
    ".dta": ("stata", ()), ".xlsx": ("excel", ("openpyxl",)), ".xlsm": ("excel", ("openpyxl",)),
}
_TEXT = (".csv", ".txt", ".tsv", ".tab")
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")

#: Suffixes :func:`read_data` understands.
READABLE: tuple[str, ...] = tuple(sorted(_KINDS))


def file_kind(path: str | Path, what: str = "read") -> tuple[str, tuple[str, ...]]:
    """(kind, optional packages) of a data file from its suffix; DataFileError if unknown."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
        if not suffixes or suffixes[-1] not in _TEXT:
            raise DataFileError(f"cannot {what} {str(path)!r}: compressed files must be CSV "
                                "or TSV (e.g. data.csv.gz)")
    ext = suffixes[-1] if suffixes else ""
    if ext not in _KINDS:
        raise DataFileError(f"cannot {what} {str(path)!r}: unknown file type "
                            f"{ext or '(no suffix)'!r}; semlevel {what}s "
                            f"{', '.join(READABLE)} files (CSV/TSV also compressed)")
    return _KINDS[ext]


def require(packages: tuple[str, ...], what: str) -> None:
    """MissingPackageError naming the package when none of ``packages`` is installed."""
    if packages and all(importlib.util.find_spec(p) is None for p in packages):
        raise MissingPackageError(
            f"{what} needs the {packages[0]!r} package, which is not installed: "
            f"python -m pip install {packages[0]}  (or: python -m pip install "
            "'semlevel[formats]')")


def read_data(path: str | Path, sep: str | None = None, sheet: str | int = 0) -> pd.DataFrame:
    """Read a long-form data file; the format comes from the suffix.

    ``.csv``/``.txt`` (``sep`` default ``,``; ``.gz``/``.bz2``/``.xz``/``.zip``/``.zst``
    compressed too), ``.tsv``/``.tab`` (tab), ``.parquet``/``.pq``, ``.dta`` (Stata, with
    value labels), ``.xlsx``/``.xlsm`` (``sheet``: name or 0-based index). Categorical
    columns become integer codes with value labels. Raises :class:`DataFileError` (a
    ValueError) for a missing, unknown, unreadable or empty file and
    :class:`MissingPackageError` (an ImportError) when a format's optional package is absent.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataFileError(f"no such file: {str(path)!r}")
    if path.is_dir():
        raise DataFileError(f"{str(path)!r} is a directory, not a data file")
    kind, packages = file_kind(path)
    require(packages, f"reading {path.suffix} files")
    try:
        if kind in ("csv", "tsv"):
            frame = pd.read_csv(path, sep=sep if sep else ("," if kind == "csv" else "\t"))
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        elif kind == "stata":
            frame = _read_stata(path)
        else:
            frame = pd.read_excel(path, sheet_name=sheet)
    except (DataFileError, MissingPackageError):
        raise
    except ImportError as exc:                      # a reader's own optional dependency
        raise MissingPackageError(f"cannot read {str(path)!r}: {exc}") from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser's error means: not readable as that
        what = {"csv": "a CSV", "tsv": "a TSV", "parquet": "a Parquet", "stata": "a Stata",
                "excel": "an Excel"}[kind]
        raise DataFileError(f"cannot read {str(path)!r} as {what} file: "
                            f"{type(exc).__name__}: {exc}") from exc
    if frame.shape[1] == 0 or len(frame) == 0:
        raise DataFileError(f"{str(path)!r} holds no data")
    if kind in ("csv", "tsv"):
        frame = stata_missing_dots(frame)
    return encode_categoricals(frame)


def stata_missing_dots(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns of numbers in which some cells are ``.`` (Stata's missing value, as its
    ``export delimited`` writes it) become numeric with those cells missing; the number of
    such cells per column is recorded in ``frame.attrs["stata_missing"]`` (the command
    line reports it). Other text columns are left as they are."""
    counts: dict[str, int] = {}
    out = frame
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            continue
        text = s.astype("string").str.strip()
        dots = text == "."
        if not dots.any():
            continue
        rest = pd.to_numeric(text.where(~dots), errors="coerce")
        if rest.notna().sum() != (s.notna() & ~dots.fillna(False)).sum():
            continue                                 # other text: not a numeric column
        if out is frame:
            out = frame.copy()
        out[col] = rest.astype(float)
        counts[str(col)] = int(dots.sum())
    if counts:
        out.attrs["stata_missing"] = counts
    return out


def _read_stata(path: Path) -> pd.DataFrame:
    """A .dta file's codes, with its value labels in ``attrs`` (by variable)."""
    codes = pd.read_stata(path, convert_categoricals=False)
    labels: dict[str, dict[int, str]] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            shown = pd.read_stata(path, convert_categoricals=True)
    except ValueError as exc:       # e.g. non-unique labels: keep the codes, say so
        warnings.warn(f"value labels of {path.name} not used: {exc}", UserWarning,
                      stacklevel=3)
        return codes
    for col in shown.columns:
        if not isinstance(shown[col].dtype, pd.CategoricalDtype):
            continue
        pairs = pd.DataFrame({"code": codes[col], "label": shown[col].astype(object)}).dropna()
        mapping = {}
        for code, label in pairs.drop_duplicates().itertuples(index=False):
            if isinstance(label, str):
                mapping[int(code)] = label
        if mapping:
            labels[str(col)] = mapping
    if labels:
        codes.attrs[ATTR] = labels
    return codes
