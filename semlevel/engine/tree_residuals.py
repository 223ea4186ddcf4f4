"""Residual covariances on the tree path: observations joined by a residual structure
(a child's waves with AR(1) errors, an exchangeable or unstructured block) as *blocks*.

With Theta block diagonal over blocks b (observations linked by residual covariances
within a row), Z' Theta^-1 Z and Z' Theta^-1 W are sums over blocks. When every
observation of a block loads only on the front of one unit (the block's deepest unit:
the other observations' units are its ancestors), the block adds, at each evaluation,

    Ã_u += Z_b' R_b^-1 Z_b,   B̃_u += Z_b' R_b^-1 W_b,   W' Sigma^-1 W gets W_b' R_b^-1 W_b,
    log|Sigma| += log|R_b|

to that unit's front before the elimination (:mod:`.tree`), which is otherwise unchanged.
On the way down the unit's posterior covariance K and means m give the block's part of
the gradient,

    G_b = R^-1 - R^-1 Z K Z' R^-1 - R^-1 (W - Z m) Gamma (W - Z m)' R^-1,

summed into the labels of R_b's entries (its block of Sigma^-1 - Sigma^-1 W Gamma W'
Sigma^-1). Blocks are batched by (class of their unit, size); R_b's entries are label
indices, so R_b is formed by indexing the values and stays analytic for complex steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..model.pathmodel import PathModel
from .unique_rows import unique_rows
from ..arrays import same_row_pairs, unique, unique_inverse

__all__ = ["ResidualBlocks", "BlockLayout", "block_layout", "block_statistics",
           "add_blocks", "block_gradient"]


@dataclass(frozen=True)
class BlockLayout:
    """Which observations form residual blocks: ``block`` (n_obs,) the block of each
    observation (-1: none, its error independent of all others) and the residual
    covariances between observations (``a`` < ``b`` observations, ``label``)."""

    block: np.ndarray
    a: np.ndarray
    b: np.ndarray
    label: np.ndarray

    @property
    def n_blocks(self) -> int:
        return int(self.block.max()) + 1 if len(self.block) else 0


@dataclass(frozen=True)
class ResidualBlocks:
    """Blocks of ``n`` observations whose units are in class ``cls``: ``unit`` (nb,)
    positions in the class, ``Z`` (nb, n, f) their loadings on the unit's front, ``W``
    (nb, n, K1) their rows of [X, y], ``lab`` (nb, n, n) the label of every entry of
    R_b (the constant zero off the structure); ``unique``: no unit has two blocks.
    Blocks of one label pattern (children observed at the same waves) share R_b, so it
    is factored once per pattern: ``patterns`` (P, n, n), ``pattern_of`` (nb,)."""

    cls: int
    unit: np.ndarray
    Z: np.ndarray
    W: np.ndarray
    lab: np.ndarray
    unique: bool
    patterns: np.ndarray
    pattern_of: np.ndarray


def block_layout(model: PathModel) -> BlockLayout | None:
    """The residual blocks of a model with residual covariances (``model.theta``), or
    None when it has none. A covariance (s, t) of the table joins the observations of
    slots s and t of every row holding both (of its group, for a ``group`` row)."""
    theta = model.theta
    if not len(theta):
        return None
    data = model.data
    n_slots = int(data.slot.max()) + 1 if data.n_obs else 0
    t_s = theta["s"].to_numpy(np.int64)
    t_t = theta["t"].to_numpy(np.int64)
    t_l = theta["label"].to_numpy(np.int64)
    t_g = np.asarray(model.group_of(theta), dtype=np.int64)
    og = model.obs_group if model.obs_group is not None else np.full(data.n_obs, -1)
    # for each covariance, the observations of slot s and the same row's of slot t
    oa, ob, entry = same_row_pairs(data.row, data.slot, t_s, t_t, n_slots)
    g = t_g[entry]
    keep = (g == -1) | ((og[oa] == g) & (og[ob] == g))
    oa, ob, lab, g = oa[keep], ob[keep], t_l[entry[keep]], g[keep]
    # a group's entry overrides the every-group entry of the same pair (as for phi)
    pair = np.minimum(oa, ob) * data.n_obs + np.maximum(oa, ob)
    srt = np.lexsort((-g, pair))
    first = np.r_[True, pair[srt][1:] != pair[srt][:-1]]
    sel = srt[first]
    a, b, lab = np.minimum(oa, ob)[sel], np.maximum(oa, ob)[sel], lab[sel]
    # blocks: connected observations (the rest are blocks of one: -1)
    n = data.n_obs
    graph = sp.csr_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    comp = connected_components(graph, directed=False)[1]
    size = np.bincount(comp)
    multi = size[comp] > 1
    block = np.full(n, -1, np.int64)
    block[multi] = unique_inverse(comp[multi])[1]
    return BlockLayout(block=block, a=a, b=b, label=lab)


def attach(layout: BlockLayout, deepest: np.ndarray, depth: np.ndarray,
           parent: np.ndarray) -> np.ndarray | None:
    """The unit each block attaches to: the deepest unit of its observations, provided
    every other observation's deepest unit is an ancestor of it (else None: the block
    spans branches of the tree). ``deepest`` (n_obs,): each observation's deepest unit."""
    blk = layout.block
    inb = np.flatnonzero(blk >= 0)
    u = deepest[inb]
    if np.any(u < 0):
        return None                       # an observation loading on no latent
    nb = layout.n_blocks
    dmax = np.full(nb, -1)
    np.maximum.at(dmax, blk[inb], depth[u])
    top = depth[u] == dmax[blk[inb]]
    att = np.full(nb, -1)
    att[blk[inb][top]] = u[top]
    # two different deepest units of one depth: not one chain
    if np.any(u[top] != att[blk[inb][top]]):
        return None
    cur = att[blk[inb]]
    for _ in range(int(depth.max()) + 2):
        done = cur == u
        if done.all():
            return att
        if np.any(cur[~done] < 0):
            return None                   # walked past a root without meeting it
        cur = np.where(done, cur, parent[np.maximum(cur, 0)])
    return None


