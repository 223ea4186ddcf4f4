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
from functools import cached_property
from typing import ClassVar

import numpy as np

from ..model.sem import SEMModel
from ..services import service
from .deviance import Evaluation, profile
from .protocol import SEM, Capabilities
from .optimize import newton
from ..arrays import unique

__all__ = ["SEMStats", "sem_statistics", "sem_deviance", "evaluate_sem", "fit_sem",
           "observed_hessian", "member_name"]


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
    """The statistics of the general-SEM route (the protocol of :mod:`.protocol`): per
    row pattern, the RAM label maps and the observed cells."""

    capabilities: ClassVar[Capabilities] = SEM

    batches: list
    n_obs: int          # observed cells
    coef_ids: np.ndarray
    n_coef: int
    n_labels: int
    #: labels released member by member (``sem_statistics(split=...)``): the members'
    #: names, label rows n_model_labels, n_model_labels + 1, ... in this order
    members: tuple[str, ...] = ()

    @cached_property
    def variance_labels(self) -> np.ndarray:
        """Label rows of the structural coefficients and (co)variances that occur."""
        labs = unique(np.concatenate([np.r_[b.A_lab.ravel(), b.S_lab.ravel()]
                                         for b in self.batches]))
        return labs[labs < self.n_labels]


def member_name(label: str, slot_name: str) -> str:
    """The name of one slot's member of a label released member by member."""
    return f"{label} [{slot_name}]"


def sem_statistics(model: SEMModel, split: frozenset[str] = frozenset()) -> SEMStats:
    """Per-row RAM patterns of a general model, grouped by shape and missingness.

    ``split``: labels released member by member (one label per slot where they occur,
    appended after the model's labels; the score tests' relaxed model). A released
    coefficient label's column of the mean design is replaced by one column per slot."""
    data = model.data
    lab = model.labels
    index = {n: i for i, n in enumerate(lab.index)}
    slot_names = data.slot_names()
    present = unique(data.slot)
    unknown = set(split) - set(lab.index)
    if unknown:
        raise ValueError(f"no label {sorted(unknown)[0]!r} in the model")
    path_slots: dict[str, list[int]] = {}
    for t, _, name in model.paths:
        path_slots.setdefault(name, []).append(int(t))
    members = [member_name(n, slot_names[s]) for n in lab.index if n in split
               for s in (sorted(set(path_slots[n])) if n in path_slots else present)]
    index.update({m: len(lab) + i for i, m in enumerate(members)})
    const0 = len(lab) + len(members)

    def at(name: str, slot: int) -> int:
        """Label row of ``name`` in ``slot`` (its member's when released)."""
        return index[member_name(name, slot_names[slot]) if name in split else name]

    coef_names = [n for n in lab.index[(lab["kind"].to_numpy() == "coef")] if n not in split]
    coef_names += [m for n in lab.index[(lab["kind"].to_numpy() == "coef")] if n in split
                   for m in members if m.startswith(f"{n} [")]
    coef_ids = np.array([index[n] for n in coef_names], dtype=np.int64)
    col = {int(c): j for j, c in enumerate(coef_ids)}
    k = len(coef_ids)
    base = model.base
    V = 1 + len(model.endogenous)
    outcome_vals = data.data[model.outcome].to_numpy(dtype=float) \
        if model.outcome in data.data else data.y
    endo_vals = [data.data[v].to_numpy(dtype=float) for v in model.endogenous]
    x_names = {v: [n for n in lab.index if n.startswith(f"{v}: ")] for v in model.endogenous}
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
            local = unique(lat)
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
            sl_ = int(slots[i])
            S_lab[i, i] = at(resid_label, sl_)
            D[i, [col[at(t, sl_)] for t in model.terms]] = model.X[obs[i]]
            for e in range(lat.shape[1]):
                A_fix[i, m + int(np.searchsorted(local, lat[i, e]))] += model.Z[obs[i], e]
            for j, var in enumerate(model.endogenous, start=1):
                c = j * n + i
                A_lab[i, c] = at(var, sl_)
                S_lab[c, c] = at(f"var(e.{var})", sl_)
                if model.correlated:
                    S_lab[i, c] = S_lab[c, i] = at(f"cov(e.{model.outcome},e.{var})", sl_)
                D[c, [col[at(t, sl_)] for t in x_names[var]]] = model.XZ[var][obs[i]]
        where = {int(s_): i for i, s_ in enumerate(slots)}
        for t, s_, name in model.paths:
            if int(t) in where and int(s_) in where:
                A_lab[where[int(t)], where[int(s_)]] = at(name, int(t))
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
                    n_labels=const0, members=tuple(members))


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


