"""Array helpers every layer uses.

:func:`unique_inverse` is ``np.unique(keys, return_inverse=True)`` for integer keys:
where they span a range not much larger than their number (a row's latents numbered
row x latents + latent), by a table of that range, without sorting; :func:`unique`
takes the same route for such keys.

:func:`unique` is ``np.unique(a)`` (the sorted distinct values, NaNs as one) by a sort
and a mask. numpy 2's ``np.unique`` without return arguments takes a hash-based route
that is 4-10x slower than sorting on integer keys (19 ms against 2 ms for 100,000
integers, 0.5 against 0.13 ms for 7,000: ``benchmarks/micro.py unique``), and the model
builder and the
evaluation paths call it on every fit.
"""
from __future__ import annotations

import numpy as np

__all__ = ["unique", "unique_inverse", "same_row_pairs", "group_sums"]


def unique(a) -> np.ndarray:
    """The sorted distinct values of ``a`` (flattened), as ``np.unique(a)`` returns them."""
    a = np.asarray(a)
    if a.dtype.kind in "iu" and a.size > 64:
        lo, hi = int(a.min()), int(a.max())
        if hi - lo + 1 <= max(4 * a.size, 4096):
            present = np.zeros(hi - lo + 1, dtype=bool)
            present[(a - lo).ravel()] = True
            return (np.flatnonzero(present) + lo).astype(a.dtype, copy=False)
    s = np.sort(a, axis=None)
    if s.size == 0:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    if s.dtype.kind in "fc" and np.isnan(s[-1]):
        # NaNs sort last and are unequal to each other: keep the first only
        first_nan = int(np.searchsorted(np.isnan(s), True)) if s.dtype.kind == "f" \
            else int(np.flatnonzero(np.isnan(s))[0])
        keep[first_nan + 1:] = False
    return s[keep]


def changes(values: np.ndarray) -> np.ndarray:
    """True at the first element and wherever an element differs from the one before
    (``np.r_[True, v[1:] != v[:-1]]`` without ``np.r_``'s ~10 us of parsing)."""
    out = np.empty(len(values), dtype=bool)
    if len(values):
        out[0] = True
        np.not_equal(values[1:], values[:-1], out=out[1:])
    return out


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for 1-D integer ``keys``: the sorted
    distinct keys and each key's position among them. Keys spanning at most four times
    their number (or 4,096) are marked in a table of that span and numbered by a
    cumulative sum, in one pass (11 -> 0.7 ms for 200,000 keys: benchmarks/micro.py)."""
    keys = np.asarray(keys)
    if keys.ndim != 1 or keys.dtype.kind not in "iu" or not keys.size:
        u, inv = np.unique(keys, return_inverse=True)
        return u, inv.reshape(-1)
    lo, hi = int(keys.min()), int(keys.max())
    span = hi - lo + 1
    if span > max(4 * keys.size, 4096):
        # a hash table and a sort of the distinct keys only (pandas' factorize): half
        # the time of np.unique's sort of every key
        import pandas as pd
        inv, u = pd.factorize(keys, sort=True)
        return np.asarray(u, dtype=keys.dtype), inv.astype(np.intp, copy=False)
    present = np.zeros(span, dtype=bool)
    present[keys - lo] = True
    code = np.cumsum(present, dtype=np.int64) - 1
    return (np.flatnonzero(present) + lo).astype(keys.dtype, copy=False), code[keys - lo]


def same_row_pairs(row: np.ndarray, item: np.ndarray, a: np.ndarray, b: np.ndarray,
                   width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each entry (a[e], b[e]) of a table of item pairs, every element holding item
    a[e] and the element of the same row holding item b[e], where the row has one:
    (element of a, element of b, entry). Elements are (``row``, ``item``) pairs, at most
    one per pair; items are below ``width`` (a latent covariance between two latents'
    columns, a residual covariance between two slots' observations)."""
    row = np.asarray(row, dtype=np.int64)
    keys = row * width + item
    order = np.argsort(keys, kind="stable")
    skeys = keys[order]
    by_item = np.argsort(item, kind="stable")
    item_sorted = item[by_item]
    lo = np.searchsorted(item_sorted, a, side="left")
    count = np.searchsorted(item_sorted, a, side="right") - lo
    entry = np.repeat(np.arange(len(a)), count)
    offs = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    ia = by_item[np.repeat(lo, count) + offs]
    want = row[ia] * width + b[entry]
    pos = np.minimum(np.searchsorted(skeys, want), max(len(skeys) - 1, 0))
    hit = skeys[pos] == want if len(skeys) else np.zeros(0, dtype=bool)
    return ia[hit], order[pos[hit]], entry[hit]


def group_sums(codes: np.ndarray, x: np.ndarray, n_groups: int, axis: int = 0) -> np.ndarray:
    """Sums of ``x`` along ``axis`` (0 or -1) by ``codes`` in 0..n_groups-1: each group's
    sum depends on its own elements only, in their order (not on the other groups or
    on where it lies), so the same rows give the same bits in any data set or
    partition. Contiguous groups in code order (the wide data's rows) are summed in
    place; others after a stable sort. Along the last axis (each group's values
    contiguous in memory) the sums are numpy's pairwise ones."""
    x = np.asarray(x)
    last = axis in (-1, x.ndim - 1) and x.ndim > 1
    shape = x.shape[:-1] + (n_groups,) if last else (n_groups,) + x.shape[1:]
    out = np.zeros(shape, dtype=np.result_type(x, float))
    if not len(codes):
        return out
    if codes[0] == 0 and not np.any(codes[1:] < codes[:-1]):
        order = None
    else:
        order = np.argsort(codes, kind="stable")
        codes = codes[order]
    starts = np.flatnonzero(changes(codes))
    if last:
        out[..., codes[starts]] = np.add.reduceat(x if order is None else x[..., order],
                                                  starts, axis=-1)
    else:
        out[codes[starts]] = np.add.reduceat(x if order is None else x[order], starts,
                                             axis=0)
    return out
