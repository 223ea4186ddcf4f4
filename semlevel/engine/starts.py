"""Starting values of a fit: a fixed label's value, a previous estimate, or a moment guess
(shared by the optimiser, the identification check and the score tests)."""
from __future__ import annotations

import weakref

import numpy as np

from ..model.coefficients import coefficient_design, ols_residual
from ..model.label_kinds import label_roles
from ..model.pathmodel import PathModel
from .coefficient_basis import round_bits
from ..model.label_arrays import label_arrays, phi_arrays

__all__ = ["starting_values", "anova_start", "effect_loading_squares", "latent_loading_squares"]


#: each model object's effect loading squares, made once (starting values, the
#: boundary rule and the scaling check each ask); weak: they go with their models
_SQUARES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def effect_loading_squares(model: PathModel) -> np.ndarray:
    """Per random effect (column of ``model.Z``): the mean square of its nonzero loadings
    (1 for an effect with none): the scale of a slope's variable, which starting values,
    the boundary rule and the internal standardisation (:mod:`.scaling`) all use.
    (Computed once per model object; do not modify the array returned.)"""
    got = _SQUARES.get(model)
    if got is None:
        Z = model.Z
        got = np.array([float(np.mean(Z[:, e][Z[:, e] != 0] ** 2)) if np.any(Z[:, e])
                        else 1.0 for e in range(Z.shape[1])])
        got.flags.writeable = False
        _SQUARES[model] = got
    return got


#: each model object's effect of every latent (-1: none), made once
_LATENT_EFFECT: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def latent_loading_squares(model: PathModel, effect_squares: np.ndarray) -> np.ndarray:
    """``effect_squares`` per latent (each latent belongs to one effect; 1 otherwise)."""
    idx = _LATENT_EFFECT.get(model)
    if idx is None:
        # (lists, not the Series: iterating a column of arrow strings is slow)
        position = {(eq, ef): e for e, (eq, ef) in
                    enumerate(zip(model.effect_table["equation"].tolist(),
                                  model.effect_table["effect"].tolist()))}
        idx = _LATENT_EFFECT[model] = np.array(
            [position.get((eq, ef), -1) for eq, ef in
             zip(model.latent_table["equation"].tolist(),
                 model.latent_table["effect"].tolist())],
            dtype=np.int64)
    squares = np.asarray(effect_squares, dtype=float)
    if not len(squares):
        return np.ones(len(idx))
    return np.where(idx >= 0, squares[np.maximum(idx, 0)], 1.0)


def starting_values(model: PathModel, residual_variance: float | None = None,
                    loading_squares: np.ndarray | None = None) -> np.ndarray:
    """Start for every label: a fixed label's value; else its ``estimate`` (a model derived
    from a fit starts where that fit ended), else its ``value``, else a moment guess.

    The guess splits the OLS residual variance equally among the residual and each level
    with random effects; a slope's variance is scaled by the mean square of its variable.
    Those two moments are computed from ``model.data`` unless given
    (``residual_variance``; ``loading_squares``, one per effect, the mean square of its
    nonzero loadings): a fit on Dask computes them on the cluster.
    """
    labels = model.label_table
    vals = label_arrays(model).value.copy()
    if "estimate" in labels:
        est = np.asarray(labels["estimate"], dtype=float)
        use = np.asarray(labels["free"], dtype=bool) & np.isfinite(est)
        vals[use] = est[use]
    need = np.isnan(vals) & (label_arrays(model).kind != "coef")
    if not need.any():
        return vals
    if residual_variance is None:
        residual_variance = float(np.mean(ols_residual(model) ** 2))
    if loading_squares is None:
        loading_squares = effect_loading_squares(model)
    # rounded (coefficient_basis.round_bits): the same data with its sums taken in
    # another order (rows reordered, partitions on Dask) start from the same point
    s2 = float(round_bits(residual_variance or 1.0, 20))
    loading_squares = round_bits(loading_squares, 20)
    n_levels = len(set(model.effect_table["level"].tolist()))
    share = s2 / (n_levels + 1)
    lat_z2 = latent_loading_squares(model, loading_squares)
    pa, pb, pl = phi_arrays(model)
    on = pa == pb
    first_latent = dict(zip(pl[on][::-1].tolist(), pa[on][::-1].tolist()))
    kinds = label_arrays(model).kind
    role, _ = label_roles(model)
    for i in np.flatnonzero(need):
        kind = kinds[i]
        if kind == "resvar" or (kind == "resstruct" and role[i] == "variance"):
            vals[i] = share
        elif kind == "var":
            a = first_latent.get(i)
            vals[i] = share / lat_z2[a] if a is not None else share
        else:
            vals[i] = 0.0
    return vals


def anova_start(model: PathModel, start: np.ndarray) -> np.ndarray:
    """``start`` with the variance of each random intercept (a level's ``_cons`` or a
    crossed factor's ``R.``) replaced by its one-way ANOVA estimate from the OLS
    residuals (between-unit mean square less the within, over the average unit size),
    and the residual variance by what is left (at least a tenth). Each factor is taken
    on its own, so the guess is rough where factors share variance, but it starts the
    tree path's quasi-Newton steps where the equal split of the residual variance may be
    far off (a crossed factor with few levels; units of very different variances).
    Labels with a value or an estimate keep it; rounded as :func:`starting_values`."""
    la = label_arrays(model)
    if "estimate" in model.label_table or np.isfinite(la.value[la.kind != "coef"]).any():
        return start
    Xt, _ = coefficient_design(model)
    y = model.data.y
    r = ols_residual(model) if Xt.shape[1] else y - y.mean()
    n = len(r)
    s2 = float(np.mean(r ** 2)) or 1.0
    out = start.copy()
    pa, pb, pl = phi_arrays(model)
    var_of = dict(zip(pa[pa == pb].tolist(), pl[pa == pb].tolist()))
    slot = model.data.slot
    guesses: dict[int, float] = {}
    done: set[int] = set()
    for e, eff in enumerate(model.effect_table["effect"].tolist()):
        if not (eff == "_cons" or str(eff).startswith("R.")):
            continue
        lat = model.effect_latent[slot, e]
        if np.any(lat < 0):
            continue
        codes, lat = np.unique(lat, return_inverse=True)
        lab = {int(var_of.get(int(c), -1)) for c in codes}
        if len(lab) != 1 or -1 in lab or lab & done:
            continue
        J = len(codes)
        if J < 2 or J >= n:
            continue
        cnt = np.bincount(lat, minlength=J).astype(float)
        mean = np.bincount(lat, weights=r, minlength=J) / cnt
        msb = float(cnt @ (mean - r.mean()) ** 2) / (J - 1)
        msw = float(np.sum((r - mean[lat]) ** 2)) / (n - J)
        n0 = (n - float(cnt @ cnt) / n) / (J - 1)
        (j,) = lab
        guesses[j] = max((msb - msw) / n0, 0.05 * s2)
        done.add(j)
    # one-way estimates of nested levels each hold the levels below: where they add up
    # to more than the residual variance leaves room for, they are scaled down together
    taken = sum(guesses.values())
    shrink = min(1.0, 0.8 * s2 / taken) if taken else 1.0
    for j, g in guesses.items():
        out[j] = float(round_bits(g * shrink, 20))
    resid = np.flatnonzero(la.kind == "resvar").tolist()
    if done and len(resid) == 1:
        out[resid[0]] = float(round_bits(max(s2 - taken * shrink, 0.2 * s2), 20))
    return out