def evaluate_sem(values: np.ndarray, stats: SEMStats, reml: bool, gradient: bool = True,
                 check_psd: bool = True, beta: np.ndarray | None = None) -> Evaluation:
    """The protocol's evaluation: the deviance, and (``gradient``) its central
    differences over the structural coefficients and (co)variances (no analytic gradient
    on this route: ``capabilities.gradient`` is False)."""
    del check_psd                 # a covariance that is not PSD fails the Cholesky anyway
    dev, out = sem_deviance(values, stats, reml, beta)
    if out is None:
        return Evaluation(deviance=np.inf)
    if gradient:
        values = np.asarray(values, dtype=float)
        grad = np.zeros(len(values))
        for lab in stats.variance_labels:
            h = 1e-6 * max(abs(values[lab]), 1e-3)
            up, dn = values.copy(), values.copy()
            up[lab] += h
            dn[lab] -= h
            grad[lab] = (sem_deviance(up, stats, reml, beta)[0]
                         - sem_deviance(dn, stats, reml, beta)[0]) / (2 * h)
        out.gradient = grad
    return out


def _transform(model: SEMModel):
    lab = model.labels
    free = np.flatnonzero(lab["free"].to_numpy() & (lab["kind"].to_numpy() != "coef"))
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
    own_error = {f"var(e.{v})": v for v in model.endogenous}   # an endogenous covariate's
    for i, (name, r) in enumerate(lab.iterrows()):
        if np.isfinite(vals[i]):
            continue
        if r["kind"] in ("var", "resvar"):
            vals[i] = s2 / 2 if name not in own_error else \
                float(np.nanvar(model.data.data[own_error[name]])) / 2 or 1.0
        elif r["kind"] in ("cov", "rescov", "path"):
            vals[i] = 0.0
    return vals


def observed_hessian(full, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hessian and gradient of ``full`` (a deviance with beta given) at ``theta`` by
    central differences of function values (steps 1e-4 of each value, at least 1e-6)."""
    h = 1e-4 * np.maximum(np.abs(theta), 1e-2)
    n = len(theta)
    H = np.zeros((n, n))
    g = np.zeros(n)
    f0 = full(theta)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = h[i]
        fp, fm = full(theta + ei), full(theta - ei)
        H[i, i] = (fp - 2 * f0 + fm) / h[i] ** 2
        g[i] = (fp - fm) / (2 * h[i])
        for j in range(i + 1, n):
            ej = np.zeros(n)
            ej[j] = h[j]
            H[i, j] = H[j, i] = (full(theta + ei + ej) - full(theta + ei - ej)
                                 - full(theta - ei + ej) + full(theta - ei - ej)) \
                / (4 * h[i] * h[j])
    return H, g


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

    H, _ = observed_hessian(full, est[idx])
    try:
        vcov = np.linalg.inv(0.5 * H)
    except np.linalg.LinAlgError:
        vcov = np.full_like(H, np.nan)
    return service("sem_result")(model=model, values=est, deviance=f, xtvx=ev.xtvx, free=idx,
                                 vcov=vcov, optimization=record, n_obs=stats.n_obs)
