"""Dense per-row FIML evaluation, for covariance structures the pooled Woodbury path
does not take (residual covariances between slots).

Each row's covariance is Sigma_r = Z_r Phi_r Z_r' + Theta_r, with every entry of Phi_r and
Theta_r a label (or zero): the rows keep label-index matrices, so Sigma_r is built by
indexing the parameter vector, and the gradient

    d dev / d theta_l = sum_r tr(G_r D_lr),  G_r = Sigma_r^-1 - Sigma_r^-1 W_r Gamma W_r' Sigma_r^-1,

is a sum of the entries of G_r (residual labels) and of Z_r' G_r Z_r (latent labels) over
the positions holding label l. beta is profiled by GLS (or given, under ML), Gamma as in
:mod:`.deviance`. Rows of equal size are factored together (batched n_r x n_r Cholesky):
exact and general, slower than the pooled path for large rows.
"""
from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass

import numpy as np

from .protocol import DENSE, Capabilities
from ..model.pathmodel import PathModel
from . import weighting
from .deviance import Evaluation, coefficient_gradient, profile
from .coefficient_basis import CoefficientBasis
from ..model.coefficients import coefficient_design, fixed_offset
from .stats import _fill_phi, internal_design
from ..arrays import unique

__all__ = ["DenseStats", "dense_statistics", "evaluate_dense", "row_gradients"]


@dataclass(frozen=True)
class DenseBatch:
    """Rows with the same number of observations n."""

    W: np.ndarray        # (R, n, K1)
    Z: np.ndarray        # (R, n, q) loadings on the row's latents (zero-padded)
    phi_lab: np.ndarray  # (R, q, q) label index of each latent (co)variance (const0: none)
    th_lab: np.ndarray   # (R, n, n) label index of each residual (co)variance
    rows: np.ndarray | None = None   # (R,) wide row of each
    rw: np.ndarray | None = None     # (R,) top-level weights (engine.weighting)
    corr: tuple = ()                 # ((d (R, n), keep (R, q)), ...) weighted levels


@dataclass(frozen=True)
class DenseStats:
    """Per-row data of the dense path, batched by row size."""

    capabilities: ClassVar[Capabilities] = DENSE

    batches: list[DenseBatch]
    coef_ids: np.ndarray
    n_coef: int
    n_obs: int
    n_rows: int
    n_labels: int
    basis: CoefficientBasis   # coordinates of the coefficients (stats.internal_design)
    n_weighted: float | None = None   # weighted observation count (engine.weighting)



