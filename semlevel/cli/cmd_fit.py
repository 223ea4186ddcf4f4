"""``semlevel fit DATAFILE MODEL``: fit a model and print the report."""
from __future__ import annotations

from .common import (EXIT_FAILURE, EXIT_OK, CLIError, add_data_options, add_log_option,
                     add_output_options, add_slot_option, emit, fit_string, load_source,
                     log_stream, render_fit, warn)

HELP = "fit a mixed model to a data file or shipped dataset"
DESCRIPTION = """\
Fit a Stata mixed model, or an lme4 formula (MODEL with a "~": REML by default, as
lme4; add ", REML = FALSE" for ML), and print the report (text: as Stata prints it; json,
markdown, latex; csv: the fixed and random tables stacked).

examples:
  semlevel fit pig "weight week || id: week, cov(un)"
  semlevel fit pig "weight ~ week + (week | id), REML = FALSE"
  semlevel fit mydata.dta "y x i.group || school: || class:, reml" --format json -o fit.json
  semlevel fit pig "weight week || id: week" --log
  semlevel fit productivity "gsp private emp || region: || state:" --icc --lincom "emp + private"
  semlevel fit growth.csv "y t || id: t, cov(un)" --adf       (ADF: Stata sem's method(adf))
  semlevel fit panel.csv "y t x w || id:" --slot-key t --missing-x fiml"""


def register(sub) -> None:
    p = sub.add_parser("fit", help=HELP, description=DESCRIPTION,
                       formatter_class=_raw())
    add_data_options(p)
    add_slot_option(p)
    p.add_argument("model", metavar="MODEL",
                   help="Stata mixed syntax without the word mixed, e.g. "
                   "\"weight week || id: week, cov(un)\"; or an lme4 formula, e.g. "
                   "\"weight ~ week + (week | id), REML = FALSE\"")
    add_output_options(p)
    post = p.add_argument_group("postestimation (text and json formats)")
    post.add_argument("--icc", action="store_true",
                      help="intraclass correlations per level (Stata's estat icc)")
    post.add_argument("--recovariance", action="store_true",
                      help="covariance matrix of the random effects per level")
    post.add_argument("--wcorrelation", type=int, metavar="ROW", default=None,
                      help="implied correlation matrix of top-level unit ROW (0 = first)")
    post.add_argument("--lincom", action="append", default=[], metavar="EXPR",
                      help="a linear combination of fixed effects, e.g. 'week + 2*_cons' "
                           "(repeatable)")
    est = p.add_argument_group("estimator")
    est.add_argument("--adf", action="store_true",
                     help="estimate by the moments with the asymptotically distribution-free "
                          "weight matrix (Stata sem's method(adf), lavaan's WLS): complete "
                          "wide rows, no definition variables")
    est.add_argument("--listwise", action="store_true",
                     help="with --adf: leave out the wide rows with missing slots (counted "
                          "in the output)")
    est.add_argument("--missing-x", choices=("listwise", "fiml"), default="listwise",
                     help="rows with missing covariates: dropped and counted (listwise, as "
                          "mixed) or kept, the covariates jointly normal variables of the "
                          "model (fiml: Stata sem's method(mlmv))")
    add_log_option(p)
    p.set_defaults(handler=run)


def _raw():
    import argparse
    return argparse.RawDescriptionHelpFormatter


def _postestimation(fit, args) -> dict:
    """The tables the postestimation flags ask for, by name."""
    import pandas as pd
    out: dict = {}
    try:
        if args.icc:
            out["icc"] = fit.icc()
        if args.recovariance:
            for level, m in fit.recovariance().items():
                out[f"recovariance {level}"] = m
        if args.wcorrelation is not None:
            out[f"wcorrelation row {args.wcorrelation}"] = fit.wcorrelation(args.wcorrelation)
        if args.lincom:
            out["lincom"] = pd.DataFrame([fit.lincom(e) for e in args.lincom])
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    return out


def _run_other_estimator(args) -> int:
    """``--adf`` or ``--missing-x fiml``: the fit's report (text) or its parameter table."""
    from ..api import adf, mixed
    from ..output.tables import render_table
    if "~" in args.model:
        raise CLIError("--adf and --missing-x take a Stata mixed specification, not an "
                       "lme4 formula")
    data, _ = load_source(args.datafile, args.sep, args.sheet)
    try:
        if args.adf:
            fit = adf(args.model, data, listwise=args.listwise, slot_key=args.slot_key)
            t = fit.test
            title = (f"ADF estimation ({fit.n_obs} complete rows"
                     + (f", {fit.n_incomplete} left out" if fit.n_incomplete else "")
                     + f"); model vs. saturated: chi2({t['df']}) = {t['chi2']:.4f}, "
                     f"p = {t['p']:.4g}")
        else:
            fit = mixed(args.model, data, slot_key=args.slot_key, missing_x="fiml")
            title = (f"FIML with jointly normal covariates ({fit.n_obs} outcomes, listwise "
                     f"would keep {fit.n_listwise}); log likelihood {fit.loglik:.6f}")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    text = fit.summary() if args.format == "text" else \
        render_table(fit.params, args.format, title=title)
    emit(text, args.output)
    return EXIT_OK if fit.converged else EXIT_FAILURE


def run(args) -> int:
    if args.listwise and not args.adf:
        raise CLIError("--listwise goes with --adf (maximum likelihood uses every "
                       "observed slot)")
    if args.adf and args.missing_x == "fiml":
        raise CLIError("--adf fits complete rows by their moments; --missing-x fiml is a "
                       "likelihood: choose one")
    if args.adf or args.missing_x == "fiml":
        return _run_other_estimator(args)
    wanted = args.icc or args.recovariance or args.wcorrelation is not None or args.lincom
    if wanted and args.format not in ("text", "json"):
        raise CLIError("--icc, --recovariance, --wcorrelation and --lincom print with "
                       "--format text or json")
    data, _ = load_source(args.datafile, args.sep, args.sheet)
    fit, messages = fit_string(args.model, data, args.log, log_stream(args),
                               slot_key=args.slot_key)
    text = render_fit(fit, args.format, args.model, args.datafile, messages)
    extra = _postestimation(fit, args) if wanted else {}
    if extra and args.format == "text":
        text += "".join(f"\n{name}\n{table.to_string()}\n" for name, table in extra.items())
    elif extra:
        import json
        record = json.loads(text)
        record["postestimation"] = {
            name: json.loads(table.to_json(orient="split", double_precision=15))
            for name, table in extra.items()}
        text = json.dumps(record, indent=2, allow_nan=False) + "\n"
    emit(text, args.output)
    warn(messages)
    return EXIT_OK if fit.converged else EXIT_FAILURE
