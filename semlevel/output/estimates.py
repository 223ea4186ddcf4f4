"""Side-by-side estimates of several fits (Stata's ``estimates table`` / ``etable``).

:func:`estimates_table` returns a DataFrame: one column per fit; rows indexed by
(``section``, ``parameter``, ``statistic``): the fixed effects (``coef`` and ``se``), the
random-effects parameters (``estimate`` and ``se``, as each fit's ``random`` table shows
them: variances, or SDs and correlations with ``stddeviations``) and the requested fit
statistics. A parameter a fit does not have is NaN. ``format="markdown"`` or ``"latex"``
renders the table as text, standard errors in parentheses under the estimates.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..escape import markdown_text
from .latex import tex
from .markdown import markdown_table

__all__ = ["estimates_table", "render_table", "FIT_STATS"]

#: fit statistics by name: how to read them from a fit
FIT_STATS = {
    "loglik": lambda f: f.loglik,
    "aic": lambda f: f.aic,
    "bic": lambda f: f.bic,
    "n_obs": lambda f: f.n_obs,
    "n_params": lambda f: f.n_params,
    "deviance": lambda f: f.deviance,
    "converged": lambda f: float(f.converged),
}

_STAT_TEXT = {"loglik": "log likelihood", "aic": "AIC", "bic": "BIC", "n_obs": "N",
              "n_params": "parameters", "deviance": "deviance", "converged": "converged"}


def estimates_table(fits: Sequence, names: Sequence[str] | None = None,
                    stats: Sequence[str] = ("loglik", "aic", "bic", "n_obs"),
                    se: bool = True, format: str | None = None, digits: int = 4
                    ) -> pd.DataFrame | str:
    """Estimates of ``fits`` side by side (see the module docstring).

    ``names`` label the columns (default ``model 1``, ...); ``stats`` are names from
    :data:`FIT_STATS`; ``se=False`` leaves the standard-error rows out. With ``format``
    (``"markdown"``, ``"latex"``) the rendered text is returned instead of the DataFrame.
    """
    fits = list(fits)
    if not fits:
        raise ValueError("estimates_table needs at least one fit")
    names = [f"model {i + 1}" for i in range(len(fits))] if names is None else list(names)
    if len(names) != len(fits):
        raise ValueError(f"{len(names)} names for {len(fits)} fits")
    if len(set(names)) != len(names):
        raise ValueError("the names of the fits must differ")
    unknown = [s for s in stats if s not in FIT_STATS]
    if unknown:
        raise ValueError(f"unknown statistic(s) {unknown}; available: {', '.join(FIT_STATS)}")
    cols: dict[str, dict] = {}
    order: list[tuple] = []

    def put(key: tuple, name: str, value: float) -> None:
        if key not in order:
            order.append(key)
        cols.setdefault(name, {})[key] = value

    for name, fit in zip(names, fits):
        fx = fit.fixed
        for p, r in fx.iterrows():
            put(("fixed", p, "coef"), name, float(r["coef"]))
            if se:
                put(("fixed", p, "se"), name, float(r["se"]))
        rnd = fit.random
        for p, r in rnd.iterrows():
            put(("random", p, "estimate"), name, float(r["estimate"]))
            if se:
                put(("random", p, "se"), name, float(r["se"]))
    # parameters in order of first appearance (residual parameters after the random
    # effects, as in the report); each estimate followed by its se
    params = list(dict.fromkeys((s, p) for s, p, _ in order))
    params.sort(key=lambda sp: (sp[0] == "random" and "Residual" in sp[1]))
    rows = [(s, p, k) for s, p in params for k in ("coef", "estimate", "se")
            if (s, p, k) in order]
    for name, fit in zip(names, fits):
        for s in stats:
            put(("stats", s, ""), name, float(FIT_STATS[s](fit)))
    rows += [("stats", s, "") for s in stats]
    index = pd.MultiIndex.from_tuples(rows, names=["section", "parameter", "statistic"])
    table = pd.DataFrame({n: [cols.get(n, {}).get(r, np.nan) for r in rows] for n in names},
                         index=index)
    if format is not None:
        return render_table(table, format, digits)
    return table


def _fmt(value: float, digits: int, stat: str = "") -> str:
    if not np.isfinite(value):
        return ""
    if stat in ("n_obs", "n_params", "converged"):
        return f"{int(round(value))}"
    return f"{value:.{digits}f}"


def render_table(table: pd.DataFrame, format: str = "markdown", digits: int = 4) -> str:
    """Text of an :func:`estimates_table` DataFrame: ``markdown`` or ``latex``; standard
    errors in parentheses on the line under their estimate. Names are escaped by the
    writers every output uses (:func:`.markdown.markdown_table`, :func:`.latex.tex`)."""
    if format not in ("markdown", "latex"):
        raise ValueError(f"format must be 'markdown' or 'latex', not {format!r}")
    names = list(table.columns)
    lines: list[list[str]] = []
    sections: list[str] = []
    for (section, param, stat), row in table.iterrows():
        if stat == "se":
            cells = [f"({_fmt(v, digits)})" if np.isfinite(v) else "" for v in row]
            lines.append([""] + cells)
        else:
            label = _STAT_TEXT.get(param, param) if section == "stats" else param
            lines.append([label] + [_fmt(v, digits, param if section == "stats" else "")
                                    for v in row])
        sections.append(section)
    if format == "markdown":
        out = markdown_table([""] + [markdown_text(n) for n in names],
                             [[markdown_text(c) for c in cells] for cells in lines],
                             ["l"] + ["r"] * len(names))
        out[0] = out[0].replace("|  |", "| |", 1)
        return "\n".join(out) + "\n"
    out = [r"\begin{tabular}{l" + "r" * len(names) + "}", r"\hline",
           " & ".join([""] + [tex(n) for n in names]) + r" \\", r"\hline"]
    prev = None
    for sec, cells in zip(sections, lines):
        if prev is not None and sec != prev:
            out.append(r"\hline")
        out.append(" & ".join(tex(c) for c in cells) + r" \\")
        prev = sec
    out += [r"\hline", r"\end{tabular}"]
    return "\n".join(out) + "\n"
