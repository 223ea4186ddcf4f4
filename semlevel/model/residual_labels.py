"""Labels and residual covariances that a ``residuals()`` structure adds to a PathModel."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.wide import OBS_KEY
from .residuals import ResidualSpec, ResidualStructure
from ..arrays import unique

__all__ = ["residual_labels", "check_time", "check_order"]

_TITLE = {"independent": "Independent", "exchangeable": "Exchangeable", "ar": "AR",
          "ma": "MA", "unstructured": "Unstructured", "banded": "Banded",
          "toeplitz": "Toeplitz", "exponential": "Exponential"}


def _fmt(t) -> str:
    t = float(t)
    return str(int(t)) if t.is_integer() else repr(t)


def check_time(wide, time: str, kind: str, levels: list[str]) -> None:
    """The manual's checks on ``t()``: unique within a group; whole numbers where the
    structure counts steps."""
    pairs = pd.DataFrame({"row": wide.row, "slot": wide.slot})
    if pairs.duplicated().any():
        raise ValueError(f"time variable {time!r} has duplicate values within a "
                         f"{levels[-1]!r} group")
    t = wide.slots[OBS_KEY].to_numpy(dtype=float)
    if kind in ("ar", "ma", "banded", "toeplitz", "unstructured") and \
            not np.allclose(t, np.round(t)):
        raise ValueError(f"residuals({kind}) needs whole-number times in t({time}); use "
                         "residuals(exponential) for real-valued times")


def check_order(wide, spec: ResidualSpec) -> None:
    """An order must leave the structure identifiable from the occasions observed."""
    if spec.order is None:
        return
    t = unique(wide.slots[OBS_KEY].to_numpy(dtype=float))
    max_lag = int(t.max() - t.min()) if len(t) else 0
    if spec.kind in ("ar", "ma", "toeplitz") and spec.order > max_lag:
        raise ValueError(f"residuals({spec.kind} {spec.order}) is larger than the longest "
                         f"time distance in t({spec.time}) ({max_lag}, {len(t)} distinct "
                         "times): lower the order")
    if spec.kind == "banded" and spec.order > len(t) - 1:
        raise ValueError(f"residuals(banded {spec.order}): the order must be between 0 and "
                         f"{len(t) - 1} (t({spec.time}) has {len(t)} distinct values)")


def residual_labels(wide, spec: ResidualSpec, label_rows: list[dict], suffix: str = "",
                    block_suffix: str = ""):
    """Append the structure's labels to ``label_rows``; return the residual covariances
    (slot pairs and labels), the nonlinear structure (or None) and each slot's variance label.
    ``suffix`` is appended to every label name (one parameter set per ``by()`` group).
    """
    slots = wide.slots
    t = slots[OBS_KEY].to_numpy(dtype=float)
    prefix_cols = [c for c in slots.columns if c not in (OBS_KEY, "n_obs")]
    group = (slots.groupby(prefix_cols, sort=False).ngroup().to_numpy() if prefix_cols
             else np.zeros(len(slots), dtype=np.int64))
    kind, order = spec.kind, spec.order
    levels_t = unique(t)
    rank = np.searchsorted(levels_t, t)               # position of each slot's time
    if order is None and kind == "banded":            # manual: banded = unstructured
        order = len(levels_t) - 1
    if order is None and kind == "toeplitz":          # all observed lags
        order = int(levels_t.max() - levels_t.min()) if len(levels_t) else 0
    title = _TITLE[kind] + (f"({order})" if order is not None and kind in
                            ("ar", "ma", "toeplitz", "banded") else "")
    block = f"Residual: {title}{block_suffix}"
    index: dict[str, int] = {}

    def add(name: str, kind_: str, value=np.nan) -> int:
        name = name + suffix
        if name not in index:
            index[name] = len(label_rows)
            label_rows.append({"name": name, "kind": kind_, "block": block, "value": value})
        return index[name]

    # pairs of slots of one lowest-level group that are observed together in some row
    # (joined on row and group: a row holds thousands of observations in large designs,
    # a lowest-level group a few)
    cells = pd.DataFrame({"row": wide.row, "group": group[wide.slot], "slot": wide.slot})
    pairs = cells.merge(cells, on=["row", "group"])
    pairs = pairs[pairs["slot_x"] < pairs["slot_y"]]
    pairs = pairs[["slot_x", "slot_y"]].drop_duplicates().sort_values(["slot_x", "slot_y"])
    s_idx = pairs["slot_x"].to_numpy(dtype=np.int64)
    t_idx = pairs["slot_y"].to_numpy(dtype=np.int64)
    dist = np.abs(t[s_idx] - t[t_idx])
    structure = None
    keep = np.ones(len(s_idx), dtype=bool)
    if kind in ("independent", "exchangeable"):
        var = add("Residual: var(e)", "resvar")
        resid = np.full(len(slots), var, dtype=np.int64)
        if kind == "exchangeable":
            cov = add("Residual: cov(e)", "rescov")
            pair_label = np.full(len(s_idx), cov, dtype=np.int64)
        else:
            keep[:] = False
            pair_label = np.zeros(len(s_idx), dtype=np.int64)
    elif kind in ("unstructured", "banded"):
        resid = np.array([add(f"Residual: var(e{_fmt(v)})", "resvar") for v in t],
                         dtype=np.int64)
        if kind == "banded":                          # bands by position in t's order
            keep = np.abs(rank[s_idx] - rank[t_idx]) <= order
        pair_label = np.array([add(f"Residual: cov(e{_fmt(min(t[a], t[b]))},"
                                   f"e{_fmt(max(t[a], t[b]))})", "rescov") if k else 0
                               for a, b, k in zip(s_idx, t_idx, keep)], dtype=np.int64)
    else:
        names = {"ar": "phi", "ma": "theta", "toeplitz": "rho"}
        n_coef = 1 if kind == "exponential" else order
        if kind == "exponential" or (kind == "ar" and order == 1):
            coefs = ["Residual: rho"]          # mixed reports AR(1)'s phi1 as rho
        else:
            coefs = [f"Residual: {names[kind]}{i}" for i in range(1, n_coef + 1)]
        start = 0.5 if kind == "exponential" else 0.0
        params = [c + suffix for c in coefs] + ["Residual: var(e)" + suffix]
        for c in coefs:
            add(c, "resstruct", start)
        add("Residual: var(e)", "resstruct")
        if kind in ("ma", "toeplitz"):
            keep = dist <= order
        lags: dict[str, float] = {}

        def lag_label(d: float) -> int:
            name = f"Residual: lag({_fmt(d)})"
            lags[name + suffix] = float(d)
            return add(name, "lag")

        resid = np.full(len(slots), lag_label(0.0), dtype=np.int64)
        pair_label = np.array([lag_label(d) if k else 0 for d, k in zip(dist, keep)],
                              dtype=np.int64)
        structure = ResidualStructure(kind=kind, order=n_coef, params=tuple(params), lags=lags)
    theta = pd.DataFrame({"s": s_idx[keep], "t": t_idx[keep], "label": pair_label[keep]})
    return theta, structure, resid
