"""The ``semlevel`` command line (``semlevel --help``; documented in docs/cli.md).

One module per subcommand (``cmd_fit``, ``cmd_scoretests``, ``cmd_relax``,
``cmd_diagram``, ``cmd_reshape``, ``cmd_demo``, ``cmd_datasets``), what they share in
:mod:`.common`, the parser and exit statuses in :mod:`.app`. The result writers live in
:mod:`semlevel.output`, the data readers in :mod:`semlevel.io`.
"""
from .app import EPILOG, build_parser, main
from .common import CLIError, load_source as read_data

#: the result writers, imported when first used (``semlevel --help`` needs none of them)
_WRITERS = {"to_latex": ("..output.latex", "fit_to_latex"),
            "to_markdown": ("..output.markdown", "fit_to_markdown"),
            "fit_to_dict": ("..output.records", "fit_to_dict"),
            "to_json": ("..output.records", "fit_to_json")}


def __getattr__(name: str):
    import importlib
    try:
        module, attr = _WRITERS[name]
    except KeyError:
        raise AttributeError(f"module 'semlevel.cli' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value
    return value

__all__ = ["main", "build_parser", "EPILOG", "read_data", "fit_to_dict", "to_json",
           "to_markdown", "to_latex", "CLIError"]
