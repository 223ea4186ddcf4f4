"""Internal standardisation of extreme scales (issue 14, item 4).

An outcome or a random-slope variable on an extreme scale (multiplied by 1e-6 or 1e8, a
slope in seconds instead of weeks) puts the variance parameters 1e12 and more apart: the
moment starting values, the identification check and the optimiser's curvature tests
lose their footing, and fits fail or stop short. The likelihood itself is equivariant:
with y* = y / s_y and the loadings of effect e divided by s_e,

    beta* = beta / s_y,  Phi*_ab = Phi_ab s_a s_b / s_y^2,  Theta* = Theta / s_y^2,

and log L = log L* - n log s_y. So the model is fitted on those scales and its estimates
(and their covariance) mapped back; the log likelihood, the fixed effects and every table
are then computed on the original data at the mapped estimates. Used only outside
:data:`BAND` and for models whose labels all scale so (no nonlinear residual structure,
no weights, no label fixed at a nonzero value).
"""
from __future__ import annotations

import math

import numpy as np

from ..model.pathmodel import PathModel
from ..model.label_arrays import label_arrays, phi_arrays
from .starts import effect_loading_squares, latent_loading_squares

__all__ = ["BAND", "rescaled"]

#: scales (RMS of the outcome around its mean, of each effect's nonzero loadings)
#: inside this band are left as they are
BAND = (1e-3, 1e3)


def rescaled(model: PathModel) -> tuple[PathModel, np.ndarray] | None:
    """``(model on standard scales, factor)`` where ``values = factor * values*`` maps
    the rescaled model's label values back; None when every scale is inside
    :data:`BAND` or the model's labels do not scale so."""
    info = model.info
    if info.weights is not None or info.structure is not None:
        return None
    la = label_arrays(model)
    kinds, fixed, values = la.kind, ~la.free, la.value
    if np.any(fixed & (kinds != "coef") & np.isfinite(values) & (values != 0)):
        return None
    if np.any(fixed & (kinds == "coef") & np.isfinite(values) & (values != 0)):
        return None
    try:
        y = model.data.y
    except NotImplementedError:                  # data on Dask: not here
        return None
    # np.std(y), which is the square root of np.var(y): the wide data's, kept
    s_y = math.sqrt(model.data.y_variance) if np.isfinite(y).all() else math.nan
    if not np.isfinite(s_y) or s_y <= 0:
        return None
    e2 = effect_loading_squares(model) if model.Z.shape[1] else np.ones(0)
    s_e = np.sqrt(e2)
    scales = np.concatenate(([s_y], s_e))
    if np.all((scales > BAND[0]) & (scales < BAND[1])):
        return None
    # the factor of every label
    factor = np.ones(len(model.label_table))
    factor[kinds == "coef"] = s_y
    factor[np.isin(kinds, ("resvar", "rescov"))] = s_y * s_y
    lat_scale = np.sqrt(latent_loading_squares(model, e2))
    for a, b, lab in zip(*phi_arrays(model)):
        factor[int(lab)] = s_y * s_y / (lat_scale[int(a)] * lat_scale[int(b)])
    data = model.data.replace(data=model.data.data_table.assign(**{model.outcome: y / s_y}))
    labels = model.label_table
    if "estimate" in labels:
        labels = labels.assign(estimate=labels["estimate"] / factor)
    scaled = model.replace(data=data, Z=model.Z / np.where(s_e > 0, s_e, 1.0),
                           labels=labels)
    return scaled, factor
