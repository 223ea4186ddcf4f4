"""Hostile input (issue 14, items 1-2): no user text is evaluated, every output escapes what
it embeds.

Random strings (control characters, NUL, quotes, backslashes, LaTeX, Markdown and HTML
specials, newlines of every kind) go in as value labels, file names, model strings,
display names and parameter labels of diagrams; each output must still parse as its format
and keep its structure.
"""
from __future__ import annotations

import json
import re
import xml.dom.minidom

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import semlevel as sl
from semlevel import escape
from semlevel.output.latex import fit_to_latex
from semlevel.output.markdown import fit_to_markdown
from semlevel.output.records import fit_to_json
from semlevel.syntax.expression import ExpressionError, parse_expression
from semlevel.syntax.survey import SurveyOptionError

HOSTILE = ["\n\\input{/etc/passwd}", "a|b|c", "x\r\ny", "<script>alert(1)</script>",
           '" onmouseover="alert(1)', "&foo;", "&amp;", "\x00", "\x07\x1b[31m", "\\",
           "\\\\n", "`code`", "``", "}{", "%", "\u2028\u2029", "\x0b\x0c\x1c\x85", "ε×†",
           "$x^2$", "]]>", "<!--", "|\n|---|", ""]
TEXT = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30),
                 st.text(alphabet=st.sampled_from(list("\\\"'<>&|`%{}$#_~^\n\r\x00\x07 ab")),
                         max_size=20))
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


# --------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("expr", [
    "w.__class__.__init__.__globals__['__builtins__']",
    "w.__class__", "__import__('os').system('true')", "abs(w)", "w**2", "w @ w", "w,w",
    "w[0]", "lambda: 1", "'w'", "w if w else w", "w; w", "(w", "w)", "w +", "* w", "1w",
    "w.", ".w", "exec", "\x00w", "w" * 600])
def test_weight_expression_refuses_anything_but_arithmetic(pig, expr):
    with pytest.raises((SurveyOptionError, ValueError)) as info:
        sl.mixed("weight week || id:", data=pig.assign(w=1.0), pweight=expr)
    assert "expression" in str(info.value) or "weight" in str(info.value)


def test_attribute_chain_in_the_command_text_is_refused(pig):
    with pytest.raises(SurveyOptionError, match="attribute"):
        sl.mixed("weight week [pw=w.__class__.__init__.__globals__] || id:",
                 data=pig.assign(w=1.0))


def test_weight_arithmetic_is_evaluated_with_numpy(pig):
    """``(w + 1) * 2 - v`` equals the column computed by hand (same fit)."""
    d = pig.assign(w=1.0 + pig["id"] % 3, v=0.5)
    by_hand = sl.mixed("weight week [pw=u] || id:", data=d.assign(u=(d.w + 1) * 2 - d.v))
    parsed = sl.mixed("weight week [pw=(w + 1)*2 - v] || id:", data=d)
    assert parsed.loglik == pytest.approx(by_hand.loglik, rel=1e-12)
    np.testing.assert_allclose(parsed.fixed["coef"], by_hand.fixed["coef"], rtol=1e-10)


def test_division_by_zero_in_a_weight_is_named(pig):
    with pytest.raises(ValueError, match="not finite"):
        sl.mixed("weight week [pw=w/0] || id:", data=pig.assign(w=1.0))


@given(TEXT)
@settings(max_examples=200, deadline=None)
def test_expression_parser_accepts_only_its_grammar(text):
    """Whatever the text, the parser either raises ExpressionError or returns a tree of
    names (identifiers), numbers and the four operators."""
    try:
        tree = parse_expression(text)
    except ExpressionError:
        return
    from semlevel.syntax.expression import Binary, Name, Number, Unary

    def walk(n):
        if isinstance(n, Name):
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n.name)
        elif isinstance(n, Number):
            assert isinstance(n.value, float)
        elif isinstance(n, Unary):
            assert n.op in "+-"
            walk(n.operand)
        else:
            assert isinstance(n, Binary) and n.op in "+-*/"
            walk(n.left)
            walk(n.right)
    walk(tree)


def test_no_eval_or_exec_in_the_package():
    """No ``eval``/``exec``/``compile`` call and no ``DataFrame.eval``/``query`` anywhere."""
    import pathlib
    root = pathlib.Path(sl.__file__).parent
    bad = []
    for path in root.rglob("*.py"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"(?<![\w.])(eval|exec|compile)\(|\.eval\(|\.query\(|__import__", code):
                if "re.compile(" not in code:
                    bad.append(f"{path.relative_to(root)}:{i}: {line.strip()}")
    assert not bad, bad


# --------------------------------------------------------------------------- item 2


@pytest.fixture(scope="module")
def labelled_fit():
    """A fit with a labelled factor (``i.grp``), whose labels the tests replace."""
    pig = sl.datasets.load("pig")
    d = pig.assign(grp=1 + pig["id"] % 3)
    fit = sl.mixed("weight week i.grp || id:", data=d)
    return fit


def _set_label(fit, text):
    fit.model.data.original.attrs["value_labels"] = {"grp": {1: "one", 2: text, 3: "three"}}


