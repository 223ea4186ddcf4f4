"""Attach a specification's weights and variance-estimator request to its PathModel.

The builder calls :func:`attach_survey` last: the weights are evaluated on the
estimation sample (:mod:`semlevel.data.weights`) and stored in ``model.info.weights``,
the ``vce()`` request in ``model.info.vce``; the engine and
:mod:`semlevel.inference.sandwich` read them from there, so relaxations of the model
keep both.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..data.weights import evaluate_weights
from ..syntax.survey import VCESpec

if TYPE_CHECKING:  # annotations only: pathmodel imports this module
    from .pathmodel import PathModel

__all__ = ["attach_survey", "model_weights", "model_vce"]


def model_weights(model: PathModel):
    """The :class:`~semlevel.data.weights.Weights` of a model, or None."""
    return model.info.weights


def model_vce(model: PathModel) -> VCESpec:
    """The variance estimator requested for a model (``oim`` unless asked otherwise)."""
    return model.info.vce or VCESpec()


def attach_survey(model: PathModel, spec) -> PathModel:
    """``model`` with the weights and ``vce()`` of ``spec`` attached (checked)."""
    extra = getattr(spec, "extra", None) or {}
    wspec, vce = extra.get("weights"), extra.get("vce")
    if wspec is None and (vce is None or vce.kind == "oim"):
        return model
    info = dict(model.info)
    if vce is not None:
        info["vce"] = vce
    if wspec is not None:
        if not model.data.hierarchy.levels:
            raise ValueError("weights need a multilevel model (at least one || level:)")
        weights = evaluate_weights(wspec, model.data)
        if len(model.theta_table) and np.any(weights.by_level[:, -1] != 1.0):
            raise ValueError("observation-level weights cannot be combined with correlated "
                             "residual errors (residuals() structures other than "
                             "independent): the weighted likelihood replicates single "
                             "observations")
        info["weights"] = weights
    return model.replace(info=info)
