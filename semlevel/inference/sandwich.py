"""Robust (sandwich) variance estimators: ``vce(robust)`` and ``vce(cluster clustvar)``.

Each wide row is one top-level unit, and the (pseudo) log likelihood is a sum over rows,
so the rows' scores s_r (derivatives of their log-likelihood contributions w.r.t. the
free coefficients and variance parameters, at the estimates) give Stata's estimator
([P] _robust, the manual's Methods and formulas):

    V = M/(M-1) D (sum_c u_c u_c') D,   u_c = sum_{r in c} w_r s_r,

with clusters c the top-level units (``robust``) or the groups of a variable that nests
them (``cluster``), M the number of clusters, w_r the top-level sampling weight and
D the model-based (OIM) variance: ``mixed``'s block-diagonal e(V), (X'V^-1X)^-1 for the
coefficients and the inverse information of the variance parameters with beta profiled.
Frequency weights replicate: a top-level unit of weight w counts as w clusters
(meat sum_r w_r s_r s_r', M = sum_r w_r). ``bread="full"`` takes the inverse of the
joint observed information instead (lavaan's ``estimator="MLR"`` with observed
information), ``small_sample=False`` drops the factor M/(M-1).

The scores come from the dense per-row evaluation (:func:`semlevel.engine.dense.row_gradients`)
whatever path fitted the model. Variance parameters at the boundary keep no standard
error. The estimator is computed in the variance metric; at an interior optimum it is the
delta-method image of the one in Stata's log-sd / atanh metric, so standard errors and
confidence intervals (same transforms as under OIM) agree with Stata's.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.dense import dense_statistics, row_gradients
from ..engine.evaluator import deviance
from ..engine.optimize import difference_hessian
from ..model.survey import model_vce, model_weights

__all__ = ["RobustVCE", "robust_vcov", "apply_vce", "row_scores", "cluster_codes"]


@dataclass(frozen=True)
class RobustVCE:
    """A sandwich variance estimate of a fit's free parameters (coefficients first)."""

    kind: str                 # "robust" | "cluster"
    cluster: str              # the clustering variable (the top level for "robust")
    n_clusters: float         # M (a sum of weights under top-level frequency weights)
    names: list[str]          # parameters: coefficient labels, then variance labels
    n_coef: int
    vcov: np.ndarray          # (p x p) robust variance
    factor: float             # M / (M - 1), or 1
    bread: str                # "oim" | "full"
    oim_theta: np.ndarray     # the model-based (OIM) variance of the variance labels

    @property
    def fixed_vcov(self) -> pd.DataFrame:
        k = self.n_coef
        return pd.DataFrame(self.vcov[:k, :k], index=self.names[:k], columns=self.names[:k])

    @property
    def table(self) -> pd.DataFrame:
        """The whole robust covariance matrix, labelled."""
        return pd.DataFrame(self.vcov, index=self.names, columns=self.names)

    def describe(self) -> str:
        n = int(round(self.n_clusters))
        return f"Std. err. adjusted for {n:,} clusters in {self.cluster}"


def cluster_codes(model, cluster: str | None) -> tuple[np.ndarray, str]:
    """Cluster of each wide row: the row itself (``cluster=None``: the top level) or the
    group of variable ``cluster``, which must be constant within top-level units."""
    data = model.data
    top = data.hierarchy.levels[0] if data.hierarchy.levels else "row"
    if cluster is None or cluster == top:
        return np.arange(data.n_rows), top
    values = pd.Series(data.column(cluster))
    if values.isna().any():
        raise ValueError(f"cluster variable {cluster!r} has missing values")
    codes = pd.factorize(values, sort=True)[0]
    per_row = pd.DataFrame({"row": data.row, "c": codes}).groupby("row")["c"]
    if (per_row.nunique() > 1).any():
        n_bad = int((per_row.nunique() > 1).sum())
        raise ValueError(f"vce(cluster {cluster}): {top!r} groups are not nested within "
                         f"{cluster!r} ({n_bad} {top!r} groups have several {cluster!r} "
                         f"values); the cluster variable must be constant within each "
                         f"top-level group, i.e. identify the top level or a higher one")
    return per_row.first().to_numpy(), cluster


def row_scores(fit, var_ids: np.ndarray) -> np.ndarray:
    """Per wide row, the score of its log-likelihood contribution (before its top-level
    weight) w.r.t. the free coefficients and the variance labels ``var_ids``, at the
    estimates (n_rows x (k + len(var_ids)))."""
    model = fit.model
    stats = dense_statistics(model)
    beta = np.asarray(fit.evaluation.beta, dtype=float)
    g_lab, g_beta = row_gradients(fit.values, stats, beta)
    structure = model.info.structure
    if structure is not None:                 # derived covariances: chain rule, per row
        idx = model.labels.index
        pid = idx.get_indexer(list(structure.params))
        lid = idx.get_indexer(list(structure.lags))
        J = structure.jacobian(np.asarray(fit.values, dtype=float)[pid])
        g_lab[:, pid] += g_lab[:, lid] @ J
    return -0.5 * np.column_stack([g_beta, g_lab[:, var_ids]])


