"""Which evaluation a model takes: the pooled Woodbury path, the tree path (nested units
within large rows), the sparse path, or the dense per-row path for structures the others
do not cover (residual covariances within rows too small for the tree); and, for a
nonlinear residual structure (AR, MA, Toeplitz, exponential), the map from its parameters
to the derived covariance labels with the chain rule for the gradient."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..model.pathmodel import PathModel
from . import weighting
from .deviance import Evaluation, evaluate
from .protocol import Capabilities, capabilities_of
from .stats import PoolStats, pool_statistics, row_latent_keys
from ..arrays import unique
from ..model.label_arrays import label_arrays

if TYPE_CHECKING:  # pragma: no cover - the other paths load when a model takes them
    from .dense import DenseStats
    from .sparse_stats import SparseStats
    from .tree_stats import TreeStats

__all__ = ["statistics", "deviance", "path_of", "Structured", "expand", "PATHS"]


@dataclass(frozen=True)
class Structured:
    """Statistics of a model with a nonlinear residual structure."""

    core: PoolStats | DenseStats
    structure: object            # semlevel.model.residuals.ResidualStructure
    param_ids: np.ndarray        # label rows of the structure's parameters
    lag_ids: np.ndarray          # label rows of the derived covariances

    @property
    def capabilities(self) -> Capabilities:
        """The core path's: the structure's map and its Jacobian are analytic (complex
        arithmetic passes through them), applied around the core's evaluation."""
        return capabilities_of(self.core)

    @property
    def n_obs(self) -> int:
        return self.core.n_obs

    @property
    def basis(self):
        """The core statistics' coefficient basis."""
        return self.core.basis

    @property
    def coef_ids(self) -> np.ndarray:
        return self.core.coef_ids

    @property
    def n_coef(self) -> int:
        return self.core.n_coef

    def expand(self, values: np.ndarray) -> np.ndarray:
        """Label values with the derived covariances filled in."""
        out = np.array(values, dtype=np.result_type(values, float), copy=True)
        out[self.lag_ids] = list(self.structure.covariances(out[self.param_ids]).values())
        return out

    def chain(self, values: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """Gradient w.r.t. the structure's parameters from that w.r.t. derived labels."""
        J = self.structure.jacobian(np.asarray(values)[self.param_ids])
        g = grad.copy()
        g[self.param_ids] += J.T @ grad[self.lag_ids]
        g[self.lag_ids] = 0.0
        return g


def expand(model: PathModel, values: np.ndarray) -> np.ndarray:
    """``values`` with any derived residual covariances computed from their structure."""
    structure = model.info.structure
    if structure is None:
        return values
    return _structured(model, None).expand(values)


def _structured(model: PathModel, core) -> Structured:
    structure = model.info.structure
    return Structured(core=core, structure=structure,
                      param_ids=model.label_positions(structure.params),
                      lag_ids=model.label_positions(structure.lags))


#: largest pooled outer-product array (floats) before the dense path is taken instead
POOLED_LIMIT = 2e7


PATHS = ("pooled", "dense", "sparse", "tree")


#: a row with more latents than this takes the sparse path (independent errors)
SPARSE_LATENTS = 400
#: largest sum of squared row sizes (dense covariance entries) for the dense path
DENSE_LIMIT = 2e7


#: rows with at least this many latents take the tree path where their latents form a
#: tree of small units (nested designs; crossed ones with a small second factor) ...
TREE_MIN_Q = 12
#: ... and the pooled path's work (sum of q^3 over rows) is at least this: below it the
#: pooled path, whose Fisher scoring needs fewer evaluations, is as fast (measured on
#: 3-level designs with random intercepts, and slopes at both levels: equal times at
#: 2e6 and 1.5e6)
TREE_MIN_WORK = 1e6

#: nested designs: rows with at least this many latents may take the sparse path
NESTED_SPARSE_MIN_Q = 24
#: ... and the pooled path's work (sum of q^3 over rows) at least this: below it that
#: path takes well under a second and its analytic gradient and Newton steps are kept
NESTED_SPARSE_MIN_WORK = 1e6
#: cost of a unit of pooled-path work (q^3 per row) relative to one of the sparse path's
#: dense block (q2^3 per evaluation of a finite-difference gradient); measured on nested
#: designs with random intercepts and slopes (benchmarks/nested.py), where the sparse
#: path's time per q2^3 was 1/80 of the pooled path's per q^3; 10 leaves a margin
SPARSE_COST_RATIO = 10.0


def _sparse_is_cheaper(model: PathModel, q_r: np.ndarray) -> bool:
    """A nested design whose rows hold many latents (pupils in schools in districts):
    the sparse path eliminates the lowest level's small blocks and factors only the
    latents above them densely (q2 of them), once per finite-difference evaluation;
    the pooled and dense paths factor every row's q x q system. Compares the two costs."""
    lowest = model.latent_table["level"] == list(model.data.hierarchy.levels)[-1]
    q2 = float((~lowest).sum())
    la = label_arrays(model)
    kinds, free = la.kind, la.free
    n_var = int((free & (kinds != "coef")).sum())
    sparse = q2 ** 3 * (1 + 2 * n_var)
    dense = float(np.sum(q_r.astype(float) ** 3))
    # the pooled path's unit of work costs about 80 of the sparse path's: sparse when its
    # work is below SPARSE_COST_RATIO (a margin under 80) times the pooled path's
    return dense > NESTED_SPARSE_MIN_WORK and sparse < SPARSE_COST_RATIO * dense


def path_of(model: PathModel) -> str:
    """The evaluation path :func:`statistics` takes for ``model`` (see :func:`_choose`)."""
    return _choose(model)[0]


def _choose(model: PathModel) -> tuple[str, object]:
    """The path, and for the tree path the tree found (else None), so that the
    statistics need not search again. ``"pooled"`` (factor form: latent covariances,
    independent errors), ``"dense"``
    (residual covariances between slots; or pooled statistics too large: their outer
    products grow with the square of residual labels x latents x coefficients per row),
    ``"tree"`` (rows with many latents that form a tree of small units: nested designs,
    a crossed one with a small factor; residual covariances only within a unit's chain)
    or ``"sparse"``
    (independent errors and rows with many latents, a crossed design's thousands, or
    rows too large to hold their covariance densely)."""
    data = model.data
    if weighting.needs_dense(model):
        return "dense", None
    if len(model.theta_table):
        return _residual_path(model)
    G = len(unique(model.resid_of_obs()))
    la = label_arrays(model)
    kinds, free = la.kind, la.free
    K1 = int(((kinds == "coef") & free).sum()) + 1
    if model.Z.shape[1]:
        _, pairs, _, span = row_latent_keys(model)
        q_r = np.bincount(pairs // span)
        q = int(q_r.max())
    else:
        q, q_r = 1, np.ones(1)
    if q >= TREE_MIN_Q and weighting.weights_of(model) is None \
            and float(np.sum(q_r.astype(float) ** 3)) >= TREE_MIN_WORK:
        tree = _tree_structure(model)
        if tree is not None:
            return "tree", tree
    if q > SPARSE_LATENTS and weighting.weights_of(model) is None:
        return "sparse", None              # (the sparse path has no weights: dense instead)
    if model.Z.shape[1] and q >= NESTED_SPARSE_MIN_Q and weighting.weights_of(model) is None \
            and _sparse_is_cheaper(model, q_r):
        return "sparse", None
    if data.n_rows * float(G * q * K1) ** 2 <= POOLED_LIMIT:
        return "pooled", None
    sizes = np.bincount(data.row).astype(float)
    return ("dense" if float((sizes ** 2).sum()) <= DENSE_LIMIT or
            weighting.weights_of(model) is not None else "sparse"), None


#: residual covariances: the dense path's work (sum of n_r^3 over rows, n_r a row's
#: observations) from which the tree path is taken where the latents form a tree and
#: every residual block lies on one chain of units
TREE_MIN_DENSE_WORK = 1e6


def _residual_path(model: PathModel) -> tuple[str, object]:
    """Residual covariances between slots: the dense path, or the tree path for rows
    too large to factor whole (a growth model with AR errors in children in schools)."""
    sizes = np.bincount(model.data.row).astype(float)
    if model.Z.shape[1] and weighting.weights_of(model) is None \
            and float((sizes ** 3).sum()) >= TREE_MIN_DENSE_WORK:
        tree = _tree_structure(model)
        if tree is not None:
            return "tree", tree
    return "dense", None


def statistics(model: PathModel, path: str | None = None
               ) -> PoolStats | DenseStats | SparseStats | TreeStats | Structured:
    """The data summary the model's evaluation path needs, computed once per fit
    (``path`` forces one of :data:`PATHS`, e.g. to compare them)."""
    tree = None
    if path is None:
        path, tree = _choose(model)
    if path not in PATHS:
        raise ValueError(f"unknown evaluation path {path!r}; one of {PATHS}")
    if path == "pooled" and (len(model.theta_table) or weighting.needs_dense(model)):
        raise ValueError("the pooled path needs independent residuals and no weights that "
                         "vary within a row (this model has residual covariances or such "
                         "weights): use the dense path")
    if path == "tree":
        from .tree_stats import tree_statistics
        core = tree_statistics(model, tree)
    elif path == "pooled":
        core = pool_statistics(model)
    elif path == "dense":
        from .dense import dense_statistics
        core = dense_statistics(model)
    else:
        from .sparse_stats import sparse_statistics
        core = sparse_statistics(model)
    if model.info.structure is not None:
        return _structured(model, core)
    return core


def deviance(values: np.ndarray, stats: PoolStats | DenseStats, reml: bool,
             gradient: bool = True, check_psd: bool = True,
             beta: np.ndarray | None = None) -> Evaluation:
    """Deviance and gradient by the path ``stats`` belongs to."""
    if isinstance(stats, Structured):
        ev = deviance(stats.expand(values), stats.core, reml, gradient, check_psd, beta)
        if gradient and ev.gradient is not None:
            ev.gradient = stats.chain(values, ev.gradient)
        return ev
    run = _evaluation_of(type(stats))
    if run is None:                     # statistics kept elsewhere (semlevel.distributed)
        capabilities_of(stats)          # (a clear TypeError for anything else)
        return stats.evaluate(values, reml, gradient, check_psd, beta)
    return run(values, stats, reml, gradient, check_psd, beta)


#: the one dispatch from a path's statistics (module, class) to its evaluation (module,
#: function); a path's modules load when a model first takes it (the pooled path's fits
#: then never import scipy: ~0.25 s of a command's start)
_EVALUATIONS = {
    ("semlevel.engine.stats", "PoolStats"): ("semlevel.engine.deviance", "evaluate"),
    ("semlevel.engine.dense", "DenseStats"): ("semlevel.engine.dense", "evaluate_dense"),
    ("semlevel.engine.sparse_stats", "SparseStats"): ("semlevel.engine.sparse",
                                                      "evaluate_sparse"),
    ("semlevel.engine.tree_stats", "TreeStats"): ("semlevel.engine.tree", "evaluate_tree"),
    ("semlevel.engine.sem_fiml", "SEMStats"): ("semlevel.engine.sem_fiml", "evaluate_sem"),
}
_EVALUATE: dict[type, object] = {PoolStats: evaluate}


def _evaluation_of(cls: type):
    """The evaluation function of a statistics class (None: not one of the paths')."""
    run = _EVALUATE.get(cls)
    if run is None:
        where = _EVALUATIONS.get((cls.__module__, cls.__qualname__))
        if where is None:
            return None
        run = _EVALUATE[cls] = getattr(importlib.import_module(where[0]), where[1])
    return run


def _tree_structure(model: PathModel):
    from .tree_stats import tree_structure
    return tree_structure(model)
