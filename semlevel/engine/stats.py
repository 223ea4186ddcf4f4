"""Sufficient statistics of the wide rows, pooled by pattern.

For row r (a top-level unit) with observed outcomes y_r, covariates X_r (columns = free
coefficient labels), loadings Z_r on its q_r latents and residual-label indicators P_g,
the FIML likelihood depends on the data only through

    n_g = tr P_g,  ZZ_g = Z_r' P_g Z_r,  C_g = W_r' P_g W_r,  B_g = Z_r' P_g W_r,

with W_r = [X_r, y_r]. Rows that share the latent-covariance pattern and every ZZ_g and
n_g (same missingness pattern, same definition-variable cross-products) form a *pool*;
a pool needs only the sums of C_g and of the outer products B_g (x) B_h. One likelihood
evaluation then costs O(pools), whatever the number of rows; rows whose random-slope
covariates differ are pools of one and are evaluated in batches.
"""
from __future__ import annotations

import weakref
from typing import ClassVar, NamedTuple

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .protocol import POOLED, Capabilities
from ..model.label_arrays import phi_arrays
from ..model.pathmodel import PathModel
from . import weighting
from ..model.coefficients import coefficient_design, fixed_offset
from .coefficient_basis import CoefficientBasis
from .unique_rows import unique_rows
from ..arrays import changes, group_sums, unique, unique_inverse

__all__ = ["PoolStats", "pool_statistics", "coefficient_design", "internal_design"]


