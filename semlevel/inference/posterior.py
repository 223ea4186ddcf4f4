"""The conditional distribution of the latent variables given each wide row's data.

For wide row r with observed outcomes y_r, mean X_r beta, loadings Z_r on its q_r latents,
latent covariance Phi_r and residual covariance Theta_r (Sigma_r = Z_r Phi_r Z_r' + Theta_r),
at the estimates:

    b_r  = E[latents | y_r]   = Phi_r Z_r' Sigma_r^-1 (y_r - X_r beta)        (the BLUP)
    N_r  = Var[latents | y_r] = Phi_r - Phi_r Z_r' Sigma_r^-1 Z_r Phi_r       (beta known)
    PEV_r = Var[b_r - latents] = N_r + C_r V_beta C_r',  C_r = Phi_r Z_r' Sigma_r^-1 X_r

N_r is lme4's ``condVar``; PEV_r (Henderson's prediction error variance) adds the
uncertainty of the estimated beta (V_beta = (X'V^-1X)^-1 over all rows; the two parts are
uncorrelated for GLS beta). With independent errors (Theta_r diagonal) nothing larger than
q_r x q_r is factored: N_r = (I + Phi_r A_r)^-1 Phi_r with A_r = Z_r' Theta_r^-1 Z_r and
b_r = N_r Z_r' Theta_r^-1 (y_r - X_r beta); with residual covariances Sigma_r is formed.

The latents are those of the path model, so this is the BLUP of a mixed model's random
effects and, for a relaxed model (latents per slot, correlated latents, per-group
variances), E[latent | row data] under that model.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.coefficients import coefficient_design
from .posterior_core import Posterior, obs_mean, row_bounds
from ..arrays import unique

__all__ = ["Posterior", "posterior", "RowBatch", "row_batches", "row_bounds", "obs_mean"]


@dataclass(frozen=True)
class RowBatch:
    """Wide rows with the same number of observations n and of latents q.

    ``rows`` (B,); ``obs`` (B, n) observation indices (into ``model.data``, slot order
    within a row); ``local`` (B, q) the rows' latents (rows of ``model.latents``); ``Z``
    (B, n, q) loadings; ``Phi`` (B, q, q) latent covariances; ``res`` (B, n) residual
    variances; ``theta`` (B, n, n) residual covariances when any row has one, else None.
    """

    rows: np.ndarray
    obs: np.ndarray
    local: np.ndarray
    Z: np.ndarray
    Phi: np.ndarray
    res: np.ndarray
    theta: np.ndarray | None


def _pair_values(codes: np.ndarray, table_codes: np.ndarray, table_values: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``codes`` in a (code -> value) table: (values, found)."""
    if not len(table_codes):
        return np.zeros(codes.shape), np.zeros(codes.shape, dtype=bool)
    order = np.argsort(table_codes)
    tc, tv = table_codes[order], table_values[order]
    pos = np.clip(np.searchsorted(tc, codes), 0, len(tc) - 1)
    found = tc[pos] == codes
    return np.where(found, tv[pos], 0.0), found


def _symmetric_table(table, a: str, b: str, values: np.ndarray, size: int, groups: np.ndarray):
    """Codes (group + 1, min, max) and values of a phi/theta table's entries."""
    i, j = table[a].to_numpy(dtype=np.int64), table[b].to_numpy(dtype=np.int64)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    code = ((groups.astype(np.int64) + 1) * size + lo) * size + hi
    return code, values[table["label"].to_numpy(dtype=np.int64)] if len(table) else np.zeros(0)


def _lookup_pairs(x: np.ndarray, y: np.ndarray, group: np.ndarray, size: int, codes, vals):
    """Values of the pairs (x, y) (arrays of equal shape, -1 for none) in a symmetric
    table with group-specific entries overriding the common ones (group -1)."""
    lo, hi = np.minimum(x, y), np.maximum(x, y)
    ok = (x >= 0) & (y >= 0)
    base = lo * size + hi
    out, found = _pair_values(base, codes, vals)            # common entries (group -1)
    gsel = group >= 0
    if gsel.any():
        gv, gf = _pair_values(((group + 1) * size + lo) * size + hi, codes, vals)
        use = gsel & gf
        out = np.where(use, gv, out)
    return np.where(ok, out, 0.0)


