"""General SEM paths on top of a mixed model: endogenous covariates and paths between
outcome slots. These leave the factor form (the implied covariance is no longer linear
in the labels), so they are evaluated by dense RAM algebra with FIML
(:mod:`semlevel.engine.sem_fiml`).

* ``model.regress("x", on=["z"])``: the covariate ``x`` of the fixed part becomes an
  endogenous variable of every slot, ``x = x: _cons + x: z * z + e.x``; the likelihood
  is then joint in the outcome and ``x`` given the remaining (exogenous) covariates, and
  rows with ``x`` or the outcome missing stay in the sample (FIML).
  ``correlated=True`` adds ``cov(e.y,e.x)`` within each slot (one shared label).
* ``model.path(target, source, label)``: the outcome of slot ``target`` regressed on the
  outcome of slot ``source`` in the same row (``"y[obs=2]"`` on ``"y[obs=1]"``); a label
  shared by several paths constrains them equal (a common autoregression).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.sample import Sample, check_columns
from ..data.wide import WideData, build_wide
from ..syntax.factor import design_matrix
from ..services import service
from ..arrays import unique

if TYPE_CHECKING:  # annotations only: pathmodel imports this module
    from .pathmodel import PathModel

__all__ = ["SEMModel", "sem_model"]


@dataclass(frozen=True, eq=False)
class SEMModel:
    """A mixed model with endogenous covariates and/or paths between outcome slots.

    ``cells`` has one row per (observation, variable): ``obs`` (row of ``data``), ``row``,
    ``slot``, ``var`` (0 = the outcome, 1.. = endogenous covariates), ``value`` (NaN when
    missing). ``labels`` is the label table (kinds: ``coef`` mean parameters profiled by
    GLS, ``path`` structural coefficients, ``var``/``cov``/``resvar``/``rescov``).
    """

    base: PathModel
    data: WideData
    labels: pd.DataFrame
    endogenous: tuple[str, ...]
    predictors: dict
    correlated: bool
    paths: tuple = ()                      # (target slot, source slot, label name)
    X: np.ndarray = field(default=None, repr=False)   # exogenous fixed part per obs
    terms: tuple = ()                      # its labels (the outcome's mean parameters)
    XZ: dict = field(default_factory=dict, repr=False)  # endogenous var -> (n_obs, k) design
    Z: np.ndarray = field(default=None, repr=False)
    reml: bool = False
    effect_latent: np.ndarray = field(default=None, repr=False)  # (slots, effects) -> base latent

    @property
    def outcome(self) -> str:
        return self.base.outcome

    @property
    def n_free(self) -> int:
        return int(self.labels["free"].sum())

    def regress(self, var: str, on: list[str] | str, correlated: bool = False) -> "SEMModel":
        """A new model in which covariate ``var`` is also regressed on ``on``."""
        on = [on] if isinstance(on, str) else list(on)
        spec_pred = dict(self.predictors)
        spec_pred[var] = on
        return sem_model(self.base, spec_pred, self.correlated or correlated,
                         [(self.data.slot_names()[t], self.data.slot_names()[s], lab)
                          for t, s, lab in self.paths])

    def path(self, target: str, source: str, label: str | None = None) -> "SEMModel":
        """A new model with the outcome of slot ``target`` regressed on that of ``source``."""
        names = self.data.slot_names()
        paths = [(names[t], names[s], lab) for t, s, lab in self.paths]
        paths.append((target, source, label or f"{target} <- {source}"))
        return sem_model(self.base, self.predictors, self.correlated, paths)

    def fit(self, **options):
        """Fit by FIML (dense RAM evaluation, numerical gradient)."""
        return service("fit_sem")(self, **options)


def sem_model(base: PathModel, predictors: dict | None = None, correlated: bool = False,
              paths: list | None = None) -> SEMModel:
    """Build the general model from a fitted or unfitted mixed PathModel."""
    predictors = dict(predictors or {})
    paths = list(paths or [])
    spec = base.info.spec
    original = base.data.original
    if spec is None or original is None:
        raise ValueError("general SEM paths need a model built from a mixed specification")
    if base.info.structure is not None or len(base.theta_table) or \
            base.obs_resid_label is not None:
        raise ValueError("general SEM paths are not available with residual structures, "
                         "correlated errors or labels by a grouping variable")
    if base.info.weights is not None or getattr(base.info.vce, "robust", False):
        raise ValueError("general SEM paths are not available with weights or robust "
                         "standard errors (vce(robust), vce(cluster))")
    if base.reml:
        raise ValueError("general SEM paths are fitted by ML: the REML criterion does not "
                         "separate the structural coefficients from the mean; fit by ML")
    endogenous = tuple(predictors)
    for var in endogenous:
        if var not in base.terms:
            raise ValueError(f"{var!r} is not a term of the fixed part ({', '.join(base.terms)})"
                             "; only a covariate entered as itself can be made endogenous")
    check_columns(original, [v for on in predictors.values() for v in on])
    levels = list(spec.levels)
    outcome = spec.depvar
    from ..syntax.factor import variables_of
    fixed_vars = [v for v in variables_of(list(spec.fixed_terms)) if v not in endogenous]
    re_vars = [v for eq in spec.equations for v in variables_of(list(eq.terms))]
    needed = list(dict.fromkeys(levels + fixed_vars + re_vars +
                                [v for on in predictors.values() for v in on]))
    complete = original[needed].notna().all(axis=1).to_numpy()
    present = original[[outcome, *endogenous]].notna().any(axis=1).to_numpy()
    # with paths between outcomes a row whose outcome is missing still carries the
    # source's mean (FIML integrates its value out); otherwise it contributes nothing
    used = complete & (present | bool(paths))
    dropped = {}
    if (~complete).any():
        dropped["missing exogenous covariate or level id"] = int((~complete).sum())
    if (complete & ~present).any():
        dropped[f"missing {outcome} and every endogenous covariate"] = \
            int((complete & ~present).sum())
    sample = Sample(n_input=len(original), used=used, dropped=dropped)
    columns = list(dict.fromkeys(fixed_vars + re_vars + list(endogenous) +
                                 [v for on in predictors.values() for v in on]))
    res = base.info.residuals
    time = res.time if res is not None else None
    if time:
        columns.append(time)
    wide = build_wide(original, outcome, levels, sample, columns, time=time)
    if len(unique(base.resid_label)) > 1:
        raise ValueError("general SEM paths need one residual variance for the outcome; "
                         "relax it after adding the paths is not supported yet")
    # the latents of this sample's slots, as rows of the mixed model's latent table
    from .latents import make_latents
    lat_tab, eff_lat = make_latents(wide, base.effects, levels)
    base_row = {n: i for i, n in enumerate(base.latents["name"])}
    unknown = [n for n in lat_tab["name"] if n not in base_row]
    if unknown:
        raise ValueError(f"latent {unknown[0]} has no observed outcome in the mixed model; "
                         "fit the mixed model on the same rows")
    to_base = np.array([base_row[n] for n in lat_tab["name"]], dtype=np.int64)
    effect_latent = np.where(eff_lat >= 0, to_base[np.maximum(eff_lat, 0)], -1)
    # exogenous part of the outcome's mean, and the random-effect loadings, on this sample
    fixed = design_matrix([t for t in spec.fixed_terms if t not in endogenous], wide.data,
                          spec.constant)
    terms = tuple(fixed.labels)
    Z = np.column_stack([design_matrix(list(eq.terms), wide.data, eq.constant,
                                       check_rank=False).matrix
                         for eq in spec.equations]) if spec.equations else \
        np.zeros((wide.n_obs, 0))
    XZ = {}
    for var, on in predictors.items():
        XZ[var] = design_matrix(list(on), wide.data, True).matrix
    # labels: the outcome's mean (profiled), the endogenous equations' means (profiled),
    # structural paths, then the mixed model's variance labels
    rows = [{"name": t, "kind": "coef", "block": "fixed"} for t in terms]
    for var, on in predictors.items():
        rows += [{"name": f"{var}: {z}", "kind": "coef", "block": f"{var} equation"}
                 for z in design_matrix(list(on), wide.data, True).labels]
    rows += [{"name": v, "kind": "path", "block": "paths"} for v in endogenous]
    slot_names = wide.slot_names()
    path_rows = []
    for target, source, label in paths:
        for name in (target, source):
            if name not in slot_names:
                raise ValueError(f"no outcome slot {name!r}; slots are "
                                 f"{', '.join(slot_names[:10])}")
        t, s = slot_names.index(target), slot_names.index(source)
        if t == s:
            raise ValueError("a slot's outcome cannot be regressed on itself")
        path_rows.append((t, s, label))
        rows.append({"name": label, "kind": "path", "block": "paths"})
    base_var = base.labels[base.labels["kind"] != "coef"]
    for name, r in base_var.iterrows():
        rows.append({"name": name, "kind": r["kind"], "block": r["block"]})
    for var in endogenous:
        rows.append({"name": f"var(e.{var})", "kind": "resvar", "block": "Residual"})
        if correlated:
            rows.append({"name": f"cov(e.{outcome},e.{var})", "kind": "rescov",
                         "block": "Residual"})
    labels = pd.DataFrame(rows).drop_duplicates("name").set_index("name")
    labels["free"] = True
    labels["value"] = np.nan
    _check_sources(wide, path_rows, base.info.residuals is not None
                   and base.info.residuals.time is not None)
    return SEMModel(base=base, data=wide, labels=labels, endogenous=endogenous,
                    predictors=predictors, correlated=correlated,
                    paths=tuple(path_rows),
                    X=fixed.matrix, terms=terms, XZ=XZ, Z=Z, reml=base.reml,
                    effect_latent=effect_latent)


def _check_sources(wide: WideData, paths: list, keyed_by_time: bool) -> None:
    """A path's source slot must exist in every row where its target does (its value may
    be missing: FIML integrates it out); and slots keyed by the order of observations
    only mean the same thing in every row if every row has them all."""
    have = pd.crosstab(wide.row, wide.slot).to_numpy() > 0
    if paths and not keyed_by_time and not have.all():
        raise ValueError("paths between outcome slots: the observations are keyed by their "
                         "order, and some rows have fewer than others, so a slot would not "
                         "mean the same occasion in every row; key them by a time variable "
                         "with residuals(independent, t(varname))")
    for t, s, label in paths:
        lacking = int((have[:, t] & ~have[:, s]).sum())
        if lacking:
            names = wide.slot_names()
            raise ValueError(f"path {label!r}: {lacking} rows have {names[t]} but no "
                             f"{names[s]} at all (not even with a missing value)")
