"""The variance-component tables of a fit (MixedModels.jl's ``VarCorr``): variances and
covariances as ``mixed`` prints them, or standard deviations and correlations, each
with its delta-method standard error and a confidence interval on the scale its label
kind calls for (:func:`semlevel.model.label_kinds.label_roles`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..columns import ColumnTable
from ..model.label_kinds import label_roles
from ..model.pathmodel import PathModel
from ..model.label_arrays import label_arrays

__all__ = ["interval", "variance_table", "sd_table", "covariance_members", "free_variances"]


def interval(est: float, se: float, z: float, scale: str) -> tuple[float, float]:
    """Confidence interval on a transformed scale (``log``, ``logit``, ``atanh`` or the
    identity), mapped back (delta-method SE)."""
    if not np.isfinite(se):
        return np.nan, np.nan
    if scale == "log":
        if est <= 0:
            return np.nan, np.nan
        with np.errstate(over="ignore"):          # a variance near zero: (0, inf)
            return est * np.exp(-z * se / est), est * np.exp(z * se / est)
    if scale == "logit":
        if not 0 < est < 1:
            return np.nan, np.nan
        c, s = np.log(est / (1 - est)), se / (est * (1 - est))
        return 1 / (1 + np.exp(-(c - z * s))), 1 / (1 + np.exp(-(c + z * s)))
    if scale == "atanh":
        if not -1 < est < 1:
            return np.nan, np.nan
        c, s = np.arctanh(est), se / (1 - est * est)
        return np.tanh(c - z * s), np.tanh(c + z * s)
    return est - z * se, est + z * se


def free_variances(model: PathModel) -> np.ndarray:
    """Positions of the free variance parameters (the rows of ``theta_vcov``)."""
    return label_arrays(model).free_variances


def variance_table(fit, z: float) -> pd.DataFrame:
    """Variance components in the variance metric: CIs (``z`` their normal quantile) on
    the log scale for variances, Wald for covariances and AR/MA coefficients, logit for
    an exponential structure's rho, atanh for Toeplitz correlations. Derived covariances
    of a residual structure (kind ``lag``) are not parameters and are not listed."""
    return variance_columns(fit, z).to_frame()


def variance_columns(fit, z: float) -> ColumnTable:
    """:func:`variance_table`'s columns (estimate, se, ci_lower, ci_upper, kind, block,
    boundary; row names the labels), without making the DataFrame."""
    la = label_arrays(fit.model)
    kinds, blocks, names = la.kind, la.block, la.names
    idx = np.flatnonzero([k not in ("coef", "lag") for k in kinds.tolist()])
    _, ci_scale = label_roles(fit.model)
    free_pos = {j: i for i, j in enumerate(free_variances(fit.model))}
    V = fit.theta_vcov
    cols: dict[str, list] = {c: [] for c in ("estimate", "se", "ci_lower", "ci_upper",
                                             "kind", "block", "boundary")}
    for j in idx:
        est = float(fit.values[j])
        i = free_pos.get(j)
        # a negative diagonal (an indefinite information, e.g. not converged): no SE
        se = float(np.sqrt(V[i, i])) if i is not None and np.isfinite(V[i, i]) \
            and V[i, i] >= 0 else np.nan
        lo, hi = interval(est, se, z, ci_scale[j])
        for c, v in (("estimate", est), ("se", se), ("ci_lower", lo), ("ci_upper", hi),
                     ("kind", kinds[j]), ("block", blocks[j]),
                     ("boundary", names[j] in fit.boundary)):
            cols[c].append(v)
    return ColumnTable({c: np.array(v, dtype=float) if c in ("estimate", "se", "ci_lower",
                                                             "ci_upper")
                        else np.array(v, dtype=bool) if c == "boundary" else v
                        for c, v in cols.items()},
                       index=names[idx], index_name="label")


def covariance_members(model: PathModel, name: str) -> tuple[str, str]:
    """Variance labels of the two effects of a covariance label ``lvl: cov(a,b)``."""
    j = model.label_index(name)
    row = model.phi[model.phi["label"] == j].iloc[0]
    diag = model.phi[model.phi["a"] == model.phi["b"]]
    lab_of = {int(a): model.labels.index[int(l)] for a, l in zip(diag["a"], diag["label"])}
    return lab_of[int(row["a"])], lab_of[int(row["b"])]


def sd_table(fit, variances: pd.DataFrame, z: float) -> pd.DataFrame:
    """Variance components as standard deviations and correlations (delta method; CIs on
    the log scale for SDs and the atanh scale for correlations), from ``variances``
    (:func:`variance_table`)."""
    lab = fit.model.labels
    free_pos = {lab.index[j]: i for i, j in enumerate(free_variances(fit.model))}
    V = fit.theta_vcov
    rows = []
    for name, r in variances.iterrows():
        if r["kind"] in ("var", "resvar"):
            sd = np.sqrt(r["estimate"]) if r["estimate"] > 0 else 0.0
            se = r["se"] / (2 * sd) if sd > 0 else np.nan
            lo, hi = (sd * np.exp(-z * se / sd), sd * np.exp(z * se / sd)) if sd > 0 \
                else (np.nan, np.nan)
            rows.append({"label": name.replace("var(", "sd(", 1), "estimate": sd, "se": se,
                         "ci_lower": lo, "ci_upper": hi, "kind": "sd", "block": r["block"]})
            continue
        a, b = covariance_members(fit.model, name)
        va, vb, c = variances.loc[a, "estimate"], variances.loc[b, "estimate"], r["estimate"]
        rho = c / np.sqrt(va * vb) if va > 0 and vb > 0 else np.nan
        grad = np.array([-0.5 * rho / va, -0.5 * rho / vb, 1.0 / np.sqrt(va * vb)])
        ids = [free_pos.get(a), free_pos.get(b), free_pos.get(name)]
        se = np.nan if None in ids else float(np.sqrt(grad @ V[np.ix_(ids, ids)] @ grad))
        if np.isfinite(se) and abs(rho) < 1:
            zr, sz = np.arctanh(rho), se / (1 - rho * rho)
            lo, hi = np.tanh(zr - z * sz), np.tanh(zr + z * sz)
        else:
            lo = hi = np.nan
        rows.append({"label": name.replace("cov(", "corr(", 1), "estimate": rho, "se": se,
                     "ci_lower": lo, "ci_upper": hi, "kind": "corr", "block": r["block"]})
    return pd.DataFrame(rows).set_index("label")
