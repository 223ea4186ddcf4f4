"""Statistics of the tree path: the latents of a top-level unit as a tree of small units.

In a nested design (pupils in schools in districts, waves in children in schools) the
random effects of one top-level unit are not one dense system. Group its latents into
*units* (a school's intercept and slope; latents joined by the latent covariance Phi,
or loaded by one observation at one level). Every observation loads on a *chain* of
units, one per level, each the parent of the next; so A = Z' Theta^-1 Z couples a unit
only with its ancestors and descendants, and the system

    I + Phi A        (Phi block diagonal over units)

factors from the leaves up with no fill beyond a unit's chain of ancestors (its *front*:
its own latents, then its parent's front). :mod:`.tree` does that elimination; here the
structure is found and the data summarised once per fit:

    A_g[u] = sum z z',   B_g[u] = sum z w'    over the observations of residual label g
                                             whose deepest unit is u, on u's front,
    C_g = W' P_g W,      n_g,

with W = [X, y]. Units that do not nest (crossed factors: a unit whose observations load
on several units of a higher level) merge those higher units into one; a crossed design
with a small second factor becomes one root unit holding that factor's latents, with the
larger factor's units below it. The units are classed by (depth, size, front size), so
each step of the elimination is one batched operation over a class, with no padding.
"""
from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .protocol import TREE, Capabilities
from ..model.coefficients import coefficient_design, fixed_offset
from ..model.pathmodel import PathModel
from .coefficient_basis import CoefficientBasis
from .sparse_stats import _phi_entries, _row_latents
from .tree_residuals import ResidualBlocks, attach, block_layout, block_statistics
from .stats import internal_design
from .unique_rows import unique_rows
from ..arrays import unique, unique_inverse

__all__ = ["TreeStats", "UnitLevel", "Route", "tree_statistics", "tree_structure",
           "TreeStructure", "MAX_FRONT"]

#: largest front (a unit's latents and those of its ancestors) the tree path takes
MAX_FRONT = 64
#: rounds of merging the higher units of crossed factors before giving up
MAX_MERGES = 50


@dataclass(frozen=True)
class Route:
    """The units of one class whose parents are in class ``to``: ``child`` (positions in
    their class, sorted by parent), ``of_child`` (the parent of each, a position in class
    ``to``), and the distinct parents ``parent`` with the ``starts`` of their segments."""

    to: int
    child: np.ndarray
    of_child: np.ndarray
    parent: np.ndarray
    starts: np.ndarray


@dataclass(frozen=True)
class UnitLevel:
    """The units of one class: same depth, ``b`` own latents, front of ``f`` latents.

    ``phi_lab`` (U, b, b): label rows of Phi on the own latents (``const0``: zero);
    ``A`` (G, U, f, f) and ``B`` (G, U, f, K1): the observations whose deepest unit is
    the unit, on its front; ``routes``: where the units' parents are (the Schur updates
    go up them, the chain's posterior moments come down them)."""

    depth: int
    b: int
    f: int
    phi_lab: np.ndarray
    A: np.ndarray
    B: np.ndarray
    routes: tuple[Route, ...]
    phi_patterns: np.ndarray   # (P, b, b) the distinct label patterns of phi_lab
    attached: bool             # some observations' deepest unit is in this class
    diagonal: bool = False     # Phi is diagonal in every unit (no covariance labels)

    @property
    def n_units(self) -> int:
        return int(self.phi_lab.shape[0])

    @cached_property
    def one_parent(self) -> tuple[int, int] | None:
        """(class, position) of the one parent all units share (a crossed design's root
        of the small factor), or None."""
        if len(self.routes) == 1 and len(self.routes[0].parent) == 1 \
                and len(self.routes[0].child) == self.n_units:
            return self.routes[0].to, int(self.routes[0].parent[0])
        return None


@dataclass(frozen=True)
class TreeStructure:
    """The unit tree of a model's latents (no data summaries): each global latent
    column's unit, each unit's parent (-1: a root) and depth, and its columns."""

    unit: np.ndarray          # (q,) unit of each global (row, latent) column
    parent: np.ndarray        # (n_units,) parent unit, -1 for roots
    depth: np.ndarray         # (n_units,)
    size: np.ndarray          # (n_units,) own latents
    front: np.ndarray         # (n_units,) front size (own + ancestors')
    # the columns it was found from (sparse_stats._row_latents, _phi_entries)
    Zs: sp.csr_matrix | None = None
    g_row: np.ndarray | None = None
    g_lat: np.ndarray | None = None
    entries: object = None
    #: residual blocks (:mod:`.tree_residuals`): their layout and each block's unit
    blocks: tuple | None = None

    @property
    def max_front(self) -> int:
        return int(self.front.max()) if len(self.front) else 0

    @property
    def work(self) -> float:
        """Floating-point work of one elimination, roughly: sum of front sizes cubed."""
        return float(np.sum(self.front.astype(float) ** 3))


