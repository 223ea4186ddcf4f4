"""Linear constraints ``R b = r`` on the fixed effects (Stata's ``constraints()``).

As Stata's ``mixed`` does (see its *Fixed-effects constraints* and ``makecns``), the
constraints are solved once: ``b = T g + a`` with ``T`` an orthonormal basis of the null
space of ``R`` and ``a = R^+ r`` the minimum-norm particular solution. The model is then
fitted, unconstrained, in the reduced coefficients ``g`` with the covariates ``X T`` and
the known offset ``X a`` (a coefficient fixed at 1 on that column), by the same engine.
``coefficient_map(model)`` gives (names, T, a) to map the estimates back:
``b = T g + a``, ``Var(b) = T Var(g) T'``. With an orthonormal ``T`` the log restricted
likelihood is the one Stata reports (it depends on the scale of the reduced design).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..syntax.linear import equations_matrix
from .coefficients import coefficient_design
from .label_arrays import label_arrays

if TYPE_CHECKING:  # annotations only: pathmodel imports this module
    from .pathmodel import PathModel

__all__ = ["CoefficientMap", "solve_constraints", "constrain_coefficients",
           "coefficient_map", "OFFSET_LABEL"]

OFFSET_LABEL = "_cns_offset"
_TOL = 1e-10


@dataclass(frozen=True, eq=False)
class CoefficientMap:
    """How the estimated (reduced) coefficients give the model's coefficients:
    ``b = T g + a`` over ``names``; ``text`` lists the constraints as given."""

    names: list[str]
    T: np.ndarray
    a: np.ndarray
    R: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    r: np.ndarray = field(default_factory=lambda: np.zeros(0))
    text: list[str] = field(default_factory=list)
    design: np.ndarray | None = None     # the unconstrained coefficients' design X

    @property
    def constrained(self) -> bool:
        return len(self.text) > 0

    @property
    def determined(self) -> np.ndarray:
        """Coefficients whose value the constraints fix (their row of T is zero)."""
        if not self.T.size:
            return np.ones(len(self.names), dtype=bool)
        return np.linalg.norm(self.T, axis=1) < 1e-9


def solve_constraints(R: np.ndarray, r: np.ndarray, text: list[str] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(T, a) with ``{b : R b = r} = {T g + a}``; T has orthonormal columns.

    Redundant constraints are allowed (Stata drops them); contradictory ones are refused.
    """
    R = np.atleast_2d(np.asarray(R, dtype=float))
    r = np.asarray(r, dtype=float).ravel()
    k = R.shape[1]
    _, s, Vt = np.linalg.svd(R, full_matrices=True)
    tol = max(R.shape) * np.finfo(float).eps * (s[0] if len(s) else 0.0) * 10
    rank = int((s > tol).sum())
    a = np.linalg.pinv(R, rcond=1e-12) @ r
    resid = R @ a - r
    if np.any(np.abs(resid) > 1e-8 * max(1.0, float(np.abs(r).max(initial=0.0)))):
        bad = int(np.argmax(np.abs(resid)))
        what = f" ({text[bad]})" if text and bad < len(text) else ""
        raise ValueError(f"the constraints are inconsistent: no coefficients satisfy all of "
                         f"them{what}")
    T = Vt[rank:].T if rank < k else np.zeros((k, 0))
    a[np.abs(a) < 1e-14 * max(1.0, float(np.abs(a).max(initial=0.0)))] = 0.0
    return T, a


def coefficient_map(model: PathModel) -> CoefficientMap:
    """The model's map from estimated to reported coefficients (identity if unconstrained)."""
    cmap = model.info.constraints
    if cmap is not None:
        return cmap
    ids = label_arrays(model).coefficients
    k = len(ids)
    return CoefficientMap(names=label_arrays(model).names[ids].tolist(), T=np.eye(k),
                          a=np.zeros(k))


def constrain_coefficients(model: PathModel, constraints, r=None) -> PathModel:
    """The model reparametrised so that its fixed effects satisfy ``constraints``.

    ``constraints``: an equation (``"week = 6"``, ``"2.drug = 3.drug"``), a list of them,
    or a matrix R (one column per coefficient, in the order of ``fit.fixed``) with ``r``.
    """
    if model.info.constraints is not None:
        raise ValueError("the model already has fixed-effects constraints; give them all at once")
    Xt, coef_ids = coefficient_design(model)
    names = list(model.labels.index[coef_ids])
    if not names:
        raise ValueError("constraints need fixed-effects coefficients; the model has none")
    R, rv, text = equations_matrix(constraints, names, r)
    T, a = solve_constraints(R, rv, text)
    m = T.shape[1]
    Xc = Xt @ T
    offset = Xt @ a
    has_offset = bool(np.any(offset != 0))

    labels = model.labels
    keep = np.setdiff1d(np.arange(len(labels)), coef_ids)
    new_rows = pd.DataFrame({"kind": "coef", "free": True, "value": np.nan, "block": "fixed"},
                            index=pd.Index([f"_cns{j + 1}" for j in range(m)], name=labels.index.name))
    if has_offset:
        new_rows.loc[OFFSET_LABEL] = {"kind": "coef", "free": False, "value": 1.0,
                                      "block": "fixed"}
    clash = set(new_rows.index) & set(labels.index[keep])
    if clash:
        raise ValueError(f"label names {sorted(clash)} are reserved for constraints")
    base_cols = [c for c in labels.columns]
    new_labels = pd.concat([new_rows.reindex(columns=base_cols), labels.iloc[keep]])
    new_labels["free"] = new_labels["free"].astype(bool)
    remap = np.full(len(labels), -1, dtype=np.int64)
    remap[keep] = len(new_rows) + np.arange(len(keep))

    def relabel(arr):
        arr = np.asarray(arr, dtype=np.int64)
        out = remap[arr]
        if np.any(out < 0):
            raise ValueError("a coefficient label is used outside the mean structure")
        return out

    X_new = np.column_stack([Xc, offset]) if has_offset else Xc
    n_terms = X_new.shape[1] if X_new.ndim == 2 else 0
    p = model.path_label.shape[0]
    cmap = CoefficientMap(names=names, T=T, a=a, R=R, r=rv, text=text, design=Xt)
    changes = dict(
        terms=list(new_rows.index),
        X=X_new.reshape(model.data.n_obs, n_terms),
        path_label=np.tile(np.arange(n_terms, dtype=np.int64), (p, 1)),
        resid_label=relabel(model.resid_label),
        phi=model.phi.assign(label=relabel(model.phi["label"])) if len(model.phi) else model.phi,
        theta=model.theta.assign(label=relabel(model.theta["label"])) if len(model.theta)
        else model.theta,
        info=dict(model.info, constraints=cmap),
    )
    if model.obs_resid_label is not None:
        changes["obs_resid_label"] = relabel(model.obs_resid_label)
    return model.with_labels(new_labels, **changes)