@given(TEXT, TEXT, TEXT)
@PROPERTY
def test_latex_keeps_user_text_inside_its_comment_and_cells(labelled_fit, label, model, data):
    _set_label(labelled_fit, label)
    out = fit_to_latex(labelled_fit, model=model, data=data)
    _set_label(labelled_fit, "two")
    plain = fit_to_latex(labelled_fit, model="m" if model else "", data="d" if data else "")
    lines, ref = out.splitlines(), plain.splitlines()
    assert len(lines) == len(ref)                     # no line added by the text
    for a, b in zip(lines, ref):
        assert a.startswith("%") == b.startswith("%")
        if not a.startswith("%"):
            # a table row keeps its cells: as many unescaped & as the plain row
            assert len(re.findall(r"(?<!\\)&", a)) == len(re.findall(r"(?<!\\)&", b))
            assert "\\input" not in a.replace("\\textbackslash{}input", "")


@given(TEXT, TEXT, TEXT)
@PROPERTY
def test_markdown_tables_keep_their_columns(labelled_fit, label, model, data):
    _set_label(labelled_fit, label)
    out = fit_to_markdown(labelled_fit, model=model, data=data)
    _set_label(labelled_fit, "two")
    plain = fit_to_markdown(labelled_fit, model="m" if model else "",
                            data="d" if data else "")
    lines, ref = out.splitlines(), plain.splitlines()
    assert len(lines) == len(ref)
    for a, b in zip(lines, ref):
        assert a.startswith("|") == b.startswith("|")
        if a.startswith("|"):
            assert len(re.findall(r"(?<!\\)\|", a)) == len(re.findall(r"(?<!\\)\|", b)), a
        prose = re.sub(r"(`+).*?\1", "", a)          # code spans show text literally
        assert "<script" not in prose and "<!--" not in prose


@given(TEXT, TEXT, TEXT)
@PROPERTY
def test_json_loads_and_round_trips_the_text(labelled_fit, label, model, data):
    _set_label(labelled_fit, label)
    try:
        out = json.loads(fit_to_json(labelled_fit, model=model, data=data))
    finally:
        _set_label(labelled_fit, "two")
    assert out["model"] == model and out["data"] == data


@given(TEXT, TEXT)
@PROPERTY
def test_csv_reads_back_with_its_rows(labelled_fit, label, other):
    import io

    import pandas as pd
    from semlevel.output.tables import render_table
    frame = pd.DataFrame({"a": [label, other], "b": [1.0, 2.0]},
                         index=pd.Index(["r1", other + "x"], name="term"))
    back = pd.read_csv(io.StringIO(render_table(frame, "csv")),
                       keep_default_na=False, dtype=str)
    assert len(back) == 2 and list(back["a"]) == [label, other]


_EVENT = re.compile(r"\son[a-z]+\s*=", re.I)


def _check_svg(svg: str) -> None:
    doc = xml.dom.minidom.parseString(svg.encode("utf-8"))
    for el in doc.getElementsByTagName("*"):
        for name in el.attributes.keys():
            assert not name.lower().startswith("on"), name
    assert not doc.getElementsByTagName("script")


@pytest.fixture(scope="module")
def small_fit():
    pig = sl.datasets.load("pig")
    return sl.mixed("weight week || id:", data=pig[pig["week"] <= 3])


@given(TEXT, TEXT)
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_diagram_svg_is_well_formed_whatever_the_names(small_fit, name, label):
    assume(name.strip())                 # empty display names are refused (test below)
    d = small_fit.diagram(names={"id": name, "weight1": name}, labels={"week": label},
                          show="labels")
    _check_svg(d.svg())
    tikz = d.to_tikz()
    # each TikZ node text is one brace group: user text cannot close it
    for line in tikz.splitlines():
        if line.lstrip().startswith("\\node"):
            body = re.sub(r"\\[{}]", "", line)
            assert body.count("{") == body.count("}"), line


@pytest.mark.parametrize("font", ['Helvetica" onmouseover="alert(1)', "x\x00y", "a\nb",
                                  "Times<b>", "", 3])
def test_diagram_fontname_is_checked(small_fit, font):
    with pytest.raises(ValueError, match="fontname"):
        small_fit.diagram(fontname=font)


@pytest.mark.parametrize("name", ["", "  ", "\n", None])
def test_empty_display_names_are_refused(small_fit, name):
    with pytest.raises(ValueError, match="display name"):
        small_fit.diagram(names={"id": name})


def test_usual_fontnames_pass(small_fit):
    for font in ("Helvetica", "Times-Roman", "DejaVu Sans", "Latin Modern Roman 10"):
        _check_svg(small_fit.diagram(fontname=font).svg())


# ---------------------------------------------------------------------- escape unit


@given(TEXT)
@settings(max_examples=200, deadline=None)
def test_escapers_leave_no_line_break_or_control(text):
    for f in (escape.one_line, escape.latex_text, escape.latex_comment,
              escape.markdown_text, escape.markdown_code, escape.dot_text):
        out = f(text)
        assert len(out.splitlines()) <= 1, (f.__name__, out)
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f]", out), (f.__name__, out)
    x = escape.xml_text(text)
    xml.dom.minidom.parseString(f'<a b="{x}">{x}</a>'.encode("utf-8"))


def test_markdown_code_fence_is_longer_than_its_backticks():
    assert escape.markdown_code("a``b") == "```a``b```"
    assert escape.markdown_code("`x`") == "`` `x` ``"
