"""The standardized solution of a fitted wide path model (lavaan's
``standardizedSolution()``), with delta-method standard errors.

For slot s the outcome's model-implied variance is

    var(y_s) = beta_s' S_xx,s beta_s + mean_i(z_i' Phi z_i) + theta_s,

S_xx,s the covariance (divisor n) of the slot's covariates over its observations (the
fixed.x convention: the sample moments of the exogenous covariates), z_i the loadings
of observation i (1 for intercepts, the definition variable for slopes). Then, as lavaan:

=================================  ====================================  ==============
row                                std.all                               std.lv
=================================  ====================================  ==============
y_s ~ x_s   (path)                 b sd(x_s) / sd(y_s)                   b
y_s ~ _cons (intercept)            b / sd(y_s)                           b
latent =~ y_s (loading 1)          sqrt(phi) / sd(y_s)                   sqrt(phi)
latent ~~ latent                   1                                     1
latent ~~ other latent             correlation                           correlation
e.y_s ~~ e.y_s                     theta_s / var(y_s)                    theta_s
e.y_s ~~ e.y_t                     correlation of the residuals          covariance
=================================  ====================================  ==============

A loading on a definition variable (a random slope: the loading is the row's value)
has a standardized value where the variable is the same for every observation of the
slot (a growth curve's time: ``t_s sqrt(phi) / sd(y_s)``), else NaN with a note. So has every row of a slot with
fewer than two observations (no sample variance): there ``by="pooled"`` standardizes
with the moments of all observations together, one row per label. Standard errors:
the delta method with the joint observed information of all free parameters (lavaan's
``information = "observed"``), the Jacobian by central differences.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..distributions import norm_ppf, norm_sf
from ..engine.evaluator import expand
from ..arrays import unique

__all__ = ["standardized_solution"]


def _moments(model, group: np.ndarray, n_groups: int):
    """Per group of observations: count, covariance of X (divisor n), mean of z z'."""
    X, Z = model.X, model.Z
    cnt = np.bincount(group, minlength=n_groups).astype(float)
    safe = np.maximum(cnt, 1.0)
    T, E = X.shape[1], Z.shape[1]
    mx = np.stack([np.bincount(group, X[:, t], n_groups) for t in range(T)], 1) / safe[:, None]
    Sxx = np.empty((n_groups, T, T))
    for a in range(T):
        for b in range(a, T):
            m = np.bincount(group, X[:, a] * X[:, b], n_groups) / safe - mx[:, a] * mx[:, b]
            Sxx[:, a, b] = Sxx[:, b, a] = m
    Mzz = np.empty((n_groups, E, E))
    for a in range(E):
        for b in range(a, E):
            Mzz[:, a, b] = Mzz[:, b, a] = np.bincount(group, Z[:, a] * Z[:, b], n_groups) / safe
    mz = np.stack([np.bincount(group, Z[:, e], n_groups) for e in range(E)], 1) / safe[:, None] \
        if E else np.zeros((n_groups, 0))
    return cnt, Sxx, Mzz, mx, mz


def mx_of(mom) -> np.ndarray:
    """The per-group covariate means of :func:`_moments`."""
    return mom[3]


def _phi(model, est: np.ndarray) -> np.ndarray:
    n_lat = len(model.latent_table)
    Phi = np.zeros((n_lat, n_lat))
    a, b, lab = (model.phi["a"].to_numpy(), model.phi["b"].to_numpy(),
                 model.phi["label"].to_numpy())
    Phi[a, b] = est[lab]
    Phi[b, a] = est[lab]
    return Phi


