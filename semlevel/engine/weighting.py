"""How frequency and sampling weights enter the FIML deviance (both evaluation paths).

For a wide row r with top-level weight w_r, write w_m for the weight of an observation's
group at level m (m = 1 .. L below the top; level L is the observation itself),
``cum_m`` = w_1 ... w_m and ``omega`` = cum_L (:mod:`semlevel.data.weights`). Raising a
group's integrated Gaussian density to the power of its weight (manual, eq. 14) gives,
with the data transformed as

    y* = sqrt(omega) y,  X* = sqrt(omega) X,  Z*[i, a] = sqrt(omega_i / cum_l(a)) Z[i, a]

(l(a) the level of latent a; cum_0 = 1) and Cov* = Z* Phi Z*' + Theta,

    dev_r = w_r { (sum_i omega_i) log 2pi + log|Cov*| + e*' Cov*^-1 e*
                  + sum_{m=1..L} sum_{g at m} cum_{m-1}(g) (w_g - 1) log|Cov*_g^(>=m)| },

where Cov*^(>=m) keeps only the latents of levels >= m (so it is block diagonal by the
groups of level m) and the constants in the weights cancel. At the observation level the
last term is sum_i cum_{L-1}(w_i - 1) log theta_i, which the pooled path absorbs into
its residual counts; intermediate-level weights take the dense path, which evaluates
every term. With integer weights this is exactly the likelihood of the replicated data.
"""
from __future__ import annotations

import numpy as np

from ..model.pathmodel import PathModel

__all__ = ["weights_of", "scaled_design", "residual_counts", "row_weights", "n_weighted",
           "needs_dense", "level_corrections", "check_blocks", "correction", "linear_loglik"]


def weights_of(model: PathModel):
    """The model's :class:`~semlevel.data.weights.Weights`, or None."""
    return model.info.weights


def needs_dense(model: PathModel) -> bool:
    """Intermediate-level weights need the dense path (their log-determinant terms)."""
    w = weights_of(model)
    return w is not None and w.intermediate


