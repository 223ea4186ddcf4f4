"""Report lines that depend on the variance estimator and the weights, laid out as Stata
prints them after ``vce(robust)`` / ``vce(cluster clustvar)`` and sampling weights (the
manual's "Survey data" example):

* the title loses "ML" under sampling weights (a pseudo-likelihood): "Mixed-effects
  regression";
* "Log pseudolikelihood" instead of "Log likelihood" with robust standard errors;
* "(Std. err. adjusted for 148 clusters in id_school)" right-aligned above the fixed
  table;
* "Robust" above a lower-case "std. err." in both tables.
"""
from __future__ import annotations

from .cells import WIDTH

__all__ = ["title", "loglik_name", "cluster_note", "robust_header"]


def _robust(fit) -> bool:
    return getattr(fit, "vce", None) is not None


def title(fit, default: str) -> str:
    w = getattr(getattr(fit.model, "info", None), "weights", None)
    if w is not None and w.kind == "pweight" and not fit.reml:
        return "Mixed-effects regression"
    return default


def loglik_name(fit, default: str) -> str:
    return "Log pseudolikelihood" if _robust(fit) else default


def cluster_note(fit) -> list[str]:
    if not _robust(fit):
        return []
    return [f"({fit.vce.describe()})".rjust(WIDTH)]


def robust_header(fit, header: str, bar: int) -> list[str]:
    """The column-title line of a table (``bar`` = position of its ``|``), preceded by
    the "Robust" line and with "std. err." in lower case under robust SEs."""
    if not _robust(fit):
        return [header]
    return [" " * bar + "|" + " " * 15 + "Robust", header.replace("Std. err.", "std. err.")]
