"""The fixed part of a path model as data: the design whose columns are the free
coefficient labels, and the offset of coefficients fixed at a value. Pure functions of
the model (every evaluation path and the post-estimation code read them).
"""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import numpy as np
from ..arrays import unique
from .label_arrays import label_arrays

if TYPE_CHECKING:  # annotations only: pathmodel imports this module
    from .pathmodel import PathModel


__all__ = ["coefficient_design", "fixed_offset", "ols_residual"]


#: the design and the offset of each model object, made once (a fit asks for them about
#: ten times: starting values, statistics, checks, the linear model's likelihood);
#: weak: they go with their models, which are immutable
_DESIGN: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_OFFSET: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_RESIDUAL: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def coefficient_design(model: PathModel) -> tuple[np.ndarray, np.ndarray]:
    """Covariate matrix whose columns are the free coefficient labels, and those labels.

    When every slot uses the term's own label (the mixed model) this is ``model.X``;
    relaxed slopes split a term's column among the labels of the slots. (Computed once
    per model object; do not modify the arrays returned.)
    """
    got = _DESIGN.get(model)
    if got is None:
        Xt, ids = _coefficient_design(model)
        got = _DESIGN[model] = (_read_only(Xt), _read_only(ids))
    return got


def _coefficient_design(model: PathModel) -> tuple[np.ndarray, np.ndarray]:
    coef_ids = label_arrays(model).coefficients
    k = len(model.terms)
    if k == 0:
        return np.zeros((model.data.n_obs, 0)), coef_ids
    if np.array_equal(model.path_label, np.tile(np.arange(k), (model.path_label.shape[0], 1))) \
            and np.array_equal(coef_ids, np.arange(k)):
        return model.X, coef_ids
    per_obs = model.path_label[model.data.slot]            # (n_obs, k) label of each cell
    col_of = {lab: i for i, lab in enumerate(coef_ids)}
    Xt = np.zeros((model.data.n_obs, len(coef_ids)))
    for t in range(k):
        labs = per_obs[:, t]
        for lab in unique(labs):
            if lab not in col_of:
                continue  # a fixed coefficient: handled as an offset by the caller
            m = labs == lab
            Xt[m, col_of[lab]] += model.X[m, t]
    return Xt, coef_ids


def ols_residual(model: PathModel) -> np.ndarray:
    """The outcome less its least-squares fit on the coefficient design (the outcome
    itself where no coefficient is free): the moments the starting values are guessed
    from (computed once per model object; do not modify the array returned)."""
    got = _RESIDUAL.get(model)
    if got is None:
        Xt, _ = coefficient_design(model)
        y = model.data.y
        r = y - Xt @ _ols(Xt, y) if Xt.shape[1] else y
        got = _RESIDUAL[model] = _read_only(np.asarray(r, dtype=float))
    return got


def _ols(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least-squares coefficients: by the normal equations where X'X is well
    conditioned (a k x k solve after one pass over the data; lstsq's SVD of a million
    rows takes 20-30 ms, these 3: benchmarks/micro.py ols), else by lstsq (collinear or
    badly scaled columns)."""
    G = X.T @ X
    with np.errstate(all="ignore"):
        if np.all(np.isfinite(G)) and np.linalg.cond(G) < 1e8:
            return np.linalg.solve(G, X.T @ y)
    return np.linalg.lstsq(X, y, rcond=None)[0]


def fixed_offset(model: PathModel) -> np.ndarray:
    """Contribution of coefficients fixed at a value (not estimated) to each mean
    (computed once per model object; do not modify the array returned)."""
    got = _OFFSET.get(model)
    if got is None:
        got = _OFFSET[model] = _read_only(_fixed_offset(model))
    return got


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view: the cached arrays are shared by every caller."""
    v = a.view()
    v.flags.writeable = False
    return v


def _fixed_offset(model: PathModel) -> np.ndarray:
    la = label_arrays(model)
    fixed = (la.kind == "coef") & ~la.free
    if not fixed.any() or not len(model.terms):
        return np.zeros(model.data.n_obs)
    values = np.nan_to_num(la.value)
    per_obs = model.path_label[model.data.slot]
    mask = fixed[per_obs]
    return (model.X * np.where(mask, values[per_obs], 0.0)).sum(axis=1)
