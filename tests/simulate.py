"""Deterministic simulators of multilevel data for the tests.

Every function takes an integer ``seed`` and uses ``numpy.random.default_rng``
so the same call always returns the same long-form DataFrame.  Missing values
are NaN; ``df.attrs`` records the true parameters and the missing counts.
Nothing here imports ``semlevel``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["two_level", "three_level", "article", "hetero_three_level", "slot_three_level",
           "repeated_measures"]


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


def hetero_three_level(seed=7, K=300, J=4, I=3, missing=0.10):
    """Three-level data whose school effects break the mixed model's assumptions.

    Counties ``k`` (1..K), schools ``j`` (1..J, the *same* codes in every county,
    so the wide form has one latent per school position), students ``i`` (1..I
    per school).  About 8% of the (k, j, i) cells are dropped entirely (no row),
    so schools have 1..I students and wide rows have fewer slots; ``i`` keeps
    the student's code (with gaps where cells were dropped; semlevel's wide
    slot is the observation's order among the used rows of (k, j), not ``i``).  Then a fraction
    ``missing`` of ``y`` is NaN; ``x`` is never missing.

    Truth: y = 1 + 0.5 x + U_k + V_jk + E with x ~ N(0, 1), U_k ~ N(0, 1),
    (V_1k, ..., V_Jk) ~ N(0, S): variance 0.3 for the first half of the
    schools (j <= J // 2) and 0.8 for the others, corr(V_1, V_2) = 0.5 and the
    other correlations 0; E ~ N(0, 0.5) except in the last school (j = J),
    where Var(E) = 1.0.  With the defaults: variances (0.3, 0.3, 0.8, 0.8),
    Cov(V_1, V_2) = 0.15 and Var(E) = 1.0 in school 4.

    Written to tests/data/lavaan/hetero3.csv (NaN as an empty field), the data
    of the lavaan reference (tests/data/lavaan/reference.R).
    """
    rng = np.random.default_rng(seed)
    var_v = np.where(np.arange(1, J + 1) <= J // 2, 0.3, 0.8)
    S = np.diag(var_v)
    if J >= 2:
        S[0, 1] = S[1, 0] = 0.5 * np.sqrt(var_v[0] * var_v[1])
    var_e = np.where(np.arange(1, J + 1) == J, 1.0, 0.5)
    U = rng.normal(0.0, 1.0, size=K)
    V = rng.standard_normal((K, J)) @ np.linalg.cholesky(S).T
    # full grid, sorted by k, j, i
    k = np.repeat(np.arange(1, K + 1), J * I)
    j = np.tile(np.repeat(np.arange(1, J + 1), I), K)
    i = np.tile(np.arange(1, I + 1), K * J)
    x = rng.normal(0.0, 1.0, size=k.size)
    e = rng.normal(0.0, 1.0, size=k.size) * np.sqrt(var_e[j - 1])
    y = 1.0 + 0.5 * x + U[k - 1] + V[k - 1, j - 1] + e
    keep = ~_blank(rng, k.size, 0.08)
    k, j, i, x, y = k[keep], j[keep], i[keep], x[keep], y[keep]
    my = _blank(rng, k.size, missing)
    y[my] = np.nan
    df = pd.DataFrame({"k": k, "j": j, "i": i, "x": x, "y": y})
    df.attrs.update(
        beta={"_cons": 1.0, "x": 0.5},
        var_k=1.0,
        V_cov=S.tolist(),
        var_e=var_e.tolist(),
        n_dropped_cells=int((~keep).sum()),
        n_missing_y=int(my.sum()),
        n_missing_x=0,
    )
    return df


def slot_three_level(seed, K=120, J=4, I=3, var_k=1.0, V_cov=0.5, var_e=0.5,
                     beta=(1.0, 0.5), slopes=None, drop=0.08, missing=0.10):
    """Three-level data (i in j in k) with level-2 effects of any covariance by position.

    Counties ``k`` (1..K) are the wide rows; schools ``j`` carry the *same* codes 1..J in
    every county (so school j is a slot position with its own latent ``j[j]``); students
    ``i`` (1..I per school).  A fraction ``drop`` of the (k, j, i) cells is removed
    (unbalanced: schools have 0..I students), then a fraction ``missing`` of ``y`` is NaN;
    ``x`` ~ N(0, 1) varies within every slot and is never missing.

    Truth: y = b0 + b_j x + U_k + V_jk + E with (b0, b) = ``beta``, b_j = ``slopes[j-1]``
    when given (slopes by position) else b; U_k ~ N(0, var_k); (V_1k..V_Jk) ~ N(0, S)
    with S = ``V_cov`` (a J x J matrix, or a scalar for the homoskedastic, uncorrelated
    mixed model); E ~ N(0, var_e[j-1]) (``var_e`` scalar or one value per position).
    """
    rng = np.random.default_rng(seed)
    S = np.asarray(V_cov, dtype=float)
    S = S * np.eye(J) if S.ndim == 0 else S
    var_e = np.broadcast_to(np.asarray(var_e, dtype=float), (J,))
    b = np.broadcast_to(np.asarray(beta[1] if slopes is None else slopes, dtype=float), (J,))
    U = rng.normal(0.0, np.sqrt(var_k), size=K)
    V = rng.standard_normal((K, J)) @ np.linalg.cholesky(S).T
    k = np.repeat(np.arange(1, K + 1), J * I)
    j = np.tile(np.repeat(np.arange(1, J + 1), I), K)
    i = np.tile(np.arange(1, I + 1), K * J)
    x = rng.normal(0.0, 1.0, size=k.size)
    e = rng.normal(0.0, 1.0, size=k.size) * np.sqrt(var_e[j - 1])
    y = beta[0] + b[j - 1] * x + U[k - 1] + V[k - 1, j - 1] + e
    keep = ~_blank(rng, k.size, drop)
    k, j, i, x, y = k[keep], j[keep], i[keep], x[keep], y[keep]
    my = _blank(rng, k.size, missing)
    y[my] = np.nan
    df = pd.DataFrame({"k": k, "j": j, "i": i, "x": x, "y": y})
    df.attrs.update(beta=dict(zip(("_cons", "x"), beta)), slopes=b.tolist(), var_k=var_k,
                    V_cov=S.tolist(), var_e=var_e.tolist(), n_dropped_cells=int((~keep).sum()),
                    n_missing_y=int(my.sum()), n_missing_x=0)
    return df


def repeated_measures(seed, n_subjects=80, n_occasions=6, errors="iid", coef=(), var=1.0,
                      scales=None, shared=0.0, var_u=1.0, drop=0.20, singletons=3,
                      missing_y=0.03, real_times=False, time_digits=None):
    """Longitudinal data with serially correlated errors, unbalanced in time.

    Subjects ``id`` (1..n_subjects) are observed at occasions ``t`` = 0..n_occasions-1
    (integers) or, with ``real_times``, at ``t`` = occasion + U(-0.35, 0.35) (real-valued,
    still increasing within a subject; rounded to ``time_digits`` decimals when given, so
    that subjects share time values).  A fraction ``drop`` of the (id, occasion) rows is
    removed (missing occasions: gaps in time), then ``singletons`` subjects keep only one
    randomly chosen row, then a fraction ``missing_y`` of y is NaN.  ``x`` ~ N(0, 1).

    Truth: y = 1 + 0.5 x + u_id + e with u ~ N(0, var_u) (``var_u=0``: no subject
    effect) and the errors of one subject over the full occasion grid generated in time
    (not from a covariance formula), by ``errors``:

    * ``"iid"``: e_t ~ N(0, var);
    * ``"arma"``: e_t = sum_i phi_i e_{t-i} + a_t + sum_j theta_j a_{t-j}, a_t ~ N(0, var),
      ``coef = (phi, theta)`` as two tuples, run from a 200-step burn-in (stationary);
    * ``"exp"``: a Gaussian process with Cov(e_s, e_t) = var * rho^|t_s - t_t|,
      ``coef = (rho,)`` (Cholesky of that matrix at the subject's real times).

    ``shared`` adds w_id ~ N(0, shared) to every error of a subject (compound symmetry);
    ``scales`` (one per occasion) multiplies e_t by scales[t] (heteroskedastic).
    """
    rng = np.random.default_rng(seed)
    T = n_occasions
    ids = np.repeat(np.arange(1, n_subjects + 1), T)
    occ = np.tile(np.arange(T), n_subjects)
    t = occ.astype(float)
    if real_times:
        t = t + rng.uniform(-0.35, 0.35, size=t.size)
        if time_digits is not None:
            t = np.round(t, time_digits)
    if errors == "iid":
        e = rng.normal(0.0, np.sqrt(var), size=(n_subjects, T))
    elif errors == "arma":
        phi, theta = (np.asarray(c, dtype=float) for c in coef)
        burn = 200
        a = rng.normal(0.0, np.sqrt(var), size=(n_subjects, burn + T))
        z = np.zeros_like(a)
        for s in range(burn + T):
            z[:, s] = a[:, s]
            for j, th in enumerate(theta, start=1):
                if s - j >= 0:
                    z[:, s] += th * a[:, s - j]
            for i, ph in enumerate(phi, start=1):
                if s - i >= 0:
                    z[:, s] += ph * z[:, s - i]
        e = z[:, burn:]
    elif errors == "exp":
        rho = float(coef[0])
        e = np.empty((n_subjects, T))
        tt = t.reshape(n_subjects, T)
        for i in range(n_subjects):
            C = var * rho ** np.abs(tt[i][:, None] - tt[i][None, :])
            e[i] = np.linalg.cholesky(C) @ rng.standard_normal(T)
    else:
        raise ValueError(errors)
    if shared:
        e = e + rng.normal(0.0, np.sqrt(shared), size=(n_subjects, 1))
    if scales is not None:
        e = e * np.asarray(scales, dtype=float)[None, :]
    u = rng.normal(0.0, np.sqrt(var_u), size=n_subjects) if var_u else np.zeros(n_subjects)
    x = rng.normal(0.0, 1.0, size=ids.size)
    y = 1.0 + 0.5 * x + u[ids - 1] + e.reshape(-1)
    keep = ~_blank(rng, ids.size, drop)
    for i in rng.choice(n_subjects, size=singletons, replace=False):
        rows = np.flatnonzero((ids == i + 1) & keep)
        if len(rows) > 1:
            keep[rng.choice(rows, size=len(rows) - 1, replace=False)] = False
    ids, t, x, y = ids[keep], t[keep], x[keep], y[keep]
    my = _blank(rng, ids.size, missing_y)
    y[my] = np.nan
    df = pd.DataFrame({"id": ids, "t": t if real_times else t.astype(np.int64), "x": x,
                       "y": y})
    df.attrs.update(beta={"_cons": 1.0, "x": 0.5}, var_u=var_u, errors=errors,
                    coef=[list(c) if np.ndim(c) else c for c in coef], var=var,
                    shared=shared, scales=None if scales is None else list(scales),
                    n_dropped=int((~keep).sum()), n_missing_y=int(my.sum()))
    return df


def repeated_measures_by(seed, groups, n_subjects=40, by="grp", interleave=True, **common):
    """Repeated measures whose error process differs between subject groups (``by()``).

    ``groups`` is a list of keyword dicts for :func:`repeated_measures` (``errors``,
    ``coef``, ``var``, ``scales``, ``shared``, ...), one per group; group ``g`` is
    ``repeated_measures(seed + 1000 g, n_subjects, **common, **groups[g])`` with column
    ``by`` = g (0, 1, ...), so the fixed effects (1 + 0.5 x) and the subject-intercept
    variance (``var_u`` in ``common``, default 1) are shared, the errors are not.  Subject
    ids are renumbered so that groups interleave (``interleave``: subject k of group g gets
    id k * len(groups) + g + 1) or follow one another; rows are sorted by id and t.
    """
    parts = []
    G = len(groups)
    for g, kw in enumerate(groups):
        d = repeated_measures(seed + 1000 * g, n_subjects=n_subjects, **{**common, **kw})
        k = d["id"].to_numpy() - 1
        d["id"] = k * G + g + 1 if interleave else k + g * n_subjects + 1
        d[by] = g
        parts.append(d)
    out = pd.concat(parts, ignore_index=True).sort_values(["id", "t"], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs.update(groups=[dict(kw) for kw in groups], by=by, n_subjects=n_subjects,
                     common=dict(common))
    return out


def endogenous_two_level(seed=5, K=300):
    """Two-level data with an endogenous covariate and an instrument.

    Ids ``id`` (1..K), each with exactly 4 rows ``obs`` (1..4).  Columns ``id``,
    ``obs``, ``z``, ``x``, ``y``, sorted by id and obs.

    Truth: z ~ N(0, 1); x = 0.5 + 0.8 z + zeta; y = 1 + 0.6 x + u_id + e with
    u_id ~ N(0, 0.5) and (zeta, e) bivariate normal, Var(zeta) = Var(e) = 1,
    Cov(e, zeta) = 0.4 (x is endogenous; z is a valid instrument).  Then 10% of
    y (round(0.1 n)) and, independently, 10% of x are NaN; z is never missing.

    Written to tests/data/sem_paths/endogenous.csv (the lavaan reference
    tests/data/sem_paths/reference.R, models A and B).
    """
    rng = np.random.default_rng(seed)
    T = 4
    ids = np.repeat(np.arange(1, K + 1), T)
    obs = np.tile(np.arange(1, T + 1), K)
    n = ids.size
    var_u = 0.5
    S = np.array([[1.0, 0.4], [0.4, 1.0]])          # Cov(zeta, e)
    u = rng.normal(0.0, np.sqrt(var_u), size=K)
    z = rng.normal(0.0, 1.0, size=n)
    ze = rng.standard_normal((n, 2)) @ np.linalg.cholesky(S).T
    zeta, e = ze[:, 0], ze[:, 1]
    x = 0.5 + 0.8 * z + zeta
    y = 1.0 + 0.6 * x + u[ids - 1] + e
    my = _blank(rng, n, 0.10)
    mx = _blank(rng, n, 0.10)
    y[my] = np.nan
    x[mx] = np.nan
    df = pd.DataFrame({"id": ids, "obs": obs, "z": z, "x": x, "y": y})
    df.attrs.update(beta={"_cons": 1.0, "x": 0.6}, first_stage={"_cons": 0.5, "z": 0.8},
                    var_u=var_u, var_e=1.0, var_zeta=1.0, cov_e_zeta=0.4,
                    n_missing_y=int(my.sum()), n_missing_x=int(mx.sum()))
    return df


def lagged_two_level(seed=6, K=300):
    """Two-level data with a lagged outcome (dynamic panel with a random intercept).

    Ids ``id`` (1..K), each with exactly 4 rows ``obs`` (1..4).  Columns ``id``,
    ``obs``, ``z``, ``x``, ``y``, sorted by id and obs.

    Truth: z ~ N(0, 1); x = 0.5 + 0.8 z + zeta, zeta ~ N(0, 1) independent of
    everything else (x exogenous); u_id ~ N(0, 0.5), e_t ~ N(0, 1);
    y_1 = 1 + 0.6 x_1 + u + e_1 and y_t = 1 + 0.6 x_t + 0.3 y_{t-1} + u + e_t for
    t = 2..4 (built from the complete y's).  Then 10% of y (round(0.1 n)) is NaN;
    x and z are never missing.

    Written to tests/data/sem_paths/lagged.csv (model C of
    tests/data/sem_paths/reference.R).
    """
    rng = np.random.default_rng(seed)
    T = 4
    ids = np.repeat(np.arange(1, K + 1), T)
    obs = np.tile(np.arange(1, T + 1), K)
    n = ids.size
    var_u = 0.5
    u = rng.normal(0.0, np.sqrt(var_u), size=K)
    z = rng.normal(0.0, 1.0, size=n)
    zeta = rng.normal(0.0, 1.0, size=n)
    x = 0.5 + 0.8 * z + zeta
    e = rng.normal(0.0, 1.0, size=(K, T))
    X = x.reshape(K, T)
    Y = np.empty((K, T))
    for t in range(T):
        Y[:, t] = 1.0 + 0.6 * X[:, t] + u + e[:, t]
        if t:
            Y[:, t] += 0.3 * Y[:, t - 1]
    y = Y.reshape(-1)
    my = _blank(rng, n, 0.10)
    y[my] = np.nan
    df = pd.DataFrame({"id": ids, "obs": obs, "z": z, "x": x, "y": y})
    df.attrs.update(beta={"_cons": 1.0, "x": 0.6, "L.y": 0.3},
                    first_stage={"_cons": 0.5, "z": 0.8}, var_u=var_u, var_e=1.0,
                    n_missing_y=int(my.sum()), n_missing_x=0)
    return df
