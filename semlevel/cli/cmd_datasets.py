"""``semlevel datasets [NAME] [-o FILE]``: list the shipped datasets, or export one."""
from __future__ import annotations

import argparse
import sys

from ..escape import CSV_OPTIONS
from .common import EXIT_OK, CLIError

HELP = "list the shipped datasets, or export one (-o data.dta|.parquet|.xlsx|.csv ...)"

NOTES = {
    "pig": "weights of 48 pigs over 9 weeks (manual examples 1-3, 10)",
    "productivity": "US states' production, 1970-1986, in 9 regions (manual examples 4-5, 11)",
    "ovary": "ovarian follicles in 11 mares (manual example 8)",
    "t43": "reaction times of 5 persons under 4 drugs (manual example 13)",
}


def register(sub) -> None:
    p = sub.add_parser("datasets", help=HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Without NAME: list the shipped example datasets. With NAME: "
                       "write that dataset to FILE (format from the suffix: .csv, .tsv, "
                       ".parquet, .dta, .xlsx, .json) or as CSV to standard output.\n\n"
                       "examples:\n  semlevel datasets\n  semlevel datasets pig -o pig.dta")
    p.add_argument("name", metavar="NAME", nargs="?", default=None,
                   help="dataset to export")
    p.add_argument("--output", "-o", metavar="FILE", default=None,
                   help="file to write (default: CSV on standard output)")
    p.set_defaults(handler=run)


def run(args) -> int:
    from .. import datasets

    if args.name is None:
        if args.output:
            raise CLIError("--output needs a dataset NAME to export")
        return _list()
    if args.name not in datasets.names():
        raise CLIError(f"unknown dataset {args.name!r}; shipped datasets are "
                       f"{', '.join(datasets.names())}")
    frame = datasets.load(args.name)
    if args.output:
        from ..io.writers import write_data
        renamed = write_data(frame, args.output)
        if renamed:
            print(f"semlevel: renamed for the format: {renamed}", file=sys.stderr)
    else:
        frame.to_csv(sys.stdout, index=False, **CSV_OPTIONS)
    return EXIT_OK


def _list() -> int:
    from .. import datasets

    rows = []
    for name in datasets.names():
        frame = datasets.load(name)
        rows.append((name, f"{len(frame)} rows", NOTES.get(name, ""),
                     " ".join(map(str, frame.columns))))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    for name, n, note, cols in rows:
        print(f"{name:<{w0}}  {n:>{w1}}  {note}")
        print(f"{'':<{w0}}  {'':>{w1}}  columns: {cols}")
    print("\nUse a name in place of a file: semlevel fit pig \"weight week || id: week\"")
    print("Export one: semlevel datasets pig -o pig.dta")
    print("Provenance: semlevel/datasets/PROVENANCE.md")
    return EXIT_OK
