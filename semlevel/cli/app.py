"""The ``semlevel`` command: parser, dispatch to the subcommands, exit statuses."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import (cmd_datasets, cmd_demo, cmd_diagram, cmd_fit, cmd_plot, cmd_relax,
               cmd_reshape, cmd_scoretests)
from .common import (EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_USAGE, PROG, CLIError, Parser)

__all__ = ["main", "build_parser", "EPILOG", "COMMANDS"]

COMMANDS = (cmd_fit, cmd_scoretests, cmd_relax, cmd_diagram, cmd_plot, cmd_reshape,
            cmd_demo, cmd_datasets)

EPILOG = """\
exit status:
  0    success
  1    done, but not to be trusted: the fit did not converge (the report is still
       written, with a warning), a demo differs from the manual, a figure could not be
       rendered with what is installed
  2    usage error or bad input: unknown command or option, missing or unreadable file,
       unknown variable, malformed model string, impossible relaxation
  3    internal error (a bug: rerun with --traceback and report it)
  130  interrupted

Errors are one line on standard error: "semlevel: error: <message>"; warnings
(non-convergence, variances at the boundary) "semlevel: warning: <message>".
Results go to standard output (or --output FILE); --format json output is one strict
JSON object (NaN written as null). Run "semlevel COMMAND --help" for each command.
Documentation: docs/cli.md."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the whole command line."""
    from ..version import __version__

    p = Parser(prog=PROG, description="Fit Stata `mixed` models as constrained structural "
               "equation models, relax their constraints, test and draw them.",
               epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    p.add_argument("--traceback", action="store_true",
                   help="on an error, show the Python traceback (for bug reports)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        command.register(sub)
    for name, sp in sub.choices.items():
        if sp.epilog is None:
            sp.epilog = "exit status: 0 ok, 1 not converged/failed, 2 bad input, 3 bug " \
                "(see semlevel --help)"
    return p


def _error(message: str, status: int = EXIT_USAGE) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see :data:`EPILOG`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except CLIError as exc:
        return _error(str(exc), exc.status)
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else _error(exc.code)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return _error("a command is required: " + ", ".join(sorted(
            parser._subparsers._group_actions[0].choices)))  # noqa: SLF001
    try:
        return int(args.handler(args))
    except CLIError as exc:
        return _error(str(exc), exc.status)
    except BrokenPipeError:
        # the reader went away (``semlevel demo | head``): stop quietly, as Python's docs advise
        import os
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - bad input exits 2, anything else is a bug: 3
        if args.traceback:
            raise
        # (the data readers' module, and pandas with it, only where a handler failed)
        from ..io.readers import MissingPackageError
        if isinstance(exc, (ValueError, KeyError, TypeError, OSError, MissingPackageError)):
            # bad input: unknown variable, syntax error, unsupported option, missing package
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return _error(str(message) or type(exc).__name__)
        return _error(f"internal error ({type(exc).__name__}: {exc}); rerun with "
                      "--traceback and report it", EXIT_INTERNAL)
