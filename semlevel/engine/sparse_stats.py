"""Statistics of the sparse (blocked) path: every row's latents in one q x q system.

For crossed designs (``|| _all: R.s || d:``) a row holds thousands of latents and the
pooled statistics (outer products of q x K1 blocks) would not fit in memory. Here all
rows are stacked into one system (the rows' latents are independent, so the system is
block diagonal across rows) and only what one evaluation needs is kept:

    A_g = Z' P_g Z (sparse),  B_g = Z' P_g W,  C_g = W' P_g W,  n_g,

for each residual label g, with W = [X, y]. The latents are split into two blocks
(the approach published for MixedModels.jl): block 1 holds *units*, small sets of
latents that are connected by the latent covariance Phi but not, through A, to any other
unit of block 1 (an ``R.s`` level; a group's intercept and slope), so that the block-1
part of the system is block diagonal; block 2 holds the rest and is treated as dense.
The units of block 1 are classed by size; the coupling A_12 is kept as (block-2 latent,
unit) pairs.
"""
from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .protocol import SPARSE, Capabilities
from ..model.pathmodel import PathModel
from .coefficient_basis import CoefficientBasis
from ..model.coefficients import coefficient_design, fixed_offset
from .stats import internal_design
from ..arrays import same_row_pairs, unique

__all__ = ["SparseStats", "UnitClass", "sparse_statistics", "MAX_UNIT", "MAX_DENSE",
           "MAX_SCHUR_MAP"]

#: largest unit (latents joined by Phi) placed in the block-diagonal block
MAX_UNIT = 8
#: largest dense block (latents not in units); beyond it the model is refused
MAX_DENSE = 6000
#: largest number of stored entries of the precomputed Schur-correction maps
MAX_SCHUR_MAP = 4e7


@dataclass(frozen=True)
class UnitClass:
    """The block-1 units of one size ``b``."""

    lat: np.ndarray        # (U, b) global latent of each unit position
    phi_lab: np.ndarray    # (U, b, b) label index (extended vector) of Phi's entries
    A11: np.ndarray        # (G, U, b, b)
    B1: np.ndarray         # (G, U, b, K1)
    pair_row: np.ndarray   # (n_pairs,) block-2 position of each coupling pair
    pair_unit: np.ndarray  # (n_pairs,) unit of each coupling pair (sorted by unit)
    A12: np.ndarray        # (G, n_pairs, b) coupling values A[block-2 latent, unit]
    # units of one latent (b = 1): the Schur correction sum_u c_u a_g(i,u) a_h(j,u) is
    # linear in the per-unit weights c, so its (q2*q2 x U) maps are formed once
    schur_maps: dict | None = None   # (g, h) with g <= h -> sparse (CSC) matrix
    A12_csr: list | None = None      # per g: sparse (q2 x U) coupling matrix
    #: the maps fill only the correction's lower triangle (i >= j; one residual label:
    #: the Schur block is symmetric and its Cholesky factor reads that triangle only)
    schur_lower: bool = False

    @property
    def size(self) -> int:
        return int(self.lat.shape[1])

    @property
    def n_units(self) -> int:
        return int(self.lat.shape[0])


@dataclass(frozen=True)
class SparseStats:
    """Everything one evaluation of the sparse path needs (computed once per fit)."""

    capabilities: ClassVar[Capabilities] = SPARSE

    classes: list[UnitClass]
    phi2_lab: np.ndarray   # (q2, q2) label index of Phi in block 2 (const0: zero)
    phi2_diagonal: bool    # Phi_22 is diagonal (then its factor is its square root)
    A22: np.ndarray        # (G, q2, q2) dense
    B2: np.ndarray         # (G, q2, K1)
    C: np.ndarray          # (G, K1, K1)
    n: np.ndarray          # (G,) observations per residual label
    resid_ids: np.ndarray  # (G,) label rows of the residual variances
    n_coef: int
    coef_ids: np.ndarray
    n_obs: int
    n_rows: int
    n_labels: int
    n_latents: int         # latents of all rows together (q)
    basis: CoefficientBasis  # coordinates of the coefficients (stats.internal_design)


    @property
    def const0(self) -> int:
        return self.n_labels

    @property
    def const1(self) -> int:
        return self.n_labels + 1

    @property
    def q2(self) -> int:
        return int(self.phi2_lab.shape[0])

    @cached_property
    def variance_labels(self) -> np.ndarray:
        """Label rows that enter the covariance (residual and latent labels)."""
        parts = [self.resid_ids, self.phi2_lab.ravel()] + [c.phi_lab.ravel()
                                                           for c in self.classes]
        labs = unique(np.concatenate(parts))
        return labs[labs < self.n_labels]


