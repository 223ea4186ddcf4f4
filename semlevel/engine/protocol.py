"""What every evaluation path's statistics offer: one protocol, and the capabilities the
optimiser, the standard errors and the identification check read instead of asking
which path they have.

A statistics object (:class:`~.stats.PoolStats`, :class:`~.dense.DenseStats`,
:class:`~.sparse_stats.SparseStats`, :class:`~.tree_stats.TreeStats`, the structured
wrapper, :class:`~.sem_fiml.SEMStats` of the general-SEM route, statistics kept on Dask
workers) is computed once per fit from a model and then evaluated at many parameter
vectors:

    deviance(values, stats, reml, gradient, check_psd, beta) -> Evaluation

(:func:`.evaluator.deviance`, the one place that dispatches on the path), and states
what else it can do in ``capabilities``. ::

    syntax -> data -> model ──statistics(model)──> Statistics ──deviance(values)──> Evaluation
                                                     │ capabilities
                          optimise (newton | profiled L-BFGS-B), curvature (complex |
                          differences of the gradient | differences of the deviance),
                          identification (expected information | sparse Gram | row Gram)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Capabilities", "Statistics", "capabilities_of", "POOLED", "DENSE", "SPARSE",
           "TREE", "REMOTE", "SEM"]


@dataclass(frozen=True)
class Capabilities:
    """What a path's statistics can do besides the deviance.

    ``gradient``: the deviance's gradient is analytic (else by differences inside the
    evaluation: the optimiser then profiles the scale and works on function values).
    ``complex_step``: the gradient is analytic in complex arithmetic, so the Hessian
    comes from complex steps, exact to rounding. ``expected_information``: the
    statistics form the expected information (Fisher scoring; the identification
    check's rank). ``dense_rows``: a row's covariance may be formed densely (the
    identification check's fallback); False where rows hold thousands of latents."""

    gradient: bool
    complex_step: bool
    expected_information: bool
    dense_rows: bool
    #: every product of an evaluation is small (the tree path's fronts, the pooled path's
    #: per-pool systems): the fit runs
    #: BLAS on one thread (:mod:`.linalg.threads`), whose wake-ups would cost more
    small_products: bool = False

    @property
    def optimiser(self) -> str:
        """``"newton"`` (safeguarded Newton on the analytic gradient) or ``"profiled"``
        (L-BFGS-B on the scale-profiled deviance's values)."""
        return "newton" if self.gradient else "profiled"

    @property
    def curvature(self) -> str:
        """How the standard errors' Hessian is formed: ``"complex"`` steps of the
        gradient, ``"gradient"`` differences of it, or ``"function"`` second
        differences of the deviance."""
        if not self.gradient:
            return "function"
        return "complex" if self.complex_step else "gradient"


POOLED = Capabilities(gradient=True, complex_step=True, expected_information=True,
                      dense_rows=True, small_products=True)
DENSE = Capabilities(gradient=True, complex_step=False, expected_information=False,
                     dense_rows=True)
SPARSE = Capabilities(gradient=False, complex_step=False, expected_information=False,
                      dense_rows=False)
TREE = Capabilities(gradient=True, complex_step=True, expected_information=False,
                    dense_rows=False, small_products=True)
REMOTE = Capabilities(gradient=True, complex_step=True, expected_information=True,
                      dense_rows=False)
SEM = Capabilities(gradient=False, complex_step=False, expected_information=False,
                   dense_rows=True)


@runtime_checkable
class Statistics(Protocol):
    """The protocol: the data summary of one evaluation path."""

    capabilities: Capabilities
    n_obs: int
    n_coef: int
    coef_ids: np.ndarray


def capabilities_of(stats) -> Capabilities:
    """The capabilities a statistics object declares."""
    caps = getattr(stats, "capabilities", None)
    if not isinstance(caps, Capabilities):
        raise TypeError(f"{type(stats).__name__} is not a semlevel statistics object (it "
                        "declares no capabilities: see semlevel.engine.protocol)")
    return caps