def row_batches(model, values: np.ndarray) -> list[RowBatch]:
    """The wide rows at label values ``values``, batched by (n, q) (see :class:`RowBatch`).

    Vectorised: every latent a row's observations load on is one of its q latents (a
    slope latent whose loadings are all zero in the row included); (co)variances are
    looked up by latent pair (group-specific entries of ``relax(..., by=)`` for the
    rows of their group)."""
    data = model.data
    values = np.asarray(values, dtype=float)
    n_obs, E = data.n_obs, model.Z.shape[1]
    starts, ends = row_bounds(model)
    R = len(starts)
    n_r = ends - starts
    row = data.row
    og = model.obs_group if model.obs_group is not None else np.full(n_obs, -1)
    row_group = og[starts] if R else np.zeros(0, dtype=np.int64)
    L = max(len(model.latent_table), 1)
    if E:
        lat = model.effect_latent[data.slot]                           # (n_obs, E)
        ok = lat >= 0
        pair = unique(row[:, None].repeat(E, 1)[ok] * L + lat[ok])
        p_row = pair // L
        q_r = np.bincount(p_row, minlength=R)
        p_start = np.r_[0, np.cumsum(q_r)[:-1]]
    else:
        lat = np.zeros((n_obs, 0), dtype=np.int64)
        q_r = np.zeros(R, dtype=np.int64)
        pair = p_row = np.zeros(0, dtype=np.int64)
        p_start = np.zeros(R, dtype=np.int64)
    res = values[model.resid_of_obs()]
    phi_codes, phi_vals = _symmetric_table(model.phi, "a", "b", values, L,
                                           model.group_of(model.phi))
    P = max(data.n_slots, 1)
    th_codes, th_vals = _symmetric_table(model.theta, "s", "t", values, P,
                                         model.group_of(model.theta))
    correlated = len(model.theta_table) > 0
    out = []
    shapes = np.unique(np.stack([n_r, q_r], axis=1), axis=0) if R else np.zeros((0, 2), int)
    for n, q in shapes:
        rows = np.flatnonzero((n_r == n) & (q_r == q))
        B = len(rows)
        obs = starts[rows][:, None] + np.arange(n)[None, :]              # (B, n)
        obs = np.take_along_axis(obs, np.argsort(data.slot[obs], axis=1, kind="stable"), 1)
        local = (pair[(p_start[rows][:, None] + np.arange(q)[None, :]).ravel()] % L
                 ).reshape(B, q) if q else np.zeros((B, 0), dtype=np.int64)
        Z = np.zeros((B, n, q))
        if q:
            # the local index of each (observation, effect) latent within its row
            lat_b = lat[obs]                                             # (B, n, E)
            okb = lat_b >= 0
            key = rows[:, None, None] * L + np.where(okb, lat_b, 0)
            loc = np.searchsorted(pair, key) - p_start[rows][:, None, None]
            bi, ni, ei = np.nonzero(okb)
            np.add.at(Z, (bi, ni, loc[bi, ni, ei]), model.Z[obs[bi, ni], ei])
        Phi = _lookup_pairs(local[:, :, None], local[:, None, :],
                            row_group[rows][:, None, None], L, phi_codes, phi_vals) \
            if q else np.zeros((B, 0, 0))
        theta = None
        if correlated:
            slots = data.slot[obs]
            gi, gj = og[obs][:, :, None], og[obs][:, None, :]
            same = np.where(gi == gj, gi, -2)
            theta = _lookup_pairs(slots[:, :, None], slots[:, None, :],
                                  np.where(same >= 0, same, -1), P, th_codes, th_vals)
            # a group-specific entry applies only when both observations are in its group
            theta = np.where(same == -2, _lookup_pairs(slots[:, :, None], slots[:, None, :],
                                                       np.full(same.shape, -1), P,
                                                       th_codes, th_vals), theta)
            idx = np.arange(n)
            theta[:, idx, idx] = res[obs]
        out.append(RowBatch(rows=rows, obs=obs, local=local, Z=Z, Phi=Phi, res=res[obs],
                            theta=theta))
    return out


