"""Path diagrams of multilevel path models, for papers.

``model.diagram()`` / ``fit.diagram()`` return a :class:`PathDiagram` (a
``graphviz.Digraph``); ``semlevel.render(obj, "fig.svg")`` writes SVG, PDF, PNG, EPS or DOT
by the suffix, with or without Graphviz installed (see :mod:`.layout`). The node and edge
tables behind a diagram are ``diagram_tables(obj)`` (or ``d.tables``): edit them and call
:func:`to_graphviz` to pin columns, reorder or rename before rendering.
"""
from __future__ import annotations

from .build import DiagramTables, build_tables
from .dot import PathDiagram, to_graphviz
from .layout import DiagramRenderError, backend, find_overlaps, label_boxes, pipe, position, render
from .options import DiagramOptions

__all__ = ["diagram", "diagram_tables", "render", "pipe", "position", "overlaps",
           "to_graphviz", "to_tikz", "PathDiagram", "DiagramTables", "DiagramOptions",
           "DiagramRenderError", "backend", "find_overlaps", "label_boxes"]


def diagram_tables(obj, **options) -> DiagramTables:
    """Node and edge tables of the diagram of a PathModel or Fit (see :func:`diagram`)."""
    return build_tables(obj, **options)


def diagram(obj, **options) -> PathDiagram:
    """The path diagram of a PathModel or Fit as a ``graphviz.Digraph``.

    Options: see :class:`DiagramOptions` (``view``, ``show``, ``se``, ``stars``,
    ``standardized``, ``labels``, ``names``, ``covariates``, ``intercepts``, ``fixed``,
    ``rankdir``, ``fontname``, ``fontsize``, ``width``, ``grayscale``, ``note``, ...).
    """
    return to_graphviz(build_tables(obj, **options))


def overlaps(obj) -> list:
    """Overlapping (label, label) and (label, node) pairs of the rendered figure."""
    g = obj if hasattr(obj, "source") else diagram(obj)
    return position(g).overlaps


def to_tikz(obj, **options) -> str:
    """A TikZ picture of the figure (positions from the same layout as :func:`render`)."""
    from .tikz import to_tikz as _to_tikz
    g = obj if hasattr(obj, "source") else diagram(obj, **options)
    return _to_tikz(g)
