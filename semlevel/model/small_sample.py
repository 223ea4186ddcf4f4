"""Attach the small-sample options of a ``mixed`` spec to its model (the builder's last step).

``dfmethod()`` and ``dftable()`` go to ``model.info`` (used by :class:`semlevel.Fit`);
fixed-effects ``constraints`` reparametrise the model (:mod:`semlevel.model.constraints`).
``dfmethod(repeated)`` needs a two-level model: checked here, before any fitting.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..syntax.smallsample import check_small_sample

if TYPE_CHECKING:  # annotations only: pathmodel imports this module
    from .pathmodel import PathModel

__all__ = ["attach_small_sample"]


def attach_small_sample(model: PathModel, spec) -> PathModel:
    """The model with ``spec.extra``'s dfmethod/dftable in its info and its constraints
    applied."""
    extra = getattr(spec, "extra", None) or {}
    check_small_sample(extra, bool(spec.reml))
    dfm, table, constraints = (extra.get("dfmethod"), extra.get("dftable"),
                               extra.get("constraints"))
    if dfm is not None and dfm.method == "repeated":
        levels = model.data.hierarchy.levels
        if len(levels) != 1 or levels[0] == "_all":
            raise ValueError("dfmethod(repeated) is supported only with two-level models "
                             f"(this model has the levels {', '.join(levels) or 'none'})")
    if constraints is not None:
        from .constraints import constrain_coefficients
        if isinstance(constraints, tuple) and len(constraints) == 2 and \
                not isinstance(constraints[0], str):
            model = constrain_coefficients(model, constraints[0], constraints[1])
        else:
            model = constrain_coefficients(model, constraints)
    if dfm is None:
        return model
    return model.replace(info=dict(model.info, dfmethod=dfm, dftable=table or "default"))
