"""FIML for general SEM paths (endogenous covariates, paths between outcome slots): dense
RAM algebra per wide row, rows of one pattern batched.

Per row the variables are the cells (outcome and endogenous covariates of each slot of the
row, observed or not) and the row's latents. With A the directed paths (structural
coefficients, latent loadings), S the (co)variances of residuals and latents and D the
design of the mean parameters, C = (I - A)^-1 gives

    Sigma_full = C S C',   mean_full = C D beta,

and the observed cells' rows of these give the FIML contribution; the mean parameters
(beta) are profiled by GLS as in the factor form (:func:`.deviance.profile`), structural
coefficients and (co)variances are optimised with a numerical gradient.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.sem import SEMModel
from ..services import service
from .deviance import profile
from .optimize import newton

__all__ = ["SEMStats", "sem_statistics", "sem_deviance", "fit_sem"]


@dataclass(frozen=True)
class _Batch:
    A_lab: np.ndarray   # (R, v, v) label index of each structural coefficient (const0: none)
    A_fix: np.ndarray   # (R, v, v) fixed loadings (random-effect design values)
    S_lab: np.ndarray   # (R, v, v) label index of each (co)variance
    D: np.ndarray       # (R, v, k) mean design
    F: np.ndarray       # (m,) indices of the observed cells
    y: np.ndarray       # (R, m) observed values


@dataclass(frozen=True)
class SEMStats:
    batches: list
    n_obs: int          # observed cells
    coef_ids: np.ndarray
    n_coef: int
    n_labels: int


def sem_statistics(model: SEMModel) -> SEMStats:
    """Per-row RAM patterns of a general model, grouped by shape and missingness."""
    data = model.data
    lab = model.labels
    index = {n: i for i, n in enumerate(lab.index)}
    const0 = len(lab)
    coef_ids = np.flatnonzero((lab["kind"] == "coef").to_numpy())
    col = {int(c): j for j, c in enumerate(coef_ids)}
    k = len(coef_ids)
    base = model.base
    V = 1 + len(model.endogenous)
    outcome_vals = data.data[model.outcome].to_numpy(dtype=float) \
        if model.outcome in data.data else data.y
    endo_vals = [data.data[v].to_numpy(dtype=float) for v in model.endogenous]
    y_cols = [col[index[t]] for t in model.terms]
    x_cols = {v: [col[index[n]] for n in lab.index if n.startswith(f"{v}: ")]
              for v in model.endogenous}
    resid_label = base.labels.index[int(base.resid_label[0])]
    base_names = base.labels.index
    lat_all = model.effect_latent[data.slot] if base.Z.shape[1] else None
    phi = base.phi
    starts = np.flatnonzero(np.r_[True, data.row[1:] != data.row[:-1]])
    ends = np.r_[starts[1:], data.n_obs]
    groups: dict = {}
    n_cells = 0
    for lo, hi in zip(starts, ends):
        obs = np.arange(lo, hi)
        n = len(obs)
        slots = data.slot[obs]
        if lat_all is not None:
            lat = lat_all[obs]
            local = np.unique(lat)
        else:
            lat, local = np.zeros((n, 0), dtype=np.int64), np.zeros(0, dtype=np.int64)
        q = len(local)
        m = n * V
        v = m + q
        A_lab = np.full((v, v), const0, dtype=np.int64)
        A_fix = np.zeros((v, v))
        S_lab = np.full((v, v), const0, dtype=np.int64)
        D = np.zeros((v, k))
        for i in range(n):
            S_lab[i, i] = index[resid_label]
            D[i, y_cols] = model.X[obs[i]]
            for e in range(lat.shape[1]):
                A_fix[i, m + int(np.searchsorted(local, lat[i, e]))] += model.Z[obs[i], e]
            for j, var in enumerate(model.endogenous, start=1):
                c = j * n + i
                A_lab[i, c] = index[var]
                S_lab[c, c] = index[f"var(e.{var})"]
                if model.correlated:
                    S_lab[i, c] = S_lab[c, i] = index[f"cov(e.{model.outcome},e.{var})"]
                D[c, x_cols[var]] = model.XZ[var][obs[i]]
        where = {int(s_): i for i, s_ in enumerate(slots)}
        for t, s_, name in model.paths:
            if int(t) in where and int(s_) in where:
                A_lab[where[int(t)], where[int(s_)]] = index[name]
        if q:
            pos = {int(a): m + i for i, a in enumerate(local)}
            for a, b, l_ in zip(phi["a"], phi["b"], phi["label"]):
                if int(a) in pos and int(b) in pos:
                    S_lab[pos[int(a)], pos[int(b)]] = S_lab[pos[int(b)], pos[int(a)]] = \
                        index[base_names[int(l_)]]
        values = np.r_[outcome_vals[obs], *[ev[obs] for ev in endo_vals]]
        F = np.flatnonzero(~np.isnan(values))
        if not len(F):
            continue
        n_cells += len(F)
        key = (v, tuple(F.tolist()), A_lab.tobytes(), S_lab.tobytes())
        groups.setdefault(key, []).append((A_lab, A_fix, S_lab, D, F, values[F]))
    batches = []
    for items in groups.values():
        batches.append(_Batch(A_lab=np.stack([it[0] for it in items]),
                              A_fix=np.stack([it[1] for it in items]),
                              S_lab=np.stack([it[2] for it in items]),
                              D=np.stack([it[3] for it in items]), F=items[0][4],
                              y=np.stack([it[5] for it in items])))
    return SEMStats(batches=batches, n_obs=n_cells, coef_ids=coef_ids, n_coef=k,
                    n_labels=len(lab))


def sem_deviance(values: np.ndarray, stats: SEMStats, reml: bool = False,
                 beta: np.ndarray | None = None):
    """Deviance at label values ``values``: beta profiled (coefficient entries ignored),
    or at the given ``beta`` (ML)."""
    ext = np.concatenate([np.asarray(values, dtype=float), [0.0]])
    k = stats.n_coef
    S_acc = np.zeros((k + 1, k + 1))
    logdet = 0.0
    for b in stats.batches:
        v = b.A_lab.shape[1]
        A = ext[b.A_lab] + b.A_fix
        C = np.linalg.inv(np.eye(v) - A)
        Sig = C @ ext[b.S_lab] @ np.swapaxes(C, 1, 2)
        Sig = Sig[:, b.F][:, :, b.F]
        Dt = (C @ b.D)[:, b.F]
        try:
            L = np.linalg.cholesky(Sig)
        except np.linalg.LinAlgError:
            return np.inf, None
        d = np.diagonal(L, axis1=1, axis2=2)
        if np.any(d <= 0) or not np.all(np.isfinite(d)):
            return np.inf, None
        logdet += 2.0 * float(np.log(d).sum())
        W = np.concatenate([Dt, b.y[:, :, None]], axis=2)
        SiW = np.linalg.solve(Sig, W)
        S_acc += np.einsum("rni,rnj->ij", W, SiW)
    out, _ = profile(S_acc, k, stats.n_obs, logdet, reml, beta, False)
    return out.deviance, out


def _transform(model: SEMModel):
    lab = model.labels
    free = np.flatnonzero(lab["free"].to_numpy() & (lab["kind"] != "coef").to_numpy())
    is_var = np.isin(lab["kind"].to_numpy()[free], ("var", "resvar"))
    return free, is_var


def _starts(model: SEMModel) -> np.ndarray:
    lab = model.labels
    vals = lab["value"].to_numpy(dtype=float).copy()
    base = model.base
    if "estimate" in base.labels:
        for name in base.labels.index:
            if name in lab.index and base.labels.loc[name, "kind"] != "coef":
                vals[lab.index.get_loc(name)] = base.labels.loc[name, "estimate"]
    y = model.data.y
    s2 = float(np.nanvar(y)) or 1.0
    for i, (name, r) in enumerate(lab.iterrows()):
        if np.isfinite(vals[i]):
            continue
        if r["kind"] in ("var", "resvar"):
            vals[i] = s2 / 2 if not name.startswith("var(e.") else \
                float(np.nanvar(model.data.data[name[6:-1]])) / 2 or 1.0
        elif r["kind"] in ("cov", "rescov", "path"):
            vals[i] = 0.0
    return vals


def fit_sem(model: SEMModel, max_iter: int = 200):
    """Fit a general model by FIML: Newton on a numerical gradient of the profiled deviance."""
    stats = sem_statistics(model)
    values = _starts(model)
    free, is_var = _transform(model)
    reml = model.reml

    def to_values(u):
        v = values.copy()
        v[free] = np.where(is_var, u * u, u)
        return v

    def dev(u):
        return sem_deviance(to_values(u), stats, reml)[0]

    def fun(u, want_grad):
        f0 = dev(u)
        if not np.isfinite(f0) or not want_grad:
            return f0, None
        g = np.zeros(len(u))
        for j in range(len(u)):
            h = 1e-6 * max(abs(u[j]), 1e-2)
            e = np.zeros(len(u))
            e[j] = h
            fp, fm = dev(u + e), dev(u - e)
            if not (np.isfinite(fp) and np.isfinite(fm)):
                return f0, None
            g[j] = (fp - fm) / (2 * h)
        return f0, g

    u0 = np.where(is_var, np.sqrt(np.maximum(values[free], 0.0)), values[free])
    u, record = newton(fun, u0, np.maximum(np.abs(u0), 1e-2), max_iter=max_iter, tol=1e-10)
    est = to_values(u)
    f, ev = sem_deviance(est, stats, reml)
    est[stats.coef_ids] = ev.beta

    # observed information of all free parameters jointly (mean parameters, structural
    # coefficients and (co)variances are not orthogonal once paths enter the covariance)
    idx = np.concatenate([stats.coef_ids, free])
    k = len(stats.coef_ids)

    def full(theta):
        v = est.copy()
        v[idx] = theta
        return sem_deviance(v, stats, False, beta=theta[:k])[0]

    theta = est[idx]
    h = 1e-4 * np.maximum(np.abs(theta), 1e-2)
    n = len(theta)
    H = np.zeros((n, n))
    f0 = full(theta)
    for i in range(n):
        for j in range(i, n):
            ei, ej = np.zeros(n), np.zeros(n)
            ei[i], ej[j] = h[i], h[j]
            if i == j:
                H[i, i] = (full(theta + ei) - 2 * f0 + full(theta - ei)) / h[i] ** 2
            else:
                H[i, j] = H[j, i] = (full(theta + ei + ej) - full(theta + ei - ej)
                                     - full(theta - ei + ej) + full(theta - ei - ej)) \
                    / (4 * h[i] * h[j])
    try:
        vcov = np.linalg.inv(0.5 * H)
    except np.linalg.LinAlgError:
        vcov = np.full_like(H, np.nan)
    return service("sem_result")(model=model, values=est, deviance=f, xtvx=ev.xtvx, free=idx,
                                 vcov=vcov, optimization=record, n_obs=stats.n_obs)
