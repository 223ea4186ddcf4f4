"""Dense RAM (reticular action model) evaluation of a PathModel: the slow reference path.

For each wide row the model is written in McArdle's RAM notation over the variables

    v = (observed outcomes of the row, latents loading on them),

with A the matrix of directed paths (``A[i, j]`` = path from ``v_j`` to ``v_i``), S the
(co)variances of the exogenous parts (latent covariances from ``phi``, residual variances
from ``resid_label``), F the filter selecting the observed variables and m the constant
part of each variable's mean (the covariate paths, ``x'beta`` for an outcome). Then

    Sigma_r = F (I - A)^-1 S (I - A)^-T F',    mu_r = F (I - A)^-1 m.

Random slopes are *definition variables*: the loading of a latent on an outcome is the
row's value of the slope variable, so A (and Sigma_r) differ from row to row.

Nothing here uses the structure that :mod:`.deviance` exploits (Woodbury identity,
pooled sufficient statistics): Sigma_r is formed with the RAM formula literally and handled
with dense Cholesky factors. This is what the fast path must agree with, and it serves
path models that leave the factor form (paths among outcomes). Clarity over speed.

The deviance convention is that of :mod:`.deviance`: beta (the free coefficient labels) is
profiled by GLS over all rows,

    ML  : -2 log L   = n log 2pi + sum_r log|Sigma_r| + sum_r e_r' Sigma_r^-1 e_r,
    REML: -2 log L_R = (n - k) log 2pi + sum_r log|Sigma_r| + log|sum_r D_r' Sigma_r^-1 D_r|
                       + sum_r e_r' Sigma_r^-1 e_r,

with D_r the row's design of the free coefficients, e_r = y_r - offset_r - D_r beta_hat,
n observed outcomes and k free coefficients.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from semlevel.model.pathmodel import PathModel

__all__ = ["RamRow", "RamGLS", "ram_matrices", "ram_implied", "ram_deviance", "ram_gls"]

LOG2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class RamRow:
    """RAM matrices of one wide row.

    Variables are the ``p`` observed outcomes (in the sorted order of ``model.data``) then
    the ``q`` latents loading on them. ``D`` is the design of the free coefficient labels
    (``D @ beta`` is the covariate part of each variable's mean, zero for latents) and
    ``offset`` the contribution of coefficients fixed at a value.
    """

    A: np.ndarray          # (p+q, p+q) directed paths, A[i, j]: from j to i
    S: np.ndarray          # (p+q, p+q) (co)variances of residuals and latents
    F: np.ndarray          # (p, p+q) filter to the observed outcomes
    D: np.ndarray          # (p+q, k) design of the free coefficient labels
    offset: np.ndarray     # (p+q,) mean part from fixed (non-free) coefficients
    y: np.ndarray          # (p,) observed outcomes
    obs: np.ndarray        # (p,) observation indices (into model.data) of the outcomes
    latents: np.ndarray    # (q,) latent rows (into model.latents)
    coef_ids: np.ndarray   # (k,) label rows of the free coefficients (columns of D)

    def implied(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Sigma, mu) of the observed outcomes for free coefficients ``beta``."""
        Sigma, FB = self._moments()
        mu = FB @ (self.D @ beta + self.offset)
        return Sigma, mu

    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Sigma = F B S B' F' and F B with B = (I - A)^-1."""
        n = self.A.shape[0]
        B = np.linalg.inv(np.eye(n) - self.A)
        FB = self.F @ B
        Sigma = FB @ self.S @ FB.T
        return 0.5 * (Sigma + Sigma.T), FB


def _free_coefficients(model: PathModel) -> np.ndarray:
    labels = model.labels
    return np.flatnonzero((labels["kind"] == "coef").to_numpy() & labels["free"].to_numpy())


def _row_observations(model: PathModel) -> list[np.ndarray]:
    """Observation indices of each wide row (``model.data.row`` is sorted)."""
    row = model.data.row
    cuts = np.flatnonzero(np.diff(row)) + 1
    parts = np.split(np.arange(len(row)), cuts)
    out = [np.zeros(0, dtype=np.int64)] * model.data.n_rows
    for part in parts:
        if len(part):
            out[int(row[part[0]])] = part
    return out


def ram_matrices(model: PathModel, values: np.ndarray, row: int,
                 obs: np.ndarray | None = None) -> RamRow:
    """The RAM matrices of wide row ``row`` at label values ``values``.

    ``values`` has one entry per row of ``model.labels``; its coefficient entries are not
    used (free coefficients are the columns of ``D``; a coefficient that is not free enters
    the offset with its value in ``model.labels``, as in :mod:`.stats`). ``obs`` (the
    row's observation indices) may be passed to avoid recomputing it.
    """
    values = np.asarray(values, dtype=float)
    if values.shape != (len(model.labels),):
        raise ValueError(f"values must have one entry per label ({len(model.labels)}), "
                         f"not shape {values.shape}")
    data = model.data
    if obs is None:
        obs = np.flatnonzero(data.row == row)
    obs = np.asarray(obs, dtype=np.int64)
    slots = data.slot[obs]
    p = len(obs)
    n_eff = model.Z.shape[1]

    # latents loading on the observed outcomes of this row, in latent order
    if n_eff:
        lat_of = model.effect_latent[slots]                       # (p, E)
        latents = np.unique(lat_of[lat_of >= 0])
    else:
        lat_of = np.zeros((p, 0), dtype=np.int64)
        latents = np.zeros(0, dtype=np.int64)
    q = len(latents)
    pos = {int(l): p + i for i, l in enumerate(latents)}
    n = p + q

    # A: loadings latent -> outcome (1 for intercepts, the definition variable's value
    # for slopes; several effects on one latent would add up)
    A = np.zeros((n, n))
    for i in range(p):
        for e in range(n_eff):
            lat = int(lat_of[i, e])
            if lat >= 0:
                A[i, pos[lat]] += model.Z[obs[i], e]

    # S: residual variances of the outcomes, (co)variances of the latents
    S = np.zeros((n, n))
    S[np.arange(p), np.arange(p)] = values[model.resid_of_obs()[obs]]
    og = model.obs_group[obs] if model.obs_group is not None else np.full(p, -1)
    if len(model.theta):
        where = {int(s_): i for i, s_ in enumerate(slots)}
        for (s_, t_, lab), g in zip(model.theta[["s", "t", "label"]].itertuples(index=False),
                                    model.group_of(model.theta)):
            if int(s_) in where and int(t_) in where:
                i, j = where[int(s_)], where[int(t_)]
                if g == -1 or (og[i] == g and og[j] == g):
                    S[i, j] = S[j, i] = values[int(lab)]
    if q and len(model.phi):
        # group-specific entries override the common ones for rows of their group
        groups = model.group_of(model.phi)
        order = np.argsort(groups != -1, kind="stable")
        for k in order:
            a, b, lab, g = (int(model.phi["a"].iloc[k]), int(model.phi["b"].iloc[k]),
                            int(model.phi["label"].iloc[k]), int(groups[k]))
            if a in pos and b in pos and (g == -1 or og[0] == g):
                S[pos[a], pos[b]] = S[pos[b], pos[a]] = values[lab]

    F = np.zeros((p, n))
    F[np.arange(p), np.arange(p)] = 1.0

    # mean: covariate paths of each outcome, split into free labels (columns of D) and
    # coefficients fixed at their value in the label table (an offset)
    coef_ids = _free_coefficients(model)
    col_of = {int(c): j for j, c in enumerate(coef_ids)}
    fixed_value = np.nan_to_num(model.labels["value"].to_numpy(dtype=float))
    D = np.zeros((n, len(coef_ids)))
    offset = np.zeros(n)
    for i in range(p):
        for t in range(len(model.terms)):
            lab = int(model.path_label[slots[i], t])
            x = model.X[obs[i], t]
            if lab in col_of:
                D[i, col_of[lab]] += x
            else:
                offset[i] += x * fixed_value[lab]
    return RamRow(A=A, S=S, F=F, D=D, offset=offset, y=data.y[obs], obs=obs,
                  latents=latents, coef_ids=coef_ids)


def ram_implied(model: PathModel, values: np.ndarray, row: int,
                beta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Implied covariance and mean ``(Sigma, mu)`` of the observed outcomes of one row.

    ``Sigma = F (I-A)^-1 S (I-A)^-T F'`` and ``mu = F (I-A)^-1 m``. The free coefficients
    are ``beta`` if given (ordered as the free ``coef`` labels), else their entries in
    ``values``. Outcomes are in the order of ``model.data`` (sorted by slot within row).
    """
    rr = ram_matrices(model, values, row)
    if beta is None:
        beta = np.asarray(values, dtype=float)[rr.coef_ids]
    return rr.implied(np.asarray(beta, dtype=float))


@dataclass(frozen=True)
class RamGLS:
    """Accumulated quantities of the dense evaluation (beta profiled by GLS)."""

    deviance: float
    beta: np.ndarray      # GLS estimate of the free coefficients
    xtvx: np.ndarray      # sum_r D_r' Sigma_r^-1 D_r
    logdet: float         # sum_r log|Sigma_r|
    quad: float           # sum_r e_r' Sigma_r^-1 e_r at beta
    n_obs: int


def ram_gls(model: PathModel, values: np.ndarray, reml: bool = False) -> RamGLS:
    """Dense RAM evaluation with beta profiled: deviance, GLS beta and X'V^-1X.

    The deviance is ``inf`` when some row's implied covariance is not positive definite.
    """
    values = np.asarray(values, dtype=float)
    coef_ids = _free_coefficients(model)
    k = len(coef_ids)
    xtvx = np.zeros((k, k))
    xtvy = np.zeros(k)
    logdet = 0.0
    n_obs = 0
    pieces = []
    for r, obs in enumerate(_row_observations(model)):
        if not len(obs):
            continue
        rr = ram_matrices(model, values, r, obs)
        Sigma, FB = rr._moments()
        Dr = FB @ rr.D                       # (p, k) mean design of the outcomes
        yr = rr.y - FB @ rr.offset           # outcomes less the fixed part of the mean
        try:
            L = np.linalg.cholesky(Sigma)
        except np.linalg.LinAlgError:
            return RamGLS(np.inf, np.full(k, np.nan), xtvx, np.nan, np.nan, model.data.n_obs)
        logdet += 2.0 * float(np.log(np.diag(L)).sum())
        # whitened design and outcome: L^-1 D, L^-1 y
        Wd = np.linalg.solve(L, Dr)
        wy = np.linalg.solve(L, yr)
        xtvx += Wd.T @ Wd
        xtvy += Wd.T @ wy
        n_obs += len(obs)
        pieces.append((Wd, wy))
    if k:
        try:
            cf = np.linalg.cholesky(xtvx)
        except np.linalg.LinAlgError:
            return RamGLS(np.inf, np.full(k, np.nan), xtvx, logdet, np.nan, n_obs)
        beta = np.linalg.solve(xtvx, xtvy)
        logdet_xx = 2.0 * float(np.log(np.diag(cf)).sum())
    else:
        beta = np.zeros(0)
        logdet_xx = 0.0
    quad = 0.0
    for Wd, wy in pieces:
        res = wy - Wd @ beta
        quad += float(res @ res)
    if reml:
        dev = (n_obs - k) * LOG2PI + logdet + logdet_xx + quad
    else:
        dev = n_obs * LOG2PI + logdet + quad
    return RamGLS(float(dev), beta, xtvx, logdet, quad, n_obs)


def ram_deviance(model: PathModel, values: np.ndarray, reml: bool = False) -> float:
    """-2 log L (ML) or -2 log L_R (REML) by dense RAM algebra, beta profiled by GLS.

    ``values`` has one entry per row of ``model.labels`` (coefficient entries are
    ignored: beta is profiled). Same convention as
    :func:`semlevel.engine.deviance.evaluate`; ``inf`` when an implied covariance matrix
    is not positive definite.
    """
    return ram_gls(model, values, reml).deviance
