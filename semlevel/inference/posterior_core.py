"""The posterior (BLUP) result type and the helpers both posterior paths use (the
per-row path, :mod:`.posterior`, and the blocked sparse path, :mod:`.posterior_sparse`)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Posterior", "row_bounds", "obs_mean"]


@dataclass(frozen=True)
class Posterior:
    """BLUPs of every (wide row, latent) pair and per-observation predictions.

    Pair arrays (length m, sorted by row then latent): ``row``, ``latent``, ``mean``,
    ``var`` (conditional variance, beta known), ``pev`` (prediction error variance,
    beta estimated), ``prior`` (the latent's variance). Observation arrays (estimation
    order of ``model.data``): ``xb``, ``fitted``, ``rstandard``.
    """

    row: np.ndarray
    latent: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    pev: np.ndarray
    prior: np.ndarray
    xb: np.ndarray
    fitted: np.ndarray
    rstandard: np.ndarray
    n_latents: int

    def lookup(self, row: np.ndarray, latent: np.ndarray) -> np.ndarray:
        """Position of each (row, latent) pair in the pair arrays; -1 where absent."""
        key = self.row * self.n_latents + self.latent
        want = np.asarray(row, dtype=np.int64) * self.n_latents + np.asarray(latent, np.int64)
        pos = np.clip(np.searchsorted(key, want), 0, max(len(key) - 1, 0))
        ok = (len(key) > 0) & (latent >= 0) & (row >= 0)
        ok = ok & (key[pos] == want) if len(key) else np.zeros(len(want), bool)
        return np.where(ok, pos, -1)


def row_bounds(model) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of each wide row's observations in ``model.data``."""
    row = model.data.row
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]) if len(row) else np.zeros(0, int)
    return starts, np.r_[starts[1:], len(row)].astype(np.int64)


def obs_mean(model, values: np.ndarray, X: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """X beta of observations with covariates ``X`` (columns = ``model.terms``) in
    ``slot``: each term's coefficient is the value of the slot's label for it (relaxed
    slopes differ by slot; coefficients fixed at a value use that value)."""
    if not len(model.terms):
        return np.zeros(len(X))
    coef = np.asarray(values, dtype=float)[model.path_label[slot]]   # (n, k)
    return np.sum(X * coef, axis=1)
