"""Which evaluation a model takes: the pooled Woodbury path, or the dense per-row path
for structures it does not cover (residual covariances between slots)."""
from __future__ import annotations

import numpy as np

from ..model.pathmodel import PathModel
from .dense import DenseStats, dense_statistics, evaluate_dense
from .deviance import Evaluation, evaluate
from .stats import PoolStats, pool_statistics

__all__ = ["statistics", "deviance", "path_of"]


def path_of(model: PathModel) -> str:
    """``"pooled"`` (factor form: latent covariances, independent errors) or ``"dense"``."""
    return "dense" if len(model.theta) else "pooled"


def statistics(model: PathModel) -> PoolStats | DenseStats:
    """The data summary the model's evaluation path needs, computed once per fit."""
    return dense_statistics(model) if path_of(model) == "dense" else pool_statistics(model)


def deviance(values: np.ndarray, stats: PoolStats | DenseStats, reml: bool,
             gradient: bool = True, check_psd: bool = True,
             beta: np.ndarray | None = None) -> Evaluation:
    """Deviance and gradient by the path ``stats`` belongs to."""
    if isinstance(stats, DenseStats):
        return evaluate_dense(values, stats, reml, gradient, check_psd, beta)
    return evaluate(values, stats, reml, gradient, check_psd, beta)
