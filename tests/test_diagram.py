"""Path diagrams: structure on the article's models, rendering without Graphviz, no
overlapping labels, deterministic output, options."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

import semlevel as sl
from semlevel.diagram import (DiagramRenderError, diagram_tables, find_overlaps, overlaps,
                              position, to_tikz)
from semlevel.diagram.layout import run_graphviz
from simulate import article, two_level

ARTICLE = {"x": "B", "_cons": "c", "j: var(_cons)": "S_v", "var(Residual)": "S_e",
           "k: var(_cons)": "S_u"}
NAMES = {"k": "U", "j1": "V1", "j2": "V2"}


@pytest.fixture(scope="module")
def m22():
    return sl.mixed_model("y x || k: || j:", data=article(2013, K=100, J=2, I=2))


@pytest.fixture(scope="module")
def fit22(m22):
    return m22.fit()


@pytest.fixture(scope="module")
def county():
    """The article's ten schools: five counties (j) of two schools, rows k."""
    return sl.mixed_model("y x || k: || j:", data=article(2013, K=200, J=5, I=2))


@pytest.fixture(scope="module")
def big():
    """100 outcome slots (25 j positions x 4 pupils)."""
    return sl.mixed_model("y x || k: || j:", data=article(7, K=30, J=25, I=4))


def _dot_nodes(src: str) -> dict:
    """id -> attributes of the node statements of a DOT source."""
    out = {}
    for line in src.split("\n"):
        m = re.match(r"^\s*([A-Za-z_]\w*) \[(.*)\]$", line)
        if m and m.group(1) not in ("graph", "node", "edge"):
            out[m.group(1)] = m.group(2)
    return out


def _shape(attrs: str) -> str:
    return re.search(r"shape=(\w+)", attrs).group(1)


# ---- structure ------------------------------------------------------------------------
def test_article_2x2_labelled_structure(m22):
    d = m22.diagram(labels=ARTICLE, names=NAMES)
    nodes, edges = d.tables.nodes, d.tables.edges
    assert nodes["kind"].value_counts().to_dict() == {"observed": 4, "covariate": 4,
                                                      "error": 4, "latent": 3}
    assert sorted(nodes.loc[nodes.kind == "latent", "text"]) == ["U", "V1", "V2"]
    assert sorted(nodes.loc[nodes.kind == "observed", "text"]) == ["y11", "y12", "y21", "y22"]
    paths = edges[edges.kind == "path"]
    assert len(paths) == 4 and set(paths["text"]) == {"B"}          # one coefficient, B
    loads = edges[edges.kind == "loading"]
    assert len(loads) == 8 and set(loads["text"]) == {"1"}          # U on 4, V on 2 each
    errs = edges[edges.kind == "error"]
    assert len(errs) == 4 and set(errs["text"]) == {"1"}            # errors fixed at 1
    var = edges[edges.kind == "variance"]
    assert sorted(var["text"]) == ["S_e"] * 4 + ["S_u"] + ["S_v"] * 2
    assert (var["tail"] == var["head"]).all()
    ints = edges[edges.kind == "intercept"]
    assert len(ints) == 4 and set(ints["text"]) == {"c"}
    # drawn as: boxes, ellipses, small circles; constant in the outcome box
    dn = _dot_nodes(d.source)
    for r in nodes.itertuples():
        want = {"observed": "box", "covariate": "box", "latent": "ellipse",
                "error": "circle"}[r.kind]
        assert _shape(dn[r.id]) == want
    y11 = nodes.loc[nodes.text == "y11", "id"].item()
    assert 'label="y11\\nc"' in dn[y11]
    # one-headed paths, two-headed variances (constraint-free, redrawn as arcs)
    assert d.source.count("class=variance") == 7
    assert all("dir=both" in l for l in d.source.split("\n") if "class=variance" in l)
    assert "B = x" in d.note and "S_v = j: var(_cons)" in d.note