def posterior(fit) -> Posterior:
    """The conditional distribution of every row's latents at the estimates of ``fit``."""
    from ..engine.sparse_stats import SparseStats
    if isinstance(fit.stats, SparseStats):        # crossed designs: the blocked factor
        from .posterior_sparse import sparse_posterior
        got = sparse_posterior(fit)
        if got is not None:
            return got
    model = fit.model
    data = model.data
    values = np.asarray(fit.values, dtype=float)
    xb = obs_mean(model, values, model.X, data.slot)
    y = data.y
    Xt, _ = coefficient_design(model)
    # model-based (X'V^-1X)^-1 in the model's own coefficients (those of Xt; under
    # constraints the reduced ones), whatever the reported VCE (robust, constrained)
    xtvx = fit.evaluation.xtvx
    Vb = np.linalg.inv(xtvx) if xtvx is not None and len(xtvx) else np.zeros((0, 0))
    fitted = xb.copy()
    rstd = np.full(data.n_obs, np.nan)
    rows, lats, means, cvars, pevs, priors = [], [], [], [], [], []
    for bt in row_batches(model, values):
        obs, Z, Phi = bt.obs, bt.Z, bt.Phi
        B, n, q = Z.shape
        e = y[obs] - xb[obs]                                           # (B, n)
        if q:
            Xr = Xt[obs]                                               # (B, n, k)
            ZT = np.swapaxes(Z, 1, 2)
            if bt.theta is None:
                w = 1.0 / bt.res
                A = ZT @ (w[:, :, None] * Z)
                N = np.linalg.solve(np.eye(q) + Phi @ A, Phi)
                N = 0.5 * (N + np.swapaxes(N, 1, 2))
                b = (N @ (ZT @ (w * e)[:, :, None]))[:, :, 0]
                C = N @ (ZT @ (w[:, :, None] * Xr))
            else:
                Sigma = Z @ Phi @ ZT + bt.theta
                Lc = np.linalg.cholesky(Sigma)
                PZ = Phi @ ZT                                          # (B, q, n)
                # Sigma^-1 applied through the Cholesky factor: S^-1 M = L'^-1 L^-1 M
                W = np.linalg.solve(Lc, np.concatenate(
                    [e[:, :, None], np.swapaxes(PZ, 1, 2), Xr], axis=2))
                Wt = np.linalg.solve(np.swapaxes(Lc, 1, 2), W)
                b = (PZ @ Wt[:, :, :1])[:, :, 0]
                N = Phi - PZ @ Wt[:, :, 1:1 + q]
                N = 0.5 * (N + np.swapaxes(N, 1, 2))
                C = PZ @ Wt[:, :, 1 + q:]
            pev = N + C @ Vb @ np.swapaxes(C, 1, 2)
            fitted[obs] += (Z @ b[:, :, None])[:, :, 0]
            rows.append(np.repeat(bt.rows, q))
            lats.append(bt.local.ravel())
            means.append(b.ravel())
            cvars.append(np.diagonal(N, axis1=1, axis2=2).ravel())
            pevs.append(np.diagonal(pev, axis1=1, axis2=2).ravel())
            priors.append(np.diagonal(Phi, axis1=1, axis2=2).ravel())
        cond = y[obs] - fitted[obs]
        if bt.theta is None:
            rstd[obs] = cond / np.sqrt(bt.res)
        else:
            # observations are in slot order within a row: whiten by the Cholesky factor
            Lt = np.linalg.cholesky(bt.theta)
            rstd[obs] = np.linalg.solve(Lt, cond[:, :, None])[:, :, 0]
    cat = (lambda parts, dt=float: np.concatenate(parts).astype(dt) if parts
           else np.zeros(0, dtype=dt))
    row_a, lat_a = cat(rows, np.int64), cat(lats, np.int64)
    order = np.lexsort((lat_a, row_a))
    return Posterior(row=row_a[order], latent=lat_a[order], mean=cat(means)[order],
                     var=cat(cvars)[order], pev=cat(pevs)[order], prior=cat(priors)[order],
                     xb=xb, fitted=fitted, rstandard=rstd, n_latents=len(model.latent_table))