def _row_latents(model: PathModel):
    """Loadings as a sparse n_obs x q matrix over the (row, latent) pairs, and each
    column's row and model latent."""
    data = model.data
    E = model.Z.shape[1]
    if not E:
        return sp.csr_matrix((data.n_obs, 0)), np.zeros(0, np.int64), np.zeros(0, np.int64)
    lat = model.effect_latent[data.slot]
    nz = model.Z.ravel() != 0
    n_lat = len(model.latent_table)
    keys = np.repeat(data.row, E)[nz] * n_lat + lat.ravel()[nz]
    uniq, col = np.unique(keys, return_inverse=True)
    Zs = sp.csr_matrix((model.Z.ravel()[nz], (np.repeat(np.arange(data.n_obs), E)[nz], col)),
                       shape=(data.n_obs, len(uniq)))
    return Zs, uniq // n_lat, uniq % n_lat


def _phi_entries(model: PathModel, g_row: np.ndarray, g_lat: np.ndarray) -> pd.DataFrame:
    """Phi's entries between the (row, latent) columns: global a <= b and label.

    For every entry (a, b) of ``model.phi``, every row holding both latents gives one
    entry between its two columns; an entry of a group applies only to rows of that
    group, and overrides the every-group entry of the same pair."""
    n_lat = max(len(model.latent_table), 1)
    pa = model.phi["a"].to_numpy(np.int64)
    pb = model.phi["b"].to_numpy(np.int64)
    plab = model.phi["label"].to_numpy(np.int64)
    pgroup = np.asarray(model.group_of(model.phi), dtype=np.int64)
    # a column of latent a, and the same row's column of latent b
    ga, gb, entry = same_row_pairs(g_row, g_lat, pa, pb, n_lat)
    group = pgroup[entry]
    if model.obs_group is not None:
        first = np.flatnonzero(np.r_[True, model.data.row[1:] != model.data.row[:-1]])
        rgroup = model.obs_group[first][g_row[ga]]
    else:
        rgroup = np.full(len(ga), -1)
    keep = (group == -1) | (group == rgroup)
    ga, gb, entry, group = ga[keep], gb[keep], entry[keep], group[keep]
    # a row's own-group entry overrides the every-group one for the same pair
    order = np.lexsort((group, gb, ga))
    ga, gb, entry = ga[order], gb[order], entry[order]
    last = np.r_[(ga[1:] != ga[:-1]) | (gb[1:] != gb[:-1]), True] if len(ga) else \
        np.zeros(0, bool)
    return pd.DataFrame({"a": ga[last], "b": gb[last], "label": plab[entry[last]]})


def _units(q: int, ent: pd.DataFrame) -> np.ndarray:
    """Unit (connected component of Phi's pattern) of each latent."""
    off = ent[ent["a"] != ent["b"]]
    graph = sp.csr_matrix((np.ones(len(off)), (off["a"], off["b"])), shape=(q, q))
    return connected_components(graph, directed=False)[1]


def _block_one(model: PathModel, unit: np.ndarray, A: sp.csr_matrix, g_lat: np.ndarray
               ) -> np.ndarray:
    """Units placed in block 1: whole terms (latents of one random-effects equation), the
    largest first, whose small units are joined by A neither among themselves nor to the
    units already chosen."""
    size = np.bincount(unit)
    coo = A.tocoo()
    cross = unit[coo.row] != unit[coo.col]
    ua, ub = unit[coo.row[cross]], unit[coo.col[cross]]
    eq_of_unit = np.full(len(size), -1)
    eq_of_unit[unit] = model.latents["equation"].to_numpy()[g_lat]
    chosen = np.zeros(len(size), dtype=bool)
    terms = pd.Series(size).groupby(eq_of_unit).sum().sort_values(ascending=False)
    for eq in terms.index:
        members = eq_of_unit == eq
        if size[members].max() > MAX_UNIT:
            continue
        trial = chosen | members
        if np.any(trial[ua] & trial[ub]):
            continue
        chosen = trial
    return chosen


