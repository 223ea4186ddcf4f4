"""semlevel: multilevel (mixed-effects) linear models as constrained structural equation models.

Public API::

    import semlevel as sl
    fit = sl.mixed("weight week || id: week, covariance(unstructured)", data=df)
    fit = sl.lmer("weight ~ week + (week | id)", data=df, reml=False)   # lme4 style
    fit.summary(); fit.fixed; fit.random; fit.model
"""
from . import datasets
from .api import adf, mixed, mixed_model
from .data.pivot import pivot_wide
from .inference.compare import compare
from .output.estimates import estimates_table
from .io import read_data, write_data
from .lmer import formula_to_stata, lmer, lmer_model
from .data.wide import WideData
from .diagram import render
from .model.pathmodel import PathModel
from .results import Fit

__all__ = ["mixed", "mixed_model", "adf", "datasets", "PathModel", "Fit", "WideData", "pivot_wide", "compare",
           "render", "lmer", "lmer_model", "formula_to_stata", "read_data", "write_data",
           "estimates_table"]
from .version import __version__ as __version__  # noqa: E402  (re-exported)
