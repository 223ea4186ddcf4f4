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
import scipy.linalg as sla
import scipy.sparse as sp

from ..engine.stats import coefficient_design

__all__ = ["Posterior", "posterior", "RowBlock", "row_blocks", "row_bounds", "obs_mean"]


@dataclass(frozen=True)
class Posterior:
    """BLUPs of every (wide row, latent) pair and per-observation predictions.

    Pair arrays (length m, sorted by row then latent): ``row``, ``latent``, ``mean``,
    ``var`` (conditional variance, beta known), ``pev`` (prediction error variance,
    beta estimated), ``prior`` (the latent's variance). Observation arrays (estimation
    order of ``model.data``): ``xb``, ``fitted``, ``rstandard``.
    """

    row: np.ndarray
    latent: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    pev: np.ndarray
    prior: np.ndarray
    xb: np.ndarray
    fitted: np.ndarray
    rstandard: np.ndarray
    n_latents: int

    def lookup(self, row: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """Position of each (row, latent) pair in the pair arrays; -1 where absent."""
        key = self.row * self.n_latents + self.latent
        want = np.asarray(row, dtype=np.int64) * self.n_latents + np.asarray(latent, np.int64)
        pos = np.clip(np.searchsorted(key, want), 0, max(len(key) - 1, 0))
        ok = (len(key) > 0) & (latent >= 0) & (row >= 0)
        ok = ok & (key[pos] == want) if len(key) else np.zeros(len(want), bool)
        return np.where(ok, pos, -1)


def row_bounds(model) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each wide row's observations in ``model.data``."""
    row = model.data.row
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]) if len(row) else np.zeros(0, int)
    return starts, np.r_[starts[1:], len(row)].astype(np.int64)


