"""The model as a structure for the first two moments of one wide row, shared by every
row: what estimation by the moments (ADF/WLS, :mod:`semlevel.engine.adf`) fits.

A row's implied mean and covariance are the same for all rows when every row has every
slot and each slot's design (fixed-effects covariates, random-effects loadings, residual
label) is the same in every row: the wide model then has no *definition variables*
(random intercepts, any relaxation of them, residual structures, and slopes on a
variable that is constant within a slot, such as a growth curve's time). Otherwise the
moments differ by row and the refusal names the variable or option at fault.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pathmodel import PathModel
from ..arrays import unique

__all__ = ["MomentStructure", "moment_structure", "template_covariance", "unweighted_options"]


@dataclass(frozen=True)
class MomentStructure:
    """The template row: its slots' designs, the free labels (coefficients first, in
    label order) and the observed rows (``Y``: complete rows, one column per slot)."""

    model: PathModel
    Y: np.ndarray                 # (N, p) the complete rows used
    rows_used: np.ndarray         # their row indices in the wide data
    n_incomplete: int             # rows left out (listwise) for missing slots
    free: np.ndarray              # label positions of the free parameters
    X0: np.ndarray                # (p, k) fixed-effects design of the template row
    Z0: np.ndarray                # (p, E) random-effects loadings
    lat0: np.ndarray              # (p, E) the latent each effect loads on (-1: none)
    resid0: np.ndarray            # (p,) residual variance label of each slot
    phi_keep: np.ndarray          # the latent covariance entries of this row's by() group

    @property
    def names(self) -> list[str]:
        return list(self.model.labels.index[self.free])

    def moments(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The mean vector and covariance matrix of a row at full label ``values``
        (derived residual covariances already filled in)."""
        m = self.model
        p = self.Y.shape[1]
        mu = (self.X0 * values[m.path_label[np.arange(p)]]).sum(axis=1)
        return mu, template_covariance(m, self.Z0, self.lat0, self.resid0, values,
                                       self.phi_keep)


def template_covariance(model: PathModel, Z0: np.ndarray, lat0: np.ndarray,
                        resid0: np.ndarray, values: np.ndarray,
                        phi_keep: np.ndarray | None = None) -> np.ndarray:
    """Z Phi Z' + Theta of a row with every slot, from the slots' loadings ``Z0``, their
    latents ``lat0`` and residual labels ``resid0`` at label ``values`` (derived residual
    covariances filled in; ``phi_keep`` selects a by() group's latent covariance entries).
    Analytic in ``values``: complex steps pass through."""
    p = len(resid0)
    slots = np.arange(p)
    sigma = np.diag(values[resid0])
    if Z0.shape[1]:
        local = unique(lat0[lat0 >= 0])
        pos = np.full(int(local.max()) + 1, -1)
        pos[local] = np.arange(len(local))
        L = np.zeros((p, len(local)))
        for e in range(Z0.shape[1]):
            has = lat0[:, e] >= 0
            np.add.at(L, (slots[has], pos[lat0[has, e]]), Z0[has, e])
        a, b, lab = (model.phi[c].to_numpy(np.int64) for c in ("a", "b", "label"))
        keep = np.isin(a, local) & np.isin(b, local)
        if phi_keep is not None:
            keep &= phi_keep
        Phi = np.zeros((len(local), len(local)), dtype=values.dtype)
        Phi[pos[a[keep]], pos[b[keep]]] = values[lab[keep]]
        Phi[pos[b[keep]], pos[a[keep]]] = values[lab[keep]]
        sigma = sigma + L @ Phi @ L.T
    if len(model.theta_table):
        s, t, lab = (model.theta[c].to_numpy(np.int64) for c in ("s", "t", "label"))
        sigma[s, t] += values[lab]
        off = s != t
        sigma[t[off], s[off]] += values[lab[off]]
    return sigma


def unweighted_options(model: PathModel) -> str | None:
    """What of weights, vce(), dfmethod() and constraints the model has (None: none):
    the estimators that fit a row's joint moments (ADF, missing_x) take none of them."""
    for name, what in (("weights", "sampling or frequency weights"),
                       ("vce", "vce(robust|cluster)"), ("dfmethod", "dfmethod()"),
                       ("constraints", "fixed-effects constraints")):
        if getattr(model.info, name) is not None:
            return what
    return None


def _refuse(why: str) -> None:
    raise ValueError(f"estimation by the moments (ADF) does not apply: {why}; fit this "
                     "model by maximum likelihood (sl.mixed)")


def moment_structure(model: PathModel, listwise: bool = False) -> MomentStructure:
    """The model's moment structure, or a ValueError saying why it has none (see the
    module). ``listwise=True`` leaves out rows with missing slots (counted in
    ``n_incomplete``); by default such rows are refused."""
    what = unweighted_options(model)
    if what:
        _refuse(f"the model has {what}")
    data = model.data
    p, n_rows = data.n_slots, data.n_rows
    counts = np.bincount(data.row, minlength=n_rows)
    complete = counts == p
    if not complete.all() and not listwise:
        raise ValueError(
            f"estimation by the moments (ADF) needs complete wide rows: {int((~complete).sum())}"
            f" of {n_rows} rows miss some of the {p} slots; pass listwise=True to use the "
            f"{int(complete.sum())} complete rows (FIML, sl.mixed, uses every observation)")
    rows_used = np.flatnonzero(complete)
    if len(rows_used) == 0:
        raise ValueError("no wide row has every slot: estimation by the moments (ADF) has "
                         "no complete rows to use")
    obs = np.flatnonzero(complete[data.row])
    order = obs[np.lexsort((data.slot[obs], data.row[obs]))]
    N = len(rows_used)
    X = model.X[order].reshape(N, p, -1)
    Z = model.Z[order].reshape(N, p, -1)
    resid = model.resid_of_obs()[order].reshape(N, p)
    for arr, what in ((X, "fixed-effects covariate"), (Z, "random-effects variable")):
        differ = np.any(arr != arr[:1], axis=(0, 1))
        if differ.any():
            cols = model.terms if what.startswith("fixed") else list(model.effects["effect"])
            _refuse(f"the {what} {cols[int(np.flatnonzero(differ)[0])]!r} takes different "
                    "values in the same slot of different rows (a definition variable: each "
                    "row has its own implied moments)")
    if np.any(resid != resid[:1]):
        _refuse("the residual variance of a slot differs between rows")
    phi_keep = np.ones(len(model.phi_table), dtype=bool)
    if model.obs_group is not None:
        groups = model.obs_group[order].reshape(N, p)
        if np.any(groups != groups[:1]):
            _refuse("the by() groups of a slot differ between rows (each group of rows has "
                    "its own implied moments)")
        phi_group = model.group_of(model.phi)
        phi_keep = (phi_group == -1) | (phi_group == groups[0, 0])
    Y = np.empty((N, p))
    Y[np.repeat(np.arange(N), p), np.tile(np.arange(p), N)] = data.y[order]
    lab = model.labels
    free = np.flatnonzero(lab["free"].to_numpy() & (lab["kind"].to_numpy() != "lag"))
    kinds = lab["kind"].to_numpy()[free]
    free = np.r_[free[kinds == "coef"], free[kinds != "coef"]]
    return MomentStructure(model=model, Y=Y, rows_used=rows_used,
                           n_incomplete=int(n_rows - N), free=free, X0=X[0], Z0=Z[0],
                           lat0=model.effect_latent[np.arange(p)], resid0=resid[0],
                           phi_keep=phi_keep)