def block_statistics(layout: BlockLayout, att: np.ndarray, res: np.ndarray,
                     W: np.ndarray, obs_of: np.ndarray, fpos: np.ndarray,
                     zval: np.ndarray, cls_of_unit: np.ndarray, idx_in_cls: np.ndarray,
                     fronts: list[int], const0: int) -> tuple[ResidualBlocks, ...]:
    """The blocks batched by (class of their unit, size). ``res``: the residual-variance
    label of each observation; ``obs_of``, ``fpos``, ``zval``: the loadings' entries
    (observation, position in the front of the observation's block unit, value)."""
    blk = layout.block
    inb = np.flatnonzero(blk >= 0)
    bsize = np.bincount(blk[inb], minlength=layout.n_blocks)
    # position of each observation in its block (blocks' observations in order)
    srt = inb[np.argsort(blk[inb], kind="stable")]
    starts = np.r_[0, np.cumsum(bsize)]
    pos_in = np.empty(len(blk), np.int64)
    pos_in[srt] = np.arange(len(srt)) - starts[blk[srt]]
    bcls = cls_of_unit[att]
    key = bcls * (int(bsize.max()) + 1) + bsize
    batch_keys, batch_of = unique_inverse(key)       # each block's batch
    # the loadings' entries, observations and covariances of blocks, each grouped by
    # its block's batch once (not searched again for every batch)
    e_all = np.flatnonzero(blk[obs_of] >= 0)
    e_by = _grouped(batch_of[blk[obs_of[e_all]]], len(batch_keys))
    o_by = _grouped(batch_of[blk[srt]], len(batch_keys))
    p_by = _grouped(batch_of[blk[layout.a]], len(batch_keys))
    where = np.empty(layout.n_blocks, np.int64)      # a block's position in its batch
    out = []
    for k in range(len(batch_keys)):
        members = np.flatnonzero(batch_of == k)      # blocks of this batch
        c, n = int(bcls[members[0]]), int(bsize[members[0]])
        f = fronts[c]
        nb = len(members)
        where[members] = np.arange(nb)
        Z = np.zeros((nb, n, f))
        e = e_all[e_by[k]]
        np.add.at(Z, (where[blk[obs_of[e]]], pos_in[obs_of[e]], fpos[e]), zval[e])
        obs = np.empty((nb, n), np.int64)
        o = srt[o_by[k]]
        obs[where[blk[o]], pos_in[o]] = o
        lab = np.full((nb, n, n), const0, np.int64)
        lab[:, np.arange(n), np.arange(n)] = res[obs]
        p = p_by[k]
        bi, ia, ib = where[blk[layout.a[p]]], pos_in[layout.a[p]], pos_in[layout.b[p]]
        lab[bi, ia, ib] = layout.label[p]
        lab[bi, ib, ia] = layout.label[p]
        unit = idx_in_cls[att[members]]
        first, pattern_of = unique_rows(lab.reshape(nb, n * n))
        out.append(ResidualBlocks(cls=c, unit=unit, Z=Z, W=W[obs], lab=lab,
                                  unique=len(unique(unit)) == len(unit),
                                  patterns=lab[first], pattern_of=pattern_of))
    return tuple(out)