def sparse_statistics(model: PathModel) -> SparseStats:
    """Compute (once per fit) the statistics of the sparse path."""
    if len(model.theta_table):
        raise ValueError("the sparse path needs independent residuals (no residual "
                         "covariances)")
    data = model.data
    n_lab = len(model.label_table)
    const0 = n_lab                      # the constant 0 of the extended vector
    Xt, coef_ids = coefficient_design(model)
    W, basis = internal_design(Xt, data.y - fixed_offset(model))
    K1 = W.shape[1]
    resid_ids, g_of_obs = np.unique(model.resid_of_obs(), return_inverse=True)
    G = len(resid_ids)
    Zs, g_row, g_lat = _row_latents(model)
    q = Zs.shape[1]
    Zc = Zs.tocsc()
    A_g, B_g, C, n = [], [], np.zeros((G, K1, K1)), np.zeros(G)
    for g in range(G):
        m = (g_of_obs == g).astype(float)
        Zm = sp.diags(m) @ Zs
        A_g.append((Zc.T @ Zm).tocsr())
        B_g.append(np.asarray(Zc.T @ (W * m[:, None])))
        C[g] = (W * m[:, None]).T @ W
        n[g] = m.sum()
    ent = _phi_entries(model, g_row, g_lat) if q else pd.DataFrame(
        {"a": [], "b": [], "label": []}, dtype=np.int64)
    unit = _units(q, ent) if q else np.zeros(0, np.int64)
    A_all = sum(A_g[1:], A_g[0]) if q else sp.csr_matrix((0, 0))
    in1_unit = _block_one(model, unit, A_all, g_lat) if q else np.zeros(0, bool)
    in1 = in1_unit[unit] if q else np.zeros(0, bool)
    lat2 = np.flatnonzero(~in1)
    q2 = len(lat2)
    if q2 > MAX_DENSE:
        raise ValueError(
            f"the model has {q2} latents that do not form small separate blocks (the "
            f"sparse path factors them densely, up to {MAX_DENSE}); put the factor with the "
            "most levels first or simplify the random-effects structure")
    pos2 = np.full(q, -1)
    pos2[lat2] = np.arange(q2)
    # Phi entries as a symmetric label pattern
    a, b, lab = (ent["a"].to_numpy(np.int64), ent["b"].to_numpy(np.int64),
                 ent["label"].to_numpy(np.int64))
    phi2 = np.full((q2, q2), const0, dtype=np.int64)
    sel = ~in1[a] if q else np.zeros(0, bool)
    phi2[pos2[a[sel]], pos2[b[sel]]] = lab[sel]
    phi2[pos2[b[sel]], pos2[a[sel]]] = lab[sel]
    phi2_diag = bool(np.all(a[sel] == b[sel]))
    A22 = np.stack([Ag[lat2][:, lat2].toarray() for Ag in A_g]) if G else np.zeros((0, q2, q2))
    B2 = np.stack([Bg[lat2] for Bg in B_g])
    classes = []
    units1 = unique(unit[in1])
    sizes = np.bincount(unit)[units1]
    for bsize in unique(sizes):
        cls_units = units1[sizes == bsize]
        U = len(cls_units)
        members = np.flatnonzero(np.isin(unit, cls_units))
        order = np.lexsort((members, unit[members]))       # by unit, then latent
        lat = members[order].reshape(U, bsize)
        slot_of = np.full(q, -1)
        slot_of[lat.ravel()] = np.tile(np.arange(bsize), U)
        unit_pos = np.full(q, -1)
        unit_pos[lat.ravel()] = np.repeat(np.arange(U), bsize)
        phi_lab = np.full((U, bsize, bsize), const0, dtype=np.int64)
        s1 = in1[a] & (unit_pos[a] >= 0) if q else np.zeros(0, bool)
        u_, i_, j_ = unit_pos[a[s1]], slot_of[a[s1]], slot_of[b[s1]]
        phi_lab[u_, i_, j_] = lab[s1]
        phi_lab[u_, j_, i_] = lab[s1]
        flat = lat.ravel()
        A11 = np.stack([_unit_blocks(Ag, lat) for Ag in A_g])
        B1 = np.stack([Bg[flat].reshape(U, bsize, K1) for Bg in B_g])
        # coupling pairs (block-2 latent, unit) with their b values
        cols = sp.csr_matrix((np.ones(len(flat)), (flat, np.arange(len(flat)))),
                             shape=(q, len(flat)))
        A12_full = [(Ag[lat2] @ cols).tocoo() if q2 else None for Ag in A_g]
        keys = unique(np.concatenate(
            [c.row * U + c.col // bsize for c in A12_full if c is not None and c.nnz]
            or [np.zeros(0, np.int64)]))
        pair_row, pair_unit = keys // U, keys % U
        order = np.lexsort((pair_row, pair_unit))
        pair_row, pair_unit = pair_row[order], pair_unit[order]
        key_sorted = pair_unit * max(q2, 1) + pair_row
        A12 = np.zeros((G, len(keys), bsize))
        for g, c in enumerate(A12_full):
            if c is None or not c.nnz:
                continue
            k_ = (c.col // bsize) * max(q2, 1) + c.row
            A12[g, np.searchsorted(key_sorted, k_), c.col % bsize] = c.data
        maps, csr = (_schur_maps(A12[:, :, 0], pair_row, pair_unit, q2, U)
                     if bsize == 1 and len(pair_row) else (None, None))
        classes.append(UnitClass(lat=lat, phi_lab=phi_lab, A11=A11, B1=B1,
                                 pair_row=pair_row, pair_unit=pair_unit, A12=A12,
                                 schur_maps=maps, A12_csr=csr,
                                 schur_lower=maps is not None and G == 1))
    return SparseStats(classes=classes, phi2_lab=phi2, phi2_diagonal=phi2_diag, A22=A22,
                       B2=B2, C=C, n=n, resid_ids=resid_ids, n_coef=K1 - 1,
                       coef_ids=coef_ids, n_obs=data.n_obs, n_rows=data.n_rows,
                       n_labels=n_lab, n_latents=q, basis=basis)


def _unit_blocks(A: sp.csr_matrix, lat: np.ndarray) -> np.ndarray:
    """The (U, b, b) diagonal blocks of A on the units' latents."""
    U, b = lat.shape
    out = np.empty((U, b, b))
    for i in range(b):
        for j in range(b):
            out[:, i, j] = np.asarray(A[lat[:, i], lat[:, j]]).ravel()
    return out


def _schur_maps(a: np.ndarray, pair_row: np.ndarray, pair_unit: np.ndarray, q2: int, U: int):
    """For units of one latent: matrices mapping per-unit weights c (U,) to the flattened
    q2 x q2 correction sum_u c_u a_g(i,u) a_h(j,u), one per residual-label pair g <= h;
    None when they would be too large (the product is then formed at each evaluation)."""
    G = a.shape[0]
    csr = [sp.csr_matrix((a[g], (pair_row, pair_unit)), shape=(q2, U)) for g in range(G)]
    starts = np.flatnonzero(np.r_[True, pair_unit[1:] != pair_unit[:-1]])
    counts = np.diff(np.r_[starts, len(pair_unit)])
    size = float((counts.astype(float) ** 2).sum()) * G * (G + 1) / 2
    if size > MAX_SCHUR_MAP:
        return None, csr
    # all ordered pairs (p, p') of coupling pairs within each unit
    rep = np.repeat(counts, counts)                      # for each pair p: its unit's count
    p_first = np.repeat(np.arange(len(pair_unit)), rep)
    offs = np.arange(len(p_first)) - np.repeat(np.cumsum(rep) - rep, rep)
    p_second = np.repeat(starts, counts)[np.repeat(np.arange(len(pair_unit)), rep)] + offs
    if G == 1:
        # one residual label: the correction is symmetric; its lower triangle suffices
        # (UnitClass.schur_lower), half the map and half the work of each evaluation
        low = pair_row[p_first] >= pair_row[p_second]
        p_first, p_second = p_first[low], p_second[low]
    # by columns (units; the pairs are sorted by unit and no entry repeats within one): a
    # product with them scatters each unit's entries, where by rows it would pass over
    # all q2^2 rows, most of them empty (InstEval's shape: 1.4 against 5.3 ms)
    rows = (pair_row[p_first] * q2 + pair_row[p_second]).astype(np.int64)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pair_unit[p_first], minlength=U))])
    maps = {}
    for g in range(G):
        for h in range(g, G):
            maps[(g, h)] = sp.csc_matrix((a[g][p_first] * a[h][p_second], rows, indptr),
                                         shape=(q2 * q2, U))
    return maps, csr