def test_article_2x2_estimated_view(fit22):
    d = fit22.diagram(names=NAMES, se=True, digits=2)
    e = d.tables.edges
    fx, rv = fit22.fixed, fit22.random_variance
    path = e[e.kind == "path"]
    b, se = fx.loc["x", "coef"], fx.loc["x", "se"]
    assert set(path["text"]) == {f"{b:.2f} ({se:.2f})†"}   # same symbol: constrained equal
    var = e[e.kind == "variance"].set_index("label")
    s2 = rv.loc["var(Residual)"]
    assert set(var.loc["var(Residual)", "text"]) == {f"{s2.estimate:.2f} ({s2.se:.2f})¶"}
    assert var.loc["k: var(_cons)", "text"] == \
        f"{rv.loc['k: var(_cons)', 'estimate']:.2f} ({rv.loc['k: var(_cons)', 'se']:.2f})"
    assert set(e.loc[e.kind == "loading", "text"]) == {"1"}
    assert "Standard errors in parentheses" in d.note and "† x" in d.note
    # stars and no leading zeros on request
    d2 = fit22.diagram(stars=True, leading_zero=False, mark_equal=False)
    t = d2.tables.edges.set_index("kind").loc["path", "text"].iloc[0]
    assert t == f"{b:.2f}***"
    rtxt = d2.tables.edges.query("label == 'var(Residual)'")["text"].iloc[0]
    assert rtxt.startswith(".") and "*" not in rtxt           # variances are not starred
    both = fit22.diagram(show="both", labels=ARTICLE).tables.edges
    assert both.loc[both.kind == "path", "text"].iloc[0].startswith(f"B = {b:.2f}")


def test_estimates_need_a_fit(m22):
    with pytest.raises(ValueError, match="fitted"):
        m22.diagram(show="estimates")
    with pytest.raises(TypeError, match="did you mean 'stars'"):
        m22.diagram(star=True)


def test_county_model_and_relaxed_variants(county):
    schools = ["pub1", "pub2", "prv1", "pub3", "prv2", "chr1", "pub4", "prv3", "chr2", "chr3"]
    names = dict(zip(county.data.slot_names(), schools))
    d = county.diagram(labels=ARTICLE, names=names)
    n = d.tables.nodes
    assert (n.kind == "observed").sum() == 10 and (n.kind == "latent").sum() == 6
    # coefficients down the centre, the levels' latents on the two sides
    col = n.groupby("kind")["column"].unique().to_dict()
    assert list(col["covariate"]) == [0] and list(col["observed"]) == [1]
    assert sorted(n.loc[n.kind == "latent", "column"].unique()) == [-1, 3]
    assert set(n.loc[n.kind == "observed", "text"]) == set(schools)
    north = county
    for a, b in [("j[1]", "j[2]"), ("j[1]", "j[3]"), ("j[2]", "j[3]"), ("j[4]", "j[5]")]:
        north = north.correlate(a, b)
    e = north.diagram().tables.edges
    cov = e[e.kind == "covariance"]
    assert len(cov) == 4 and set(cov["text"]) == {"cov(j1,j2)", "cov(j1,j3)", "cov(j2,j3)",
                                                  "cov(j4,j5)"}
    ns = county.relax("j: var(_cons)", groups={"j=1": "N", "j=2": "N", "j=3": "N",
                                               "j=4": "S", "j=5": "S"})
    v = ns.diagram().tables.edges.query("kind == 'variance'")
    assert sorted(v["text"])[:5] == ["N", "N", "N", "S", "S"]
    # correlated errors of the public schools: arcs between error circles
    slots = county.data.slot_names()
    pub = [f"e.{slots[i]}" for i, s in enumerate(schools) if s.startswith("pub")]
    pe = ns
    for i, a in enumerate(pub):
        for b in pub[i + 1:]:
            pe = pe.correlate(a, b)
    pt = pe.diagram(names=names)
    e = pt.tables.edges
    kinds = dict(zip(pt.tables.nodes["id"], pt.tables.nodes["kind"]))
    ecov = e[(e.kind == "covariance") & (e["tail"].map(kinds) == "error")]
    assert len(ecov) == 6
    assert (pt.tables.nodes.query("kind == 'latent'")["column"] < 0).all()