def dense_statistics(model: PathModel) -> DenseStats:
    """Collect, once per fit, each row's W, loadings and label-index matrices."""
    data = model.data
    n_lab = len(model.label_table)
    const0 = n_lab                       # index of the constant 0 (the extended vector)
    Xt, coef_ids = coefficient_design(model)
    W, basis = internal_design(Xt, data.y - fixed_offset(model))
    W, Zw = weighting.scaled_design(model, W, model.Z)
    starts = np.flatnonzero(np.r_[True, data.row[1:] != data.row[:-1]])
    ends = np.r_[starts[1:], data.n_obs]
    res = model.resid_of_obs()
    og = model.obs_group if model.obs_group is not None else np.full(data.n_obs, -1)
    theta = model.theta
    tg = model.group_of(theta)
    t_s, t_t, t_l = (theta["s"].to_numpy(), theta["t"].to_numpy(), theta["label"].to_numpy())
    lat_all = model.effect_latent[data.slot] if model.Z.shape[1] else None
    rows: dict[int, list] = {}
    for lo, hi in zip(starts, ends):
        obs = np.arange(lo, hi)
        n = len(obs)
        slots = data.slot[obs]
        th = np.full((n, n), const0, dtype=np.int64)
        th[np.arange(n), np.arange(n)] = res[obs]
        if len(theta):
            where = {int(s): i for i, s in enumerate(slots)}
            for s_, t_, lab, g in zip(t_s, t_t, t_l, tg):
                i, j = where.get(int(s_)), where.get(int(t_))
                if i is None or j is None or (g != -1 and not (og[obs[i]] == g == og[obs[j]])):
                    continue
                th[i, j] = th[j, i] = lab
        if lat_all is not None:
            lat = lat_all[obs]
            zv = Zw[obs]
            local = unique(lat[zv != 0])            # latents loading in this row
            Zl = np.zeros((n, len(local)))
            keep = zv.ravel() != 0
            np.add.at(Zl, (np.repeat(np.arange(n), lat.shape[1])[keep],
                           np.searchsorted(local, lat.ravel()[keep])), zv.ravel()[keep])
        else:
            local, Zl = np.zeros(0, dtype=np.int64), np.zeros((n, 0))
        rows.setdefault(n, []).append((W[obs], Zl, local, th, og[lo], obs))
    batches = []
    n_lat = len(model.latent_table)
    phi = model.phi
    pg = model.group_of(phi)
    for n, items in sorted(rows.items()):
        R = len(items)
        q = max(max(len(it[2]) for it in items), 1)
        Wb = np.stack([it[0] for it in items])
        Zb = np.zeros((R, n, q))
        lat_local = np.full((R, q), -1, dtype=np.int64)
        for r, it in enumerate(items):
            Zb[r, :, :it[1].shape[1]] = it[1]
            lat_local[r, :len(it[2])] = it[2]
        phi_lab = np.full((R, q, q), const0, dtype=np.int64)
        row_group = np.array([it[4] for it in items])
        for g in [-1] + sorted(set(pg.tolist()) - {-1}):
            sel = pg == g
            rows_in = np.ones(R, dtype=bool) if g == -1 else row_group == g
            _fill_phi(phi_lab, lat_local, rows_in, phi["a"].to_numpy()[sel],
                      phi["b"].to_numpy()[sel], phi["label"].to_numpy()[sel], n_lat)
        obs_b = np.stack([it[5] for it in items])
        th_b = np.stack([it[3] for it in items])
        batches.append(DenseBatch(W=Wb, Z=Zb, phi_lab=phi_lab, th_lab=th_b,
                                  rows=data.row[obs_b[:, 0]], **_weight_fields(
                                      model, obs_b, lat_local, Zb, phi_lab, th_b, const0)))
    return DenseStats(batches=batches, coef_ids=coef_ids, n_coef=Xt.shape[1],
                      n_obs=data.n_obs, n_rows=len(starts), n_labels=n_lab, basis=basis,
                      n_weighted=weighting.n_weighted(model))


def _weight_fields(model: PathModel, obs: np.ndarray, lat_local: np.ndarray, Z: np.ndarray,
                   phi_lab: np.ndarray, th_lab: np.ndarray, const0: int) -> dict:
    """A batch's top-level weights and weighted-level terms (:mod:`.weighting`)."""
    rw = weighting.row_weights(model)
    if rw is None:
        return {}
    levels = list(model.data.hierarchy.levels)
    lat_level = np.array([levels.index(l) for l in model.latents["level"]], dtype=np.int64)
    lev = np.where(lat_local >= 0, lat_level[np.maximum(lat_local, 0)], -1)
    corr = []
    for m, d, codes in weighting.level_corrections(model):
        keep = lev >= m
        name = levels[m] if m < len(levels) else "observations"
        weighting.check_blocks(m, codes[obs], Z, keep, phi_lab, th_lab, const0, name)
        corr.append((d[obs], keep))
    return {"rw": rw[model.data.row[obs[:, 0]]], "corr": tuple(corr)}


