"""The user-facing entry points: parse, build, fit (each step also callable alone)."""
from __future__ import annotations

import pandas as pd

from .model.builder import build_mixed_model
from .model.pathmodel import PathModel
from .results import ADFFit, Fit, MissingXFit
from .syntax.mixed import parse_mixed

__all__ = ["mixed", "mixed_model"]


def _fit_result(**parts) -> Fit:
    """The engine's estimates as a Fit, with vce(robust|cluster) applied."""
    from .inference.sandwich import apply_vce      # unchanged under vce(oim)
    return apply_vce(Fit(**parts))


def _provide_services() -> None:
    """The services lower layers ask for (:mod:`semlevel.services`)."""
    from . import services
    services.provide("fit_result", _fit_result)
    # imported when first asked for: the diagram layer, the general-SEM route and the
    # iteration log are not needed by most fits
    services.provide("sem_result", ("semlevel.results", "SEMFit"))
    services.provide("fit", ("semlevel.engine.fitting", "fit_model"))
    services.provide("fit_at", ("semlevel.engine.fitting", "fit_at"))
    services.provide("fit_sem", ("semlevel.engine.sem_fiml", "fit_sem"))
    services.provide("diagram", ("semlevel.diagram", "diagram"))
    services.provide("iteration_log", ("semlevel.output.iterlog", "IterationLog"))


_provide_services()


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
    """``mixed(..., missing_x="fiml")``: see :mod:`semlevel.model.missing_x`."""
    import warnings

    import numpy as np

    from .engine.evaluator import expand
    from .engine.joint_fiml import maximise, patterns
    from .engine.parametrization import Parametrization
    from .model.missing_x import joint_structure
    from .syntax.factor import design_matrix, expand_terms

    parsed = parse_mixed(spec, **options)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    terms = expand_terms(list(parsed.fixed_terms))
    continuous = list(dict.fromkeys(p.var for t in terms for p in t.parts if not p.factor))
    factors = {p.var for t in terms for p in t.parts if p.factor}
    for var in factors:
        if var in data.columns and data[var].isna().any():
            raise ValueError(f"missing_x='fiml' models continuous covariates: the factor "
                             f"variable {var!r} has missing values (drop those rows, or "
                             "code the missing values as a level)")
    slope_vars = {v for eq in parsed.equations for t in expand_terms(list(eq.terms))
                  for v in t.variables}
    for var in continuous:
        if var in slope_vars and data[var].isna().any():
            raise ValueError(f"missing_x='fiml': the random-slope variable {var!r} has "
                             "missing values (a slope on it would not be normal)")
    present = [v for v in continuous if v in data.columns]
    usable = data[parsed.depvar].notna().to_numpy()
    missing_values = {v: int((data[v].isna().to_numpy() & usable).sum()) for v in present
                      if data[v].isna().any()}
    filled = data.assign(**{v: data[v].fillna(data[v].mean()) for v in missing_values})
    model = build_mixed_model(parsed, filled, key_by=key_by, slot_key=slot_key)
    wide = model.data
    design = design_matrix(list(parsed.fixed_terms), wide.data, parsed.constant,
                           check_rank=False)
    if list(design.labels) != list(model.terms):
        raise ValueError("missing_x='fiml': the fixed-effects design changed when its "
                         "missing values were set aside (a factor interaction with a "
                         "covariate?); fit the complete rows instead")
    source = wide.source
    missing = np.zeros(model.X.shape, dtype=bool)
    for c, ti in enumerate(design.term_of_column):
        if ti < 0:
            continue
        for part in design.terms[ti].parts:
            if part.var in missing_values:
                missing[:, c] |= data[part.var].isna().to_numpy()[source]
    js = joint_structure(model, missing)
    param = Parametrization.of(model)
    lab = model.labels
    coef, var = js.coef, param.free
    m = js.m
    il = np.tril_indices(m)
    # start: the listwise ML fit (its own warnings are about that fit, not this one)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        listwise = build_mixed_model(parsed, data, key_by=key_by, slot_key=slot_key)
        start_fit = listwise.fit()
    base = np.array(lab["value"].to_numpy(dtype=float), copy=True)
    base[np.isnan(base)] = 0.0
    start = dict(zip(listwise.labels.index, start_fit.values))
    for j in np.r_[coef, var]:
        if lab.index[j] in start:
            base[j] = start[lab.index[j]]
        elif lab["kind"].iloc[j] in ("var", "resvar") or j in var:
            base[j] = max(float(np.nanvar(wide.y)) / 3, 1e-3)
    Xv = js.V[:, :m]
    mu0 = np.nanmean(Xv, axis=0)
    L0 = np.diag(np.sqrt(np.maximum(np.nanvar(Xv, axis=0), 1e-6)))
    nc, nv = len(coef), len(var)

    def to_values(theta):
        v = base.astype(np.result_type(base, theta))
        v[coef] = theta[:nc]
        v[var] = theta[nc:nc + nv]
        return expand(model, v)

    def moments(theta):
        S = np.zeros((m, m), dtype=theta.dtype)
        S[il] = theta[nc + nv + m:]
        S = S + np.tril(S, -1).T
        return js.moments(to_values(theta), theta[nc + nv:nc + nv + m], S)

    def natural(z):
        u = z[nc:nc + param.size]
        vals = param.values(u, base)
        L = np.zeros((m, m))
        L[il] = z[nc + param.size + m:]
        S = L @ L.T
        return np.r_[z[:nc], vals[var], z[nc + param.size:nc + param.size + m], S[il]]

    def chain(z, g):
        u = z[nc:nc + param.size]
        full = np.zeros(len(base))
        full[var] = g[nc:nc + nv]
        gu = param.gradient(u, full)
        L = np.zeros((m, m))
        L[il] = z[nc + param.size + m:]
        G = np.zeros((m, m))
        G[il] = g[nc + nv + m:]
        G = 0.5 * (G + G.T)                         # a covariance stands for (i,j), (j,i)
        dL = 2.0 * G @ L
        return np.r_[g[:nc], gu, g[nc + nv:nc + nv + m], dL[il]]

    z0 = np.r_[base[coef], param.coordinates(base), mu0, L0[il]]
    est = maximise(moments, patterns(js.V), z0, natural, chain)
    x_pairs = [f"mean({n})" for n in js.x_names] + \
        [f"var({js.x_names[i]})" if i == j else f"cov({js.x_names[i]},{js.x_names[j]})"
         for i, j in zip(*il)]
    names = list(lab.index[coef]) + list(lab.index[var]) + x_pairs
    kinds = list(lab["kind"].to_numpy()[coef]) + list(lab["kind"].to_numpy()[var]) + \
        ["covariate"] * len(x_pairs)
    return MissingXFit(model=model, names=names, kinds=kinds, estimate=est,
                       n_obs=wide.n_obs, n_rows=wide.n_rows, n_listwise=listwise.data.n_obs,
                       missing_values=missing_values, level=float(parsed.level))
