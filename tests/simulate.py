"""Deterministic simulators of multilevel data for the tests.

Every function takes an integer ``seed`` and uses ``numpy.random.default_rng``
so the same call always returns the same long-form DataFrame.  Missing values
are NaN; ``df.attrs`` records the true parameters and the missing counts.
Nothing here imports ``semlevel``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["two_level", "three_level", "article"]


def _sizes(rng, n, lo, hi, force_ones=3):
    sizes = rng.integers(lo, hi + 1, size=n)
    if lo <= 1 and force_ones:
        # make sure some singleton groups exist whatever the draw
        sizes[rng.choice(n, size=min(force_ones, n), replace=False)] = 1
    return sizes


def _blank(rng, n, frac):
    """Boolean mask with round(frac*n) True entries at random positions."""
    mask = np.zeros(n, dtype=bool)
    m = int(round(frac * n))
    if m:
        mask[rng.choice(n, size=m, replace=False)] = True
    return mask


def two_level(seed, n_groups=60, size_range=(1, 9), slope=True, missing=0.15):
    """Random intercept (and slope on ``t``, correlated) two-level data.

    Columns ``id`` (1..n_groups), ``t`` (0, 1, ... within group), ``x``, ``y``.
    Group sizes are uniform on ``size_range`` with at least three groups of
    size 1 (when size_range allows).  A fraction ``missing`` of ``y`` is NaN
    and, separately, 3% of ``x`` (``attrs['n_missing_y']``,
    ``attrs['n_missing_x']``; the sets may overlap).

    Truth: y = 1 + 0.5 x + 0.8 t + u0 + u1 t + e with
    Var(u0)=1, Var(u1)=0.25, Cov(u0,u1)=0.3 (corr 0.6) and Var(e)=0.49.
    """
    rng = np.random.default_rng(seed)
    sizes = _sizes(rng, n_groups, *size_range)
    n = int(sizes.sum())
    gid = np.repeat(np.arange(1, n_groups + 1), sizes)
    t = np.concatenate([np.arange(s) for s in sizes]).astype(float)
    x = rng.normal(0.0, 1.0, size=n)
    G = np.array([[1.0, 0.3], [0.3, 0.25]]) if slope else np.array([[1.0, 0.0], [0.0, 0.0]])
    # u = z L' with G = L L' (lower Cholesky written out so that G may be
    # singular, e.g. slope=False); same stream as Generator.multivariate_normal
    L = np.zeros((2, 2))
    L[0, 0] = np.sqrt(G[0, 0])
    L[1, 0] = G[1, 0] / L[0, 0]
    L[1, 1] = np.sqrt(max(G[1, 1] - L[1, 0] ** 2, 0.0))
    u = rng.standard_normal((n_groups, 2)) @ L.T
    ui = u[gid - 1]
    sigma2 = 0.49
    e = rng.normal(0.0, np.sqrt(sigma2), size=n)
    y = 1.0 + 0.5 * x + 0.8 * t + ui[:, 0] + ui[:, 1] * t + e
    my = _blank(rng, n, missing)
    mx = _blank(rng, n, 0.03 if missing else 0.0)
    y[my] = np.nan
    x[mx] = np.nan
    df = pd.DataFrame({"id": gid, "t": t, "x": x, "y": y})
    df.attrs.update(
        beta={"_cons": 1.0, "x": 0.5, "t": 0.8},
        G=G.tolist(),
        sigma2=sigma2,
        n_missing_y=int(my.sum()),
        n_missing_x=int(mx.sum()),
    )
    return df


def three_level(seed, n_top=40, mid_range=(1, 5), low_range=(1, 6), missing=0.15):
    """Three-level random-intercept data: i within j within k.

    Columns ``k`` (1..n_top), ``j`` (coded 1..m_k *within* each k, so the
    same j value recurs under different k: the model must nest it), ``i``
    (1..n within k:j), ``x``, ``y``.  A fraction ``missing`` of y is NaN and
    3% of x (counts in ``attrs``).

    Truth: y = 1 + 0.7 x + U_k + V_jk + e, Var(U)=1, Var(V)=0.36, Var(e)=0.64.
    """
    rng = np.random.default_rng(seed)
    n_mid = _sizes(rng, n_top, *mid_range, force_ones=2)
    kk, jj, ii = [], [], []
    for k in range(n_top):
        n_low = _sizes(rng, int(n_mid[k]), *low_range, force_ones=0)
        for j in range(int(n_mid[k])):
            m = int(n_low[j])
            kk.append(np.full(m, k + 1))
            jj.append(np.full(m, j + 1))
            ii.append(np.arange(1, m + 1))
    k = np.concatenate(kk)
    j = np.concatenate(jj)
    i = np.concatenate(ii)
    n = k.size
    var_u, var_v, sigma2 = 1.0, 0.36, 0.64
    U = rng.normal(0.0, np.sqrt(var_u), size=n_top)
    # one V per (k, j) cell, indexed by the running cell number
    cell = np.cumsum(np.r_[True, (np.diff(k) != 0) | (np.diff(j) != 0)]) - 1
    V = rng.normal(0.0, np.sqrt(var_v), size=int(cell.max()) + 1)
    x = rng.normal(0.0, 1.0, size=n)
    e = rng.normal(0.0, np.sqrt(sigma2), size=n)
    y = 1.0 + 0.7 * x + U[k - 1] + V[cell] + e
    my = _blank(rng, n, missing)
    mx = _blank(rng, n, 0.03 if missing else 0.0)
    y[my] = np.nan
    x[mx] = np.nan
    df = pd.DataFrame({"k": k, "j": j, "i": i, "x": x, "y": y})
    df.attrs.update(
        beta={"_cons": 1.0, "x": 0.7},
        var_k=var_u,
        var_jk=var_v,
        sigma2=sigma2,
        n_missing_y=int(my.sum()),
        n_missing_x=int(mx.sum()),
    )
    return df


def article(seed, K=100, J=2, I=2):
    """The article's balanced design: y = 2 x + U_k + V_jk + E_ijk.

    U, V, E are iid N(0, 1), x ~ Uniform(0, 1); no constant, no missing.
    Columns ``k`` (1..K), ``j`` (1..J within k), ``i`` (1..I within k:j), x, y.
    """
    rng = np.random.default_rng(seed)
    k = np.repeat(np.arange(1, K + 1), J * I)
    j = np.tile(np.repeat(np.arange(1, J + 1), I), K)
    i = np.tile(np.arange(1, I + 1), K * J)
    U = rng.normal(size=K)
    V = rng.normal(size=(K, J))
    E = rng.normal(size=K * J * I)
    x = rng.uniform(size=K * J * I)
    y = 2.0 * x + U[k - 1] + V[k - 1, j - 1] + E
    df = pd.DataFrame({"k": k, "j": j, "i": i, "x": x, "y": y})
    df.attrs.update(beta={"x": 2.0, "_cons": 0.0}, var_k=1.0, var_jk=1.0, sigma2=1.0)
    return df