def test_collapsed_view_of_100_slots(big):
    assert big.data.n_slots == 100
    d = big.diagram()                         # auto: collapsed above max_slots
    n = d.tables.nodes.set_index("kind")
    assert len(n) == 5
    assert n.loc["observed", "multiplicity"] == 100 and n.loc["error", "multiplicity"] == 100
    lat = d.tables.nodes.query("kind == 'latent'").set_index("text")["multiplicity"]
    assert lat.to_dict() == {"k": 1, "j": 25}
    e = d.tables.edges
    assert e["kind"].value_counts().to_dict() == {"variance": 3, "loading": 2, "path": 1,
                                                  "intercept": 1, "error": 1}
    assert e.loc[e.kind == "path", "members"].item() == 100
    assert "×100" in d.source and "×25" in d.source
    full = big.diagram(view="full")
    assert (full.tables.nodes.kind == "observed").sum() == 100


def test_random_slopes_definition_diamonds_and_multilevel_view():
    fit = sl.mixed("y x || id: t, cov(un)", data=two_level(1))
    d = fit.model.diagram(view="collapsed")
    n, e = d.tables.nodes, d.tables.edges
    dia = n[n.kind == "definition"]
    assert list(dia["text"]) == ["t"] and "shape=diamond" in d.source
    assert (e.kind == "definition_link").sum() == 1
    assert len(e[(e.kind == "covariance")]) == 1
    ml = fit.diagram(view="multilevel")
    n, e = ml.tables.nodes, ml.tables.edges
    assert (n.kind == "point").sum() == 2           # a dot on y, a dot on the t -> y path
    assert sorted(n.loc[n.kind == "latent", "text"]) == ["t[id]", "y[id]"]
    assert (e.kind == "random").sum() == 2 and "style=dashed" in ml.source


