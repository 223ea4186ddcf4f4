"""Identification of a PathModel, checked before fitting.

The implied moments are linear in the labels: the mean in the free coefficients (columns
of the coefficient design), each row's covariance in the variance labels (Sigma_r =
sum_l theta_l D_lr). The model is (locally) identified only if both maps have full
column rank; when not, the labels that cannot be told apart are named.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..arrays import unique
from ..model.pathmodel import PathModel
from ..model.label_arrays import label_arrays

if TYPE_CHECKING:  # pragma: no cover
    import scipy.sparse as sp

__all__ = ["check_identified", "unidentified_labels", "refuse_unidentified"]


def _dependent_columns(G: np.ndarray, names: np.ndarray, tol: float = 1e-12) -> list[str]:
    """Names of the columns of a Gram matrix ``G = M'M`` involved in a linear dependency
    of the columns of M (empty if M has full column rank)."""
    if G.shape[1] == 0:
        return []
    d = np.sqrt(np.clip(np.diag(G), 0.0, None))
    if (d <= 0).any():
        return [str(n) for n in names[d <= 0]]
    w, V = np.linalg.eigh(G / np.outer(d, d))
    null = V[:, w <= tol * w.max()]
    if not null.size:
        return []
    return [str(n) for n in names[np.abs(null).max(axis=1) > 1e-6]]


def unidentified_labels(model: PathModel, max_rows: int = 400, stats=None,
                        start: np.ndarray | None = None) -> list[str]:
    """Labels that are not identified (empty when the model is identified).

    With the pooled statistics of the model (``stats``) the check is the rank of the
    expected information at the starting values, O(pools); otherwise up to ``max_rows``
    rows' covariance Jacobians are examined one by one.
    """
    from .starts import starting_values
    from ..model.coefficients import coefficient_design
    from .information import distinct_rows, parameter_derivatives

    Xt, coef_ids = coefficient_design(model)
    bad = _dependent_columns(Xt.T @ Xt, label_arrays(model).names[coef_ids])
    if bad:
        return bad
    var_ids = label_arrays(model).free_variances
    if not len(var_ids):
        return []
    from .deviance import expected_information
    from .stats import PoolStats
    from .protocol import capabilities_of
    caps = capabilities_of(stats) if stats is not None else None
    if caps is not None and not caps.dense_rows:
        from .tree_stats import TreeStats
        core = getattr(stats, "core", stats)           # (a residual structure's wrapper)
        tree = core.structure if isinstance(core, TreeStats) else None
        columns = (tree.Zs, tree.entries) if tree is not None and tree.Zs is not None \
            else None
        layout = tree.blocks[0] if tree is not None and tree.blocks is not None else None
        return _dependent_columns(sparse_gram(model, var_ids, columns, start, layout),
                                  label_arrays(model).names[var_ids])
    if isinstance(stats, PoolStats):
        # the expected information is J'WJ (W positive definite): singular exactly where
        # the covariance Jacobian J is
        info = expected_information(start if start is not None else starting_values(model),
                                    stats)
        if info is not None:
            return _dependent_columns(info[var_ids[:, None], var_ids],
                                      label_arrays(model).names[var_ids])
    pos = {int(v): i for i, v in enumerate(var_ids)}
    blocks = []
    start = start if start is not None else starting_values(model)
    # the first max_rows rows, each kind of row once with its count as weight: the same
    # Gram matrix as every row's Jacobian stacked
    rows, counts = distinct_rows(model, max_rows)
    for (obs, D, _), count in zip(parameter_derivatives(model, start, rows), counts):
        n = len(obs)
        iu = np.triu_indices(n)
        J = np.zeros((len(iu[0]), len(var_ids)))
        for lab, Dm in D.items():
            if lab in pos:
                J[:, pos[lab]] = Dm[iu]
        blocks.append(J if count == 1 else np.sqrt(count) * J)
    J = np.vstack(blocks)
    G = J.T @ J
    return _dependent_columns(G, label_arrays(model).names[var_ids])


def check_identified(model: PathModel, stats=None, start: np.ndarray | None = None) -> None:
    """Raise a ValueError naming the labels that cannot be told apart, if any (at the
    starting values ``start``, computed when not given)."""
    refuse_unidentified(unidentified_labels(model, stats=stats, start=start))


def refuse_unidentified(bad: list[str]) -> None:
    """Raise the ValueError that names labels the data cannot tell apart, if any."""
    if bad:
        shown = ", ".join(repr(b) for b in bad[:8]) + (f", ... ({len(bad)} in all)"
                                                      if len(bad) > 8 else "")
        raise ValueError(
            "the model is not identified: the data cannot tell apart the parameters "
            f"{shown} (their effects on the implied means or covariances are linearly "
            "dependent); constrain or fix some of them")


def sparse_gram(model: PathModel, var_ids: np.ndarray, columns=None,
                start: np.ndarray | None = None, layout=None) -> np.ndarray:
    """Gram matrix tr(D_l D_m) of the covariance derivatives D_l = d Sigma / d theta_l of
    the variance labels, over all rows at once, from sparse products (the sparse path's
    rows are too large for per-row Jacobians): residual labels give their entries of
    the observations' residual covariance (P_g for a variance; a nonlinear structure's
    parameters the chain rule over its derived covariances, at ``start``), latent labels
    Z E_l Z' (E_l the positions of label l in Phi). ``columns``: the (Zs, Phi entries)
    the statistics were built from, and the residual blocks' ``layout``
    (:func:`.tree_residuals.block_layout`), when at hand (the tree path keeps them)."""
    import scipy.sparse as sp
    from ..engine.sparse_stats import _phi_entries, _row_latents

    if columns is not None:
        Zs, ent = columns
    else:
        Zs, g_row, g_lat = _row_latents(model)
        ent = _phi_entries(model, g_row, g_lat)
    q = Zs.shape[1]
    if q <= DENSE_GRAM_MAX and not len(model.theta_table):
        return _dense_gram(model, var_ids, Zs, ent)
    A = (Zs.T @ Zs).tocsr()
    residual = _residual_derivatives(model, start, layout)
    mats = {}
    for lab in var_ids:
        sel = ent["label"].to_numpy() == lab
        if sel.any():
            a, b = ent["a"].to_numpy()[sel], ent["b"].to_numpy()[sel]
            off = a != b
            E = sp.csr_matrix((np.ones(sel.sum() + off.sum()),
                               (np.r_[a, b[off]], np.r_[b, a[off]])), shape=(q, q))
            mats[int(lab)] = ("latent", E, (A @ E).tocsr())
        elif int(lab) in residual:
            D = residual[int(lab)]
            mats[int(lab)] = ("resid", D, (Zs.T @ D @ Zs).tocsr())
    k = len(var_ids)
    G = np.zeros((k, k))
    for i, li in enumerate(var_ids):
        for j, lj in enumerate(var_ids[:i + 1]):
            if int(li) not in mats or int(lj) not in mats:
                continue
            ki, xi, yi = mats[int(li)]
            kj, xj, yj = mats[int(lj)]
            if ki == kj == "resid":        # tr(D_l D_m), both symmetric
                val = float(xi.multiply(xj).sum())
            elif ki == "resid":            # tr(D_l Z E Z') = sum(E o Z' D_l Z)
                val = float(xj.multiply(yi).sum())
            elif kj == "resid":
                val = float(xi.multiply(yj).sum())
            else:                          # tr(E_l A E_m A)
                val = float(yi.multiply(yj.T).sum())
            G[i, j] = G[j, i] = val
    return G


#: largest number of latent columns for which :func:`sparse_gram` works with dense q x q
#: arrays (the sparse products' overhead is most of the check there: 2.8 -> 1.2 ms on
#: 167 latents of a crossed design, benchmarks/micro.py gram; equal times at about 300
#: in one comparison on a 315-latent design)
DENSE_GRAM_MAX = 300


def _dense_gram(model: PathModel, var_ids: np.ndarray, Zs: "sp.csr_matrix", ent
                ) -> np.ndarray:
    """:func:`sparse_gram` for few latent columns and independent residuals, with dense
    arrays: M_l = E_l A for a latent label (its rows are those of A at the label's
    positions), tr(E_l A E_m A) = sum(M_l o M_m'); a residual label's indicator d_l
    gives R_l = Z' diag(d_l) Z, tr(P_l Z E_m Z') = sum(E_m o R_l), tr(P_l P_m) = d_l'd_m."""
    q = Zs.shape[1]
    A = (Zs.T @ Zs).toarray()
    res = model.resid_of_obs()
    ea, eb, el = (ent["a"].to_numpy(np.int64), ent["b"].to_numpy(np.int64),
                  ent["label"].to_numpy(np.int64))
    kinds: list = []
    for lab in var_ids:
        sel = el == lab
        if sel.any():
            a, b = ea[sel], eb[sel]
            off = a != b
            rows, cols = np.r_[a, b[off]], np.r_[b, a[off]]   # E_l's ones (symmetric)
            M = np.zeros((q, q))
            if len(unique(rows)) == len(rows):
                M[rows] = A[cols]                             # (E_l A)[i] = A[j]
            else:                                             # (an exchangeable block)
                np.add.at(M, rows, A[cols])
            kinds.append(("latent", (rows, cols), M))
        elif (res == lab).any():
            d = (res == lab).astype(float)
            R = (Zs.multiply(d[:, None]).T @ Zs).toarray()
            kinds.append(("resid", d, R))
        else:
            kinds.append(None)
    k = len(var_ids)
    G = np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1):
            if kinds[i] is None or kinds[j] is None:
                continue
            (ki, xi, yi), (kj, xj, yj) = kinds[i], kinds[j]
            if ki == kj == "resid":
                val = float(xi @ xj)
            elif ki == "resid":
                val = float(yi[xj].sum())
            elif kj == "resid":
                val = float(yj[xi].sum())
            else:
                val = float(np.sum(yi * yj.T))
            G[i, j] = G[j, i] = val
    return G


