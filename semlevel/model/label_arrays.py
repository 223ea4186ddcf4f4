"""The labels table's columns as typed arrays, made once per model.

The model holds its labels as columns (``model.label_table``, semlevel.columns); this
module gives the engine the ones it asks for about thirty times a fit with their types
fixed: names, kinds and blocks as ``object`` arrays, free as bool, values as float, and
the latent covariance table as int64 (``phi_arrays``). Models are immutable (a changed
table makes a new model: ``with_labels``, ``relax``), so the arrays are made once per
model object and kept as long as it lives, read-only, like the coefficient design; a
fitted model (the same table with an ``estimate`` column) shares its source's
(``carry_label_arrays``).
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .pathmodel import PathModel

__all__ = ["LabelArrays", "label_arrays", "PhiArrays", "phi_arrays", "carry_label_arrays"]


@dataclass(frozen=True)
class LabelArrays:
    """One entry per row of ``model.labels``: its name, kind, whether free, its value,
    its block."""

    names: np.ndarray    # object (str)
    kind: np.ndarray     # object (str): one of LABEL_KINDS
    free: np.ndarray     # bool
    value: np.ndarray    # float (NaN: none given)
    block: np.ndarray    # object: the display group (``id: Unstructured``)

    @cached_property
    def coefficients(self) -> np.ndarray:
        """Positions of the free coefficient labels."""
        return _read_only(np.flatnonzero((self.kind == "coef") & self.free))

    @cached_property
    def free_variances(self) -> np.ndarray:
        """Positions of the free variance parameters (every free label but coefficients)."""
        return _read_only(np.flatnonzero(self.free & (self.kind != "coef")))

    @cached_property
    def is_variance(self) -> np.ndarray:
        """Whether each label is a variance (kind ``var`` or ``resvar``; a set lookup per
        label: ``np.isin`` on these object arrays sorts them, 10-30 us a call)."""
        return _read_only(np.array([k in ("var", "resvar") for k in self.kind.tolist()],
                                   dtype=bool))


_ARRAYS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.array(a)
    a.setflags(write=False)
    return a


def label_arrays(model: "PathModel") -> LabelArrays:
    """The :class:`LabelArrays` of ``model`` (its label table's columns)."""
    got = _ARRAYS.get(model)
    if got is None:
        lab = model.label_table
        n = len(lab)
        got = _ARRAYS[model] = LabelArrays(
            names=_read_only(lab.index if lab.index is not None
                             else np.arange(n).astype(str).astype(object)),
            kind=_read_only(lab["kind"].astype(object)),
            free=_read_only(lab["free"].astype(bool)),
            value=_read_only(lab["value"].astype(float)),
            block=_read_only(lab["block"].astype(object) if "block" in lab
                             else np.full(n, None, dtype=object)))
    return got


class PhiArrays(NamedTuple):
    """The latent (co)variance table ``model.phi`` as arrays: latents a <= b, label."""

    a: np.ndarray
    b: np.ndarray
    label: np.ndarray


_PHI: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def phi_arrays(model: "PathModel") -> PhiArrays:
    """The :class:`PhiArrays` of ``model`` (read from ``model.phi`` once)."""
    got = _PHI.get(model)
    if got is None:
        phi = model.phi_table
        got = _PHI[model] = PhiArrays(*(_read_only(phi[c].astype(np.int64))
                                        for c in ("a", "b", "label")))
    return got


#: the per-model caches of what a fitted model shares with the model it was fitted from
#: (the label arrays, Phi's, and those other modules of this layer register: roles)
CARRIED: list = [_ARRAYS, _PHI]


def carry_label_arrays(source: "PathModel", target: "PathModel") -> "PathModel":
    """``target`` (a copy of ``source`` with the same ``phi``, info and a table with the
    same names, kinds, free flags and values: an added ``estimate`` column) sharing
    ``source``'s arrays (every cache in :data:`CARRIED`); returned."""
    for cache in CARRIED:
        got = cache.get(source)
        if got is not None:
            cache[target] = got
    return target
