"""What each label of a parameter table is: its kind, its role and the scale its
confidence interval is formed on, decided in one place from the kind and the model's
residual structure, never from the label's text.

Kinds (the ``kind`` column of ``PathModel.labels``; a ``str`` enum, so the column's
strings compare equal to its members):

========== ===================================================== =========== ========
kind        what it is                                            role        CI scale
========== ===================================================== =========== ========
coef        a fixed effect (mean parameter, profiled by GLS)      coefficient wald
path        a structural coefficient (general-SEM route)          coefficient wald
var         a latent variance                                     variance    log
cov         a latent covariance                                   covariance  wald
resvar      a residual variance                                   variance    log
rescov      a residual covariance                                 covariance  wald
resstruct   a parameter of a nonlinear residual structure:        variance    log
            its var(e) ...                                        structure   wald/logit/atanh
            ... or its coefficients (AR phi, MA theta, rho)
lag         a covariance derived from a structure (not free)      derived     -
========== ===================================================== =========== ========
"""
from __future__ import annotations

import weakref
from enum import Enum

import numpy as np
from .label_arrays import CARRIED, label_arrays

__all__ = ["LabelKind", "label_roles", "ROLES"]


class LabelKind(str, Enum):
    """The kinds of labels (see the module's table)."""

    COEF = "coef"
    PATH = "path"
    VAR = "var"
    COV = "cov"
    RESVAR = "resvar"
    RESCOV = "rescov"
    RESSTRUCT = "resstruct"
    LAG = "lag"


ROLES = ("coefficient", "variance", "covariance", "structure", "derived")

_ROLE = {"coef": "coefficient", "path": "coefficient", "var": "variance",
         "cov": "covariance", "resvar": "variance", "rescov": "covariance",
         "lag": "derived"}


#: each model object's label roles, made once (a fitted model shares its source's)
_ROLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
CARRIED.append(_ROLES)


def label_roles(model) -> tuple[np.ndarray, np.ndarray]:
    """Per label row of ``model.labels``: its role (one of :data:`ROLES`) and its CI scale
    (``"wald"``, ``"log"``, ``"logit"``, ``"atanh"``; ``""`` for derived labels). A
    residual structure's parameters are told apart by the structure object, which
    knows which of them is the variance. (Made once per model; read-only arrays.)"""
    got = _ROLES.get(model)
    if got is None:
        role, scale = _label_roles(model)
        role.flags.writeable = scale.flags.writeable = False
        got = _ROLES[model] = (role, scale)
    return got


def _label_roles(model) -> tuple[np.ndarray, np.ndarray]:
    kinds = label_arrays(model).kind
    names = label_arrays(model).names
    unknown = set(kinds) - {k.value for k in LabelKind}
    if unknown:
        raise ValueError(f"unknown label kind {sorted(unknown)[0]!r}")
    role = np.array([_ROLE.get(k, "structure") for k in kinds], dtype=object)
    structure = model.info.structure
    if structure is not None:
        variances = set(structure.variance_params)
        for i in np.flatnonzero(kinds == LabelKind.RESSTRUCT.value):
            if names[i] in variances:
                role[i] = "variance"
    scale = np.array([{"variance": "log", "derived": ""}.get(r, "wald") for r in role],
                     dtype=object)
    if structure is not None:
        coefs = (role == "structure")
        scale[coefs] = structure.coefficient_scale
    return role, scale
