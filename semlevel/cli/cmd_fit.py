"""``semlevel fit DATAFILE MODEL``: fit a model and print the report."""
from __future__ import annotations

from .common import (EXIT_FAILURE, EXIT_OK, add_data_options, add_log_option,
                     add_output_options, emit, fit_string, load_source, log_stream, render_fit,
                     warn)

HELP = "fit a mixed model to a data file or shipped dataset"
DESCRIPTION = """\
Fit a Stata mixed model, or an lme4 formula (MODEL with a "~": REML by default, as
lme4; add ", REML = FALSE" for ML), and print the report (text: as Stata prints it; json,
markdown, latex; csv: the fixed and random tables stacked).

examples:
  semlevel fit pig "weight week || id: week, cov(un)"
  semlevel fit pig "weight ~ week + (week | id), REML = FALSE"
  semlevel fit mydata.dta "y x i.group || school: || class:, reml" --format json -o fit.json
  semlevel fit pig "weight week || id: week" --log"""


def register(sub) -> None:
    p = sub.add_parser("fit", help=HELP, description=DESCRIPTION,
                       formatter_class=_raw())
    add_data_options(p)
    p.add_argument("model", metavar="MODEL",
                   help="Stata mixed syntax without the word mixed, e.g. "
                   "\"weight week || id: week, cov(un)\"; or an lme4 formula, e.g. "
                   "\"weight ~ week + (week | id), REML = FALSE\"")
    add_output_options(p)
    add_log_option(p)
    p.set_defaults(handler=run)


def _raw():
    import argparse
    return argparse.RawDescriptionHelpFormatter


def run(args) -> int:
    data, _ = load_source(args.datafile, args.sep, args.sheet)
    fit, messages = fit_string(args.model, data, args.log, log_stream(args))
    emit(render_fit(fit, args.format, args.model, args.datafile, messages), args.output)
    warn(messages)
    return EXIT_OK if fit.converged else EXIT_FAILURE
