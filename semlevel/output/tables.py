"""Any results table (score tests, model comparisons, the fit's own tables) as text,
JSON, Markdown, LaTeX or CSV, and a fit's two tables as one CSV (``Fit.to_csv()``)."""
from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd

from ..escape import CSV_OPTIONS
from ..io.labels import fit_value_labels
from .latex import tex, texnum
from .markdown import markdown_table
from .records import clean, random_blocks, records
from .terms import term_value_label

__all__ = ["TABLE_FORMATS", "render_table", "fit_to_csv", "fit_tables"]

TABLE_FORMATS = ("text", "json", "markdown", "latex", "csv")


def _cell(x, for_tex: bool = False) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if not math.isfinite(float(x)):
            return "."
        if float(x).is_integer() and abs(x) < 1e15:
            return str(int(x))
        return texnum(x, ".6g") if for_tex else format(float(x), ".6g")
    if x is None or x is pd.NA:
        return ""
    return tex(x) if for_tex else str(x)


def _text_table(frame: pd.DataFrame, title: str | None) -> str:
    cols = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    body = [[str(i)] + [_cell(v) for v in row] for i, row in
            zip(frame.index, frame.itertuples(index=False))]
    numeric = [False] + [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    widths = [max([len(c)] + [len(r[j]) for r in body]) for j, c in enumerate(cols)]

    def line(cells):
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric)).rstrip()
    rule = "-" * len(line(cols))
    out = ([title, ""] if title else []) + [line(cols), rule] + [line(r) for r in body]
    return "\n".join(out) + "\n"


def render_table(frame: pd.DataFrame, fmt: str, title: str | None = None) -> str:
    """``frame`` (its index as the first column) in ``fmt``: ``text`` (aligned columns),
    ``json`` (a list of records, NaN as null), ``markdown``, ``latex`` (booktabs) or ``csv``."""
    key = str(frame.index.name or "name")
    if fmt == "text":
        return _text_table(frame, title)
    if fmt == "json":
        return json.dumps(clean(records(frame, key)), indent=2, allow_nan=False) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        frame.rename_axis(key).to_csv(buf, **CSV_OPTIONS)
        return buf.getvalue()
    if fmt == "markdown":
        header = [key] + [str(c) for c in frame.columns]
        rows = [[str(i)] + [_cell(v) for v in row]
                for i, row in zip(frame.index, frame.itertuples(index=False))]
        align = ["l"] + ["r" if pd.api.types.is_numeric_dtype(frame[c]) else "l"
                         for c in frame.columns]
        lines = title.splitlines() if title else []
        head = [f"### {lines[0]}", ""] + ([*lines[1:], ""] if lines[1:] else []) if lines else []
        return "\n".join(head + markdown_table(header, rows, align)) + "\n"
    if fmt == "latex":
        align = "l" + "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l"
                              for c in frame.columns)
        out = [f"% {t}" for t in (title or "").splitlines()] + ["% requires \\usepackage{booktabs}",
                                                  r"\begin{tabular}{" + align + "}",
                                                  r"\toprule",
                                                  " & ".join(tex(c) for c in [key, *frame.columns])
                                                  + r" \\", r"\midrule"]
        for i, row in zip(frame.index, frame.itertuples(index=False)):
            out.append(" & ".join([tex(i)] + [_cell(v, True) for v in row]) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(out) + "\n"
    raise ValueError(f"unknown table format {fmt!r}; use one of {', '.join(TABLE_FORMATS)}")


def fit_tables(fit) -> pd.DataFrame:
    """The fixed and random tables stacked: one row per parameter, columns ``table``
    (fixed/random), ``parameter``, ``estimate``, ``se``, ``statistic`` (z or t), [``df``,]
    ``p``, ``ci_lower``, ``ci_upper``, ``block``, ``value_label``."""
    fx = fit.fixed
    stat = "t" if "t" in fx.columns else "z"
    labels = fit_value_labels(fit)
    fixed = pd.DataFrame({"table": "fixed", "parameter": fx.index.astype(str),
                          "estimate": fx["coef"].to_numpy(), "se": fx["se"].to_numpy(),
                          "statistic": fx[stat].to_numpy()})
    if "df" in fx.columns:
        fixed["df"] = fx["df"].to_numpy()
    fixed["p"] = fx["p"].to_numpy()
    fixed["ci_lower"] = fx["ci_lower"].to_numpy()
    fixed["ci_upper"] = fx["ci_upper"].to_numpy()
    fixed["block"] = ""
    fixed["value_label"] = [term_value_label(t, labels) or "" for t in fixed["parameter"]]
    rd = fit.random
    blocks = random_blocks(fit)
    random = pd.DataFrame({"table": "random", "parameter": rd.index.astype(str),
                           "estimate": rd["estimate"].to_numpy(), "se": rd["se"].to_numpy(),
                           "statistic": np.nan})
    if "df" in fixed:
        random["df"] = np.nan
    random["p"] = np.nan
    random["ci_lower"] = rd["ci_lower"].to_numpy()
    random["ci_upper"] = rd["ci_upper"].to_numpy()
    random["block"] = [blocks.get(str(l), "") for l in rd.index]
    random["value_label"] = ""
    return pd.concat([fixed, random], ignore_index=True)


def fit_to_csv(fit) -> str:
    """:func:`fit_tables` as CSV text (full precision; empty cells where not defined)."""
    buf = io.StringIO()
    fit_tables(fit).to_csv(buf, index=False, float_format="%.17g", **CSV_OPTIONS)
    return buf.getvalue()
