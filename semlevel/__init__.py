"""semlevel: multilevel (mixed-effects) linear models as constrained structural equation models.

Public API::

    import semlevel as sl
    fit = sl.mixed("weight week || id: week, covariance(unstructured)", data=df)
    fit = sl.lmer("weight ~ week + (week | id)", data=df, reml=False)   # lme4 style
    fit.summary(); fit.fixed; fit.random; fit.model

The names below are imported when first used (PEP 562), so ``import semlevel`` costs a
few milliseconds and a command or worker pays only for the layers it touches (pandas,
scipy and the engine with the first fit, Graphviz with the first diagram).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from . import services as _services
from .version import __version__ as __version__  # (re-exported)

#: public name -> (module, attribute; None: the module itself)
_LAZY = {
    "mixed": ("api", "mixed"),
    "mixed_model": ("api", "mixed_model"),
    "adf": ("api", "adf"),
    "datasets": ("datasets", None),
    "PathModel": ("model.pathmodel", "PathModel"),
    "Fit": ("results", "Fit"),
    "WideData": ("data.wide", "WideData"),
    "pivot_wide": ("data.pivot", "pivot_wide"),
    "compare": ("inference.compare", "compare"),
    "render": ("diagram", "render"),
    "lmer": ("lmer", "lmer"),
    "lmer_model": ("lmer", "lmer_model"),
    "formula_to_stata": ("lmer", "formula_to_stata"),
    "read_data": ("io", "read_data"),
    "write_data": ("io", "write_data"),
    "estimates_table": ("output.estimates", "estimates_table"),
}

__all__ = ["mixed", "mixed_model", "adf", "datasets", "PathModel", "Fit", "WideData",
           "pivot_wide", "compare", "render", "lmer", "lmer_model", "formula_to_stata",
           "read_data", "write_data", "estimates_table"]

# The services lower layers ask for (semlevel.services): each (module, attribute),
# imported when first asked for. Registered here, with the package, so that a model
# built from any submodule can be fitted and drawn.
for _name, _provider in {
        "fit_result": ("semlevel.api", "fit_result"),
        "sem_result": ("semlevel.results", "SEMFit"),
        "fit": ("semlevel.engine.fitting", "fit_model"),
        "fit_at": ("semlevel.engine.fitting", "fit_at"),
        "fit_sem": ("semlevel.engine.sem_fiml", "fit_sem"),
        "diagram": ("semlevel.diagram", "diagram"),
        "iteration_log": ("semlevel.output.iterlog", "IterationLog")}.items():
    _services.provide(_name, _provider)
del _name, _provider


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'semlevel' has no attribute {name!r}") from None
    value = importlib.import_module(f".{module}", __name__)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value          # later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


if TYPE_CHECKING:                    # what the names are, for type checkers and IDEs
    from . import datasets
    from .api import adf, mixed, mixed_model
    from .data.pivot import pivot_wide
    from .data.wide import WideData
    from .diagram import render
    from .inference.compare import compare
    from .io import read_data, write_data
    from .lmer import formula_to_stata, lmer, lmer_model
    from .model.pathmodel import PathModel
    from .output.estimates import estimates_table
    from .results import Fit