def obs_mean(model, values: np.ndarray, X: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """X beta of observations with covariates ``X`` (columns = ``model.terms``) in
    ``slot``: each term's coefficient is the value of the slot's label for it (relaxed
    slopes differ by slot; coefficients fixed at a value use that value)."""
    if not len(model.terms):
        return np.zeros(len(X))
    coef = np.asarray(values, dtype=float)[model.path_label[slot]]   # (n, k)
    return np.sum(X * coef, axis=1)


def _sparse_by_group(table, groups: np.ndarray, values: np.ndarray, n: int, a: str, b: str):
    """Symmetric sparse matrices of a phi/theta table's entries: one for the entries of
    every group (-1) and one per specific group."""
    out = {}
    for g in np.unique(groups) if len(groups) else []:
        sel = groups == g
        i = table[a].to_numpy()[sel]
        j = table[b].to_numpy()[sel]
        v = values[table["label"].to_numpy()[sel]]
        off = i != j
        mat = sp.coo_matrix((np.r_[v, v[off]], (np.r_[i, j[off]], np.r_[j, i[off]])),
                            shape=(n, n)).tocsr()
        out[int(g)] = mat
    return out


@dataclass(frozen=True)
class RowBlock:
    """One wide row: its observations (``obs``, indices into ``model.data``), the latents
    loading on it (``local``, rows of ``model.latents``) with loadings ``Z`` (n x q) and
    covariance ``Phi`` (q x q), and its residual variances ``res`` (n,) or, with
    residual covariances, the full residual covariance ``theta`` (n x n, else None)."""

    obs: np.ndarray
    local: np.ndarray
    Z: np.ndarray
    Phi: np.ndarray
    res: np.ndarray
    theta: np.ndarray | None


def row_blocks(model, values: np.ndarray):
    """Yield the :class:`RowBlock` of every wide row at label values ``values``."""
    data = model.data
    values = np.asarray(values, dtype=float)
    n_lat = len(model.latents)
    res = values[model.resid_of_obs()]
    og = model.obs_group if model.obs_group is not None else np.full(data.n_obs, -1)
    phi_g = _sparse_by_group(model.phi, model.group_of(model.phi), values, n_lat, "a", "b")
    theta = model.theta
    th_groups = model.group_of(theta)
    th_s, th_t = theta["s"].to_numpy(), theta["t"].to_numpy()
    th_v = values[theta["label"].to_numpy()] if len(theta) else np.zeros(0)
    E = model.Z.shape[1]
    starts, ends = row_bounds(model)
    for lo, hi in zip(starts, ends):
        obs = np.arange(lo, hi)
        n = len(obs)
        slots = data.slot[obs]
        theta_r = None
        if len(theta):
            sel = np.isin(th_s, slots) & np.isin(th_t, slots)
            if sel.any():
                pos = {int(s_): i for i, s_ in enumerate(slots)}
                theta_r = np.diag(res[obs])
                for s_, t_, v, g in zip(th_s[sel], th_t[sel], th_v[sel], th_groups[sel]):
                    i, j = pos[int(s_)], pos[int(t_)]
                    if g != -1 and not (og[obs[i]] == g and og[obs[j]] == g):
                        continue
                    theta_r[i, j] = theta_r[j, i] = v
        if E:
            lat = model.effect_latent[slots]                          # (n, E)
            ok = lat >= 0
            local = np.unique(lat[ok])
        else:
            local = np.zeros(0, dtype=np.int64)
        q = len(local)
        Zl = np.zeros((n, q))
        Phi = np.zeros((q, q))
        if q:
            ii = np.repeat(np.arange(n), E).reshape(n, E)[ok]
            np.add.at(Zl, (ii, np.searchsorted(local, lat[ok])), model.Z[obs][ok])
            if -1 in phi_g:
                Phi = phi_g[-1][local][:, local].toarray()
            g0 = int(og[lo])
            if g0 != -1 and g0 in phi_g:
                Phi = Phi + phi_g[g0][local][:, local].toarray()
        yield RowBlock(obs=obs, local=local, Z=Zl, Phi=Phi, res=res[obs], theta=theta_r)


def posterior(fit) -> Posterior:
    """The conditional distribution of every row's latents at the estimates of ``fit``."""
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
    for r, blk in enumerate(row_blocks(model, values)):
        obs, Zl, Phi = blk.obs, blk.Z, blk.Phi
        q = len(blk.local)
        e = y[obs] - xb[obs]
        if q:
            Xr = Xt[obs]
            if blk.theta is None:
                w = 1.0 / blk.res
                A = Zl.T @ (w[:, None] * Zl)
                N = np.linalg.solve(np.eye(q) + Phi @ A, Phi)
                N = 0.5 * (N + N.T)
                b = N @ (Zl.T @ (w * e))
                C = N @ (Zl.T @ (w[:, None] * Xr))
            else:
                Sigma = Zl @ Phi @ Zl.T + blk.theta
                cf = sla.cho_factor(Sigma, lower=True)
                PZ = Phi @ Zl.T
                b = PZ @ sla.cho_solve(cf, e)
                N = Phi - PZ @ sla.cho_solve(cf, PZ.T)
                N = 0.5 * (N + N.T)
                C = PZ @ sla.cho_solve(cf, Xr)
            pev = N + C @ Vb @ C.T
            fitted[obs] += Zl @ b
            rows.append(np.full(q, r))
            lats.append(blk.local)
            means.append(b)
            cvars.append(np.diag(N).copy())
            pevs.append(np.diag(pev).copy())
            priors.append(np.diag(Phi).copy())
        cond = y[obs] - fitted[obs]
        if blk.theta is None:
            rstd[obs] = cond / np.sqrt(blk.res)
        else:
            order = np.argsort(data.slot[obs], kind="stable")
            L = np.linalg.cholesky(blk.theta[np.ix_(order, order)])
            rstd[obs[order]] = sla.solve_triangular(L, cond[order], lower=True)
    cat = (lambda parts, dt=float: np.concatenate(parts).astype(dt) if parts
           else np.zeros(0, dtype=dt))
    row_a, lat_a = cat(rows, np.int64), cat(lats, np.int64)
    order = np.lexsort((lat_a, row_a))
    return Posterior(row=row_a[order], latent=lat_a[order], mean=cat(means)[order],
                     var=cat(cvars)[order], pev=cat(pevs)[order], prior=cat(priors)[order],
                     xb=xb, fitted=fitted, rstandard=rstd, n_latents=len(model.latents))