def scaled_design(model: PathModel, W: np.ndarray, Z: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``W = [X, y]`` and loadings ``Z`` (n_obs x effects) transformed by the weights."""
    w = weights_of(model)
    if w is None:
        return W, Z
    root = np.sqrt(w.omega)
    if Z.shape[1]:
        cum = np.column_stack([np.ones(len(root)), w.cumulative])
        lev = model.effects["level_index"].to_numpy(dtype=np.int64)
        Z = Z * np.sqrt(w.omega[:, None] / cum[:, lev])
    return W * root[:, None], Z


def residual_counts(model: PathModel) -> np.ndarray | None:
    """Per observation, the multiplier of log theta in the pooled deviance (pooled path:
    no intermediate-level weights), 1 + cum_{L-1} (w_L - 1) = the observation weight."""
    w = weights_of(model)
    if w is None:
        return None
    if w.intermediate:
        raise ValueError("intermediate-level weights need the dense evaluation path")
    prior = w.cumulative[:, -2] if w.cumulative.shape[1] > 1 else np.ones(len(w.omega))
    return 1.0 + prior * (w.by_level[:, -1] - 1.0)


def row_weights(model: PathModel) -> np.ndarray | None:
    """Top-level weight of each wide row, or None."""
    w = weights_of(model)
    return None if w is None else w.row


def n_weighted(model: PathModel) -> float | None:
    """The number of observations in the constant of the weighted deviance."""
    w = weights_of(model)
    return None if w is None else w.total


def level_corrections(model: PathModel) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """For each level m >= 1 with weights other than one: (m, multiplier
    cum_{m-1} (w_m - 1) per observation, group code of each observation at level m)."""
    w = weights_of(model)
    if w is None:
        return []
    out = []
    L = w.levels
    h = model.data.hierarchy
    for m in range(1, L + 1):
        wm = w.by_level[:, m]
        if np.all(wm == 1.0):
            continue
        prior = w.cumulative[:, m - 2] if m >= 2 else np.ones(len(wm))
        codes = h.codes[:, m] if m < L else np.arange(len(wm))
        out.append((m, prior * (wm - 1.0), codes))
    return out


def check_blocks(m: int, groups: np.ndarray, Z: np.ndarray, keep: np.ndarray,
                 phi_lab: np.ndarray, th_lab: np.ndarray, const0: int, name: str) -> None:
    """Refuse a model whose covariance links two groups of a weighted level m given the
    higher levels (a relaxation correlating them): the weighted likelihood needs them
    independent. Arrays of one batch: groups (R, n), Z (R, n, q), keep (R, q)."""
    nz = (Z != 0).astype(float)
    linked = (phi_lab != const0) & keep[:, :, None] & keep[:, None, :]
    conn = (nz @ linked.astype(float) @ np.swapaxes(nz, 1, 2)) > 0
    conn |= th_lab != const0
    if np.any(conn & (groups[:, :, None] != groups[:, None, :])):
        raise ValueError(f"weights at level {name!r} need its groups to be independent "
                         "given the levels above, but the model correlates two of them "
                         "(a relaxation such as correlate() across groups)")


def correction(Z: np.ndarray, phi_lab: np.ndarray, th_lab: np.ndarray,
               corr: list[tuple[np.ndarray, np.ndarray]], ext: np.ndarray,
               gradient: bool) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The level terms sum_m sum_i d_i log|Cov*^(>=m)| of one dense batch, per row, and
    their gradient per row (R x len(ext)); None when a Cov*^(>=m) is not positive
    definite. ``corr`` holds (d (R, n), keep (R, q)) per weighted level: the multipliers
    and which latents are at levels >= m."""
    R, n = th_lab.shape[:2]
    n_ext = len(ext)
    logdet = np.zeros(R)
    grad = np.zeros((R, n_ext)) if gradient else None
    offs = (np.arange(R) * n_ext)[:, None, None]
    Theta = ext[th_lab]
    for d, keep in corr:
        pair = keep[:, :, None] & keep[:, None, :]
        Phi = np.where(pair, ext[phi_lab], 0.0)
        Sig = Z @ Phi @ np.swapaxes(Z, 1, 2) + Theta
        try:
            L = np.linalg.cholesky(Sig)
        except np.linalg.LinAlgError:
            return None
        diag = np.diagonal(L, axis1=1, axis2=2)
        if not np.all(np.isfinite(diag)) or np.any(diag <= 0):
            return None
        logdet += 2.0 * np.sum(d * np.log(diag), axis=1)
        if gradient:
            Om = d[:, :, None] * np.linalg.inv(Sig)       # blockdiag(d_g V_g^-1)
            Om = 0.5 * (Om + np.swapaxes(Om, 1, 2))
            grad += np.bincount((th_lab + offs).ravel(), weights=Om.ravel(),
                                minlength=R * n_ext).reshape(R, n_ext)
            lab = np.where(pair, phi_lab, n_ext - 2)        # const0: dropped later
            ZOZ = np.swapaxes(Z, 1, 2) @ Om @ Z
            grad += np.bincount((lab + offs).ravel(), weights=ZOZ.ravel(),
                                minlength=R * n_ext).reshape(R, n_ext)
    return logdet, grad


def linear_loglik(model: PathModel, X: np.ndarray, y: np.ndarray) -> float:
    """Maximised weighted log likelihood of the linear regression of y on X (no random
    effects), each observation counted w_r omega_i times: the comparison model of the
    LR test under frequency weights (the replicated data's OLS log likelihood)."""
    w = weights_of(model)
    c = w.row[w.obs_row] * w.omega
    n = float(c.sum())
    if X.shape[1]:
        r = np.sqrt(c)
        coef, *_ = np.linalg.lstsq(X * r[:, None], y * r, rcond=None)
        rss = float(np.sum(c * (y - X @ coef) ** 2))
    else:
        rss = float(np.sum(c * y ** 2))
    return -0.5 * n * (np.log(2 * np.pi) + np.log(rss / n) + 1.0)
