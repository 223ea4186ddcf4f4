"""The user-facing entry points: parse, build, fit (each step also callable alone)."""
from __future__ import annotations

import pandas as pd

from .model.builder import build_mixed_model
from .model.pathmodel import PathModel
from .results import ADFFit, Fit, MissingXFit
from .syntax.mixed import parse_mixed

__all__ = ["mixed", "mixed_model"]


def fit_result(**parts) -> Fit:
    """The engine's estimates as a Fit, with vce(robust|cluster) applied (the service
    ``fit_result``, registered with the package: :mod:`semlevel.services`)."""
    from .inference.sandwich import apply_vce      # unchanged under vce(oim)
    return apply_vce(Fit(**parts))


def mixed_model(spec: str, data: pd.DataFrame, *, key_by: str = "value",
                slot_key: str | None = None, **options) -> PathModel:
    """Build (without fitting) the path model of a Stata ``mixed`` specification.

    ``options`` mirror the string's options (``reml=True``, ``level=90``, ...).
    ``key_by`` chooses the slot keys of nested levels: the level's id values ("value",
    Stata ``reshape`` semantics) or the order within the parent ("order").
    ``slot_key`` names the variable that keys the observations within their lowest-level
    group (``slot_key="i"``: slot ``obs=2`` is pupil ``i == 2``, as ``reshape ... j(i)``);
    by default they are keyed by their order in the group.
    ``data`` may be a Dask DataFrame (``semlevel.distributed``; options ``client``,
    ``persist``, ``npartitions``): the data then stay on the cluster.
    """
    if type(data).__module__.startswith("dask"):
        from .distributed import mixed_model as dask_mixed_model
        if slot_key is not None:
            raise ValueError("slot_key is not available for Dask data yet: key the "
                             "observations with residuals(independent, t(var))")
        return dask_mixed_model(spec, data, key_by=key_by, **options)
    parsed = parse_mixed(spec, **options)
    return build_mixed_model(parsed, data, key_by=key_by, slot_key=slot_key)


def mixed(spec: str, data: pd.DataFrame, *, key_by: str = "value",
          slot_key: str | None = None, missing_x: str = "listwise", **options) -> Fit:
    """Fit a Stata ``mixed`` model, e.g. ``mixed("weight week || id: week", data=df)``.

    The model is built as a constrained path model on the wide form of ``data`` and fitted
    by FIML with the one engine; ML by default, REML with ``reml=True`` or ``, reml``.
    The option ``log`` (``, log`` or ``log=True``) prints the iteration log.
    ``missing_x="fiml"`` keeps the rows whose covariates are missing: the covariates
    become jointly normal variables of the model (Stata sem's ``method(mlmv)``) and a
    :class:`~semlevel.results.MissingXFit` is returned; by default (``"listwise"``, as
    ``mixed``) such rows are dropped and counted.
    """
    if missing_x not in ("listwise", "fiml"):
        raise ValueError(f"missing_x must be 'listwise' (the default, as mixed) or 'fiml', "
                         f"not {missing_x!r}")
    if missing_x == "fiml":
        if type(data).__module__.startswith("dask"):
            raise ValueError("missing_x='fiml' is not available for Dask data yet")
        return _fit_missing_x(spec, data, key_by, slot_key, options)
    from .output.iterlog import wants_log
    model = mixed_model(spec, data, key_by=key_by, slot_key=slot_key, **options)
    return model.fit(log=wants_log(model.info.spec))


def adf(spec: str | PathModel, data: pd.DataFrame | None = None, *, listwise: bool = False,
        key_by: str = "value", slot_key: str | None = None, **options) -> ADFFit:
    """Fit a ``mixed`` model (or a built PathModel) by its moments with the
    asymptotically distribution-free weight matrix: Stata ``sem, method(adf)``, lavaan
    ``estimator = "WLS"``. Needs complete wide rows (``listwise=True`` leaves out the
    others and the fit says how many) and no definition variables (the same design in a
    slot of every row); refused, with the reason, otherwise. The Gauss-Newton steps start
    from the ML estimates. See :mod:`semlevel.engine.adf` and docs/sem-view.md."""
    import warnings

    import numpy as np

    from .engine.adf import adf_estimate
    from .engine.evaluator import expand
    from .model.moments import moment_structure
    model = spec if isinstance(spec, PathModel) else \
        mixed_model(spec, data, key_by=key_by, slot_key=slot_key, **options)
    if model.reml:
        raise ValueError("reml does not apply to estimation by the moments (ADF): drop it")
    ms = moment_structure(model, listwise=listwise)
    with warnings.catch_warnings():
        # the ML fit only gives the starting point: its own boundary or convergence
        # warnings are not about the ADF estimates (which report their own convergence)
        warnings.simplefilter("ignore")
        values = np.array(model.fit().values, dtype=float)

    def sigma(theta):
        v = values.copy()
        v[ms.free] = theta
        return ms.moments(expand(model, v))

    est = adf_estimate(ms.Y, sigma, values[ms.free])
    return ADFFit(model=model, names=ms.names, estimate=est, n_obs=len(ms.rows_used),
                  n_incomplete=ms.n_incomplete, level=float(model.info.spec.level
                                                            if model.info.spec else 95.0))


def _fit_missing_x(spec: str, data: pd.DataFrame, key_by: str, slot_key: str | None,
                   options: dict) -> MissingXFit:
    """``mixed(..., missing_x="fiml")``: the model on the rows whose covariates are
    missing too (:func:`semlevel.model.missing_x.missing_x_model`), its joint structure,
    the listwise ML fit as the start, the joint full-information ML
    (:func:`semlevel.engine.joint_fiml.fit_joint`)."""
    import warnings

    from .engine.joint_fiml import fit_joint
    from .model.missing_x import joint_structure, missing_x_model

    parsed = parse_mixed(spec, **options)
    model, missing, counts = missing_x_model(parsed, data, key_by=key_by, slot_key=slot_key)
    js = joint_structure(model, missing)
    with warnings.catch_warnings():
        # the listwise fit only gives the starting point: its warnings are about that fit
        warnings.simplefilter("ignore")
        listwise = build_mixed_model(parsed, data, key_by=key_by, slot_key=slot_key)
        start_fit = listwise.fit()
    est, names, kinds = fit_joint(js, dict(zip(listwise.labels.index, start_fit.values)))
    return MissingXFit(model=model, names=names, kinds=kinds, estimate=est,
                       n_obs=model.data.n_obs, n_rows=model.data.n_rows,
                       n_listwise=listwise.data.n_obs, missing_values=counts,
                       level=float(parsed.level))
