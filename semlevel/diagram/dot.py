"""Node and edge tables -> a ``graphviz.Digraph`` laid out by structure.

Columns of the tables become ranks (``newrank=true``; each level's latents a ranked
cluster), the order within a column is pinned by invisible edges, paths run along the
ranks (an edge whose tail sits right of its head is written head -> tail with
``dir=back``). Variances and covariances are edges with ``class=variance`` /
``class=covariance``: plain ``dot`` routes them itself, :func:`semlevel.render` draws them
as arcs on the outer side of the drawing after the layout (see :mod:`.layout`).
"""
from __future__ import annotations


import graphviz

from ..escape import dot_text
from .build import DiagramTables
from .text import has_wide, n_lines, text_width, wrap_note as _wrap_note

__all__ = ["PathDiagram", "to_graphviz"]

_FILL = {"observed": "#e8eef8", "covariate": "#f4f4f4", "latent": "#fbeee0",
         "error": "#f4f4f4", "intercept": "#f4f4f4", "definition": "#ffffff"}


class PathDiagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` of a path model, with its node and edge tables.

    ``source`` is the structural DOT (ranks, order, labels). :func:`semlevel.render`
    (or :meth:`render_to`) lays it out, draws variances and covariances as arcs, checks
    that no label overlaps another label or a node, and writes the file; ``positioned()``
    gives the final DOT with every position (``dot -Knop2`` renders it as is).
    """

    tables: DiagramTables | None = None

    def render_to(self, path, format: str | None = None) -> str:
        from .layout import render
        return render(self, path, format=format)

    def positioned(self) -> str:
        from .layout import position
        return position(self).source

    def overlaps(self) -> list:
        from .layout import position
        return position(self).overlaps

    def svg(self) -> str:
        from .layout import pipe
        return pipe(self, "svg").decode("utf-8")

    def to_tikz(self) -> str:
        from .tikz import to_tikz
        return to_tikz(self)

    @property
    def note(self) -> str:
        return self.tables.note if self.tables is not None else ""

    def _repr_mimebundle_(self, include=None, exclude=None, **_):
        try:
            return {"image/svg+xml": self.svg()}
        except Exception:  # pragma: no cover - display must never raise
            return {"text/plain": self.source}


def _esc(text: str) -> str:
    """User text for a DOT label: escaped, and marked as never an HTML-like label
    (``graphviz`` leaves ``<...>`` unquoted otherwise, and Graphviz would parse it as
    markup)."""
    return graphviz.nohtml(dot_text(text))


def _node_label(row, intercept: str | None) -> str:
    text = dot_text(row["text"])
    if row.get("multiplicity", 1) and int(row.get("multiplicity", 1) or 1) > 1:
        text += f"\\n×{int(row['multiplicity'])}"
    if intercept:
        text += "\\n" + dot_text(intercept)
    return graphviz.nohtml(text)


def to_graphviz(tables: DiagramTables) -> PathDiagram:
    """The DOT graph of diagram tables (see the module docstring)."""
    opt = tables.options
    nodes = tables.nodes.copy()
    edges = tables.edges.copy()
    fs, efs = float(opt.fontsize), float(opt.edge_fontsize)
    g = PathDiagram(name="semlevel", engine="dot")
    graph_attr = {"rankdir": opt.rankdir, "newrank": "true", "splines": "true",
                  "nodesep": "0.14", "ranksep": "0.42", "fontname": opt.fontname,
                  "fontsize": f"{fs:g}", "outputorder": "edgesfirst", "pad": "0.1",
                  "bgcolor": "white"}
    if opt.width:
        graph_attr["size"] = f"{float(opt.width):g},100"
    g.attr("graph", **graph_attr)
    g.attr("node", fontname=opt.fontname, fontsize=f"{fs:g}", penwidth="0.9",
           color="black", fontcolor="black", margin="0.08,0.04")
    g.attr("edge", fontname=opt.fontname, fontsize=f"{efs:g}", arrowsize="0.6",
           penwidth="0.8", color="black", fontcolor="black")

    intercept = {}
    for r in edges.itertuples(index=False):
        if r.kind == "intercept" and r.text:
            intercept[r.tail] = r.text
    col_of = dict(zip(nodes["id"], nodes["column"]))
    kind_of = dict(zip(nodes["id"], nodes["kind"]))
    columns = sorted(nodes["column"].unique())
    firsts = []
    for c in columns:
        sub = nodes[nodes["column"] == c].sort_values("order", kind="stable")
        level = sub["level"].dropna()
        is_level = len(level) and sub["kind"].eq("latent").all()
        # a level's latents: one rank; a visible cluster only with level_boxes (clusters
        # pull dot's positioning away from the outcomes the latents load on)
        if is_level:
            levels = list(dict.fromkeys(level))
            name = (f"cluster_level_{_col_name(c)}" if opt.level_boxes
                    else f"level_{_col_name(c)}")
        else:
            name = f"col{_col_name(c)}"
        with g.subgraph(name=name) as s:
            s.attr(rank="same")
            if is_level and opt.level_boxes:
                s.attr(style="dashed", color="gray40", label=_esc(", ".join(levels)),
                       fontsize=f"{efs:g}", labeljust="c", margin="10")
            prev = None
            for _, r in sub.iterrows():
                s.node(r["id"], **_node_attrs(r, intercept.get(r["id"]), opt))
                if prev is not None:
                    s.edge(prev, r["id"], style="invis")
                prev = r["id"]
            firsts.append(sub["id"].iloc[0])
    for a, b in zip(firsts, firsts[1:]):
        g.edge(a, b, style="invis", weight="0")

    for r in edges.itertuples(index=False):
        if r.kind == "intercept":
            continue
        attrs = {}
        text = str(r.text) if isinstance(r.text, str) else ""
        if text:
            attrs["label"] = _esc(text)
        fixed = not (bool(r.free) if r.free == r.free else False) or \
            r.kind in ("error",) or isinstance(r.definition, str)
        if r.kind in ("variance", "covariance"):
            attrs.update({"class": r.kind, "dir": "both", "constraint": "false",
                          "arrowsize": "0.5"})
            g.edge(r.tail, r.head, **attrs)
            continue
        if r.kind in ("path_part", "dot_link"):
            attrs["arrowhead"] = "none"
        if r.kind == "random":
            attrs.update({"style": "dashed", "arrowsize": "0.5"})
        if fixed and opt.fixed in ("dashed", "both") and r.kind in ("loading", "error"):
            attrs["style"] = "dashed"
        if r.kind == "path" and kind_of.get(r.tail) == "covariate":
            attrs["weight"] = "4"
        if r.kind == "error":
            attrs["weight"] = "4"
        attrs["class"] = r.kind
        if r.kind == "definition_link":
            attrs["arrowhead"] = "none"
        tail, head = r.tail, r.head
        if col_of[tail] > col_of[head]:
            attrs["dir"] = "back" if "arrowhead" not in attrs else "none"
            attrs.pop("arrowhead", None)
            tail, head = head, tail
        g.edge(tail, head, **attrs)
    if opt.note and tables.note:
        width_pt = 72 * (opt.width or 6.0)
        g.node("figure_note", label=_wrap_note(tables.note, width_pt, efs), shape="plaintext",
               fontsize=f"{efs:g}", margin="0", **{"class": "note"})
    g.tables = tables
    return g


def _col_name(c) -> str:
    s = f"{float(c):g}".replace("-", "m").replace(".", "_")
    return s


def _node_attrs(r, intercept: str | None, opt) -> dict:
    kind = r["kind"]
    fs = float(opt.fontsize)
    label = _node_label(r, intercept)
    a = {"label": label, "class": kind}
    if kind in ("observed", "covariate"):
        a.update(shape="box", height=f"{0.26 + 0.17 * (n_lines(label) - 1):.2f}")
    elif kind == "latent":
        a.update(shape="ellipse", height="0.36")
    elif kind == "error":
        a.update(shape="circle", width="0.3", margin="0.02")
    elif kind == "intercept":
        a.update(shape="triangle", margin="0.02")
    elif kind == "point":
        a.update(shape="point", width="0.09", label="", color="black", fillcolor="black",
                 style="filled")
    elif kind == "definition":
        a.update(shape="diamond", fontsize=f"{opt.edge_fontsize:g}", margin="0.01",
                 height="0.3")
    if not opt.grayscale and kind in _FILL:
        a.update(style="filled", fillcolor=_FILL[kind])
    if has_wide(label):
        # Graphviz without fonts underestimates wide (CJK) characters: size from our own
        # estimate so the text stays inside its box
        w = text_width(label, fs) / 72.0 + 0.25
        a["width"] = f"{w:.2f}"
    return a
