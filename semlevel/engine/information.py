"""Expected (Fisher) information of a PathModel under FIML, row by row.

For a wide row with covariance Sigma_r (linear in the variance labels: Sigma_r =
sum_l theta_l D_lr) and mean X_r beta, the expected information is block diagonal:

    I_beta      = sum_r X_r' Sigma_r^-1 X_r,
    I_theta[j,k] = 1/2 sum_r tr(Sigma_r^-1 D_jr Sigma_r^-1 D_kr),

(the "structured" expected information of lavaan under missing="ml"). It is positive
(semi-)definite at any admissible point, which makes it the default for score tests at
a constrained point, where the observed information of the relaxed model need not be.
Rows are handled densely (n_r x n_r), so this is for post-estimation, not the optimiser.
"""
from __future__ import annotations

import numpy as np

from ..model.coefficients import coefficient_design
from ..model.label_arrays import phi_arrays
from ..model.pathmodel import PathModel
from ..arrays import unique

__all__ = ["expected_information", "row_derivatives", "parameter_derivatives",
           "distinct_rows"]


def _row_spans(model: PathModel) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last observation of each wide row."""
    row = model.data.row
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    return starts, np.r_[starts[1:], model.data.n_obs]


def distinct_rows(model: PathModel, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Of the first ``limit`` wide rows, the first of each kind and how many rows of its
    kind there are among them. Rows of a kind have the same slots, loadings, residual
    labels and groups, so the same covariance derivatives (the latents are the wide
    form's variables, the same in every row): a balanced design such as the manual's
    pig data has one kind of row, not 48 to differentiate."""
    starts, ends = _row_spans(model)
    slot, Z, res = model.data.slot, model.Z, model.resid_of_obs()
    group = model.obs_group
    first: dict[tuple, int] = {}
    rows: list[int] = []
    counts: list[int] = []
    for r in range(min(limit, len(starts))):
        lo, hi = starts[r], ends[r]
        key = (slot[lo:hi].tobytes(), Z[lo:hi].tobytes(), res[lo:hi].tobytes(),
               b"" if group is None else group[lo:hi].tobytes())
        i = first.setdefault(key, len(rows))
        if i == len(rows):
            rows.append(r)
            counts.append(0)
        counts[i] += 1
    return np.array(rows, dtype=np.int64), np.array(counts, dtype=float)


def row_derivatives(model: PathModel, rows: np.ndarray | None = None):
    """Yield, per wide row (or per row of ``rows``), (observation indices, {label row:
    D_lr}) for every variance or covariance label that occurs in the row."""
    data = model.data
    starts, ends = _row_spans(model)
    if rows is not None:
        starts, ends = starts[rows], ends[rows]
    phi = model.phi_table
    pa, pb, pl = phi_arrays(model)
    pg, tg = model.group_of(phi), model.group_of(model.theta_table)
    res_all = model.resid_of_obs()
    for lo, hi in zip(starts, ends):
        obs = np.arange(lo, hi)
        slots = data.slot[obs]
        n = len(obs)
        res = res_all[obs]
        og = model.obs_group[obs] if model.obs_group is not None else np.full(n, -1)
        D: dict[int, np.ndarray] = {int(lab): np.diag((res == lab).astype(float))
                                    for lab in unique(res)}
        if len(model.theta_table):
            where = {int(s_): i for i, s_ in enumerate(slots)}
            theta = model.theta_table
            for s_, t_, lab, g in zip(theta["s"], theta["t"], theta["label"], tg):
                if int(s_) in where and int(t_) in where:
                    i, j = where[int(s_)], where[int(t_)]
                    if g != -1 and not (og[i] == g and og[j] == g):
                        continue
                    E = np.zeros((n, n))
                    E[i, j] = E[j, i] = 1.0
                    D[int(lab)] = D.get(int(lab), 0.0) + E
        if model.Z.shape[1]:
            lat = model.effect_latent[slots]                 # (n, E)
            local = unique(lat)
            Zl = np.zeros((n, len(local)))
            np.add.at(Zl, (np.repeat(np.arange(n), lat.shape[1]),
                           np.searchsorted(local, lat).ravel()), model.Z[obs].ravel())
            inside = np.isin(pa, local) & np.isin(pb, local) & ((pg == -1) | (pg == og[0]))
            for a, b, lab in zip(pa[inside], pb[inside], pl[inside]):
                za, zb = Zl[:, np.searchsorted(local, a)], Zl[:, np.searchsorted(local, b)]
                piece = np.outer(za, za) if a == b else np.outer(za, zb) + np.outer(zb, za)
                D[int(lab)] = D.get(int(lab), 0.0) + piece
        yield obs, D


def parameter_derivatives(model: PathModel, values: np.ndarray,
                          rows: np.ndarray | None = None):
    """Like :func:`row_derivatives`, with a nonlinear residual structure's derived
    covariances replaced by the derivatives w.r.t. its parameters (chain rule); also
    yields Sigma_r at ``values``."""
    from .evaluator import expand
    full = expand(model, values)
    st = model.info.structure
    if st is not None:
        pid = model.label_positions(st.params)
        lid = model.label_positions(st.lags)
        J = st.jacobian(full[pid])
        where = {int(l): i for i, l in enumerate(lid)}
    for obs, D in row_derivatives(model, rows):
        Sigma = sum(full[lab] * Dm for lab, Dm in D.items())
        if st is not None:
            out = {lab: Dm for lab, Dm in D.items() if lab not in where}
            for j, p in enumerate(pid):
                acc = sum(J[where[lab], j] * Dm for lab, Dm in D.items() if lab in where)
                out[int(p)] = acc
            D = out
        yield obs, D, Sigma


def expected_information(model: PathModel, values: np.ndarray, coef_ids: np.ndarray,
                         var_ids: np.ndarray) -> np.ndarray:
    """Expected information (of log L) over ``coef_ids`` then ``var_ids`` at ``values``."""
    Xt, design_ids = coefficient_design(model)
    col = [int(np.flatnonzero(design_ids == c)[0]) for c in coef_ids]
    kc, kv = len(coef_ids), len(var_ids)
    info = np.zeros((kc + kv, kc + kv))
    for obs, D, Sigma in parameter_derivatives(model, values):
        Si = np.linalg.inv(Sigma)
        if kc:
            Xr = Xt[obs][:, col]
            info[:kc, :kc] += Xr.T @ Si @ Xr
        present = [i for i, l in enumerate(var_ids) if int(l) in D]
        if not present:
            continue
        M = np.stack([Si @ D[int(var_ids[i])] for i in present])      # (m, n, n)
        # 1/2 tr(M_i M_j) for every pair at once
        block = 0.5 * np.einsum("iab,jba->ij", M, M, optimize=True)
        pos = kc + np.asarray(present)
        info[np.ix_(pos, pos)] += block
    return info

