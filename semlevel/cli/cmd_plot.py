"""``semlevel plot DATAFILE MODEL KIND -o FILE``: fit a model and write one of its plots."""
from __future__ import annotations

from .common import (EXIT_FAILURE, EXIT_OK, CLIError, add_data_options, add_log_option,
                     add_slot_option, fit_string, load_source, log_stream, warn)

HELP = "fit a model and write a plot of it (caterpillar, residuals, QQ, profile, ...)"
DESCRIPTION = """\
Fit a model (as `semlevel fit`) and write a picture of it with matplotlib (pip install
"semlevel[plot]"): ranef (caterpillar plot of the BLUPs), residuals (vs fitted), qq,
trajectories (--x VAR), profile. The format comes from the file's suffix (png, pdf, svg).

examples:
  semlevel plot pig "weight week || id: week" ranef -o ranef.png
  semlevel plot pig "weight week || id:" trajectories --x week -o pigs.pdf"""

KINDS = ("ranef", "residuals", "qq", "trajectories", "profile")


def register(sub) -> None:
    import argparse
    p = sub.add_parser("plot", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(p)
    add_slot_option(p)
    p.add_argument("model", metavar="MODEL", help="the model, as for `semlevel fit`")
    p.add_argument("kind", choices=KINDS, help="which plot")
    p.add_argument("-o", "--output", required=True, help="file to write (.png, .pdf, .svg)")
    p.add_argument("--level", default=None, help="ranef: the level (default: the lowest)")
    p.add_argument("--x", default=None, help="trajectories: the covariate on the x axis")
    p.add_argument("--dpi", type=float, default=300, help="resolution of a PNG (300)")
    add_log_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    if args.kind == "trajectories" and not args.x:
        raise CLIError("trajectories need --x VAR (the covariate on the x axis)")
    data, _ = load_source(args.datafile, args.sep, args.sheet)
    fit, messages = fit_string(args.model, data, args.log, log_stream(args),
                               slot_key=args.slot_key)
    options = {"ranef": {"level": args.level},
               "trajectories": {"x": args.x, "data": data}}.get(args.kind, {})
    try:
        import matplotlib
        matplotlib.use("Agg")                   # a file, no window (a fresh process)
        figure = fit.plot(args.kind, **options)
        figure.savefig(args.output, dpi=args.dpi)
    except ImportError as exc:
        raise CLIError(str(exc)) from None
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    warn(messages)
    return EXIT_OK if fit.converged else EXIT_FAILURE