def _residual_derivatives(model: PathModel, start: np.ndarray | None, layout=None
                          ) -> dict[int, "sp.csr_matrix"]:
    """d Theta / d theta_l over all observations (n_obs x n_obs, sparse) for every
    residual label l: the variances' diagonals, the residual covariances' pairs; for a
    nonlinear structure (AR, Toeplitz, ...) its parameters' instead of the derived
    covariances' (chain rule at ``start``)."""
    import scipy.sparse as sp
    from .tree_residuals import block_layout

    n = model.data.n_obs
    res = model.resid_of_obs()
    rows, cols, labs = [np.arange(n)], [np.arange(n)], [res]
    if layout is None:
        layout = block_layout(model)
    if layout is not None:
        rows += [layout.a, layout.b]
        cols += [layout.b, layout.a]
        labs += [layout.label, layout.label]
    r, c, lab = np.concatenate(rows), np.concatenate(cols), np.concatenate(labs)
    order = np.argsort(lab, kind="stable")
    r, c, lab = r[order], c[order], lab[order]
    cuts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1], True])
    out = {int(lab[lo]): sp.csr_matrix((np.ones(hi - lo), (r[lo:hi], c[lo:hi])), shape=(n, n))
           for lo, hi in zip(cuts[:-1], cuts[1:])}
    st = model.info.structure
    if st is None:
        return out
    from .evaluator import expand
    from .starts import starting_values
    pid, lid = model.label_positions(st.params), model.label_positions(st.lags)
    full = expand(model, start if start is not None else starting_values(model))
    J = st.jacobian(full[pid])
    zero = sp.csr_matrix((n, n))
    for j, p in enumerate(pid):
        acc = out.get(int(p), zero)
        for i, lag in enumerate(lid):
            if int(lag) in out and J[i, j] != 0:
                acc = acc + J[i, j] * out[int(lag)]
        out[int(p)] = acc.tocsr()
    for lag in lid:
        out.pop(int(lag), None)
    return out
