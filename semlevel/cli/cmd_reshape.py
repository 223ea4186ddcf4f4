"""``semlevel reshape DATAFILE --outcome Y --levels ID``: long to wide, to a file."""
from __future__ import annotations

import argparse
import sys

from ..escape import CSV_OPTIONS
from .common import EXIT_OK, add_data_options

HELP = "pivot long multilevel data to the wide form (one row per top-level unit)"


def register(sub) -> None:
    p = sub.add_parser("reshape", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Stata's reshape wide for nested multilevel data, as the "
                       "model sees it: one row per top-level unit, one column per slot "
                       "(outcome[j=..,obs=..]) and per covariate. Rows with a missing outcome, "
                       "covariate or level id are left out (counted on standard error). "
                       "The format comes from the suffix of --output (.csv, .tsv, .parquet, "
                       ".dta, .xlsx, .json); without it, CSV on standard output.\n\n"
                       "examples:\n"
                       "  semlevel reshape pig --outcome weight --levels id --time week -o wide.csv\n"
                       "  semlevel reshape productivity --outcome gsp --levels region state "
                       "--covariates unemp -o wide.parquet --slots slots.csv")
    add_data_options(p)
    p.add_argument("--outcome", "-y", required=True, metavar="VAR", help="outcome column")
    p.add_argument("--levels", "-l", required=True, nargs="+", metavar="VAR",
                   help="grouping columns, top level first")
    p.add_argument("--covariates", "-x", nargs="+", default=[], metavar="VAR",
                   help="further columns to spread by slot")
    p.add_argument("--time", "-t", default=None, metavar="VAR",
                   help="key of the observations within their lowest group (default: order)")
    p.add_argument("--key-by", choices=("value", "order"), default="value",
                   help="slot keys of nested levels: their id values (default) or order "
                   "within the parent")
    p.add_argument("--output", "-o", metavar="FILE", default=None,
                   help="file to write (default: CSV on standard output)")
    p.add_argument("--slots", metavar="FILE", default=None,
                   help="also write the slot map (keys, column, observations) to FILE")
    p.set_defaults(handler=run)


def run(args) -> int:
    from ..data.pivot import pivot_wide
    from ..io.writers import write_data
    from .common import load_source

    data, _ = load_source(args.datafile, args.sep, args.sheet)
    wide, slots = pivot_wide(data, args.outcome, args.levels, args.covariates,
                             time=args.time, key_by=args.key_by)
    note = wide.attrs.get("sample")
    if args.output:
        renamed = write_data(wide, args.output)
        if renamed:
            print(f"semlevel: column names changed for {args.output}: "
                  + ", ".join(f"{a} -> {b}" for a, b in list(renamed.items())[:6])
                  + (" ..." if len(renamed) > 6 else ""), file=sys.stderr)
        print(f"semlevel: wrote {len(wide)} rows x {wide.shape[1]} columns to {args.output}",
              file=sys.stderr)
    else:
        wide.to_csv(sys.stdout, index=False, **CSV_OPTIONS)
    if args.slots:
        write_data(slots, args.slots)
    if note:
        print(f"semlevel: {note}", file=sys.stderr)
    return EXIT_OK
