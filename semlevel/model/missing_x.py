"""Covariates with missing values as jointly normal variables of the path model (Stata
``sem``'s ``method(mlmv)``, lavaan's ``missing = "ml", fixed.x = FALSE``): what
``sl.mixed(..., missing_x="fiml")`` fits (:mod:`semlevel.engine.joint_fiml`).

Each fixed-effects column that varies between the rows of the wide form becomes one
variable per slot (``x[t=2]``), or one per row when it is constant within every row (a
covariate of the top level); its means, variances and covariances are estimated with the
model, unrestricted (the *covariate block*). A row's vector is the covariate block
followed by its outcomes, so an outcome whose covariate is missing is still used, its
covariate integrated out. Columns that are the same in a slot of every row (the constant,
a growth curve's time) stay fixed design. Random slopes on a variable that varies between
rows, by() groups and constraints are refused (the vector would not be normal, or the
moments differ between rows).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import pandas as pd

from ..syntax.factor import design_matrix, expand_terms
from .builder import build_mixed_model
from .moments import template_covariance, unweighted_options
from .pathmodel import PathModel

__all__ = ["JointStructure", "joint_structure", "missing_x_model"]


@dataclass(frozen=True)
class JointStructure:
    """The template of a row's joint (covariates, outcomes) vector and the rows' data."""

    model: PathModel
    V: np.ndarray                 # (N, m + p) covariate block then outcomes, NaN: missing
    x_names: list[str]            # the covariate block's variables
    x_column: np.ndarray          # (m,) the design column of each block variable
    x_of: np.ndarray              # (p, k) block variable of (slot, column), -1: fixed design
    X0: np.ndarray                # (p, k) the fixed design of each slot (0 where x_of >= 0)
    Z0: np.ndarray                # (p, E) random-effects loadings of each slot
    lat0: np.ndarray              # (p, E) latent of each effect in each slot
    resid0: np.ndarray            # (p,) residual label of each slot
    coef: np.ndarray              # label positions of the free coefficients
    variances: np.ndarray         # label positions of the free variance labels

    @property
    def m(self) -> int:
        return len(self.x_names)

    def moments(self, values: np.ndarray, mu_x: np.ndarray, S_xx: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the joint vector at label ``values`` (derived residual
        covariances filled in) and the covariate block's ``mu_x``, ``S_xx``; analytic
        in all of them (complex steps pass through)."""
        mdl = self.model
        p, m = self.X0.shape[0], self.m
        slots = np.arange(p)
        beta = values[mdl.path_label[slots]]                       # (p, k)
        dtype = np.result_type(values, mu_x, S_xx)
        B = np.zeros((p, m), dtype=dtype)
        rand = self.x_of >= 0
        np.add.at(B, (np.nonzero(rand)[0], self.x_of[rand]), beta[rand])
        mu_y = (self.X0 * beta).sum(axis=1) + B @ mu_x
        theta = template_covariance(mdl, self.Z0, self.lat0, self.resid0, values)
        BS = B @ S_xx
        cov = np.block([[S_xx, BS.T], [BS, BS @ B.T + theta]])
        return np.r_[mu_x, mu_y], cov


def _refuse(why: str) -> None:
    raise ValueError(f"missing_x='fiml' does not apply: {why}")


