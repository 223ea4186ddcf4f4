"""The ``semlevel`` command line (``semlevel --help``; documented in docs/cli.md).

One module per subcommand (``cmd_fit``, ``cmd_scoretests``, ``cmd_relax``,
``cmd_diagram``, ``cmd_reshape``, ``cmd_demo``, ``cmd_datasets``), what they share in
:mod:`.common`, the parser and exit statuses in :mod:`.app`. The result writers live in
:mod:`semlevel.output`, the data readers in :mod:`semlevel.io`.
"""
from ..output.latex import fit_to_latex as to_latex
from ..output.markdown import fit_to_markdown as to_markdown
from ..output.records import fit_to_dict, fit_to_json as to_json
from .app import EPILOG, build_parser, main
from .common import CLIError, load_source as read_data

__all__ = ["main", "build_parser", "EPILOG", "read_data", "fit_to_dict", "to_json",
           "to_markdown", "to_latex", "CLIError"]