def _joint_information(fit, var_ids: np.ndarray) -> np.ndarray:
    """Observed information over (coefficients, variance labels) jointly, from central
    differences of the analytic deviance gradient at given beta."""
    coef_ids = fit.stats.coef_ids
    v0 = np.asarray(fit.values, dtype=float)
    x0 = np.r_[v0[coef_ids], v0[var_ids]]
    k = len(coef_ids)

    def grad(x):
        v = v0.copy()
        v[coef_ids], v[var_ids] = x[:k], x[k:]
        ev = deviance(v, fit.stats, False, gradient=True, check_psd=False, beta=x[:k])
        if not np.isfinite(ev.deviance):
            raise FloatingPointError("inadmissible point")
        return np.r_[ev.gradient[coef_ids], ev.gradient[var_ids]]

    steps = 1e-5 * np.maximum(np.abs(x0), 1e-3 * max(float(np.abs(x0).max()), 1e-12))
    return 0.5 * difference_hessian(grad, x0, None, steps, central=True)


def robust_vcov(fit, cluster: str | None = None, bread: str = "oim",
                small_sample: bool = True) -> RobustVCE:
    """The sandwich variance of ``fit`` (ML), clustered at the top level or by the
    variable ``cluster``; see the module docstring for ``bread`` and ``small_sample``."""
    if fit.reml:
        raise ValueError("robust standard errors are not available under REML: the "
                         "restricted likelihood does not separate by top-level groups")
    if bread not in ("oim", "full"):
        raise ValueError(f"bread must be 'oim' or 'full', not {bread!r}")
    model = fit.model
    free_var = fit._free_var
    oim_theta = np.asarray(fit.theta_vcov if fit.vce is None else fit.vce.oim_theta,
                           dtype=float)                  # a robust fit keeps its OIM
    keep = np.isfinite(np.diag(oim_theta)) if len(free_var) else np.zeros(0, bool)
    var_ids = free_var[keep]
    coef_ids = fit.stats.coef_ids
    k = len(coef_ids)
    names = list(model.labels.index[coef_ids]) + list(model.labels.index[var_ids])
    scores = row_scores(fit, var_ids)
    codes, cname = cluster_codes(model, cluster)
    weights = model_weights(model)
    rw = np.ones(model.data.n_rows) if weights is None else weights.row
    n_groups = int(codes.max()) + 1
    if weights is not None and weights.kind == "fweight" and cluster is None:
        meat = (scores * rw[:, None]).T @ scores           # each replicate its own cluster
        M = float(rw.sum())
    else:
        U = np.zeros((n_groups, scores.shape[1]))
        np.add.at(U, codes, scores * rw[:, None])
        meat = U.T @ U
        M = float(n_groups)
    if M < 2:
        raise ValueError(f"robust standard errors need at least two clusters ({cname!r} has "
                         f"{int(M)})")
    if bread == "oim":
        D = np.zeros((len(names), len(names)))
        xtvx = fit.evaluation.xtvx
        if k:
            D[:k, :k] = np.linalg.inv(xtvx)
        D[k:, k:] = oim_theta[np.ix_(keep, keep)]
    else:
        D = np.linalg.inv(_joint_information(fit, var_ids))
    factor = M / (M - 1.0) if small_sample else 1.0
    V = factor * D @ meat @ D
    V = 0.5 * (V + V.T)
    return RobustVCE(kind="robust" if cluster is None else "cluster", cluster=cname, n_clusters=M, names=names, n_coef=k,
                     vcov=V, factor=factor, bread=bread, oim_theta=oim_theta)


def apply_vce(fit):
    """``fit`` with the variance estimator its model asks for (``model.info.vce``):
    unchanged under ``vce(oim)``; else a Fit whose standard errors, tests and
    confidence intervals use the sandwich estimate (``fit.vce``)."""
    spec = model_vce(fit.model)
    if not spec.robust:
        return fit
    rv = robust_vcov(fit, cluster=spec.cluster if spec.kind == "cluster" else None)
    return with_vce(fit, rv)


def with_vce(fit, rv: RobustVCE):
    """A copy of ``fit`` whose variances come from ``rv``."""
    free_var = fit._free_var
    names = list(fit.model.labels.index[free_var])
    pos = {n: i for i, n in enumerate(rv.names[rv.n_coef:])}
    theta = np.full((len(free_var), len(free_var)), np.nan)
    idx = [i for i, n in enumerate(names) if n in pos]
    src = [rv.n_coef + pos[names[i]] for i in idx]
    theta[np.ix_(idx, idx)] = rv.vcov[np.ix_(src, src)]
    return dataclasses.replace(fit, theta_vcov=theta, vce=rv)