def _slot_values(model, est: np.ndarray, mom) -> tuple[np.ndarray, np.ndarray]:
    """std.all and std.lv of every row of ``model.table`` at label values ``est``."""
    est = expand(model, est)
    cnt, Sxx, Mzz, _, mz = mom
    beta = est[model.path_label]                                    # (S, T)
    xb_var = np.einsum("st,stu,su->s", beta, Sxx, beta)
    Phi = _phi(model, est)
    lat = model.effect_latent                                       # (S, E)
    ok = lat >= 0
    L = np.where(ok, lat, 0)
    Ps = Phi[L[:, :, None], L[:, None, :]] * (ok[:, :, None] & ok[:, None, :])
    latent_part = np.einsum("sef,sef->s", Mzz, Ps)
    theta = est[model.resid_label]
    var_y = xb_var + latent_part + theta
    few = cnt < 2
    var_y = np.where(few | ~(var_y > 0), np.nan, var_y)
    sd_y = np.sqrt(var_y)
    parts_all, parts_lv = [], []
    T = beta.shape[1]
    if T:
        sd_x = np.sqrt(np.clip(np.diagonal(Sxx, axis1=1, axis2=2), 0, None))   # (S, T)
        cons = np.array([t == "_cons" for t in model.terms])
        # a covariate constant within the slot (pig's week) has no sample variance
        # there: its standardized path is not defined (by="pooled" gives one)
        sd_x = np.where(cons[None, :] | (sd_x > 1e-12 * (1 + np.abs(mx_of(mom)))), sd_x,
                        np.nan)
        scale = np.where(cons[None, :], 1.0, sd_x) / sd_y[:, None]
        parts_all.append((beta * scale).ravel())
        parts_lv.append(beta.ravel())
    d = np.sqrt(np.clip(np.diag(Phi), 0, None))
    for e, var in enumerate(model.effects["variable"]):
        rows = np.flatnonzero(ok[:, e])
        sd_lat = d[lat[rows, e]]
        if pd.isna(var):
            parts_all.append(sd_lat / sd_y[rows])
            parts_lv.append(sd_lat)
        else:
            # a definition variable (random slope): one value where the variable is the
            # same for every observation of the slot (a growth curve's time), the slot's
            # loading times the latent's SD, as lavaan's growth model has it
            z = mz[rows, e]
            spread = Mzz[rows, e, e] - z * z
            same = spread <= 1e-12 * np.maximum(z * z, 1e-300)
            lv = np.where(same, z * sd_lat, np.nan)
            parts_all.append(lv / sd_y[rows])
            parts_lv.append(lv)
    if len(model.phi_table):
        a, b = model.phi["a"].to_numpy(), model.phi["b"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(a == b, 1.0, Phi[a, b] / (d[a] * d[b]))
        parts_all.append(r)
        parts_lv.append(r)
    parts_all.append(theta / var_y)
    parts_lv.append(theta)
    if len(model.theta_table):
        s_, t_ = model.theta["s"].to_numpy(), model.theta["t"].to_numpy()
        cov = est[model.theta["label"].to_numpy()]
        with np.errstate(divide="ignore", invalid="ignore"):
            parts_all.append(cov / np.sqrt(theta[s_] * theta[t_]))
        parts_lv.append(cov)
    return np.concatenate(parts_all), np.concatenate(parts_lv)


def _pooled_values(model, est: np.ndarray, mom) -> tuple[np.ndarray, np.ndarray, list]:
    """One row per free (or fixed) label, standardized with the moments of all
    observations together."""
    est = expand(model, est)
    cnt, Sxx, Mzz, _, _ = mom                                        # one group: all
    data = model.data
    beta_obs = est[model.path_label[data.slot]]                      # (n, T)
    xb = np.einsum("nt,nt->n", model.X, beta_obs)
    Phi = _phi(model, est)
    lat = model.effect_latent[data.slot]
    ok = lat >= 0
    L = np.where(ok, lat, 0)
    Zl = model.Z * ok
    zPz = np.einsum("ne,nef,nf->n", Zl, Phi[L[:, :, None], L[:, None, :]], Zl)
    theta = est[model.resid_of_obs()]
    var_y = float(np.var(xb) + zPz.mean() + theta.mean())
    sd_y = np.sqrt(var_y) if var_y > 0 else np.nan
    sd_x = np.sqrt(np.clip(np.diagonal(Sxx[0]), 0, None))
    rows, all_, lv = [], [], []
    lab = model.labels
    kinds = lab["kind"].to_numpy()
    d = np.sqrt(np.clip(np.diag(Phi), 0, None))
    for t, term in enumerate(model.terms):
        labels = unique(model.path_label[:, t])
        for j in labels:
            rows.append((model.outcome, "~", term, lab.index[j]))
            all_.append(est[j] * (1.0 if term == "_cons" else sd_x[t]) / sd_y)
            lv.append(est[j])
    for e, var in enumerate(model.effects["variable"]):
        lats = unique(model.effect_latent[:, e][model.effect_latent[:, e] >= 0])
        if not len(lats):
            continue
        name = model.latents["name"].iloc[lats[0]].split("[")[0]
        rows.append((name, "=~", model.outcome, ""))
        sd_lat = float(np.sqrt(np.mean(d[lats] ** 2)))
        all_.append(sd_lat / sd_y if pd.isna(var) else np.nan)
        lv.append(sd_lat if pd.isna(var) else np.nan)
    for j in np.flatnonzero(np.isin(kinds, ["var", "cov"])):
        sel = model.phi["label"].to_numpy() == j
        a, b = model.phi["a"].to_numpy()[sel], model.phi["b"].to_numpy()[sel]
        if not len(a):
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            r = 1.0 if kinds[j] == "var" else float(np.mean(Phi[a, b] / (d[a] * d[b])))
        names = model.latents["name"].to_numpy()
        rows.append((names[a[0]].split("[")[0], "~~", names[b[0]].split("[")[0],
                     lab.index[j]))
        all_.append(r)
        lv.append(r)
    for j in unique(model.resid_of_obs()):
        share = float(np.mean(model.resid_of_obs() == j))
        rows.append((f"e.{model.outcome}", "~~", f"e.{model.outcome}", lab.index[j]))
        all_.append(est[j] / var_y if share else np.nan)
        lv.append(est[j])
    return np.array(all_, dtype=float), np.array(lv, dtype=float), rows


def standardized_solution(fit, by: str = "slot", se: bool = True,
                          level: float | None = None, vcov=None) -> pd.DataFrame:
    """lavaan's ``standardizedSolution()``: ``std_all``, ``std_lv`` and, with ``se``,
    the delta-method standard error, z, p and interval of ``std_all`` for every row of
    the model's parameter table (``by="slot"``) or once per label with the moments of
    all observations together (``by="pooled"``). ``vcov``: the joint observed covariance
    and its label rows (:func:`.score.joint_observed_vcov_with_labels`), when the caller
    has it already."""
    if by not in ("slot", "pooled"):
        raise ValueError(f"by must be 'slot' or 'pooled', not {by!r}")
    model = fit.model
    est = np.asarray(fit.values, dtype=float)
    if by == "slot":
        mom = _moments(model, model.data.slot, model.data.n_slots)
        table = model.table[["lhs", "op", "rhs", "label"]].copy()

        def f(v):
            return _slot_values(model, v, mom)
        std_all, std_lv = f(est)
    else:
        mom = _moments(model, np.zeros(model.data.n_obs, dtype=np.int64), 1)

        def f(v):
            a, b, _ = _pooled_values(model, v, mom)
            return a, b
        std_all, std_lv, rows = _pooled_values(model, est, mom)
        table = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "label"])
    out = table.assign(std_all=std_all, std_lv=std_lv)
    note = np.full(len(out), "", dtype=object)
    if by == "slot":
        cnt = mom[0]
        few = set(np.array(model.data.slot_names())[cnt < 2])
        in_few = out["lhs"].isin(few) | out["rhs"].isin(few) | \
            out["lhs"].str.replace("e.", "", n=1, regex=False).isin(few)
        note[in_few.to_numpy()] = "fewer than two observations in the slot: by='pooled'"
    undefined = out["std_all"].isna().to_numpy() & (note == "")
    is_def = (out["op"] == "=~").to_numpy() & undefined
    note[is_def] = "loading on a definition variable: no single value"
    note[undefined & ~is_def] = "no variance of the covariate in the slot: by='pooled'"
    out["note"] = note
    if not se:
        return out
    from .score import joint_observed_vcov_with_labels
    V, idx = vcov if vcov is not None else joint_observed_vcov_with_labels(fit)
    J_all = np.zeros((len(out), len(idx)))
    for c, j in enumerate(idx):
        h = 1e-6 * max(abs(est[j]), 1e-3)
        up, dn = est.copy(), est.copy()
        up[j] += h
        dn[j] -= h
        J_all[:, c] = (f(up)[0] - f(dn)[0]) / (2 * h)
    J_all = np.where(np.isfinite(J_all), J_all, 0.0)
    var = np.einsum("ij,jk,ik->i", J_all, V, J_all)
    se_all = np.sqrt(np.clip(var, 0, None))
    se_all[~np.isfinite(out["std_all"].to_numpy())] = np.nan
    z = norm_ppf(0.5 + (level or fit.level) / 200.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        zs = np.where(se_all > 0, out["std_all"].to_numpy() / se_all, np.nan)
    out.insert(out.columns.get_loc("std_lv"), "se", se_all)
    out.insert(out.columns.get_loc("std_lv"), "z", zs)
    out.insert(out.columns.get_loc("std_lv"), "p", 2 * norm_sf(np.abs(zs)))
    out.insert(out.columns.get_loc("std_lv"), "ci_lower", out["std_all"] - z * se_all)
    out.insert(out.columns.get_loc("std_lv"), "ci_upper", out["std_all"] + z * se_all)
    return out
