"""The "exact" DF methods of Stata's ``dfmethod()``: residual, repeated and ANOVA.

* residual: n - rank(X) for every coefficient;
* repeated (two-level models): the residual DF split into between-subject
  DF = G - rank(X_b) (G subjects, X_b the columns constant within every subject) and
  within-subject DF = n - rank(X) - (G - rank(X_b)); a coefficient whose covariate varies
  within some subject gets the within DF, else the between DF;
* anova: a coefficient whose term is also a random effect of an equation gets the number
  of groups of that equation's level minus one (the smallest over such equations), else
  n - rank(X, Z) with Z every random-effect column of every group.

X is the estimated coefficients' design (the reduced one under constraints); whether a
coefficient varies within subjects is read from its own covariate column.
"""
from __future__ import annotations

import numpy as np

from ..model.constraints import coefficient_map
from ..model.coefficients import coefficient_design

__all__ = ["exact_df", "EXACT_METHODS"]

EXACT_METHODS = ("residual", "repeated", "anova")


def _rank(A: np.ndarray) -> int:
    return int(np.linalg.matrix_rank(A)) if A.size else 0


def _original_design(model) -> np.ndarray:
    cmap = coefficient_map(model)
    if cmap.design is not None:
        return cmap.design
    return coefficient_design(model)[0]


def _varies_within(X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per column: does it take more than one value within some group?"""
    out = np.zeros(X.shape[1], dtype=bool)
    order = np.argsort(groups, kind="stable")
    g = groups[order]
    same = g[1:] == g[:-1]
    for j in range(X.shape[1]):
        x = X[order, j]
        scale = max(float(np.abs(x).max(initial=0.0)), 1e-300)
        out[j] = bool(np.any(same & (np.abs(np.diff(x)) > 1e-12 * scale)))
    return out


def _rank_with_random(model, Xt: np.ndarray) -> int:
    """rank([X, Z]) = sum over top-level rows of rank(Z_r) + rank(M_Z X)."""
    data = model.data
    if not model.Z.shape[1]:
        return _rank(Xt)
    lat = model.effect_latent[data.slot]                      # (n, E)
    starts = np.flatnonzero(np.r_[True, data.row[1:] != data.row[:-1]])
    ends = np.r_[starts[1:], data.n_obs]
    resid = np.empty_like(Xt)
    rank_z = 0
    for lo, hi in zip(starts, ends):
        l_r, z_r = lat[lo:hi], model.Z[lo:hi]
        local, col = np.unique(l_r, return_inverse=True)
        Zr = np.zeros((hi - lo, len(local)))
        np.add.at(Zr, (np.repeat(np.arange(hi - lo), l_r.shape[1]), col.ravel()), z_r.ravel())
        U, s, _ = np.linalg.svd(Zr, full_matrices=False)
        tol = max(Zr.shape) * np.finfo(float).eps * (s[0] if len(s) else 0.0)
        Ur = U[:, s > tol]
        rank_z += Ur.shape[1]
        Xr = Xt[lo:hi]
        resid[lo:hi] = Xr - Ur @ (Ur.T @ Xr)
    return rank_z + _rank(resid)


def exact_df(fit, method: str) -> np.ndarray:
    """DF of each reported coefficient (``coefficient_map(model).names``) under ``method``;
    NaN for a coefficient the constraints fix."""
    model = fit.model
    cmap = coefficient_map(model)
    Xt, _ = coefficient_design(model)
    Xt = Xt[:, :cmap.T.shape[1]] if cmap.constrained else Xt   # drop the offset column
    n = model.data.n_obs
    k_names = len(cmap.names)
    if method == "residual":
        df = np.full(k_names, float(n - _rank(Xt)))
    elif method == "repeated":
        levels = model.data.hierarchy.levels
        if len(levels) != 1 or levels[0] == "_all":
            raise ValueError("dfmethod(repeated) is supported only with two-level models "
                             f"(this model has levels {', '.join(levels) or 'none'})")
        groups = model.data.hierarchy.codes[:, 0]
        G = int(groups.max()) + 1
        between_cols = ~_varies_within(Xt, groups)
        between = G - _rank(Xt[:, between_cols])
        within = n - _rank(Xt) - between
        varies = _varies_within(_original_design(model), groups)
        df = np.where(varies, float(within), float(between))
    elif method == "anova":
        h = model.data.hierarchy
        eff = model.effects
        fallback = float(n - _rank_with_random(model, Xt))
        df = np.full(k_names, fallback)
        for j, name in enumerate(cmap.names):
            hits = eff.loc[eff["effect"] == name, "level"]
            if len(hits):
                df[j] = float(min(h.n_groups(str(lv)) for lv in hits) - 1)
    else:
        raise ValueError(f"unknown exact DF method {method!r}")
    df = df.astype(float)
    df[cmap.determined] = np.nan
    return df
