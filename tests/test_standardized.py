"""The standardized solution (issue 23 item 1): fit.standardized() against lavaan's
standardizedSolution() on the same wide model, and the diagrams drawn from it."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semlevel as sl

DATA = Path(__file__).parent / "data" / "standardized"
REF = json.loads((DATA / "reference.json").read_text())     # reference.R


@pytest.fixture(scope="module")
def two_level():
    df = pd.read_csv(DATA / "two_level.csv")
    return sl.mixed("y x w || id:, residuals(independent, t(obs))", data=df)


def _lavaan_name(name: str) -> str:
    """semlevel's wide names -> reference.R's (y[obs=2] -> y_2, id -> k)."""
    name = re.sub(r"^(e\.)?(\w+)\[obs=(\d)\]$", r"\2_\3", name)
    return {"id": "k"}.get(name, name)


def test_std_all_and_std_lv_equal_lavaan(two_level):
    """Every row: std.all and its delta-method SE (observed information), std.lv."""
    assert two_level.loglik == pytest.approx(REF["logl"], abs=1e-6)
    st = two_level.standardized()
    ref = {(r["lhs"], r["op"], r["rhs"]): r for r in REF["rows"]}
    seen = 0
    for row in st.itertuples(index=False):
        op, rhs = row.op, row.rhs
        if op == "~" and rhs == "_cons":
            op, rhs = "~1", ""
        key = (_lavaan_name(row.lhs), op, _lavaan_name(rhs) if rhs else "")
        r = ref[key]
        assert row.std_all == pytest.approx(r["std_all"], rel=1e-6, abs=1e-9)
        assert row.std_lv == pytest.approx(r["std_lv"], rel=1e-6, abs=1e-9)
        if r["se_all"] > 0:
            assert row.se == pytest.approx(r["se_all"], rel=1e-4)
        else:
            assert row.se == 0 and np.isnan(row.z)
        seen += 1
    assert seen == len(REF["rows"]) - 1                  # all but lavaan's k ~1 (mean 0)


REF3 = json.loads((DATA / "reference3.json").read_text())   # reference3.R


def _lavaan3(name: str) -> str:
    """y[j=2,obs=1] -> y_2_1, j[2] -> j2, e.y[...] -> y_..."""
    m = re.fullmatch(r"(?:e\.)?(\w+)\[j=(\d),obs=(\d)\]", name)
    if m:
        return f"{m[1]}_{m[2]}_{m[3]}"
    return re.sub(r"^j\[(\d)\]$", r"j\1", name)


def test_three_level_article_model_equals_lavaan():
    """The article's 2 x 2 model (y x || k: || j:), complete: every row as lavaan's."""
    fit = sl.mixed("y x || k: || j:", data=pd.read_csv(DATA / "three_level.csv"))
    assert fit.loglik == pytest.approx(REF3["logl"], abs=1e-6)
    ref = {(r["lhs"], r["op"], r["rhs"]): r for r in REF3["rows"]}
    st = fit.standardized()
    assert len(st) == len(ref)
    for row in st.itertuples(index=False):
        op, rhs = (("~1", "") if (row.op == "~" and row.rhs == "_cons")
                   else (row.op, _lavaan3(row.rhs)))
        r = ref[(_lavaan3(row.lhs), op, rhs)]
        assert row.std_all == pytest.approx(r["std_all"], rel=1e-6, abs=1e-9)
        assert row.std_lv == pytest.approx(r["std_lv"], rel=1e-6, abs=1e-9)
        assert row.se == pytest.approx(r["se_all"], rel=1e-4, abs=1e-12)


def test_undefined_slots_are_named_and_pooled_is_offered(pig):
    """pig's week is the same for every pig in a slot: its standardized path is not
    defined by slot (NaN with a note, never 0), and by='pooled' gives one per label."""
    fit = sl.mixed("weight week || id: week", data=pig)
    st = fit.standardized()
    week = st[(st["op"] == "~") & (st["label"] == "week")]
    assert week["std_all"].isna().all()
    assert week["note"].str.contains("no variance of the covariate").all()
    # the slope's loading is week, the same in each slot: one value per slot
    slope = st[(st["lhs"] == "id.week") & (st["op"] == "=~")]
    assert slope["std_all"].notna().all() and (slope["note"] == "").all()
    # a slope variable that varies within the slot has no single standardized loading
    jitter = pig.assign(wk=pig["week"] + np.random.default_rng(1).uniform(0, .5, len(pig)))
    st_j = sl.mixed("weight wk || id: wk", data=jitter).standardized(se=False)
    loads = st_j[(st_j["lhs"] == "id.wk") & (st_j["op"] == "=~")]
    assert loads["std_all"].isna().all()
    assert (loads["note"] == "loading on a definition variable: no single value").all()
    pooled = fit.standardized(by="pooled").set_index("label")
    want = fit.fixed.loc["week", "coef"] * pig["week"].std(ddof=0)
    assert pooled.loc["week", "std_all"] * 1 == pytest.approx(
        want / np.sqrt(want ** 2 / pooled.loc["week", "std_all"] ** 2), rel=1e-12)
    assert 0.9 < pooled.loc["week", "std_all"] < 1.0
    with pytest.raises(ValueError, match="by must be"):
        fit.standardized(by="row")


@pytest.mark.parametrize("view", ["full", "collapsed", "multilevel"])
def test_standardized_diagrams_never_print_a_dot(view):
    """The productivity model (one observation per slot) in every view, with --se: a
    number on every path, never '.', SEs in parentheses, significant digits."""
    prod = sl.datasets.load("productivity")
    fit = sl.mixed("gsp private emp hwy water other unemp || region: || state:", data=prod)
    d = fit.diagram(standardized=True, view=view, se=True)
    e = d.tables.edges
    paths = e[e["kind"] == "path"]["text"]
    assert len(paths) and all(re.match(r"^-?\d+\.\d+ \(\d+\.\d+\)", t) for t in paths)
    assert not any(t == "." or t.startswith(".") for t in e["text"])
    resid = e[(e["kind"] == "variance") & (e["label"] == "var(Residual)")]["text"]
    assert all(not t.startswith("0.00 ") for t in resid)      # 0.0013, not 0.00
    assert "delta method" in d.note


def test_digits_option_and_cli(tmp_path, pig):
    fit = sl.mixed("weight week || id:", data=pig)
    texts = set(fit.diagram(digits=4).tables.edges["text"])
    assert any(re.fullmatch(r"\d+\.\d{4}.*", t) for t in texts)
    with pytest.raises(ValueError, match="digits must be"):
        fit.diagram(digits=-1)
    csv = tmp_path / "pig.csv"
    pig.to_csv(csv, index=False)
    out = tmp_path / "pig.dot"
    run = subprocess.run([sys.executable, "-m", "semlevel", "diagram", str(csv),
                          "weight week || id:", "-o", str(out), "--digits", "3",
                          "--standardized", "--se"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert re.search(r"\d\.\d{3} \(\d\.\d{3}\)", out.read_text())


REF_SLOPE = json.loads((DATA / "reference_slope.json").read_text())  # reference_slope.R


def test_random_slope_model_equals_lavaans_growth_model():
    """pig, 'weight week || id: week, cov(un)': lavaan writes it as a growth model (the
    slope's loading is the week, the same in a slot), so every loading, the latent
    correlation and the residual variances compare: std.all, SE and std.lv as lavaan's."""
    fit = sl.mixed("weight week || id: week, cov(un)",
                   data=pd.read_csv(DATA / "pig.csv"))
    assert fit.loglik == pytest.approx(REF_SLOPE["logl"], abs=1e-6)
    ref = {(r["lhs"], r["op"], r["rhs"]): r for r in REF_SLOPE["rows"]}

    def lav(name):
        m = re.fullmatch(r"(?:e\.)?weight\[obs=(\d)\]", name)
        return f"w{m[1]}" if m else {"id": "i", "id.week": "s"}.get(name, name)
    compared = 0
    for row in fit.standardized().itertuples(index=False):
        if row.op == "~":
            continue                       # lavaan has the fixed effects as latent means
        key = (lav(row.lhs), row.op, lav(row.rhs))
        r = ref.get(key) or ref[(key[2], key[1], key[0])]
        assert row.std_all == pytest.approx(r["std_all"], rel=1e-6, abs=1e-9), key
        assert row.std_lv == pytest.approx(r["std_lv"], rel=1e-6, abs=1e-9), key
        assert row.se == pytest.approx(r["se_all"], rel=1e-4, abs=1e-12), key
        compared += 1
    assert compared == len(ref) == 9 + 9 + 3 + 9
