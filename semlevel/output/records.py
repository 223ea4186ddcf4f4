"""A fit as plain data (``Fit.to_dict()``) and JSON (``Fit.to_json()``)."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..io.labels import fit_value_labels
from .terms import term_value_label

__all__ = ["clean", "records", "random_blocks", "fit_to_dict", "fit_to_json"]


def clean(x: Any) -> Any:
    """JSON-safe values: numpy scalars to Python, NaN/inf to None, recursively."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return [clean(v) for v in x.tolist()]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        x = float(x)
        return x if math.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    if x is pd.NA or x is pd.NaT:
        return None
    return str(x)


def records(frame: pd.DataFrame, key: str) -> list[dict]:
    """Rows of a table as dicts, its index as the ``key`` field."""
    out = frame.copy()
    out.index.name = key
    return out.reset_index().to_dict(orient="records")


def random_blocks(fit) -> dict[str, str]:
    """Covariance block (``id: Unstructured``, ``Residual``) of each random-table label."""
    blocks: dict[str, str] = {}
    for name in ("random_variance", "random_sd"):
        try:
            tab = getattr(fit, name)
        except (AttributeError, KeyError, ValueError, IndexError):
            continue                  # the block is decoration only
        if "block" in tab.columns:
            blocks.update({str(k): str(v) for k, v in tab["block"].items()})
    return blocks


def _optional(compute):
    """A secondary statistic, or None where the model does not define it."""
    try:
        return compute()
    except (AttributeError, KeyError, ValueError, TypeError, np.linalg.LinAlgError):
        return None


def fit_to_dict(fit, model: str | None = None, data: str | None = None,
                warnings: Sequence[str] = ()) -> dict:
    """Everything a report of ``fit`` holds, as plain Python (NaN and inf as None).

    Keys: ``model`` (the command text), ``data``, ``method``, ``loglik``, ``n_obs``,
    ``n_params``, ``converged``, ``aic``, ``bic``, ``level``, ``fixed`` and ``random``
    (lists of records; ``value_label`` is the term as Stata prints it with value labels),
    ``random_metric``, ``groups``, ``wald``, ``lr_test_linear``, ``sample``,
    ``optimization``, ``boundary``, ``warnings``, ``semlevel_version``.
    """
    from ..version import __version__

    spec = fit.spec
    labels = fit_value_labels(fit)
    fixed = records(fit.fixed, "term")
    for r in fixed:
        r["value_label"] = term_value_label(r["term"], labels)
    random = records(fit.random, "label")
    blocks = random_blocks(fit)
    for r in random:
        r["block"] = blocks.get(r["label"])
        r["boundary"] = r["label"] in fit.boundary or \
            r["label"].replace("sd(", "var(", 1) in fit.boundary
    sample = fit.model.data.sample
    opt = fit.optimization
    wald = _optional(lambda: dict(zip(("chi2", "df", "p"), fit.wald)))
    lr = _optional(lambda: dict(fit.lr_linear))
    text = model if model is not None else (getattr(spec, "extra", None) or {}).get("text")
    out = {
        "model": text,
        "data": data,
        "method": "REML" if fit.reml else "ML",
        "se_convention": fit.se_convention,
        "loglik": fit.loglik,
        "n_obs": fit.n_obs,
        "n_params": fit.n_params,
        "converged": fit.converged,
        "aic": fit.aic,
        "bic": fit.bic,
        "level": fit.level,
        "fixed": fixed,
        "random": random,
        "random_metric": "sd/corr" if getattr(spec, "stddeviations", False) else "var/cov",
        "groups": records(fit.group_summary(), "level"),
        "wald": wald,
        "lr_test_linear": lr,
        "sample": {"n_input": sample.n_input, "n_used": sample.n_used,
                   "dropped": dict(sample.dropped)},
        "optimization": {"method": opt.method, "iterations": opt.iterations,
                         "evaluations": opt.evaluations, "converged": opt.converged,
                         "gradient_norm": opt.gradient_norm,
                         "newton_decrement": opt.newton_decrement,
                         "hessian_pd": opt.hessian_pd,
                         "min_hessian_eigenvalue": opt.min_hessian_eigenvalue,
                         "message": opt.message},
        "boundary": list(fit.boundary),
        "warnings": list(warnings),
        "semlevel_version": __version__,
    }
    return clean(out)


def fit_to_json(fit, indent: int | None = 2, **context) -> str:
    """The fit as a strict JSON object (NaN and infinities written as null)."""
    return json.dumps(fit_to_dict(fit, **context), indent=indent, allow_nan=False)