class PoolKernel(NamedTuple):
    """What :func:`.deviance.evaluate` reads of the statistics at every call, made once:
    the identity of the latents' size, the first residual label's ZZ (and transposed),
    C (pools x K1^2) and counts, the flat Phi index."""

    eye: np.ndarray
    ZZ0: np.ndarray
    ZZ0_T: np.ndarray
    C0_flat: np.ndarray
    n0: np.ndarray
    phi_flat: np.ndarray
    #: one pool of one latent and one residual label (every row alike): the numbers
    #: :func:`.deviance._evaluate_single` reads (C00, the pool's C: with one pool and
    #: one residual label, also for more latents)
    single: bool = False
    phi_label: int = -1
    resid_label: int = -1
    z: float = 0.0
    n00: float = 0.0
    cnt0: float = 0.0
    C00: np.ndarray | None = None
    Tqq: np.ndarray | None = None
    #: one pool of two latents and one residual label (a balanced random-slope model):
    #: what :func:`.deviance._evaluate_pair` reads besides the above, as Python numbers:
    #: the extended vector's index of Phi's entries (0,0), (0,1), (1,0), (1,1), and Z'Z's
    pair: bool = False
    pair_labels: tuple = ()
    pair_z: tuple = ()
    #: each label of the pool's Phi (below const0, in ``label_positions`` order) with its
    #: positions (a, b) there: what the expected information sums over
    pair_positions: tuple = ()


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class PoolStats:
    """Pooled sufficient statistics (arrays over pools p, residual labels g).

    ``phi_idx[p]`` (q x q) indexes the extended parameter vector (all labels, then the
    constants 0 and 1) to build each pool's latent covariance; ``resid_ids`` are the label
    rows of the residual variances, in the order of the ``g`` axis.
    """

    capabilities: ClassVar[Capabilities] = POOLED

    phi_idx: np.ndarray      # (P, q, q) int
    ZZ: np.ndarray           # (P, G, q, q)
    n: np.ndarray            # (P, G) observations per row
    C: np.ndarray            # (P, G, K1, K1) summed over the pool's rows
    T: np.ndarray            # (P, G, q, K1, G, q, K1) summed outer products of B
    count: np.ndarray        # (P,) rows in the pool
    resid_ids: np.ndarray    # (G,) label rows
    n_coef: int              # K1 - 1 free coefficient labels
    coef_ids: np.ndarray     # label rows of the columns of X
    n_obs: int
    n_rows: int
    const0: int              # index of the constant 0 in the extended parameter vector
    const1: int
    basis: CoefficientBasis  # coordinates of the coefficients (see internal_design)
    n_weighted: float | None = None   # weighted observation count (engine.weighting)


    @property
    def n_pools(self) -> int:
        return int(self.count.shape[0])

    @cached_property
    def label_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, E): the labels (below ``const0``) in the pools' Phi and the indicator
        E[p, l] (q x q) of each one's positions there (the expected information's, built
        once instead of at each scoring step)."""
        labs = unique(self.phi_idx)
        labs = labs[labs < self.const0]
        E = np.stack([(self.phi_idx == l).astype(float) for l in labs], axis=1) \
            if len(labs) else np.zeros(self.phi_idx.shape[:1] + (0,) + self.phi_idx.shape[1:])
        return labs, E

    @cached_property
    def kernel(self) -> "PoolKernel":
        """The views and constants every evaluation reads (made once, not per call)."""
        P, G, q = self.ZZ.shape[:3]
        ZZ0 = self.ZZ[:, 0]
        single = P == 1 and G == 1 and q == 1
        pair = P == 1 and G == 1 and q == 2
        one = single or pair
        return PoolKernel(eye=_read_only(np.eye(q)), ZZ0=ZZ0, ZZ0_T=np.swapaxes(ZZ0, 1, 2),
                          C0_flat=self.C[:, 0].reshape(self.C.shape[0], -1),
                          n0=self.n[:, 0], phi_flat=self.phi_idx.ravel(), single=single,
                          phi_label=int(self.phi_idx[0, 0, 0]) if single else -1,
                          resid_label=int(self.resid_ids[0]) if one else -1,
                          z=float(self.ZZ[0, 0, 0, 0]) if single else 0.0,
                          n00=float(self.n[0, 0]) if one else 0.0,
                          cnt0=float(self.count[0]) if one else 0.0,
                          C00=self.C[0, 0] if P == 1 and G == 1 else None,
                          Tqq=self.T_by_latent_pair if one else None,
                          pair=pair,
                          pair_labels=tuple(self.phi_idx[0].ravel().tolist()) if pair else (),
                          pair_z=tuple(self.ZZ[0, 0].ravel().tolist()) if pair else (),
                          pair_positions=self._pair_positions() if pair else ())

    def _pair_positions(self) -> tuple:
        """(label, ((a, b), ...)) for each label of a one-pool 2 x 2 Phi."""
        at = self.phi_idx[0]
        return tuple((lab, tuple((a, b) for a in (0, 1) for b in (0, 1) if at[a, b] == lab))
                     for lab in self.label_positions[0].tolist())

    @cached_property
    def information_blocks(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """The index pairs of the expected information's blocks (latent labels x latent
        labels, latent x residual, residual x latent, residual x residual), as
        ``np.ix_`` makes them, made once."""
        labs, rid = self.label_positions[0], self.resid_ids
        return tuple((r.reshape(-1, 1), c.reshape(1, -1))
                     for r, c in ((labs, labs), (labs, rid), (rid, labs), (rid, rid)))

    @cached_property
    def T_by_latent_pair(self) -> np.ndarray:
        """With one residual label: T as a (P*q*q) x (K1*K1) matrix, rows (p, a, b)."""
        P, _, q, K1 = self.T.shape[:4]
        return np.ascontiguousarray(self.T[:, 0, :, :, 0].transpose(0, 1, 3, 2, 4)) \
            .reshape(P * q * q, K1 * K1)


def internal_design(Xt: np.ndarray, y: np.ndarray, basis: CoefficientBasis | None = None
                    ) -> tuple[np.ndarray, CoefficientBasis]:
    """[Xt B, y - Xt shift] in the coordinates of :mod:`.coefficient_basis` (the given
    ``basis``, or the data's own), and that basis."""
    if basis is None:
        basis = CoefficientBasis.of(Xt, y)
    W = np.empty((len(y), basis.k + 1))
    W[:, :basis.k] = basis.design(Xt)
    W[:, basis.k] = basis.centre(Xt, y)
    return W, basis


def internal_design_rows(Xt: np.ndarray, y: np.ndarray,
                         basis: CoefficientBasis | None = None
                         ) -> tuple[np.ndarray, CoefficientBasis]:
    """:func:`internal_design` transposed ((k + 1) x n, each column of W contiguous, as the
    pooled statistics use it) and computed so, bit for bit the same values: one pass to
    transpose X instead of W's allocation, its columns' copies and a transpose of W."""
    k = Xt.shape[1]
    Wt = np.empty((k + 1, len(y)))                  # [X, y]', then its columns in place
    Wt[:k] = Xt.T
    Wt[k] = y
    if basis is None:
        basis = CoefficientBasis.of_columns(Wt)
    basis.centre_rows(Wt[:k], y, Wt[k])
    basis.design_rows(Wt[:k], Wt[:k])
    return Wt, basis


def _fill_phi(phi_idx: np.ndarray, lat_local: np.ndarray, rows_in: np.ndarray,
              a_: np.ndarray, b_: np.ndarray, lab_: np.ndarray, n_lat: int) -> None:
    """Write the labels of latent pairs (a, b) into the rows' local covariance patterns."""
    if not len(a_) or not rows_in.any():
        return
    code = a_ * n_lat + b_
    order = np.argsort(code)
    code, lab = code[order], lab_[order]
    # every (row, i, j) at once (the size of phi_idx itself), in blocks of rows
    q = lat_local.shape[1]
    step = max(1, int(4e6 // max(q * q, 1)))
    for lo in range(0, lat_local.shape[0], step):
        a = lat_local[lo:lo + step, :, None]
        b = lat_local[lo:lo + step, None, :]
        ok = (a >= 0) & (b >= 0) & rows_in[lo:lo + step, None, None]
        c = np.minimum(a, b) * n_lat + np.maximum(a, b)
        pos = np.clip(np.searchsorted(code, c), 0, len(code) - 1)
        hit = ok & (code[pos] == c)
        block = phi_idx[lo:lo + step]
        block[hit] = lab[pos[hit]]


#: per model: each (observation, effect)'s key row * span + latent, their unique values,
#: the inverse and the span (the path choice and the pooled statistics both need them)
_ROW_LATENTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def row_latent_keys(model: PathModel) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(keys (E, n_obs), unique keys, inverse (E * n_obs,), span) of the rows' latents:
    key = row * span + latent of every observation's every effect."""
    got = _ROW_LATENTS.get(model)
    if got is None:
        lat = np.take(np.ascontiguousarray(model.effect_latent.T), model.data.slot,
                      axis=1)                                        # (E, n_obs)
        span = int(lat.max()) + 1 if lat.size else 1
        keys = model.data.row * span + lat                          # (contiguous)
        uniq, inv = unique_inverse(keys.ravel())
        got = _ROW_LATENTS[model] = (keys, uniq, inv, span)
    return got


#: observations x (coefficients + 1)^2 up to which the cross-products C are summed in one
#: call (32 MB of products; a call per pair costs ~50 us, most of a small model's
#: statistics, and 5-10 ms more on the 100,000-row random-slope case)
PRODUCTS_AT_ONCE = 4_000_000


def pool_statistics(model: PathModel, basis: CoefficientBasis | None = None) -> PoolStats:
    """Compute (once per fit) the pooled sufficient statistics of a model's rows.

    ``basis`` replaces the data's own coordinates of the coefficients (see
    :func:`internal_design`): statistics of parts of the data that are to be added up
    (``semlevel.distributed``) must all use the same, global, ones."""
    data = model.data
    n_obs, n_rows = data.n_obs, data.n_rows
    n_lab = len(model.label_table)
    const0, const1 = n_lab, n_lab + 1
    Xt, coef_ids = coefficient_design(model)
    # weights (engine.weighting): transformed data, weighted residual counts and rows
    if weighting.weights_of(model) is None:
        Wt, basis = internal_design_rows(Xt, data.y - fixed_offset(model), basis)
        Zw = model.Z
    else:
        W, basis = internal_design(Xt, data.y - fixed_offset(model), basis)
        W, Zw = weighting.scaled_design(model, W, model.Z)
        Wt = np.ascontiguousarray(W.T)
    res_count, rw = weighting.residual_counts(model), weighting.row_weights(model)
    K1 = Wt.shape[0]

    # residual label of each observation -> g axis
    res_lab = model.resid_of_obs()
    resid_ids, g_of_obs = unique_inverse(res_lab)
    G = len(resid_ids)

    # local latents of each row
    row = data.row
    E = model.Z.shape[1]
    if E:
        # a latent whose loadings are all zero in a row plays no part in it (an R.var
        # indicator of a level the row does not have): it is left out of the row
        nz = (Zw != 0).T                                           # (E, n_obs)
        keys, uniq, inv, span = row_latent_keys(model)
        if not nz.all():
            uniq, inv = unique_inverse(keys[nz])
        u_row = uniq // span
        u_lat = uniq % span
        q_r = np.bincount(u_row, minlength=n_rows)
        start = np.concatenate(([0], np.cumsum(q_r)[:-1]))
        local = np.arange(len(uniq)) - start[u_row]               # local index of each
        loc = np.zeros((E, n_obs), dtype=np.int64)                # (0 where not loaded:
        loc[nz] = local[inv]                                      # its loading is 0)
    else:
        q_r = np.zeros(n_rows, dtype=np.int64)
        u_row = u_lat = local = np.zeros(0, dtype=np.int64)
    q = max(int(q_r.max()) if n_rows else 0, 1)

    # per-row statistics by residual label g: each row's sums over its own observations
    # in their order (semlevel.arrays.group_sums; bincount adds in order too), the
    # latents' by their local index; every array (effects or columns, observations)
    cell = row * G + g_of_obs                                    # (row, g) of each obs
    # C[i, j] = sums of W_i W_j (W_i W_j = W_j W_i bit for bit): every product summed in
    # one call where they fit in PRODUCTS_AT_ONCE values, else pair by pair through one
    # buffer (the lower triangle copying the upper: a million rows' products take 8 MB
    # instead of 72)
    if n_obs * K1 * K1 <= PRODUCTS_AT_ONCE:
        WW = np.empty((K1, K1, n_obs))
        for i in range(K1):
            np.multiply(Wt, Wt[i], out=WW[i])                    # WW[i, j] = W_j W_i
        C = group_sums(cell, WW.reshape(K1 * K1, n_obs), n_rows * G, axis=-1
                       ).T.reshape(n_rows, G, K1, K1)
    else:
        C = np.empty((n_rows * G, K1, K1))
        prod = np.empty(n_obs)
        for i in range(K1):
            for j in range(i, K1):
                np.multiply(Wt[j], Wt[i], out=prod)
                C[:, i, j] = C[:, j, i] = group_sums(cell, prod, n_rows * G)
        C = C.reshape(n_rows, G, K1, K1)
    nrg = group_sums(cell, np.ones(n_obs) if res_count is None else res_count,
                     n_rows * G).reshape(n_rows, G)
    ZZ = np.zeros((n_rows * G, q, q))
    B = np.zeros((n_rows * G * q, K1))
    if E:
        Zt = np.ascontiguousarray(Zw.T)
        at = [cell * q + loc[e] for e in range(E)]               # (row, g, latent)
        # products and keys written into two reused buffers, not a fresh array of every
        # observation per pair (fewer temporaries: docs/memory.md, "Page faults")
        weight, key = np.empty(n_obs), np.empty(n_obs, dtype=np.int64)
        for e in range(E):
            for f in range(e, E):
                np.multiply(at[e], q, out=key)
                key += loc[f]
                np.multiply(Zt[e], Zt[f], out=weight)
                M = np.bincount(key, weights=weight,
                                minlength=n_rows * G * q * q).reshape(-1, q, q)
                ZZ += M if e == f else M + M.transpose(0, 2, 1)
            for k in range(K1):
                np.multiply(Zt[e], Wt[k], out=weight)
                B[:, k] += np.bincount(at[e], weights=weight, minlength=len(B))
    ZZ = ZZ.reshape(n_rows, G, q, q)
    B = B.reshape(n_rows, G, q, K1)

    # latent-covariance pattern of each row: indices into the extended parameter vector
    phi_idx = np.full((n_rows, q, q), const0, dtype=np.int64)
    phi_idx[:, np.arange(q), np.arange(q)] = const1
    if E:
        lat_local = np.full((n_rows, q), -1, dtype=np.int64)
        lat_local[u_row, local] = u_lat
        n_lat = len(model.latent_table)
        phi = model.phi_table
        ok_pair = (lat_local[:, :, None] >= 0) & (lat_local[:, None, :] >= 0)
        phi_idx[ok_pair] = const0
        phi_idx[:, np.arange(q), np.arange(q)] = np.where(lat_local >= 0, const0, const1)
        groups = model.group_of(phi)
        pa, pb, pl = phi_arrays(model)
        row_group = (model.obs_group[np.flatnonzero(changes(row))]
                     if model.obs_group is not None else np.full(n_rows, -1))
        # entries for every group first, then those of each row's own group
        for g in [-1] + sorted(set(groups.tolist()) - {-1}):
            sel = groups == g
            rows_in = np.ones(n_rows, dtype=bool) if g == -1 else row_group == g
            _fill_phi(phi_idx, lat_local, rows_in, pa[sel], pb[sel], pl[sel], n_lat)
    # pools: identical pattern, cross-products and counts
    signature = np.concatenate([phi_idx.reshape(n_rows, -1).astype(float),
                                ZZ.reshape(n_rows, -1), nrg], axis=1)
    first, pool = unique_rows(signature)
    P = len(first)
    count = np.bincount(pool, weights=rw, minlength=P).astype(float)
    Cr = C.reshape(n_rows, -1) if rw is None else C.reshape(n_rows, -1) * rw[:, None]
    Cp = group_sums(pool, Cr, P).reshape(P, G, K1, K1)
    d = G * q * K1
    Bf = B.reshape(n_rows, d) if rw is None else B.reshape(n_rows, d) * np.sqrt(rw)[:, None]
    if P <= 64:
        Tp = np.empty((P, d, d))
        for p_ in range(P):
            sub = Bf[pool == p_]
            # einsum, not sub.T @ sub: a tall-thin BLAS product wakes idle OpenBLAS
            # threads and costs ~60 ms instead of ~0.3 ms (benchmarks/README.md)
            Tp[p_] = np.einsum("ri,rj->ij", sub, sub)
    else:
        Tp = group_sums(pool, np.einsum("ri,rj->rij", Bf, Bf).reshape(n_rows, d * d), P)
    Tp = Tp.reshape(P, G, q, K1, G, q, K1)
    return PoolStats(phi_idx=phi_idx[first], ZZ=ZZ[first], n=nrg[first], C=Cp, T=Tp,
                     count=count, resid_ids=resid_ids, n_coef=K1 - 1, coef_ids=coef_ids,
                     n_obs=n_obs, n_rows=n_rows, const0=const0, const1=const1,
                     basis=basis, n_weighted=weighting.n_weighted(model))
