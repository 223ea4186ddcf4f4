"""Figures for journals (issue 23 item 4): a PNG of the figure's physical size at the
asked resolution, and a .tex file that says which TikZ libraries it needs."""
from __future__ import annotations

import importlib.util
import re
import shutil
import struct
import subprocess
import sys

import pytest

import semlevel as sl
from semlevel.diagram import render
from semlevel.diagram.tikz import PREAMBLE

def _cairosvg_draws() -> bool:
    """cairosvg is installed (the test extra) and finds the system's libcairo."""
    if importlib.util.find_spec("cairosvg") is None:
        return False
    try:
        import cairosvg  # noqa: F401
    except OSError:                      # the library libcairo.so.2 is missing
        return False
    return True


CAN_PNG = shutil.which("dot") is not None or _cairosvg_draws()


@pytest.mark.skipif(not CAN_PNG, reason="PNG needs Graphviz's dot, or cairosvg (in the "
                    "test extra) with the system's libcairo; neither is here")
@pytest.mark.parametrize("dpi", [150, 300])
def test_png_has_the_figure_size_at_the_dpi(tmp_path, pig, dpi):
    d = sl.mixed("weight week || id:", data=pig).diagram()
    width_pt = float(re.search(r'<svg width="([\d.]+)pt"', d.svg()).group(1))
    path = render(d, tmp_path / "f.png", dpi=dpi)
    with open(path, "rb") as fh:
        w, _ = struct.unpack(">II", fh.read(24)[16:24])
    assert w == pytest.approx(width_pt / 72 * dpi, abs=2)


def test_png_is_asked_at_the_figure_size_without_a_renderer(monkeypatch, pig):
    """Where neither dot nor cairosvg is installed (CI), the PNG request itself: the
    converter gets the positioned SVG (size in points, subscripts as separate text) and
    the dpi alone, so that its pixels are the figure's points / 72 * dpi (the PNG's
    actual size is checked above where a renderer exists)."""
    import types
    calls = {}

    def svg2png(bytestring, dpi=96.0, **kwargs):
        calls.update(svg=bytestring.decode("utf-8"), dpi=dpi, extra=kwargs)
        return b"\x89PNG fake"
    monkeypatch.setitem(sys.modules, "cairosvg", types.SimpleNamespace(svg2png=svg2png))
    monkeypatch.setenv("SEMLEVEL_GRAPHVIZ", "wasm")
    from semlevel.diagram.layout import pipe
    d = sl.mixed("weight week || id:", data=pig).diagram(view="collapsed")
    assert pipe(d, "png", dpi=300) == b"\x89PNG fake"
    assert calls["dpi"] == 300.0 and calls["extra"] == {}       # no scale on top of dpi
    width_pt = float(re.search(r'<svg width="([\d.]+)pt"', calls["svg"]).group(1))
    assert width_pt == pytest.approx(float(re.search(r'<svg width="([\d.]+)pt"',
                                                     d.svg()).group(1)))
    assert "tspan" not in calls["svg"] and ">i</text>" in calls["svg"]


def test_dpi_is_checked(tmp_path, pig):
    d = sl.mixed_model("weight week || id:", data=pig).diagram()
    with pytest.raises(ValueError, match="dpi must be a number"):
        render(d, tmp_path / "f.svg", dpi="high")


def test_tex_file_names_its_tikz_libraries(tmp_path, pig):
    csv = tmp_path / "pig.csv"
    pig.to_csv(csv, index=False)
    out = tmp_path / "pig.tex"
    run = subprocess.run([sys.executable, "-m", "semlevel", "diagram", str(csv),
                          "weight week || id:", "-o", str(out), "--no-fit"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    head = [line for line in text.splitlines() if line.startswith("%")]
    assert any("\\usetikzlibrary{arrows.meta, shapes.geometric}" in line for line in head)
    assert "\\usepackage{tikz}" in PREAMBLE
    body = text[text.index("\\begin{tikzpicture}"):]
    assert "Latex[" in body                       # arrows.meta's tip


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="no TeX installation (pdflatex) here: the TikZ output is not "
                    "compiled")
@pytest.mark.parametrize("view", ["full", "collapsed", "multilevel"])
def test_tikz_compiles_with_pdflatex(tmp_path, pig, view):
    """The .tex figure, in a document with the preamble lines its header names, compiles
    with pdflatex (every view, with estimates, SEs and Greek letters)."""
    from semlevel.diagram import to_tikz
    fit = sl.mixed("weight week || id: week", data=pig)
    picture = to_tikz(fit.diagram(view=view, se=True))
    doc = ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
           + PREAMBLE + "\\begin{document}\n" + picture + "\n\\end{document}\n")
    (tmp_path / "fig.tex").write_text(doc, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                          "fig.tex"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "fig.pdf").stat().st_size > 1000


