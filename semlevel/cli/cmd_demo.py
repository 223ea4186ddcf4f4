"""``semlevel demo [NAME]``: fit one of the manual's examples on shipped data."""
from __future__ import annotations

import argparse
import sys

from .common import (EXIT_FAILURE, EXIT_OK, CLIError, add_log_option, add_output_options,
                     emit, fit_string, log_stream, render_fit, warn)
from .demos import DEFAULT_DEMO, DEMOS

HELP = "fit an example of the Stata mixed manual on shipped data (default: pig)"


def register(sub) -> None:
    listing = "\n".join(f"  {d.name:<20} {d.example}: {d.about}\n  {'':<20} "
                        f"{d.data}: {d.model}" for d in DEMOS.values())
    p = sub.add_parser("demo", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Fit an example of Stata's mixed manual to the shipped data, "
                       "print the report and a line saying whether the log likelihood "
                       "matches the manual's (exit status 1 if it does not).\n\nexamples:\n"
                       + listing)
    p.add_argument("name", metavar="NAME", nargs="?", default=DEFAULT_DEMO,
                   help=f"which example (default {DEFAULT_DEMO}; --list shows them)")
    p.add_argument("--list", action="store_true", help="list the examples and exit")
    add_output_options(p)
    add_log_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    if args.list:
        w = max(len(n) for n in DEMOS)
        for d in DEMOS.values():
            print(f"{d.name:<{w}}  {d.example}: {d.about}")
            note = "   (demo: floats rounded as Stata stores them)" if d.float32 else ""
            print(f"{'':<{w}}  semlevel fit {d.data} \"{d.model}\"{note}")
        return EXIT_OK
    demo = DEMOS.get(args.name)
    if demo is None:
        raise CLIError(f"unknown demo {args.name!r}; the demos are {', '.join(DEMOS)}")
    data = demo.load()
    fit, messages = fit_string(demo.model, data, args.log, log_stream(args))
    emit(render_fit(fit, args.format, demo.model, demo.data, messages), args.output)
    warn(messages)
    printed = float(demo.manual_loglik)
    agree = abs(fit.loglik - printed) <= demo.tolerance
    groups = fit.group_summary()
    line = (f"semlevel demo: fitted \"{demo.model}\" (Stata mixed manual, {demo.example}) by "
            f"{'REML' if fit.reml else 'ML'} to the shipped '{demo.data}' data "
            f"({fit.n_obs} observations, {int(groups['groups'].iloc[0])} "
            f"{groups.index[0]} groups); log likelihood {fit.loglik:.{demo.decimals}f} "
            f"({'matches' if agree else 'DIFFERS from'} the manual's {demo.manual_loglik}).")
    # the report may be JSON on stdout: keep stdout parseable and say it on stderr then
    print(line, file=sys.stdout if args.format == "text" and not args.output else sys.stderr)
    return EXIT_OK if agree and fit.converged else EXIT_FAILURE