@dataclass(frozen=True)
class TreeStats:
    """Everything one evaluation of the tree path needs (computed once per fit).
    ``classes`` are in elimination order (deepest first); roots are last."""

    capabilities: ClassVar[Capabilities] = TREE

    classes: tuple[UnitLevel, ...]
    C: np.ndarray            # (G, K1, K1)
    n: np.ndarray            # (G,) observations per residual label
    resid_ids: np.ndarray    # (G,) label rows of the residual variances
    n_coef: int
    coef_ids: np.ndarray
    n_obs: int
    n_rows: int
    n_labels: int
    basis: CoefficientBasis
    variance_labels: np.ndarray
    #: the unit tree and the columns it was found from (the identification check's Gram
    #: matrix reuses them)
    structure: TreeStructure | None = None
    #: observations joined by residual covariances, batched (:mod:`.tree_residuals`)
    blocks: tuple[ResidualBlocks, ...] = ()

    @property
    def const0(self) -> int:
        return self.n_labels


def _components(q: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    graph = sp.csr_matrix((np.ones(len(a)), (a, b)), shape=(q, q))
    return connected_components(graph, directed=False)[1]


def tree_structure(model: PathModel, Zs: sp.csr_matrix | None = None,
                   g_lat: np.ndarray | None = None, ent=None) -> TreeStructure | None:
    """The unit tree of the model's latents, or None when they do not form one within
    :data:`MAX_FRONT` (or the model has no random effects)."""
    g_row = None
    if Zs is None:
        Zs, g_row, g_lat = _row_latents(model)
        ent = _phi_entries(model, g_row, g_lat) if Zs.shape[1] else None
    q = Zs.shape[1]
    if not q:
        return None
    levels = list(model.data.hierarchy.levels)
    # (a list, not the arrow-string Series: iterating that costs 0.1-0.9 ms)
    code = {v: i for i, v in enumerate(levels)}
    lvl = np.array([code[v] for v in model.latents["level"].tolist()], np.int64)[g_lat]
    # each observation's columns, in CSR order
    obs_of = np.repeat(np.arange(Zs.shape[0]), np.diff(Zs.indptr))
    col = Zs.indices
    ea, eb = ent["a"].to_numpy(np.int64), ent["b"].to_numpy(np.int64)
    extra_a, extra_b = np.zeros(0, np.int64), np.zeros(0, np.int64)
    for _ in range(MAX_MERGES):
        # units: Phi's components, joined with columns one observation loads at one level
        order = np.lexsort((lvl[col], obs_of))
        o, c = obs_of[order], col[order]
        same = (o[1:] == o[:-1]) & (lvl[c[1:]] == lvl[c[:-1]])
        unit = _components(q, np.r_[ea, c[:-1][same], extra_a],
                           np.r_[eb, c[1:][same], extra_b])
        size = np.bincount(unit)
        if size.max() > MAX_FRONT:
            # a unit's front holds at least its own latents, and merging only joins
            # units: no tree (two large crossed factors end here, before more merging)
            return None
        n_units = len(size)
        ulvl = np.full(n_units, len(levels))
        np.minimum.at(ulvl, unit, lvl)
        # each observation's units, highest level first: consecutive ones are parent/child
        pairs = unique(obs_of * n_units + unit[col])
        po, pu = pairs // n_units, pairs % n_units
        srt = np.lexsort((ulvl[pu], po))
        po, pu = po[srt], pu[srt]
        link = po[1:] == po[:-1]
        child, par = pu[1:][link], pu[:-1][link]
        cp = unique(child.astype(np.int64) * n_units + par)
        child, par = cp // n_units, cp % n_units
        multi = np.flatnonzero(child[1:] == child[:-1])
        if not len(multi):
            break
        # a unit under several higher units (crossed factors): merge those into one
        first_col = np.full(n_units, -1)
        first_col[unit[::-1]] = np.arange(q)[::-1]
        extra_a = np.r_[extra_a, first_col[par[multi]]]
        extra_b = np.r_[extra_b, first_col[par[multi + 1]]]
    else:
        return None
    parent = np.full(n_units, -1)
    parent[child] = par
    depth = np.zeros(n_units, np.int64)
    for _ in range(len(levels) + 1):
        has = parent >= 0
        new = np.where(has, depth[np.maximum(parent, 0)] + 1, 0)
        if np.array_equal(new, depth):
            break
        depth = new
    else:
        return None
    if np.any(has & (ulvl[np.maximum(parent, 0)] >= ulvl)):
        return None                        # a parent not above its child: no tree
    size = np.bincount(unit, minlength=n_units)
    front = size.copy()
    for d in range(1, int(depth.max()) + 1):
        at = depth == d
        front[at] = size[at] + front[parent[at]]
    if front.max() > MAX_FRONT:
        return None
    blocks = None
    layout = block_layout(model)
    if layout is not None:
        att = attach(layout, _deepest(Zs, unit, depth), depth, parent)
        if att is None:
            return None                    # residual covariances across branches
        blocks = (layout, att)
    return TreeStructure(unit=unit, parent=parent, depth=depth, size=size, front=front,
                         Zs=Zs, g_row=g_row, g_lat=g_lat, entries=ent, blocks=blocks)


def _deepest(Zs: sp.csr_matrix, unit: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """The deepest unit each observation loads on (-1: none)."""
    n_obs = Zs.shape[0]
    obs_of = np.repeat(np.arange(n_obs), np.diff(Zs.indptr))
    u_col = unit[Zs.indices]
    deepest = np.full(n_obs, -1)
    dmax = np.full(n_obs, -1)
    np.maximum.at(dmax, obs_of, depth[u_col])
    at = depth[u_col] == dmax[obs_of]
    deepest[obs_of[at]] = u_col[at]
    return deepest


def tree_statistics(model: PathModel, structure: TreeStructure | None = None) -> TreeStats:
    """Compute (once per fit) the statistics of the tree path."""
    data = model.data
    n_lab = len(model.label_table)
    const0 = n_lab
    Xt, coef_ids = coefficient_design(model)
    W, basis = internal_design(Xt, data.y - fixed_offset(model))
    K1 = W.shape[1]
    res = model.resid_of_obs()
    resid_ids, g_of_obs = unique_inverse(res)
    G = len(resid_ids)
    if structure is not None and structure.Zs is not None:
        Zs, g_lat, ent = structure.Zs, structure.g_lat, structure.entries
    else:
        Zs, g_row, g_lat = _row_latents(model)
        ent = _phi_entries(model, g_row, g_lat) if Zs.shape[1] else None
    q = Zs.shape[1]
    tree = structure or tree_structure(model, Zs, g_lat, ent)
    if tree is None:
        raise ValueError("the random effects of this model do not form a tree of small "
                         f"units (fronts of at most {MAX_FRONT} latents), or its residual "
                         "covariances join observations of different branches: use "
                         "another path")
    if len(model.theta_table) and tree.blocks is None:
        raise ValueError("this tree was found without the model's residual covariances")
    # observations in residual blocks enter per evaluation (tree_residuals), not here
    blocked = (tree.blocks[0].block >= 0) if tree.blocks is not None else \
        np.zeros(data.n_obs, bool)
    C = np.zeros((G, K1, K1))
    n = np.bincount(g_of_obs[~blocked], minlength=G).astype(float)
    for g in range(G):
        Wg = W[(g_of_obs == g) & ~blocked]
        C[g] = Wg.T @ Wg
    unit, parent, depth = tree.unit, tree.parent, tree.depth
    n_units = len(parent)
    # own columns of each unit, in column order; class key (depth, b, f)
    by_unit = np.argsort(unit, kind="stable")
    starts = np.r_[0, np.cumsum(tree.size)]
    pos_in_unit = np.empty(q, np.int64)
    pos_in_unit[by_unit] = np.arange(q) - starts[unit[by_unit]]
    keys = np.stack([-depth, tree.size, tree.front], axis=1)
    first, cls = unique_rows(keys)
    ukeys = keys[first]
    n_cls = len(ukeys)
    idx_in_cls = np.empty(n_units, np.int64)
    for k in range(n_cls):
        members = np.flatnonzero(cls == k)
        idx_in_cls[members] = np.arange(len(members))
    # the front position of a column in a unit's front: own first, then the parent's front
    # offset of each ancestor's own block within the front of a unit
    obs_of = np.repeat(np.arange(data.n_obs), np.diff(Zs.indptr))
    col, zval = Zs.indices, Zs.data
    u_col = unit[col]
    # the unit each observation attaches to: its deepest, or its residual block's
    deepest = _deepest(Zs, unit, depth)
    if tree.blocks is not None:
        layout, block_unit = tree.blocks
        deepest = np.where(blocked, block_unit[np.maximum(layout.block, 0)], deepest)
    # offset of column's unit within the attached unit's front: sum of sizes of the units
    # on the chain below it (walk up from the attached unit)
    att = deepest[obs_of]
    offset = np.zeros(len(col), np.int64)
    cur = att.copy()
    done = cur == u_col
    for _ in range(int(depth.max()) + 1):
        if done.all():
            break
        offset[~done] += tree.size[cur[~done]]
        cur[~done] = parent[cur[~done]]
        done = cur == u_col
    fpos = offset + pos_in_unit[col]
    # per class statistics
    classes: list[UnitLevel] = []
    ent_a = ent["a"].to_numpy(np.int64)
    ent_b = ent["b"].to_numpy(np.int64)
    ent_l = ent["label"].to_numpy(np.int64)
    g_entry = g_of_obs[obs_of]
    for k in range(n_cls):
        d_, b, f = -int(ukeys[k][0]), int(ukeys[k][1]), int(ukeys[k][2])
        members = np.flatnonzero(cls == k)
        U = len(members)
        phi_lab = np.full((U, b, b), const0, dtype=np.int64)
        sel = cls[unit[ent_a]] == k
        ua = idx_in_cls[unit[ent_a[sel]]]
        ia, ib = pos_in_unit[ent_a[sel]], pos_in_unit[ent_b[sel]]
        phi_lab[ua, ia, ib] = ent_l[sel]
        phi_lab[ua, ib, ia] = ent_l[sel]
        # observations attached to this class's units
        e_sel = (cls[att] == k) & ~blocked[obs_of]
        A = np.zeros((G, U, f, f))
        B = np.zeros((G, U, f, K1))
        if e_sel.any():
            e_idx = np.flatnonzero(e_sel)
            eo, eu = obs_of[e_idx], idx_in_cls[att[e_idx]]
            ep, ez, eg = fpos[e_idx], zval[e_idx], g_entry[e_idx]
            # pairs of entries of one observation
            ptr = np.flatnonzero(np.r_[True, eo[1:] != eo[:-1], True])
            cnt = np.diff(ptr)
            rep = np.repeat(cnt, cnt)
            first = np.repeat(np.arange(len(eo)), rep)
            grp_start = np.repeat(ptr[:-1], cnt)
            second = np.repeat(grp_start, rep) + (np.arange(len(first))
                                                  - np.repeat(np.cumsum(rep) - rep, rep))
            lin = ((eg[first] * U + eu[first]) * f + ep[first]) * f + ep[second]
            A = np.bincount(lin, weights=ez[first] * ez[second],
                            minlength=G * U * f * f).reshape(G, U, f, f)
            linb = ((eg * U + eu) * f + ep)
            Wz = W[eo] * ez[:, None]
            B = np.stack([np.bincount(linb, weights=Wz[:, j], minlength=G * U * f)
                          for j in range(K1)], axis=-1).reshape(G, U, f, K1)
        patterns = phi_lab[unique_rows(phi_lab.reshape(U, b * b))[0]]
        off = ~np.eye(b, dtype=bool)
        classes.append(UnitLevel(depth=d_, b=b, f=f, phi_lab=phi_lab, A=A, B=B,
                                 routes=_routes(parent[members], cls, idx_in_cls),
                                 phi_patterns=patterns, attached=bool(e_sel.any()),
                                 diagonal=bool(np.all(patterns[:, off] == const0))))
    blocks: tuple[ResidualBlocks, ...] = ()
    if tree.blocks is not None:
        blocks = block_statistics(tree.blocks[0], tree.blocks[1], res, W, obs_of, fpos,
                                  zval, cls, idx_in_cls, [c.f for c in classes], const0)
    var_labels = unique(np.r_[resid_ids, ent_l, model.theta["label"].to_numpy(np.int64)])
    return TreeStats(classes=tuple(classes), C=C, n=n, resid_ids=resid_ids,
                     n_coef=K1 - 1, coef_ids=coef_ids, n_obs=data.n_obs,
                     n_rows=data.n_rows, n_labels=n_lab, basis=basis,
                     variance_labels=var_labels[var_labels < n_lab],
                     structure=replace(tree, Zs=Zs, entries=ent), blocks=blocks)


def _routes(par: np.ndarray, cls: np.ndarray, idx_in_cls: np.ndarray) -> tuple[Route, ...]:
    """The routes of a class's units with parents ``par`` (global units, -1: none),
    grouped by the class of the parent and sorted by the parent within it."""
    has = np.flatnonzero(par >= 0)
    routes = []
    for k in unique(cls[par[has]]):
        kids = has[cls[par[has]] == k]
        p = idx_in_cls[par[kids]]
        order = np.argsort(p, kind="stable")
        kids, p = kids[order], p[order]
        starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        routes.append(Route(to=int(k), child=kids, of_child=p, parent=p[starts],
                            starts=starts))
    return tuple(routes)
