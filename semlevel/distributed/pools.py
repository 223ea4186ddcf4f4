"""Adding up the pooled statistics of partitions: pools with the same latent-covariance
pattern, missingness pattern and loading cross-products are one pool of the whole data."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from ..engine.stats import PoolStats
from ..engine.unique_rows import unique_rows
from ..arrays import unique

__all__ = ["pad_pools", "merge_pools", "merge_capped", "pool_bytes"]


def pool_bytes(stats: PoolStats) -> int:
    """Memory of a PoolStats' arrays."""
    return int(sum(a.nbytes for a in (stats.phi_idx, stats.ZZ, stats.n, stats.C, stats.T,
                                      stats.count)))


def pad_pools(stats: PoolStats, q: int, resid_ids: np.ndarray) -> PoolStats:
    """The same pools with ``q`` latents per row and the residual labels ``resid_ids`` (a
    superset of the pools' own, sorted): an absent latent has variance 1 and no loading,
    an absent residual label no observation, which changes no evaluation."""
    P, G, q0 = stats.ZZ.shape[:3]
    K1 = stats.C.shape[-1]
    gpos = np.searchsorted(resid_ids, stats.resid_ids)
    if not np.array_equal(resid_ids[gpos], stats.resid_ids):
        raise ValueError("residual labels of a partition are not among the model's")
    G1 = len(resid_ids)
    if q == q0 and G1 == G:
        return stats
    phi_idx = np.full((P, q, q), stats.const0, dtype=np.int64)
    phi_idx[:, np.arange(q), np.arange(q)] = stats.const1
    phi_idx[:, :q0, :q0] = stats.phi_idx
    ZZ = np.zeros((P, G1, q, q))
    ZZ[:, gpos, :q0, :q0] = stats.ZZ
    n = np.zeros((P, G1))
    n[:, gpos] = stats.n
    C = np.zeros((P, G1, K1, K1))
    C[:, gpos] = stats.C
    T = np.zeros((P, G1, q, K1, G1, q, K1))
    T[np.ix_(np.arange(P), gpos, np.arange(q0), np.arange(K1), gpos, np.arange(q0),
             np.arange(K1))] = stats.T
    return replace(stats, phi_idx=phi_idx, ZZ=ZZ, n=n, C=C, T=T, resid_ids=resid_ids)


def merge_pools(parts: list[PoolStats | None]) -> PoolStats | None:
    """The pooled statistics of the union of disjoint partitions.

    Pools are identified exactly as :func:`semlevel.engine.stats.pool_statistics` does
    (same signature, same order), so the result is the whole data's PoolStats up to the
    order of summation."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    q = max(p.ZZ.shape[2] for p in parts)
    resid_ids = unique(np.concatenate([p.resid_ids for p in parts]))
    parts = [pad_pools(p, q, resid_ids) for p in parts]
    first = parts[0]
    for p in parts[1:]:
        if (p.n_coef != first.n_coef or not np.array_equal(p.coef_ids, first.coef_ids)
                or p.const0 != first.const0
                or not np.array_equal(p.basis.shift, first.basis.shift)
                or not np.array_equal(p.basis.basis, first.basis.basis)):
            raise ValueError("partitions of different models cannot be added up")
    phi_idx = np.concatenate([p.phi_idx for p in parts])
    ZZ = np.concatenate([p.ZZ for p in parts])
    n = np.concatenate([p.n for p in parts])
    P0 = len(phi_idx)
    signature = np.concatenate([phi_idx.reshape(P0, -1).astype(float), ZZ.reshape(P0, -1), n],
                               axis=1)
    first_pos, pool = unique_rows(signature)
    P = len(first_pos)
    ind = sp.csr_matrix((np.ones(P0), (pool, np.arange(P0))), shape=(P, P0))
    C = np.concatenate([p.C for p in parts])
    T = np.concatenate([p.T for p in parts])
    count = np.concatenate([p.count for p in parts])
    Cp = np.asarray(ind @ C.reshape(P0, -1)).reshape((P,) + C.shape[1:])
    Tp = np.asarray(ind @ T.reshape(P0, -1)).reshape((P,) + T.shape[1:])
    return replace(first, phi_idx=phi_idx[first_pos], ZZ=ZZ[first_pos], n=n[first_pos],
                   C=Cp, T=Tp, count=ind @ count, resid_ids=resid_ids,
                   n_obs=sum(p.n_obs for p in parts), n_rows=sum(p.n_rows for p in parts))


def _signatures(parts: list[PoolStats]) -> np.ndarray:
    """The pools' signatures at common q and residual labels (without padding C, T)."""
    q = max(p.ZZ.shape[2] for p in parts)
    resid_ids = unique(np.concatenate([p.resid_ids for p in parts]))
    rows = []
    for p in parts:
        P, G, q0 = p.ZZ.shape[:3]
        gpos = np.searchsorted(resid_ids, p.resid_ids)
        phi = np.full((P, q, q), p.const0, dtype=np.int64)
        phi[:, np.arange(q), np.arange(q)] = p.const1
        phi[:, :q0, :q0] = p.phi_idx
        ZZ = np.zeros((P, len(resid_ids), q, q))
        ZZ[:, gpos, :q0, :q0] = p.ZZ
        n = np.zeros((P, len(resid_ids)))
        n[:, gpos] = p.n
        rows.append(np.concatenate([phi.reshape(P, -1).astype(float), ZZ.reshape(P, -1), n],
                                   axis=1))
    return np.concatenate(rows)


def merge_capped(parts: list, limit: float) -> PoolStats | None | bool:
    """:func:`merge_pools`, or False when an input is False or the result would exceed
    ``limit`` bytes (its statistics are then kept per partition). The size is known from
    the pools' signatures before any sum is formed."""
    if any(p is False for p in parts):
        return False
    real = [p for p in parts if p is not None]
    if not real:
        return None
    n_pools = len(np.unique(_signatures(real), axis=0))
    per_pool = max(pool_bytes(p) / max(p.n_pools, 1) for p in real)
    if n_pools * per_pool > limit:
        return False
    out = merge_pools(real)
    return False if pool_bytes(out) > limit else out
