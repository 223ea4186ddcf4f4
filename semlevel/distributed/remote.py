"""Models and fits whose data are a Dask DataFrame.

:class:`RemotePathModel` is an ordinary :class:`~semlevel.model.pathmodel.PathModel`
(labels, latents, slots; relax, correlate, fix, ... work as usual) that holds a
:class:`~.source.DaskSource` instead of observations; its :meth:`~RemotePathModel.fit`
computes the statistics on the cluster and optimises with the one engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import cached_property

import numpy as np
import pandas as pd

from ..engine.fitting import _finish, information_of, optimise, starting_values
from ..engine.optimize import OptimizationSummary
from ..engine.identify import _dependent_columns, refuse_unidentified
from ..model.pathmodel import PathModel
from ..results import Fit
from .partition import Moments
from .pieces import RemoteStats
from .source import POOL_LIMIT, DaskSource

__all__ = ["RemotePathModel", "RemoteFit", "fit_remote", "starting_values_from"]


@dataclass(frozen=True, eq=False)
class RemotePathModel(PathModel):
    """A PathModel whose observations are a Dask DataFrame (``source``)."""

    source: DaskSource | None = field(default=None, repr=False)

    def fit(self, log: bool = False, max_iter: int = 200, tol: float = 1e-13,
            pool_limit: float = POOL_LIMIT, callback=None) -> "RemoteFit":
        """Fit by FIML on the cluster (see :func:`fit_remote`); ``log=True`` prints the
        iteration log."""
        if log and callback is None:
            from ..output.iterlog import IterationLog
            callback = IterationLog(self.reml)
        return fit_remote(self, max_iter=max_iter, tol=tol, pool_limit=pool_limit,
                          callback=callback)

    def fit_at(self, values: dict[str, float], pool_limit: float = POOL_LIMIT) -> "RemoteFit":
        """Evaluate (without optimising) at given variance-parameter values by label, as
        :meth:`PathModel.fit_at` does; the statistics are computed on the cluster."""
        return fit_remote(self, pool_limit=pool_limit, at=values)

    def template(self) -> PathModel:
        """The plain PathModel sent to the partitions (the structure, no source)."""
        if self.obs_resid_label is not None or self.obs_group is not None:
            raise ValueError("labels by a grouping variable (relax(..., by=)) are not "
                             "supported on Dask data yet")
        if len(self.theta_table):
            raise ValueError("residual covariances between slots (correlated errors) are "
                             "not supported on Dask data yet")
        if self.info.structure is not None:
            raise ValueError("residual structures are not supported on Dask data yet")
        return PathModel(**{f.name: getattr(self, f.name) for f in fields(PathModel)})


@dataclass(frozen=True, eq=False, repr=False)
class RemoteFit(Fit):
    """A Fit of data on Dask: the same tables and report; what needs the observations
    themselves (score tests, predictions) is refused."""

    moments: Moments | None = field(default=None, repr=False)

    @cached_property
    def linear_loglik(self) -> float:
        """Log likelihood (restricted under REML) of the linear model without random
        effects, from the moments computed on the cluster."""
        m = self.moments
        n, k = m.n_obs, m.k
        rss = m.rss()
        two_pi = np.log(2 * np.pi)
        if self.reml:
            return -0.5 * ((n - k) * (two_pi + np.log(rss / (n - k)) + 1) + m.logdet_xtx())
        return -0.5 * n * (two_pi + np.log(rss / n) + 1)

    def _refuse(self, what: str):
        raise NotImplementedError(f"{what} need the observations, which are on the "
                                  "cluster: not available for fits on Dask data yet")

    def scoretests(self, *args, **kwargs) -> pd.DataFrame:
        self._refuse("score tests")

    def scoretest(self, *args, **kwargs) -> dict:
        self._refuse("score tests")

    def modindices(self, *args, **kwargs) -> pd.DataFrame:
        self._refuse("modification indices")


def starting_values_from(model: PathModel, moments: Moments) -> np.ndarray:
    """The starting values of :func:`semlevel.engine.fitting.starting_values`, with the
    data moments it needs (OLS residual variance, mean squares of the loadings) computed
    on the cluster."""
    z2 = np.array([float(moments.z2[e] / moments.nz[e]) if moments.nz[e] else 1.0
                   for e in range(len(model.effect_table))])
    return starting_values(model, residual_variance=moments.rss() / moments.n_obs,
                           loading_squares=z2)


def _check_identified(model: PathModel, moments: Moments, info: np.ndarray | None) -> None:
    """The identification check of :mod:`semlevel.engine.identify` from the moments
    (coefficient design) and the expected information at the start (variance labels)."""
    labels = model.labels
    names = labels.index.to_numpy()
    coef_ids = np.flatnonzero((labels["kind"].to_numpy() == "coef") & labels["free"].to_numpy())
    k = moments.k
    Rx = moments.R[:k, :k]
    bad = _dependent_columns(Rx.T @ Rx, names[coef_ids])
    var_ids = np.flatnonzero(labels["free"].to_numpy() & (labels["kind"].to_numpy() != "coef"))
    if not bad and len(var_ids) and info is not None:
        bad = _dependent_columns(info[np.ix_(var_ids, var_ids)], names[var_ids])
    refuse_unidentified(bad)


def fit_remote(model: RemotePathModel, max_iter: int = 200, tol: float = 1e-13,
               pool_limit: float = POOL_LIMIT, callback=None,
               at: dict[str, float] | None = None) -> RemoteFit:
    """Fit a model of data on Dask by FIML.

    Three passes over the partitions: the moments of the coefficient design (the global
    centring of y and the starting values), then every partition's pooled statistics,
    added up on the cluster. When the whole data's pooled statistics take at most
    ``pool_limit`` bytes they come to the client once and the optimiser runs exactly as
    for in-memory data; else they stay on the workers and every evaluation is one
    map-reduce over them. ``at`` (label -> value): evaluate there instead of optimising.
    """
    source = model.source
    template = model.template()
    moments = source.moments(template)
    basis = moments.basis()
    stats, handles = source.statistics(template, basis, pool_limit)
    if stats is None:
        coef_ids = np.flatnonzero((model.labels["kind"].to_numpy() == "coef")
                                  & model.labels["free"].to_numpy())
        stats = RemoteStats(handles=handles, backend=source.backend, n_obs=moments.n_obs,
                            n_coef=len(coef_ids), coef_ids=coef_ids, basis=basis)
    try:
        if at is not None:
            return _evaluate_at(model, stats, moments, at)
        return _optimise(model, stats, moments, max_iter, tol, callback)
    finally:
        source.backend.release(handles)


def _evaluate_at(model: RemotePathModel, stats, moments: Moments,
                 at: dict[str, float]) -> RemoteFit:
    """:func:`semlevel.engine.fitting.fit_at` on statistics computed on the cluster."""
    est = starting_values_from(model, moments)
    for name, v in at.items():
        est[model.label_index(name)] = float(v)
    record = OptimizationSummary(method="none", message="evaluated at given values")
    check_psd = bool((model.labels["kind"].isin(["cov", "rescov"])).any())
    return _remote_fit(_finish(model, stats, est, record, check_psd), moments)


def _remote_fit(fit: Fit, moments: Moments) -> RemoteFit:
    return RemoteFit(**{f.name: getattr(fit, f.name) for f in fields(Fit)}, moments=moments)


def _optimise(model: RemotePathModel, stats, moments: Moments, max_iter: int,
              tol: float, callback=None) -> RemoteFit:
    """The engine's optimisation (:func:`semlevel.engine.fitting.optimise`) on statistics
    computed on the cluster."""
    values = starting_values_from(model, moments)
    _check_identified(model, moments, information_of(stats, values))
    return _remote_fit(optimise(model, stats, values, max_iter, tol, callback), moments)
