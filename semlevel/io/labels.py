"""Value labels: names for the integer codes of a variable (Stata's ``label values``).

Convention: a DataFrame carries them in ``frame.attrs["value_labels"]`` as
``{variable: {code: label}}`` (codes are ints). :func:`semlevel.read_data` fills it from a
Stata file's value labels and from categorical columns (whose categories become labels of
the codes 1, 2, ...). Models always use the codes (Stata semantics: ``2.drug`` is the level
coded 2); the labels only change what reports print, as Stata's ``fvlabel`` default does.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ValueLabels", "ATTR", "value_labels", "set_value_labels", "fit_value_labels",
           "encode_categoricals", "level_label"]

ATTR = "value_labels"

ValueLabels = dict[str, dict[int, str]]


def _as_code(key: Any) -> int | None:
    """A code as int (JSON round trips turn int keys into strings); None if not integral."""
    try:
        f = float(key)
    except (TypeError, ValueError):
        return None
    return int(f) if np.isfinite(f) and f == int(f) else None


def _normalise(labels: Mapping) -> ValueLabels:
    out: ValueLabels = {}
    for var, mapping in (labels or {}).items():
        if not isinstance(mapping, Mapping):
            continue
        codes = {}
        for k, v in mapping.items():
            c = _as_code(k)
            if c is not None and v is not None:
                codes[c] = str(v)
        if codes:
            out[str(var)] = codes
    return out


def value_labels(frame: pd.DataFrame) -> ValueLabels:
    """The value labels a DataFrame carries (``{}`` when none)."""
    return _normalise(getattr(frame, "attrs", {}).get(ATTR, {}))


def set_value_labels(frame: pd.DataFrame, labels: Mapping) -> pd.DataFrame:
    """Attach value labels (``{variable: {code: label}}``) to ``frame`` in place; returns it.

    Labels of variables that are not columns of ``frame`` are refused with a ValueError.
    """
    labels = _normalise(labels)
    missing = [v for v in labels if v not in frame.columns]
    if missing:
        raise ValueError(f"value labels for variables not in the data: {', '.join(missing)}")
    merged = value_labels(frame)
    merged.update(labels)
    frame.attrs[ATTR] = merged
    return frame


def fit_value_labels(fit) -> ValueLabels:
    """Value labels of the data a fit (or PathModel) was estimated on."""
    model = getattr(fit, "model", fit)
    original = getattr(getattr(model, "data", None), "original", None)
    return value_labels(original) if isinstance(original, pd.DataFrame) else {}


def encode_categoricals(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns as integer codes with value labels (a new frame).

    Numeric categories become the numbers themselves; other categories the codes 1, 2, ...
    in category order, labelled with the categories (Stata's ``encode``). Missing values
    stay missing.
    """
    out = frame.copy()
    labels = value_labels(frame)
    for col in frame.columns:
        s = frame[col]
        if not isinstance(s.dtype, pd.CategoricalDtype):
            continue
        cats = s.cat.categories
        if pd.api.types.is_numeric_dtype(cats.dtype):
            out[col] = s.astype(cats.dtype if s.notna().all() else "float64")
            continue
        codes = s.cat.codes.to_numpy().astype("int64") + 1
        if (codes == 0).any():
            out[col] = pd.Series(np.where(codes == 0, np.nan, codes), index=s.index)
        else:
            out[col] = pd.Series(codes, index=s.index)
        labels[str(col)] = {i + 1: str(c) for i, c in enumerate(cats)}
    out.attrs = dict(frame.attrs)
    if labels:
        out.attrs[ATTR] = labels
    return out


def level_label(labels: ValueLabels, variable: str, level: str | int) -> str | None:
    """The label of one level (``"2"`` of ``drug``), or None when it has none."""
    code = _as_code(level)
    if code is None:
        return None
    return labels.get(variable, {}).get(code)