def _grouped(group: np.ndarray, n_groups: int) -> list[np.ndarray]:
    """The positions of each group's members (``group`` holds each element's group)."""
    order = np.argsort(group, kind="stable")
    cuts = np.searchsorted(group[order], np.arange(n_groups + 1))
    return [order[cuts[k]:cuts[k + 1]] for k in range(n_groups)]


def _inverse_logdet(R: np.ndarray):
    """R^-1 and log|R| of each of a stack of residual blocks; None if one is not
    positive definite (the values are not admissible)."""
    try:
        L = np.linalg.cholesky(R.real)
    except np.linalg.LinAlgError:
        return None
    logdet = 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)
    if np.iscomplexobj(R):
        return np.linalg.inv(R), logdet
    eye = np.broadcast_to(np.eye(R.shape[1]), R.shape)
    Linv = np.linalg.solve(L, eye)
    return np.swapaxes(Linv, 1, 2) @ Linv, logdet


def add_blocks(blocks: tuple[ResidualBlocks, ...], ext: np.ndarray, At: list, Bt: list,
               S: np.ndarray):
    """Add every block's precision to its unit's front (in place in ``At``, ``Bt``);
    returns (log|R| summed, S with W_b' R^-1 W_b added, what the gradient needs), or None
    where a block's R is not positive definite."""
    logdet = 0.0
    kept = []
    for blk in blocks:
        got = _inverse_logdet(ext[blk.patterns])
        if got is None:
            return None
        Rinv_p, ld = got
        logdet += ld @ np.bincount(blk.pattern_of, minlength=len(ld))
        Rinv = Rinv_p[blk.pattern_of]
        RZ = Rinv @ blk.Z
        RW = Rinv @ blk.W
        ZRZ = np.swapaxes(blk.Z, 1, 2) @ RZ
        ZRW = np.swapaxes(RZ, 1, 2) @ blk.W
        if blk.unique:
            At[blk.cls][blk.unit] += ZRZ
            Bt[blk.cls][blk.unit] += ZRW
        else:
            np.add.at(At[blk.cls], blk.unit, ZRZ)
            np.add.at(Bt[blk.cls], blk.unit, ZRW)
        S = S + np.einsum("bnk,bnl->kl", blk.W, RW)
        kept.append((Rinv_p, RZ, RW))
    return logdet, S, kept


def block_gradient(blocks: tuple[ResidualBlocks, ...], kept: list, K_of: list, m_of: list,
                   Gam: np.ndarray, grad: np.ndarray) -> None:
    """Add each block's G_b, entry by entry, to the gradient of its labels (in place)."""
    for blk, (Rinv_p, RZ, RW) in zip(blocks, kept):
        K = K_of[blk.cls][blk.unit]
        m = m_of[blk.cls][blk.unit]
        RE = RW - RZ @ m
        # per block: the data part; per pattern: R^-1 times its number of blocks
        G = RZ @ K @ np.swapaxes(RZ, 1, 2) + RE @ Gam @ np.swapaxes(RE, 1, 2)
        P = len(Rinv_p)
        Gp = Rinv_p * np.bincount(blk.pattern_of, minlength=P)[:, None, None]
        Gp = Gp - _sum_by(G, blk.pattern_of, P)
        lab = blk.patterns.ravel()
        grad += np.bincount(lab, Gp.ravel().real, minlength=len(grad))
        if np.iscomplexobj(Gp):
            grad += 1j * np.bincount(lab, Gp.ravel().imag, minlength=len(grad))


def _sum_by(X: np.ndarray, key: np.ndarray, P: int) -> np.ndarray:
    """sum of X[i] over i with key[i] == p, for p < P (stack (P, ...))."""
    if P == 1:
        return X.sum(axis=0, keepdims=True)
    out = np.zeros((P,) + X.shape[1:], dtype=X.dtype)
    np.add.at(out, key, X)
    return out
