"""``semlevel relax DATAFILE MODEL --relax LABEL``: fit a relaxed variant and compare."""
from __future__ import annotations

import argparse
import json

from ..escape import CSV_OPTIONS
from .common import (EXIT_FAILURE, EXIT_OK, CLIError, add_data_options, add_log_option,
                     add_output_options, add_slot_option, collect_warnings, emit,
                     fit_string, load_source, log_stream, render_fit, warn)

HELP = "fit MODEL and a relaxed variant of it, and compare them (LR and score test)"


def register(sub) -> None:
    p = sub.add_parser("relax", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Fit MODEL, release equality constraints (--relax: one free "
                       "parameter per member of a label, or per value of --by) and/or add "
                       "covariances between latents or errors (--correlate), fit that model "
                       "from the first fit's estimates, and print both fits, their comparison "
                       "(AIC, BIC, LR test) and the score test of the relaxation at the "
                       "first fit.\n\nexamples:\n"
                       "  semlevel relax pig \"weight week || id: week\" --relax \"var(Residual)\"\n"
                       "  semlevel relax productivity \"gsp private emp || region: || state:\" "
                       "--relax \"state: var(_cons)\"\n"
                       "  semlevel relax pig \"weight week || id: week\" --correlate id id.week")
    add_data_options(p)
    add_slot_option(p)
    p.add_argument("model", metavar="MODEL", help="Stata mixed syntax of the base model")
    p.add_argument("--relax", action="append", default=[], metavar="LABEL",
                   help="release this label (repeatable), e.g. \"var(Residual)\", "
                   "\"state: var(_cons)\", week")
    p.add_argument("--by", default=None, metavar="VAR",
                   help="release each --relax label by the values of variable VAR instead "
                   "of by member")
    p.add_argument("--correlate", action="append", nargs=2, default=[], metavar=("A", "B"),
                   help="add a free covariance between latents (or errors e.<slot>) A and B "
                   "(repeatable)")
    add_output_options(p)
    add_log_option(p)
    p.set_defaults(handler=run)


def _relaxed_model(base, relax: list[str], by: str | None, correlate: list) -> tuple:
    model = base.model
    steps = []
    for label in relax:
        model = model.relax(label, by=by)
        steps.append(f"released {label}" + (f" by {by}" if by else ""))
    for a, b in correlate:
        model = model.correlate(a, b)
        steps.append(f"correlated {a} and {b}")
    return model, steps


def run(args) -> int:
    from .. import compare
    from ..output.iterlog import IterationLog
    from ..output.records import clean, fit_to_dict, records
    from ..output.tables import fit_tables, render_table

    if not args.relax and not args.correlate:
        raise CLIError("nothing to relax: give --relax LABEL and/or --correlate A B")
    if args.by and not args.relax:
        raise CLIError("--by needs a --relax LABEL")
    data, _ = load_source(args.datafile, args.sep, args.sheet)
    stream = log_stream(args)
    base, messages = fit_string(args.model, data, args.log, stream,
                                slot_key=args.slot_key)
    relaxed_model, steps = _relaxed_model(base, args.relax, args.by, args.correlate)
    callback = IterationLog(relaxed_model.reml, stream) if args.log else None
    relaxed, more = collect_warnings(lambda: relaxed_model.fit(callback=callback))
    messages += [m for m in more if m not in messages]
    if not relaxed.converged and not any("converge" in m for m in more):
        messages.append(f"the relaxed fit did not converge: {relaxed.optimization}")
    what = "; ".join(steps)
    table = compare(base, relaxed, names=["base", "relaxed"])
    score = base.scoretest(relaxed_model)
    score = {"chi2": score["chi2"], "df": score["df"], "p": score["p"]}

    fmt = args.format
    if fmt == "json":
        out = {"model": args.model, "data": args.datafile, "relaxations": steps,
               "base": fit_to_dict(base, model=args.model, data=args.datafile),
               "relaxed": fit_to_dict(relaxed, model=f"{args.model} [{what}]",
                                      data=args.datafile),
               "comparison": records(table, "model"), "score_test": score,
               "warnings": messages}
        text = json.dumps(clean(out), indent=2, allow_nan=False) + "\n"
    elif fmt == "csv":
        stacked = [fit_tables(f).assign(model=name) for name, f in
                   (("base", base), ("relaxed", relaxed))]
        import pandas as pd
        frame = pd.concat(stacked, ignore_index=True)
        frame = frame[["model"] + [c for c in frame.columns if c != "model"]]
        text = frame.to_csv(index=False, float_format="%.17g", **CSV_OPTIONS)
    else:
        score_line = (f"Score test of the relaxation at the base fit: chi2({score['df']}) = "
                      f"{score['chi2']:.2f}, Prob > chi2 = {score['p']:.4f}")
        parts = {"text": ("Base model: {m}\n\n", "Relaxed model: {w}\n\n", "Comparison\n\n"),
                 "markdown": ("# Base model: `{m}`\n\n", "# Relaxed model: {w}\n\n",
                              "# Comparison\n\n"),
                 "latex": ("% Base model: {m}\n", "% Relaxed model: {w}\n", "% Comparison\n")}
        h_base, h_relaxed, h_cmp = parts[fmt]
        text = (h_base.format(m=args.model) + render_fit(base, fmt, args.model, args.datafile, [])
                + "\n" + h_relaxed.format(w=what)
                + render_fit(relaxed, fmt, f"{args.model} [{what}]", args.datafile, [])
                + "\n" + h_cmp + render_table(table, fmt) + "\n"
                + ("% " if fmt == "latex" else "") + score_line + "\n")
    emit(text, args.output)
    warn(messages)
    return EXIT_OK if base.converged and relaxed.converged else EXIT_FAILURE