def evaluate_dense(values: np.ndarray, stats: DenseStats, reml: bool, gradient: bool = True,
                   check_psd: bool = True, beta: np.ndarray | None = None) -> Evaluation:
    """Deviance and gradient (w.r.t. every label's value), as :func:`.deviance.evaluate`."""
    del check_psd  # Sigma_r positive definite is the admissibility condition here
    if beta is not None and reml:
        raise ValueError("the REML criterion has beta profiled; give beta only under ML")
    ext = np.concatenate([np.asarray(values, dtype=float), [0.0, 1.0]])
    k = stats.n_coef
    K1 = k + 1
    S = np.zeros((K1, K1))
    logdet = 0.0
    factors = []
    for b in stats.batches:
        Sigma = b.Z @ ext[b.phi_lab] @ np.swapaxes(b.Z, 1, 2) + ext[b.th_lab]
        try:
            L = np.linalg.cholesky(Sigma)
        except np.linalg.LinAlgError:
            return Evaluation(deviance=np.inf)
        diag = np.diagonal(L, axis1=1, axis2=2)
        if not np.all(np.isfinite(diag)) or np.any(diag <= 0):
            return Evaluation(deviance=np.inf)
        try:
            with np.errstate(all="ignore"):
                SiW = np.linalg.solve(Sigma, b.W)
        except np.linalg.LinAlgError:
            return Evaluation(deviance=np.inf)      # numerically singular though factored
        if not np.all(np.isfinite(SiW)):
            return Evaluation(deviance=np.inf)
        corr = None
        if b.rw is None:
            logdet += 2.0 * float(np.log(diag).sum())
            S += np.einsum("rni,rnj->ij", b.W, SiW)
        else:                                   # weights: engine.weighting
            corr = weighting.correction(b.Z, b.phi_lab, b.th_lab, b.corr, ext, gradient) \
                if b.corr else (np.zeros(len(diag)), None)
            if corr is None:
                return Evaluation(deviance=np.inf)
            logdet += float(b.rw @ (2.0 * np.log(diag).sum(axis=1) + corr[0]))
            S += np.einsum("r,rni,rnj->ij", b.rw, b.W, SiW)
        factors.append((Sigma, SiW, corr))
    given_beta = beta is not None
    n_obs = stats.n_obs if stats.n_weighted is None else stats.n_weighted
    out, Gam = profile(S, k, n_obs, logdet, reml, beta, gradient, stats.basis)
    if Gam is None:
        return out
    grad = np.zeros(len(ext))
    for b, (Sigma, SiW, corr) in zip(stats.batches, factors):
        G = np.linalg.inv(Sigma) - SiW @ Gam @ np.swapaxes(SiW, 1, 2)
        if b.rw is not None:
            G = G * b.rw[:, None, None]
            if corr[1] is not None:
                grad += b.rw @ corr[1]
        grad += np.bincount(b.th_lab.ravel(), weights=G.ravel(), minlength=len(ext))
        ZGZ = np.swapaxes(b.Z, 1, 2) @ G @ b.Z
        grad += np.bincount(b.phi_lab.ravel(), weights=ZGZ.ravel(), minlength=len(ext))
    grad = grad[:len(values)]
    if k and given_beta:
        grad[stats.coef_ids] = coefficient_gradient(S, k, out.beta, stats.basis)
    out.gradient = grad
    return out


def row_gradients(values: np.ndarray, stats: DenseStats, beta: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of each wide row's deviance contribution (before its top-level weight) at
    label values ``values`` and coefficients ``beta`` (ML): w.r.t. every label's value
    (n_rows x labels) and w.r.t. the free coefficients (n_rows x k). The rows' scores,
    for sandwich variance estimators (log-likelihood score = -gradient / 2)."""
    ext = np.concatenate([np.asarray(values, dtype=float), [0.0, 1.0]])
    n_ext, k = len(ext), stats.n_coef
    gamma = np.r_[-stats.basis.to_internal(beta), 1.0]
    g_lab = np.zeros((stats.n_rows, len(values)))
    g_beta = np.zeros((stats.n_rows, k))
    for b in stats.batches:
        R = b.W.shape[0]
        Sigma = b.Z @ ext[b.phi_lab] @ np.swapaxes(b.Z, 1, 2) + ext[b.th_lab]
        Si = np.linalg.inv(Sigma)
        e = Si @ (b.W @ gamma)[:, :, None]                    # Sigma^-1 (y - X beta)
        G = Si - e @ np.swapaxes(e, 1, 2)
        offs = (np.arange(R) * n_ext)[:, None, None]
        g = np.bincount((b.th_lab + offs).ravel(), weights=G.ravel(),
                        minlength=R * n_ext).reshape(R, n_ext)
        ZGZ = np.swapaxes(b.Z, 1, 2) @ G @ b.Z
        g += np.bincount((b.phi_lab + offs).ravel(), weights=ZGZ.ravel(),
                         minlength=R * n_ext).reshape(R, n_ext)
        if b.corr:
            corr = weighting.correction(b.Z, b.phi_lab, b.th_lab, b.corr, ext, True)
            if corr is None:
                raise ValueError("the parameter values are not admissible")
            g += corr[1]
        g_lab[b.rows] = g[:, :len(values)]
        g_beta[b.rows] = -2.0 * np.einsum("rni,rn->ri", b.W[:, :, :k], e[:, :, 0])
    return g_lab, stats.basis.original_gradient(g_beta)
