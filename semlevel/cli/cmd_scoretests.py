"""``semlevel scoretests DATAFILE MODEL``: score tests of releasing each equality label."""
from __future__ import annotations

import argparse
import json

from .common import (EXIT_FAILURE, EXIT_OK, add_data_options, add_log_option,
                     add_output_options, add_slot_option, emit, fit_string, load_source,
                     log_stream, warn)

HELP = "score tests of releasing each equality constraint of a fitted model"
FORMATS = ("text", "json", "markdown", "latex", "csv")


def register(sub) -> None:
    p = sub.add_parser("scoretests", help=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Fit MODEL, then test releasing each equality label (one "
                       "free parameter per member) by a score test, without refitting "
                       "(Stata's estat scoretests, lavaan's lavTestScore).\n\nexamples:\n"
                       "  semlevel scoretests pig \"weight week || id: week\"\n"
                       "  semlevel scoretests pig \"weight week || id: week\" --label "
                       "\"var(Residual)\" --univariate -f csv")
    add_data_options(p)
    add_slot_option(p)
    p.add_argument("model", metavar="MODEL", help="Stata mixed syntax")
    p.add_argument("--label", action="append", default=None, metavar="LABEL",
                   help="test this label only (repeatable; default: every label with two "
                   "or more members)")
    p.add_argument("--univariate", action="store_true",
                   help="also test each member of a label released alone")
    p.add_argument("--information", choices=("expected", "observed"), default="expected",
                   help="information matrix of the tests (default expected)")
    prog = p.add_mutually_exclusive_group()
    prog.add_argument("--progress", dest="progress", action="store_const", const=True,
                      default=None, help="show progress on standard error (default: only "
                      "when it is a terminal)")
    prog.add_argument("--no-progress", dest="progress", action="store_const", const=False)
    add_output_options(p, FORMATS, "the table")
    add_log_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..inference.score import score_tests
    from ..output.records import clean, records
    from ..output.tables import render_table

    data, _ = load_source(args.datafile, args.sep, args.sheet)
    fit, messages = fit_string(args.model, data, args.log, log_stream(args),
                               slot_key=args.slot_key)
    tests = score_tests(fit, labels=args.label, univariate=args.univariate,
                        information=args.information, progress=args.progress)
    if not args.univariate:
        tests = tests.drop(columns=["member"])
    if args.format == "json":
        out = {"model": args.model, "data": args.datafile, "loglik": fit.loglik,
               "n_obs": fit.n_obs, "method": "REML" if fit.reml else "ML",
               "converged": fit.converged, "information": args.information,
               "tests": records(tests, "test"), "warnings": messages}
        text = json.dumps(clean(out), indent=2, allow_nan=False) + "\n"
    else:
        method = "log restricted-likelihood" if fit.reml else "log likelihood"
        title = (f"Score tests of the equality constraints of: {args.model}\n"
                 f"({fit.n_obs} observations, {method} {fit.loglik:.5f}; "
                 f"{args.information} information)")
        text = render_table(tests, args.format,
                            None if args.format == "csv" else title)
    emit(text, args.output)
    warn(messages)
    return EXIT_OK if fit.converged else EXIT_FAILURE