# ---- rendering ------------------------------------------------------------------------
def test_render_svg_without_dot_on_path(m22, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("SEMLEVEL_GRAPHVIZ", raising=False)
    from semlevel.diagram import backend
    assert backend() == "wasm"
    out = tmp_path / "m.svg"
    sl.render(m22.diagram(labels=ARTICLE), out)
    svg = out.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert ">S_v<" in svg and ">B<" in svg and ">U<" not in svg
    for fmt in ("eps", "dot"):
        p = sl.render(m22, tmp_path / f"m.{fmt}")
        assert (tmp_path / f"m.{fmt}").stat().st_size > 1000, p
    assert "pos=" in (tmp_path / "m.dot").read_text()


def test_png_pdf_without_dot_name_what_to_install(m22, tmp_path, monkeypatch):
    monkeypatch.setenv("SEMLEVEL_GRAPHVIZ", "wasm")
    monkeypatch.setitem(__import__("sys").modules, "cairosvg", None)
    for fmt in ("png", "pdf"):
        with pytest.raises(DiagramRenderError, match=r"(?s)dot.*cairosvg"):
            sl.render(m22, tmp_path / f"m.{fmt}")
    with pytest.raises(ValueError, match="unknown figure format"):
        sl.render(m22, tmp_path / "m.bmp")


def test_no_overlapping_labels_and_identical_bytes(m22, fit22, county, big, tmp_path):
    north = county
    for a, b in [("j[1]", "j[2]"), ("j[1]", "j[3]"), ("j[2]", "j[3]"), ("j[4]", "j[5]")]:
        north = north.correlate(a, b)
    ns = county.relax("j: var(_cons)", groups={"j=1": "N", "j=2": "N", "j=3": "N",
                                               "j=4": "S", "j=5": "S"})
    models = {"2x2": m22.diagram(labels=ARTICLE, names=NAMES),
              "2x2 fit": fit22.diagram(se=True, stars=True),
              "county": county.diagram(labels=ARTICLE),
              "county corr": north.diagram(),
              "county N/S": ns.diagram(labels=ARTICLE),
              "collapsed 100": big.diagram(view="collapsed")}
    for name, d in models.items():
        p = position(d)
        boxes = [o for o in p.layout["edges"] if o.get("label")]
        assert boxes, name                             # the check sees the labels
        assert p.overlaps == [], (name, p.overlaps[:3])
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    sl.render(m22.diagram(labels=ARTICLE), a)
    sl.render(m22.diagram(labels=ARTICLE), b)
    assert a.read_bytes() == b.read_bytes()


def test_overlap_check_detects_overlaps():
    # two labels on one spot and a label inside a node: all found
    src = ('digraph { graph [splines=true] a [pos="0,0" shape=box] b [pos="200,0"] '
           'c [pos="400,0"] a -> b [label=XXXX lp="30,0" pos="e,170,0 36,0 80,0 120,0 150,0"] '
           'b -> c [label=YYYY lp="34,2" pos="e,370,0 230,0 280,0 320,0 350,0"] }')
    j = json.loads(run_graphviz(src, "json", "nop2"))
    bad = find_overlaps(j)
    kinds = {tuple(sorted(w.split()[0] for w in pair)) for pair in bad}
    assert ("label", "label") in kinds and ("label", "node") in kinds


def test_options_for_papers(m22, fit22):
    d = m22.diagram(covariates=False, rankdir="TB", intercepts="hide", fixed="dashed",
                    grayscale=False, note=False, fontname="Times", fontsize=12, width=5)
    assert "covariate" not in set(d.tables.nodes["kind"])
    assert "rankdir=TB" in d.source and "fillcolor" in d.source and "size=" in d.source
    assert "fontname=Times" in d.source and "figure_note" not in d.source
    assert set(d.tables.edges.loc[d.tables.edges.kind == "loading", "text"]) == {""}
    assert "style=dashed" in d.source
    assert overlaps(d) == []
    tri = m22.diagram(intercepts="triangle")
    assert "shape=triangle" in tri.source
    # variable names in any script
    g = m22.diagram(names={"k": "κομητεία", "j1": "学校1", "j2": "学校2"})
    svg = g.svg()
    assert "κομητεία" in svg and "学校1" in svg
    tex = to_tikz(fit22.diagram(se=True))
    assert tex.startswith("\\begin{tikzpicture}") and "\\varepsilon" in tex
    assert tex.count("\\draw") >= 20


def test_standardized_estimates(fit22):
    d = fit22.diagram(standardized=True, mark_equal=False)
    e = d.tables.edges
    m = fit22.model
    # latent variances are 1, residual variances are the unexplained share of var(y)
    lat_var = e[(e.kind == "variance") & (e.label != "var(Residual)")]
    assert set(lat_var["text"]) == {"1.00"}
    est = m.labels["estimate"]
    s = 0
    obs = np.flatnonzero(m.data.slot == s)
    x = m.X[obs, m.terms.index("x")]
    var_y = (np.var(x * est["x"]) + est["k: var(_cons)"] + est["j: var(_cons)"]
             + est["var(Residual)"])
    want = est["x"] * np.std(x) / np.sqrt(var_y)
    first = e[e.kind == "path"].iloc[0]
    assert first["std"] == pytest.approx(want, rel=1e-10)
    assert "Standardized" in d.note


def test_tables_can_be_edited_before_drawing(m22):
    t = diagram_tables(m22)
    t.nodes.loc[t.nodes.kind == "latent", "text"] = ["U", "V1", "V2"]
    from semlevel.diagram import to_graphviz
    g = to_graphviz(t)
    assert "label=V1" in g.source and g.tables is t


def test_overlaps_catch_a_label_crossed_by_a_line():
    """The collision check reads the edges' drawn lines back from the layout: a label
    whose text a line passes through is reported; one beside the line is not."""
    from semlevel.diagram.layout import find_overlaps

    def layout(label_y):
        text = [{"op": "F", "size": 14.0, "face": "Times"},
                {"op": "T", "pt": [100.0, label_y], "align": "c", "width": 30.0,
                 "text": "0.50"}]
        return {"objects": [{"name": "a", "pos": "0,50", "width": 0.1, "height": 0.1},
                            {"name": "b", "pos": "200,50", "width": 0.1, "height": 0.1}],
                "edges": [{"tail": 0, "head": 1, "pos": "10,50 60,50 140,50 190,50"},
                          {"tail": 0, "head": 1, "pos": "10,0 60,0 140,0 190,0",
                           "_ldraw_": text}]}
    crossed = find_overlaps(layout(46.0))               # the text spans y 42.5 .. 57.2
    assert crossed == [("label '' of a -> b", "line of a -> b")]
    assert find_overlaps(layout(80.0)) == []


def test_random_slope_default_view_is_collapsed_and_clean(pig):
    """`semlevel diagram pig "weight week || id: week"`: the auto view of a random slope
    on 9 slots is the collapsed one, says so, and nothing collides in it."""
    fit = sl.mixed("weight week || id: week", data=pig)
    d = fit.diagram()
    assert d.tables.title.endswith("collapsed view")
    assert "Collapsed view chosen (random slopes on 9 slots)" in d.note
    assert overlaps(d) == []
    assert sl.mixed_model("weight week || id:", data=pig).diagram().tables.title.endswith(
        "full view")


def test_every_figure_in_diagrams_is_free_of_collisions():
    """The figures of diagrams/make_figures.py (the article's, the collapsed and
    multilevel random-slope views, the pig default view, a standardized solution): no
    label overlaps another label or a node, and no line passes through a label."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "diagrams"))
    import make_figures
    figures = make_figures.figures()
    assert {"pig_random_slope_default", "article_2x2_standardized"} <= set(figures)
    for name, g in figures.items():
        assert overlaps(g) == [], name


MANUAL_EXAMPLES = {
    "ex1": ("weight week || id:", "pig"),
    "ex2": ("weight week || id: week", "pig"),
    "ex3": ("weight week || id: week, covariance(unstructured)", "pig"),
    "ex4": ("gsp private emp hwy water other unemp || region: || state:", "productivity"),
    "ex5": ("gsp private emp hwy water other unemp || region: hwy unemp || state:",
            "productivity"),
    "ex8": ("follicles sin1 cos1 || mare:, residuals(ar 2, t(time)) reml", "ovary"),
    "ex10": ("weight week || _all: R.week || id:", "pig"),
}


@pytest.mark.parametrize("example", sorted(MANUAL_EXAMPLES))
def test_manual_examples_draw_without_collisions(example):
    """The manual's examples in the default, collapsed and multilevel views, as the model
    (labels) and fitted (standardized estimates): no collision of any kind."""
    spec, name = MANUAL_EXAMPLES[example]
    model = sl.mixed_model(spec, data=sl.datasets.load(name))
    fit = model.fit()
    for obj, kw in ((model, {}), (fit, {"standardized": True})):
        for view in ("auto", "collapsed", "multilevel"):
            assert overlaps(obj.diagram(view=view, **kw)) == [], (view, kw)


def test_renamed_variables_apply_in_every_view(pig):
    """names={"weight": "y", ...} renames the outcome, covariates, levels and the
    definition variable in the full, collapsed and multilevel views."""
    fit = sl.mixed("weight week || id: week", data=pig)
    names = {"weight": "y", "week": "t", "id": "pig"}
    for view in ("full", "collapsed", "multilevel"):
        texts = " ".join(fit.diagram(view=view, names=names).tables.nodes["text"])
        assert "weight" not in texts and "week" not in texts, view
        assert re.search(r"\bpig\b", texts) and re.search(r"\by", texts), view
