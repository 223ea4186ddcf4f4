"""The ``semlevel`` command line.

::

    semlevel fit DATAFILE "MODEL" [--format text|json|markdown|latex] [--output FILE]
    semlevel demo [--format ...]
    semlevel datasets

DATAFILE is a data file (.csv, .tsv, .parquet, .dta, .xlsx; compressed CSV too) or the
name of a shipped dataset (``semlevel datasets`` lists them). MODEL is a Stata ``mixed``
command line without the leading ``mixed``, e.g. ``"weight week || id: week, cov(un)"``.

Errors (unknown variable, syntax error, unreadable file) are printed as
``semlevel: error: <message>`` on stderr with exit status 2; warnings (non-convergence,
variances at the boundary) as ``semlevel: warning: <message>`` on stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

__all__ = ["main", "read_data", "fit_to_dict", "to_json", "to_markdown", "to_latex",
           "CLIError"]

PROG = "semlevel"
FORMATS = ("text", "json", "markdown", "latex")

# The demo: example 2 of Stata's mixed manual (random intercept and slope for the pigs).
DEMO_DATA = "pig"
DEMO_MODEL = "weight week || id: week"
DEMO_MANUAL_LOGLIK = -869.03825

DATASET_NOTES = {
    "pig": "weights of 48 pigs over 9 weeks (manual examples 1-3)",
    "productivity": "US states' production, 1970-1986, in 9 regions (manual examples 4-5)",
    "ovary": "ovarian follicles in 11 mares (manual example 8)",
    "t43": "reaction times of 5 persons under 4 drugs (manual example 13)",
}


class CLIError(Exception):
    """An error to report to the user as ``semlevel: error: <message>`` (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors become CLIError (one message format, no SystemExit)."""

    def error(self, message: str):  # noqa: D102 - argparse API
        raise CLIError(f"{message}\n{self.format_usage().rstrip()}")


# --------------------------------------------------------------------------- data


_READERS = {
    ".csv": ("csv", None), ".txt": ("csv", None), ".tsv": ("tsv", None), ".tab": ("tsv", None),
    ".parquet": ("parquet", "pyarrow"), ".pq": ("parquet", "pyarrow"),
    ".dta": ("stata", None), ".xlsx": ("excel", "openpyxl"), ".xlsm": ("excel", "openpyxl"),
}
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")


def _kind_of(path: Path) -> tuple[str, str | None]:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
        if not suffixes or suffixes[-1] not in (".csv", ".txt", ".tsv", ".tab"):
            raise CLIError(f"cannot read {str(path)!r}: compressed files must be CSV or TSV "
                           "(e.g. data.csv.gz)")
    ext = suffixes[-1] if suffixes else ""
    if ext not in _READERS:
        known = ", ".join(sorted(_READERS))
        raise CLIError(f"cannot read {str(path)!r}: unknown file type {ext or '(no suffix)'!r}; "
                       f"semlevel reads {known} files (CSV/TSV also compressed)")
    return _READERS[ext]


def _require(package: str, what: str) -> None:
    import importlib.util
    alternatives = {"pyarrow": ("pyarrow", "fastparquet")}.get(package, (package,))
    if all(importlib.util.find_spec(p) is None for p in alternatives):
        raise CLIError(f"reading {what} files needs the {package!r} package, which is not "
                       f"installed: python -m pip install {package}")


def read_data(source: str, sep: str | None = None) -> tuple[pd.DataFrame, str]:
    """Read DATAFILE: a file by its suffix, else a shipped dataset by name.

    Returns the long DataFrame and a description of where it came from.
    """
    from . import datasets

    path = Path(source).expanduser()
    if not path.exists():
        if source in datasets.names():
            return datasets.load(source), f"shipped dataset {source!r}"
        raise CLIError(f"no such file: {source!r} (nor a shipped dataset: "
                       f"{', '.join(datasets.names())})")
    if path.is_dir():
        raise CLIError(f"{source!r} is a directory, not a data file")
    kind, package = _kind_of(path)
    if package:
        _require(package, path.suffix)
    try:
        if kind == "csv":
            frame = pd.read_csv(path, sep=sep if sep else ",")
        elif kind == "tsv":
            frame = pd.read_csv(path, sep=sep if sep else "\t")
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        elif kind == "stata":
            # Stata's own semantics: value labels are display only, models use the codes
            frame = pd.read_stata(path, convert_categoricals=False)
        else:
            frame = pd.read_excel(path)
    except CLIError:
        raise
    except ImportError as exc:  # a reader's optional dependency
        raise CLIError(f"cannot read {source!r}: {exc}") from None
    except (OSError, ValueError) as exc:  # parser errors are ValueErrors
        raise CLIError(f"cannot read {source!r}: {exc}") from None
    if frame.shape[1] == 0 or len(frame) == 0:
        raise CLIError(f"{source!r} holds no data")
    return frame, f"file {str(path)!r}"


# --------------------------------------------------------------------------- results as data


def _clean(x: Any) -> Any:
    """JSON-safe values: numpy scalars to Python, NaN/inf to None, recursively."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return [_clean(v) for v in x.tolist()]
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


def _records(frame: pd.DataFrame, key: str) -> list[dict]:
    out = frame.copy()
    out.index.name = key
    return out.reset_index().to_dict(orient="records")


def _random_blocks(fit) -> dict[str, str]:
    """Covariance block (``id: Unstructured``, ``Residual``) of each random-table label."""
    blocks: dict[str, str] = {}
    for name in ("random_variance", "random_sd"):
        try:
            tab = getattr(fit, name)
        except Exception:  # noqa: BLE001 - the block is decoration only
            continue
        if "block" in tab.columns:
            blocks.update({str(k): str(v) for k, v in tab["block"].items()})
    return blocks


def fit_to_dict(fit, model: str | None = None, data: str | None = None,
                warnings_: Sequence[str] = ()) -> dict:
    """Everything the JSON output holds, as plain Python (NaN already None)."""
    spec = fit.spec
    fixed = _records(fit.fixed, "term")
    random = _records(fit.random, "label")
    blocks = _random_blocks(fit)
    for r in random:
        r["block"] = blocks.get(r["label"])
        r["boundary"] = r["label"] in fit.boundary or \
            r["label"].replace("sd(", "var(", 1) in fit.boundary
    groups = _records(fit.group_summary(), "level")
    sample = fit.model.data.sample
    opt = fit.optimization
    try:
        chi2, df, p = fit.wald
        wald = {"chi2": chi2, "df": df, "p": p}
    except Exception:  # noqa: BLE001 - optional extra
        wald = None
    try:
        lr = dict(fit.lr_linear)
    except Exception:  # noqa: BLE001 - optional extra
        lr = None
    out = {
        "model": model,
        "data": data,
        "method": "REML" if fit.reml else "ML",
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
        "groups": groups,
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
        "warnings": list(warnings_),
    }
    from . import __version__
    out["semlevel_version"] = __version__
    return _clean(out)


def to_json(fit, **context) -> str:
    """The fit as a JSON object (NaN and infinities written as null)."""
    return json.dumps(fit_to_dict(fit, **context), indent=2, allow_nan=False)


def _num(x, fmt: str = ".7g") -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "."
    if not math.isfinite(x):
        return "."
    return format(x, fmt)


_FIXED_COLS = [("coef", "Coef.", ".7g"), ("se", "Std. err.", ".7g"), ("z", "z", ".2f"),
               ("p", "P>|z|", ".3f"), ("ci_lower", "CI lower", ".7g"),
               ("ci_upper", "CI upper", ".7g")]
_RANDOM_COLS = [("estimate", "Estimate", ".7g"), ("se", "Std. err.", ".7g"),
                ("ci_lower", "CI lower", ".7g"), ("ci_upper", "CI upper", ".7g")]


def _fixed_cols(fit):
    cols = list(_FIXED_COLS)
    if "t" in fit.fixed.columns:
        cols[2] = ("t", "t", ".2f")
        cols[3] = ("p", "P>|t|", ".3f")
    if "df" in fit.fixed.columns:
        cols.insert(3, ("df", "df", ".2f"))
    return cols


def _level_text(level: float) -> str:
    return f"{level:g}%"


def _headline(fit, model: str | None) -> list[tuple[str, str]]:
    lines = []
    if model:
        lines.append(("Model", model))
    lines += [("Method", "REML" if fit.reml else "ML"),
              ("Number of obs", str(fit.n_obs)),
              ("Log restricted likelihood" if fit.reml else "Log likelihood",
               _num(fit.loglik, ".5f")),
              ("AIC", _num(fit.aic, ".4f")), ("BIC", _num(fit.bic, ".4f")),
              ("Converged", "yes" if fit.converged else "NO")]
    if fit.boundary:
        lines.append(("At the boundary (zero)", ", ".join(fit.boundary)))
    return lines


def to_markdown(fit, model: str | None = None, data: str | None = None) -> str:
    """The fit as Markdown: a key/value header and pipe tables."""

    def esc(s) -> str:
        return str(s).replace("|", "\\|")

    def table(header: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
        out = ["| " + " | ".join(esc(h) for h in header) + " |",
               "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
        out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
        return out

    title = "Mixed-effects " + ("REML" if fit.reml else "ML") + " regression"
    lines = [f"## {title}", ""]
    head = _headline(fit, f"`{model}`" if model else None)
    if data:
        head.insert(1 if model else 0, ("Data", data))
    lines += [f"- **{k}:** {v}" for k, v in head]
    lines.append("")

    g = fit.group_summary()
    lines += ["### Groups", ""]
    lines += table(["Level", "Groups", "Min obs", "Avg obs", "Max obs"],
                   [[str(lv), str(int(r["groups"])), str(int(r["min"])),
                     _num(r["avg"], ".1f"), str(int(r["max"]))] for lv, r in g.iterrows()],
                   ["l", "r", "r", "r", "r"])
    lines.append("")

    cols = _fixed_cols(fit)
    ci = _level_text(fit.level)
    lines += [f"### Fixed effects ({fit.model.data.outcome})", ""]
    header = ["Term"] + [c[1].replace("CI", ci + " CI") for c in cols]
    rows = [[f"`{term}`"] + [_num(r[c], f) for c, _, f in cols]
            for term, r in fit.fixed.iterrows()]
    lines += table(header, rows, ["l"] + ["r"] * len(cols))
    lines.append("")

    lines += ["### Random-effects parameters", ""]
    blocks = _random_blocks(fit)
    header = ["Parameter", "Block"] + [c[1].replace("CI", ci + " CI") for c in _RANDOM_COLS]
    rows = []
    for lab, r in fit.random.iterrows():
        cells = [_num(r[c], f) for c, _, f in _RANDOM_COLS]
        name = f"`{lab}`" + (" (boundary)" if lab in fit.boundary else "")
        rows.append([name, blocks.get(str(lab), "")] + cells)
    lines += table(header, rows, ["l", "l"] + ["r"] * len(_RANDOM_COLS))
    try:
        lr = fit.lr_linear
        lines += ["", f"LR test vs. linear model: {lr['kind']} = {_num(lr['statistic'], '.2f')}, "
                      f"Prob > chi2 = {_num(lr['p'], '.4f')}"]
        if lr.get("note"):
            lines.append(f"({lr['note']})")
    except Exception:  # noqa: BLE001 - optional extra
        pass
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}"}


def _tex(s) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(s))


def _texnum(x, fmt: str) -> str:
    s = _num(x, fmt)
    return "$-$" + s[1:] if s.startswith("-") else s


def to_latex(fit, model: str | None = None, data: str | None = None) -> str:
    """The fit as LaTeX booktabs tabulars (``\\usepackage{booktabs}``)."""
    ci = _level_text(fit.level).replace("%", r"\%")
    out = [f"% semlevel: {model or ''}".rstrip(),
           f"% data: {data}" if data else "% data: (DataFrame)",
           "% requires \\usepackage{booktabs}", ""]

    cols = _fixed_cols(fit)
    ci_at = [i for i, c in enumerate(cols) if c[0] == "ci_lower"][0]
    names = [c[1] for c in cols[:ci_at]]
    hdr_names = [{"z": "$z$", "t": "$t$", "P>|z|": "$P>|z|$", "P>|t|": "$P>|t|$"}.get(n, _tex(n))
                 for n in names]
    out += [r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
            " & ".join([_tex(fit.model.data.outcome)] + hdr_names
                       + [r"\multicolumn{2}{c}{" + ci + r" conf.\ interval}"]) + r" \\",
            r"\midrule"]
    for term, r in fit.fixed.iterrows():
        out.append(" & ".join([_tex(term)] + [_texnum(r[c], f) for c, _, f in cols]) + r" \\")
    out.append(r"\midrule")
    n = len(cols)
    stats = [("Observations", str(fit.n_obs)),
             ("Log restricted likelihood" if fit.reml else "Log likelihood",
              _texnum(fit.loglik, ".5f")),
             ("AIC", _texnum(fit.aic, ".4f")), ("BIC", _texnum(fit.bic, ".4f"))]
    for k, v in stats:
        out.append(f"{k} & \\multicolumn{{{n}}}{{r}}{{{v}}} \\\\")
    out += [r"\bottomrule", r"\end{tabular}", ""]

    blocks = _random_blocks(fit)
    out += [r"\begin{tabular}{lrrrr}", r"\toprule",
            r"Random-effects parameters & Estimate & Std.\ err. & \multicolumn{2}{c}{"
            + ci + r" conf.\ interval} \\", r"\midrule"]
    current = None
    rows = list(fit.random.iterrows())
    for i, (lab, r) in enumerate(rows):
        block = blocks.get(str(lab))
        if block != current and block and block != "Residual":
            if i:
                out.append(r"\addlinespace")
            out.append(r"\multicolumn{5}{l}{" + _tex(block) + r"} \\")
        elif block == "Residual" and current not in (None, "Residual"):
            out.append(r"\addlinespace")
        current = block
        name = str(lab)
        if ": " in name and block and block != "Residual":
            name = name.split(": ", 1)[1]
        cell = (r"\quad " if block and block != "Residual" else "") + _tex(name)
        if lab in fit.boundary:
            cell += r"\textsuperscript{b}"
        out.append(" & ".join([cell] + [_texnum(r[c], f) for c, _, f in _RANDOM_COLS]) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    if fit.boundary:
        out.append(r"% \textsuperscript{b}: estimated at the boundary (zero); no standard error")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- commands


def _fit_quietly(spec: str, data: pd.DataFrame):
    """Fit, collecting the warnings (printed by the caller as ``semlevel: warning:``)."""
    from .api import mixed

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = mixed(spec, data=data)
    messages = []
    for w in caught:
        text = str(w.message)
        if text not in messages:
            messages.append(text if issubclass(w.category, UserWarning)
                            else f"{w.category.__name__}: {text}")
    if not fit.converged and not any("converge" in m for m in messages):
        messages.append(f"the fit did not converge: {fit.optimization}")
    return fit, messages


def _render(fit, fmt: str, model: str, data: str, messages: list[str]) -> str:
    if fmt == "text":
        text = fit.summary()
        return text if text.endswith("\n") else text + "\n"
    if fmt == "json":
        return to_json(fit, model=model, data=data, warnings_=messages) + "\n"
    if fmt == "markdown":
        return to_markdown(fit, model=model, data=data)
    return to_latex(fit, model=model, data=data)


def _emit(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).expanduser().write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"cannot write {output!r}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def _warn(messages: list[str]) -> None:
    for m in messages:
        print(f"{PROG}: warning: {m}", file=sys.stderr)


def _run_fit(source: str, model: str, fmt: str, output: str | None, sep: str | None) -> int:
    data, _where = read_data(source, sep)
    fit, messages = _fit_quietly(model, data)
    _emit(_render(fit, fmt, model, source, messages), output)
    _warn(messages)
    return 0


def _cmd_fit(args) -> int:
    if not args.model.strip():
        raise CLIError("MODEL is empty; give a Stata mixed specification such as "
                       "\"weight week || id: week\"")
    return _run_fit(args.datafile, args.model, args.format, args.output, args.sep)


def _cmd_demo(args) -> int:
    from . import datasets

    data = datasets.load(DEMO_DATA)
    fit, messages = _fit_quietly(DEMO_MODEL, data)
    _emit(_render(fit, args.format, DEMO_MODEL, DEMO_DATA, messages), args.output)
    _warn(messages)
    agree = abs(fit.loglik - DEMO_MANUAL_LOGLIK) <= 1e-5  # one unit of the printed digit
    line = (f"{PROG} demo: fitted the random-slope model \"{DEMO_MODEL}\" (Stata mixed manual, "
            f"example 2) by {'REML' if fit.reml else 'ML'} to the shipped '{DEMO_DATA}' data "
            f"({fit.n_obs} observations, {fit.group_summary()['groups'].iloc[0]} pigs); "
            f"log likelihood {fit.loglik:.5f} "
            f"({'matches' if agree else 'DIFFERS from'} the manual's {DEMO_MANUAL_LOGLIK:.5f}).")
    # the report may be JSON on stdout: keep stdout parseable and say it on stderr then
    print(line, file=sys.stdout if args.format == "text" and not args.output else sys.stderr)
    return 0 if agree else 1


def _cmd_datasets(args) -> int:
    from . import datasets

    rows = []
    for name in datasets.names():
        frame = datasets.load(name)
        rows.append((name, f"{len(frame)} rows", DATASET_NOTES.get(name, ""),
                     " ".join(map(str, frame.columns))))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    for name, n, note, cols in rows:
        print(f"{name:<{w0}}  {n:>{w1}}  {note}")
        print(f"{'':<{w0}}  {'':>{w1}}  columns: {cols}")
    print(f"\nUse a name in place of a file: {PROG} fit pig \"weight week || id: week\"")
    print("Provenance: semlevel/datasets/PROVENANCE.md")
    return 0


def _parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(prog=PROG, description="Fit Stata `mixed` models as constrained structural "
                "equation models.")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    p.add_argument("--traceback", action="store_true",
                   help="on an error, show the Python traceback (for bug reports)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    f = sub.add_parser("fit", help="fit a mixed model to a data file or shipped dataset",
                       description="Fit a Stata mixed model, e.g. "
                       "semlevel fit pig \"weight week || id: week, cov(un)\"")
    f.add_argument("datafile", metavar="DATAFILE",
                   help="data file (.csv, .tsv, .parquet, .dta, .xlsx) or shipped dataset name")
    f.add_argument("model", metavar="MODEL",
                   help="Stata mixed syntax, e.g. \"weight week || id: week, cov(un)\"")
    _output_options(f)
    f.add_argument("--sep", default=None, help="field separator of a CSV/TSV file "
                   "(default ',' for .csv, tab for .tsv)")
    f.set_defaults(handler=_cmd_fit)

    d = sub.add_parser("demo", help=f"fit the manual's pig random-slope model "
                       f"({DEMO_MODEL}) on shipped data",
                       description="Fit example 2 of Stata's mixed manual to the shipped pig "
                       "data and print the report.")
    _output_options(d)
    d.set_defaults(handler=_cmd_demo)

    s = sub.add_parser("datasets", help="list the shipped datasets",
                       description="List the shipped example datasets.")
    s.set_defaults(handler=_cmd_datasets)
    return p


def _output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", "-f", choices=FORMATS, default="text",
                   help="text (Stata-like report), json, markdown or latex (default text)")
    p.add_argument("--output", "-o", metavar="FILE", default=None,
                   help="write the result to FILE instead of standard output")


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 2 error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except CLIError as exc:
        return _error(str(exc))
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else _error(exc.code)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return _error("a command is required: fit, demo or datasets")
    try:
        return int(args.handler(args))
    except CLIError as exc:
        return _error(str(exc))
    except BrokenPipeError:
        # the reader went away (``semlevel demo | head``): stop quietly, as Python's docs advise
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (ValueError, KeyError, TypeError, OSError) as exc:
        # user-facing errors: unknown variable, syntax error, unsupported option, ...
        if args.traceback:
            raise
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return _error(str(message) or type(exc).__name__)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
