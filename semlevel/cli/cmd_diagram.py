"""``semlevel diagram DATAFILE MODEL -o FIGURE``: the path diagram of a (fitted) model."""
from __future__ import annotations

import argparse
import sys

from .common import (EXIT_FAILURE, EXIT_OK, CLIError, add_data_options, add_log_option,
                     add_slot_option, collect_warnings, fit_string, load_source, warn)

HELP = "write the path diagram of a model (fitted: with estimates) to a figure file"
SUFFIXES = ("svg", "pdf", "png", "eps", "ps", "dot", "gv", "json", "tex")


def register(sub) -> None:
    p = sub.add_parser("diagram", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Build MODEL's path diagram (the SEM form of the mixed "
                       "model), with the estimates unless --no-fit, and write it to FIGURE; "
                       "the format comes from the suffix (.svg, .pdf, .png, .eps, .ps, .dot, "
                       ".json; .tex writes a TikZ picture). Works without a Graphviz "
                       "installation for SVG, EPS, DOT and TikZ.\n\nexamples:\n"
                       "  semlevel diagram pig \"weight week || id: week\" -o pig.svg --se\n"
                       "  semlevel diagram pig \"weight week || id:\" -o model.svg --no-fit "
                       "--show labels")
    add_data_options(p)
    add_slot_option(p)
    p.add_argument("model", metavar="MODEL", help="Stata mixed syntax")
    p.add_argument("--output", "-o", metavar="FIGURE", required=True,
                   help="figure file to write (" + ", ".join("." + s for s in SUFFIXES) + ")")
    p.add_argument("--no-fit", action="store_true",
                   help="draw the model without fitting it (labels instead of estimates)")
    p.add_argument("--relax", action="append", default=[], metavar="LABEL",
                   help="release this label first (repeatable)")
    p.add_argument("--correlate", action="append", nargs=2, default=[], metavar=("A", "B"),
                   help="add a free covariance between A and B first (repeatable)")
    p.add_argument("--view", choices=("auto", "full", "collapsed", "multilevel"),
                   default="auto", help="full: every slot; collapsed; multilevel (compact)")
    p.add_argument("--show", choices=("auto", "labels", "estimates", "both"), default="auto",
                   help="what the paths carry (default: estimates when fitted)")
    p.add_argument("--se", action="store_true", help="add standard errors to estimates")
    p.add_argument("--stars", action="store_true", help="add significance stars")
    p.add_argument("--standardized", action="store_true", help="standardized estimates")
    p.add_argument("--rankdir", choices=("LR", "TB"), default="LR", help="layout direction")
    p.add_argument("--digits", type=int, default=None, metavar="N",
                   help="decimals of the numbers (default: three significant digits, at "
                        "least two decimals)")
    look = p.add_argument_group("appearance (the Python API's diagram options)")
    look.add_argument("--color", action="store_true",
                      help="light fills by kind of node (default: grayscale, for print)")
    look.add_argument("--no-leading-zero", action="store_true", help="print .46, not 0.46")
    look.add_argument("--intercepts", choices=("box", "triangle", "hide"), default="box",
                      help="intercepts in the outcome's box, as a triangle node, or hidden")
    look.add_argument("--no-covariates", action="store_true",
                      help="leave out the covariate boxes and their paths")
    look.add_argument("--fixed", choices=("label", "dashed", "both"), default="label",
                      help="how fixed paths are marked")
    look.add_argument("--no-note", action="store_true", help="no figure note")
    look.add_argument("--level-boxes", action="store_true",
                      help="a dashed box around each level's latents")
    look.add_argument("--fontname", default="Helvetica", help="font family (Helvetica)")
    look.add_argument("--fontsize", type=float, default=11.0, help="node font size, pt")
    look.add_argument("--width", type=float, default=None,
                      help="largest width of the figure, inches")
    look.add_argument("--label", action="append", default=[], nargs=2,
                      metavar=("LABEL", "TEXT"), help="display text of a parameter label, "
                      "e.g. --label 'var(Residual)' S_e (repeatable)")
    look.add_argument("--name", action="append", default=[], nargs=2,
                      metavar=("VARIABLE", "TEXT"), help="display text of a variable or "
                      "level, e.g. --name weight y (repeatable)")
    add_log_option(p)
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..diagram import render, to_tikz
    from ..diagram.tikz import tikz_document_header
    from ..diagram.layout import DiagramRenderError

    suffix = args.output.rsplit(".", 1)[-1].lower() if "." in args.output else ""
    if suffix not in SUFFIXES:
        raise CLIError(f"cannot tell the figure format of {args.output!r}: use one of "
                       + ", ".join("." + s for s in SUFFIXES))
    if args.no_fit and (args.se or args.stars or args.standardized):
        raise CLIError("--se, --stars and --standardized need estimates: drop --no-fit")
    data, _ = load_source(args.datafile, args.sep, args.sheet)
    status, messages = EXIT_OK, []
    if args.no_fit:
        from ..api import mixed_model
        obj = mixed_model(args.model, data)
    else:
        obj, messages = fit_string(args.model, data, args.log, sys.stderr,
                                   slot_key=args.slot_key)
        status = EXIT_OK if obj.converged else EXIT_FAILURE
    if args.relax or args.correlate:
        model = obj.model if not args.no_fit else obj
        for label in args.relax:
            model = model.relax(label)
        for a, b in args.correlate:
            model = model.correlate(a, b)
        if args.no_fit:
            obj = model
        else:
            obj, more = collect_warnings(lambda: model.fit())
            messages += [m for m in more if m not in messages]
            status = status if obj.converged else EXIT_FAILURE
    options = dict(view=args.view, show=args.show, se=args.se, stars=args.stars,
                   standardized=args.standardized, rankdir=args.rankdir, digits=args.digits,
                   grayscale=not args.color, leading_zero=not args.no_leading_zero,
                   intercepts=args.intercepts, covariates=not args.no_covariates,
                   fixed=args.fixed, note=not args.no_note, level_boxes=args.level_boxes,
                   fontname=args.fontname, fontsize=args.fontsize, width=args.width,
                   labels=dict(args.label), names=dict(args.name))
    figure = obj.diagram(**options)
    try:
        if suffix == "tex":
            from pathlib import Path
            Path(args.output).write_text(tikz_document_header() + to_tikz(figure),
                                         encoding="utf-8")
        else:
            render(figure, args.output)
    except DiagramRenderError as exc:
        raise CLIError(f"cannot write {args.output!r}: {exc}", status=EXIT_FAILURE) from None
    except OSError as exc:
        raise CLIError(f"cannot write {args.output!r}: {exc.strerror or exc}") from None
    print(f"semlevel: wrote {args.output}", file=sys.stderr)
    warn(messages)
    return status