def test_tikz_writes_slot_suffixes_as_subscripts(pig):
    """In TikZ the slot suffix of a node is a real subscript: weight_i in the collapsed
    view, week_1 in the full view (the SVG: next tests)."""
    from semlevel.diagram import to_tikz
    fit = sl.mixed("weight week || id:", data=pig)
    collapsed = to_tikz(fit.diagram(view="collapsed"))
    assert "weight\\textsubscript{i}" in collapsed
    assert "$\\varepsilon$\\textsubscript{i}" in collapsed
    full = to_tikz(fit.diagram(view="full"))
    assert "week\\textsubscript{1}" in full and "weight\\textsubscript{9}" in full


def test_svg_writes_slot_suffixes_as_subscripts(pig):
    """In the SVG the suffix is a <tspan baseline-shift="sub"> (the bundled WebAssembly
    Graphviz has no HTML-like labels to do it); the SVG stays well-formed XML. PNG and PDF
    through cairosvg: see the next test."""
    import xml.dom.minidom
    fit = sl.mixed("weight week || id:", data=pig)
    svg = fit.diagram(view="collapsed").svg()
    assert re.search(r'>weight<tspan baseline-shift="sub"[^>]*>i</tspan></text>', svg)
    assert re.search(r'>ε<tspan baseline-shift="sub"[^>]*>i</tspan></text>', svg)
    xml.dom.minidom.parseString(svg.encode("utf-8"))
    full = fit.diagram(view="full", names={"weight": "<y&>"}).svg()
    assert re.search(r'>&lt;y&amp;&gt;<tspan baseline-shift="sub"[^>]*>1</tspan>', full)
    xml.dom.minidom.parseString(full.encode("utf-8"))


def test_png_and_pdf_subscripts_are_their_own_text(pig):
    """For cairosvg (which draws baseline-shift as boxes) the subscript is a second text
    element: after the name, at 75% size, lowered, the pair centred where the label was;
    escaped and well-formed. (The rewrite runs here without cairosvg; the PNG itself
    where cairosvg is installed.)"""
    import xml.dom.minidom
    from semlevel.diagram.layout import position, run_graphviz, svg_subscripts
    fit = sl.mixed("weight week || id:", data=pig)
    d = fit.diagram(view="collapsed", names={"weight": "<y&>"})
    raw = run_graphviz(position(d).source, "svg", "nop2")
    out = svg_subscripts(raw, d.tables, separate=True).decode("utf-8")
    assert "tspan" not in out
    xml.dom.minidom.parseString(out.encode("utf-8"))
    m = re.search(r'<text([^>]*)>&lt;y&amp;&gt;</text><text([^>]*)>i</text>', out)
    assert m, "name and subscript as two text elements"
    attr = [dict(re.findall(r'([\w-]+)="([^"]*)"', g)) for g in m.groups()]
    assert float(attr[1]["x"]) > float(attr[0]["x"])
    assert float(attr[1]["y"]) > float(attr[0]["y"])
    assert float(attr[1]["font-size"]) == pytest.approx(0.75 * float(attr[0]["font-size"]),
                                                        abs=0.01)
    orig = re.search(r'<text([^>]*)>&lt;y&amp;&gt;i</text>', raw.decode("utf-8"))
    x0 = float(re.search(r' x="(-?[0-9.]+)"', orig.group(1)).group(1))
    assert float(attr[0]["x"]) < x0 < float(attr[1]["x"]) + 10


@pytest.mark.skipif(importlib.util.find_spec("cairosvg") is None,
                    reason="cairosvg is not installed: the PNG itself is not drawn here")
def test_png_with_subscripts_is_drawn(pig):
    from semlevel.diagram.layout import pipe
    d = sl.mixed("weight week || id:", data=pig).diagram(view="collapsed")
    assert pipe(d, "png", dpi=100)[:8] == b"\x89PNG\r\n\x1a\n"
