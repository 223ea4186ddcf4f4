"""What every ``semlevel`` subcommand shares: errors and exit statuses, the data source,
fitting with collected warnings, output options and writing the result."""
from __future__ import annotations

import argparse
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:                     # (pandas is imported with the data, not the parser)
    import pandas as pd

__all__ = ["PROG", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERNAL",
           "EXIT_INTERRUPTED", "CLIError", "Parser", "load_source", "collect_warnings",
           "fit_string", "emit", "warn", "add_output_options", "add_data_options",
           "add_log_option", "log_stream", "FIT_FORMATS", "render_fit"]

PROG = "semlevel"

EXIT_OK = 0            # done
EXIT_FAILURE = 1       # done, but the result is not to be trusted (no convergence, ...)
EXIT_USAGE = 2         # usage error or bad input: nothing (or nothing useful) was computed
EXIT_INTERNAL = 3      # a bug in semlevel
EXIT_INTERRUPTED = 130

FIT_FORMATS = ("text", "json", "markdown", "latex", "csv")


class CLIError(Exception):
    """An error shown as ``semlevel: error: <message>``; exits with ``status`` (2)."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors become CLIError (one message format, no SystemExit)."""

    def error(self, message: str):  # noqa: D102 - argparse API
        raise CLIError(f"{message}\n{self.format_usage().rstrip()}")


# --------------------------------------------------------------------------- data


def load_source(source: str, sep: str | None = None, sheet: str | None = None
                ) -> tuple[pd.DataFrame, str]:
    """DATAFILE: a file read by its suffix, else a shipped dataset by name.

    Returns the long DataFrame and a description of where it came from.
    """
    from .. import datasets
    from ..io.readers import read_data

    path = Path(source).expanduser()
    if not path.exists() and source in datasets.names():
        return datasets.load(source), f"shipped dataset {source!r}"
    if not path.exists():
        import difflib
        close = difflib.get_close_matches(str(source), datasets.names(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise CLIError(f"no such file: {source!r} (nor a shipped dataset: "
                       f"{', '.join(datasets.names())}){hint}")
    sheet_arg: str | int = 0
    if sheet is not None:
        sheet_arg = int(sheet) if sheet.isdigit() else sheet
    frame = read_data(path, sep=sep, sheet=sheet_arg)
    dots = frame.attrs.get("stata_missing")
    if dots:
        print("semlevel: note: '.' read as missing (Stata's missing value): "
              + ", ".join(f"{n} in {col}" for col, n in dots.items()), file=sys.stderr)
    return frame, f"file {str(path)!r}"


# --------------------------------------------------------------------------- fitting


def collect_warnings(work: Callable[[], object]) -> tuple[object, list[str]]:
    """Run ``work()``, returning its result and the distinct warning messages it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = work()
    messages: list[str] = []
    for w in caught:
        text = str(w.message) if issubclass(w.category, UserWarning) \
            else f"{w.category.__name__}: {w.message}"
        if text not in messages:
            messages.append(text)
    return result, messages


def log_stream(args):
    """Where the iteration log goes: standard output above a text report printed there,
    standard error otherwise (JSON and files stay clean)."""
    if getattr(args, "format", "text") == "text" and not getattr(args, "output", None):
        return sys.stdout
    return sys.stderr


_REML_ARG = re.compile(r",\s*(?i:reml)\s*=\s*(TRUE|FALSE|T|F)\s*$")


def formula_and_reml(model: str) -> tuple[str, bool | None]:
    """An lme4 formula with lmer's ``, REML = FALSE`` (or TRUE, T, F; as R writes it)
    after it: the formula and the choice (None when not given: lme4's REML default)."""
    m = _REML_ARG.search(model)
    if m is None:
        return model, None
    return model[:m.start()], m.group(1).upper() in ("TRUE", "T")


def fit_string(model: str, data: pd.DataFrame, log: bool = False, stream=None,
               slot_key: str | None = None):
    """Fit a ``mixed`` command line, or an lme4-style formula (it has a ``~``); (fit,
    warning messages). ``log`` prints the iteration log to ``stream``; ``slot_key`` keys
    the observations within their group by a variable (``--slot-key``)."""
    from ..api import mixed_model
    from ..output.iterlog import IterationLog, wants_log

    if not model.strip():
        raise CLIError("MODEL is empty; give a Stata mixed specification such as "
                       "\"weight week || id: week\"")

    def work():
        if "~" in model:                 # an lme4-style formula (REML by default, as lme4)
            from ..lmer import lmer_model
            formula, reml = formula_and_reml(model)
            pm = lmer_model(formula, data, reml=reml, slot_key=slot_key)
        else:
            pm = mixed_model(model, data, slot_key=slot_key)
        show = log or wants_log(pm.info.spec)
        callback = IterationLog(pm.reml, stream) if show else None
        return pm.fit(callback=callback)

    fit, messages = collect_warnings(work)
    if not fit.converged and not any("converge" in m for m in messages):
        messages.append(f"the fit did not converge: {fit.optimization}")
    return fit, messages


def render_fit(fit, fmt: str, model: str | None, data: str | None,
               messages: list[str]) -> str:
    """One fit in one of :data:`FIT_FORMATS`."""
    from ..output import records, tables
    from ..output.latex import fit_to_latex
    from ..output.markdown import fit_to_markdown

    if fmt == "text":
        text = fit.summary()
        return text if text.endswith("\n") else text + "\n"
    if fmt == "json":
        return records.fit_to_json(fit, model=model, data=data, warnings=messages) + "\n"
    if fmt == "markdown":
        return fit_to_markdown(fit, model=model, data=data)
    if fmt == "latex":
        return fit_to_latex(fit, model=model, data=data)
    if fmt == "csv":
        return tables.fit_to_csv(fit)
    raise CLIError(f"unknown format {fmt!r}")


# --------------------------------------------------------------------------- output


def emit(text: str, output: str | None) -> None:
    """Write ``text`` to the file ``output``, or to standard output."""
    if output:
        try:
            Path(output).expanduser().write_text(text, encoding="utf-8", newline="")
        except OSError as exc:
            raise CLIError(f"cannot write {output!r}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def warn(messages: list[str]) -> None:
    for m in messages:
        print(f"{PROG}: warning: {m}", file=sys.stderr)


def add_output_options(p: argparse.ArgumentParser, formats=FIT_FORMATS,
                       what: str = "the result") -> None:
    p.add_argument("--format", "-f", choices=formats, default="text",
                   help=f"{', '.join(formats[:-1])} or {formats[-1]} (default text)")
    p.add_argument("--output", "-o", metavar="FILE", default=None,
                   help=f"write {what} to FILE instead of standard output")


def add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("datafile", metavar="DATAFILE",
                   help="data file (.csv, .tsv, .parquet, .dta, .xlsx; .csv.gz ...) or the "
                   "name of a shipped dataset (see: semlevel datasets)")
    p.add_argument("--sep", default=None, help="field separator of a CSV/TSV file "
                   "(default ',' for .csv, tab for .tsv)")
    p.add_argument("--sheet", default=None, help="sheet of an Excel file (name or 0-based "
                   "number; default the first)")


def add_slot_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--slot-key", default=None, metavar="VAR",
                   help="key the observations within their lowest-level group by the values "
                   "of VAR (slot obs=2 is the one with VAR == 2, as reshape ... j(VAR)); "
                   "default: by their order in the group")


def add_log_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log", action="store_true",
                   help="print the iteration log (as Stata's log option; on standard "
                   "error unless a text report goes to standard output)")
