"""Public long -> wide pivot (Stata's ``reshape wide`` for nested multilevel data)."""
from __future__ import annotations

import pandas as pd

from .sample import check_columns, select_sample
from .wide import build_wide

__all__ = ["pivot_wide"]


def pivot_wide(data: pd.DataFrame, outcome: str, levels: list[str] | tuple[str, ...],
               covariates: list[str] | tuple[str, ...] = (), time: str | None = None,
               key_by: str = "value") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pivot long multilevel data to the wide form: one row per top-level unit.

    Parameters
    ----------
    data : long DataFrame, one row per observation.
    outcome : outcome column; covariates : further columns to spread by slot.
    levels : grouping columns, top level first (nesting is enforced whatever the coding).
    time : optional column keying the observations within their lowest group (else their
        order within it).
    key_by : ``"value"`` keys nested levels by their id values (``reshape`` semantics, so
        ``j=2`` means the same in every row); ``"order"`` by order within the parent.

    Returns
    -------
    wide : DataFrame with the top-level id, then ``outcome[j=..,obs=..]`` columns (NaN
        where a row has no observation in a slot), then each covariate's columns.
    slots : the slot map, one row per slot: its keys, the wide column name of the outcome
        and the number of observations in it. Rows with a missing outcome, covariate or
        level id are left out; ``wide.attrs["sample"]`` says how many and why.
    """
    levels, covariates = list(levels), list(covariates)
    check_columns(data, [outcome, *covariates, *levels] + ([time] if time else []))
    sample = select_sample(data, outcome, covariates + ([time] if time else []), levels)
    wide = build_wide(data, outcome, levels, sample, covariates, time=time, key_by=key_by)
    if time and pd.DataFrame({"row": wide.row, "slot": wide.slot}).duplicated().any():
        raise ValueError(f"time variable {time!r} has duplicate values within a group")
    frame = wide.to_frame([outcome, *covariates])
    frame.attrs["sample"] = sample.describe()
    slots = wide.slots.copy()
    slots.insert(len(slots.columns) - 1, "column", wide.slot_names(outcome))
    return frame, slots