def joint_structure(model: PathModel, missing: np.ndarray) -> JointStructure:
    """The joint structure of ``model`` (built on data whose missing covariate values were
    filled in) given ``missing`` (n_obs x k: which entries of ``model.X`` are missing)."""
    what = unweighted_options(model)
    if what:
        _refuse(f"the model has {what}")
    if model.obs_group is not None:
        _refuse("parameters differ by group (by())")
    if model.reml:
        _refuse("REML conditions on the covariates; the joint likelihood is an ML one")
    data = model.data
    p, N, k = data.n_slots, data.n_rows, model.X.shape[1]
    X = np.where(missing, np.nan, model.X)
    rows, slots = data.row, data.slot
    # a column is fixed design where every observation of a slot has the same value
    x_of = np.full((p, k), -1, dtype=np.int64)
    X0 = np.zeros((p, k))
    unit_level = []
    random_cols = []
    for c in range(k):
        col = X[:, c]
        varies = False
        for s in range(p):
            v = col[slots == s]
            if np.isnan(v).any() or np.any(v != v[0]):
                varies = True
                break
            X0[s, c] = v[0]
        if not varies:
            continue
        X0[:, c] = 0.0
        random_cols.append(c)
        # constant within every row (over its observed values): one variable per row
        ok = ~np.isnan(col)
        lo = np.full(N, np.inf)
        hi = np.full(N, -np.inf)
        np.minimum.at(lo, rows[ok], col[ok])
        np.maximum.at(hi, rows[ok], col[ok])
        seen = np.isfinite(lo)
        unit_level.append(bool(np.all(lo[seen] == hi[seen])) and p > 1)
    Z = model.Z
    for e in range(Z.shape[1]):
        for s in range(p):
            v = Z[slots == s, e]
            if np.any(v != v[0]):
                _refuse(f"the random effect {model.effects['effect'].iloc[e]!r} loads "
                        "with values that differ between rows in a slot (a random slope on "
                        "a variable that varies between units: the outcomes would not be "
                        "jointly normal with it)")
    resid = model.resid_of_obs()
    resid0 = np.zeros(p, dtype=np.int64)
    for s in range(p):
        r = resid[slots == s]
        if np.any(r != r[0]):
            _refuse("the residual variance of a slot differs between rows")
        resid0[s] = r[0]
    names, x_col, cols_V = [], [], []
    for c, unit in zip(random_cols, unit_level):
        term = model.terms[c]
        if unit:
            x_of[:, c] = len(names)
            names.append(term)
            x_col.append(c)
            vals = np.full(N, np.nan)
            ok = ~np.isnan(X[:, c])
            vals[rows[ok]] = X[ok, c]
            cols_V.append(vals)
            continue
        for s in range(p):
            x_of[s, c] = len(names)
            names.append(data.slot_names(term)[s])
            x_col.append(c)
            vals = np.full(N, np.nan)
            at = slots == s
            vals[rows[at]] = X[at, c]
            cols_V.append(vals)
    Y = np.full((N, p), np.nan)
    Y[rows, slots] = data.y
    V = np.column_stack(cols_V + [Y]) if cols_V else Y
    lab = model.labels
    free = lab["free"].to_numpy()
    kind = lab["kind"].to_numpy()
    return JointStructure(model=model, V=V, x_names=names, x_column=np.array(x_col, dtype=np.int64),
                          x_of=x_of, X0=X0, Z0=np.array([Z[slots == s][0] for s in range(p)])
                          if Z.shape[1] else np.zeros((p, 0)),
                          lat0=model.effect_latent[np.arange(p)], resid0=resid0,
                          coef=np.flatnonzero(free & (kind == "coef")),
                          variances=np.flatnonzero(free & (kind != "coef") & (kind != "lag")))


def missing_x_model(parsed, data: pd.DataFrame, key_by: str = "value",
                    slot_key: str | None = None) -> tuple[PathModel, np.ndarray, dict]:
    """The path model of ``parsed`` on every row with an outcome (rows whose continuous
    covariates are missing included: built on a copy with those values filled in, which
    the joint likelihood never reads), which entries of its ``X`` are missing, and how
    many values of each covariate are. Missing values of a factor variable or a
    random-slope variable are refused."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    terms = expand_terms(list(parsed.fixed_terms))
    continuous = list(dict.fromkeys(p.var for t in terms for p in t.parts if not p.factor))
    for var in {p.var for t in terms for p in t.parts if p.factor}:
        if var in data.columns and data[var].isna().any():
            raise ValueError(f"missing_x='fiml' models continuous covariates: the factor "
                             f"variable {var!r} has missing values (drop those rows, or "
                             "code the missing values as a level)")
    slope_vars = {v for eq in parsed.equations for t in expand_terms(list(eq.terms))
                  for v in t.variables}
    for var in continuous:
        if var in slope_vars and var in data.columns and data[var].isna().any():
            raise ValueError(f"missing_x='fiml': the random-slope variable {var!r} has "
                             "missing values (a slope on it would not be normal)")
    usable = data[parsed.depvar].notna().to_numpy() if parsed.depvar in data.columns \
        else np.ones(len(data), dtype=bool)
    counts = {v: int((data[v].isna().to_numpy() & usable).sum())
              for v in continuous if v in data.columns and data[v].isna().any()}
    filled = data.assign(**{v: data[v].fillna(data[v].mean()) for v in counts})
    model = build_mixed_model(parsed, filled, key_by=key_by, slot_key=slot_key)
    design = design_matrix(list(parsed.fixed_terms), model.data.data, parsed.constant,
                           check_rank=False)
    if list(design.labels) != list(model.terms):
        raise ValueError("missing_x='fiml': the fixed-effects design changed when its "
                         "missing values were set aside (a factor interaction with a "
                         "covariate?); fit the complete rows instead")
    missing = np.zeros(model.X.shape, dtype=bool)
    for c, ti in enumerate(design.term_of_column):
        if ti < 0:
            continue
        for part in design.terms[ti].parts:
            if part.var in counts:
                missing[:, c] |= data[part.var].isna().to_numpy()[model.data.source]
    return model, missing, counts
