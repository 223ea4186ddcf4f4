"""Array helpers every layer uses.

:func:`unique_inverse` is ``np.unique(keys, return_inverse=True)`` for integer keys:
where they span a range not much larger than their number (a row's latents numbered
row x latents + latent), by a table of that range, without sorting; :func:`unique`
takes the same route for such keys.

:func:`unique` is ``np.unique(a)`` (the sorted distinct values, NaNs as one) by a sort
and a mask. numpy 2's ``np.unique`` without return arguments takes a hash-based route
that is 4-10x slower than sorting on integer keys (19 ms against 1.1 ms for 100,000
integers here; 0.6 ms against 0.07 ms for 7,000), and the model builder and the
evaluation paths call it on every fit.
"""
from __future__ import annotations

import numpy as np

__all__ = ["unique", "unique_inverse"]


def unique(a) -> np.ndarray:
    """The sorted distinct values of ``a`` (flattened), as ``np.unique(a)`` returns them."""
    a = np.asarray(a)
    if a.dtype.kind in "iu" and a.size > 64:
        lo, hi = int(a.min()), int(a.max())
        if hi - lo + 1 <= max(4 * a.size, 1 << 20):
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


def unique_inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for 1-D integer ``keys``: the sorted
    distinct keys and each key's position among them. Keys spanning at most four times
    their number (or 2^20) are marked in a table of that span and numbered by a
    cumulative sum, in one pass (9.3 -> 0.7 ms for 200,000 keys here)."""
    keys = np.asarray(keys)
    if keys.ndim != 1 or keys.dtype.kind not in "iu" or not keys.size:
        u, inv = np.unique(keys, return_inverse=True)
        return u, inv.reshape(-1)
    lo, hi = int(keys.min()), int(keys.max())
    span = hi - lo + 1
    if span > max(4 * keys.size, 1 << 20):
        # a hash table and a sort of the distinct keys only (pandas' factorize): half
        # the time of np.unique's sort of every key
        import pandas as pd
        inv, u = pd.factorize(keys, sort=True)
        return np.asarray(u, dtype=keys.dtype), inv.astype(np.intp, copy=False)
    present = np.zeros(span, dtype=bool)
    present[keys - lo] = True
    code = np.cumsum(present, dtype=np.int64) - 1
    return (np.flatnonzero(present) + lo).astype(keys.dtype, copy=False), code[keys - lo]
