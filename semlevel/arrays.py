"""Array helpers every layer uses.

:func:`unique` is ``np.unique(a)`` (the sorted distinct values, NaNs as one) by a sort
and a mask. numpy 2's ``np.unique`` without return arguments takes a hash-based route
that is 4-10x slower than sorting on integer keys (19 ms against 1.1 ms for 100,000
integers here; 0.6 ms against 0.07 ms for 7,000), and the model builder and the
evaluation paths call it on every fit.
"""
from __future__ import annotations

import numpy as np

__all__ = ["unique"]


def unique(a) -> np.ndarray:
    """The sorted distinct values of ``a`` (flattened), as ``np.unique(a)`` returns them."""
    s = np.sort(np.asarray(a), axis=None)
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
