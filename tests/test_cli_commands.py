"""Every subcommand of the command line, run as ``python -m semlevel`` in a subprocess.

JSON outputs are compared with the library's own results (``Fit.to_dict()``, score tests,
relaxed fits) and with the manual's printed log likelihoods; bad input must give exit
status 2 and one ``semlevel: error:`` line naming the problem.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semlevel as sl

ROOT = Path(__file__).resolve().parents[1]
SLOPE = "weight week || id: week"            # manual example 2
SLOPE_LOGLIK = -869.03825


def semlevel(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "semlevel", *args], capture_output=True,
                          text=True, timeout=300, env=env, cwd=cwd or ROOT)


@pytest.fixture(scope="module")
def slope_fit(pig):
    return sl.mixed(SLOPE, data=pig)


def assert_same_numbers(got, want, path="", rel=1e-9):
    """Recursive equality of JSON values, numbers to ``rel`` (the same computation in
    another process)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (path, got, want)
        for k in want:
            assert_same_numbers(got[k], want[k], f"{path}.{k}", rel)
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (path, got, want)
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same_numbers(g, w, f"{path}[{i}]", rel)
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, rel=rel, abs=1e-12), (path, got, want)
    else:
        assert got == want, (path, got, want)


# ---- fit ----------------------------------------------------------------------------------


def test_fit_json_round_trip(slope_fit):
    proc = semlevel("fit", "pig", SLOPE, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    want = slope_fit.to_dict()
    # what the command adds: where the data came from; the rest is Fit.to_dict()
    assert got.pop("data") == "pig" and want.pop("data") is None
    assert_same_numbers(got, want)
    assert got["loglik"] == pytest.approx(SLOPE_LOGLIK, abs=1e-5)   # the manual's digits
    assert got["model"] == SLOPE


def test_fit_csv_output_file(tmp_path, slope_fit):
    target = tmp_path / "tables.csv"
    proc = semlevel("fit", "pig", SLOPE, "-f", "csv", "-o", str(target))
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    tab = pd.read_csv(target)
    fixed = tab[tab["table"] == "fixed"].set_index("parameter")
    random = tab[tab["table"] == "random"].set_index("parameter")
    np.testing.assert_allclose(fixed.loc[slope_fit.fixed.index, "estimate"],
                               slope_fit.fixed["coef"], rtol=1e-12)
    np.testing.assert_allclose(fixed.loc[slope_fit.fixed.index, "se"],
                               slope_fit.fixed["se"], rtol=1e-9)
    np.testing.assert_allclose(random.loc[slope_fit.random.index, "ci_upper"],
                               slope_fit.random["ci_upper"], rtol=1e-9)


def test_fit_log_goes_to_stderr_under_json():
    proc = semlevel("fit", "pig", SLOPE, "-f", "json", "--log")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)                       # stdout is still one JSON object
    assert "Performing gradient-based optimization:" in proc.stderr
    last = [l for l in proc.stderr.splitlines() if l.startswith("Iteration ")][-1]
    n = d["optimization"]["iterations"]
    assert last == f"Iteration {n}:  Log likelihood = -869.03825"


# ---- scoretests ---------------------------------------------------------------------------


def test_scoretests_json(slope_fit):
    proc = semlevel("scoretests", "pig", SLOPE, "-f", "json", "--label", "var(Residual)")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["loglik"] == pytest.approx(SLOPE_LOGLIK, abs=1e-5)
    (row,) = d["tests"]
    want = slope_fit.scoretests(labels=["var(Residual)"]).loc["var(Residual)"]
    assert row["test"] == "var(Residual)" and row["df"] == 8
    assert row["chi2"] == pytest.approx(want["chi2"], rel=1e-9)
    assert row["p"] == pytest.approx(want["p"], rel=1e-9)


def test_scoretests_text_and_progress():
    proc = semlevel("scoretests", "pig", SLOPE, "--progress")
    assert proc.returncode == 0, proc.stderr
    assert "var(Residual)" in proc.stdout and "chi2" in proc.stdout
    # asked for: one line per test on stderr (not a terminal here), then a summary line
    assert "score tests: 1/3 week" in proc.stderr and "score tests: 3 done" in proc.stderr
    quiet = semlevel("scoretests", "pig", SLOPE, "-f", "csv")
    assert quiet.returncode == 0 and quiet.stderr == ""     # not a terminal: no progress
    tab = pd.read_csv(__import__("io").StringIO(quiet.stdout)).set_index("test")
    assert tab.loc["var(Residual)", "df"] == 8


# ---- relax --------------------------------------------------------------------------------


def test_relax_json(slope_fit):
    proc = semlevel("relax", "pig", SLOPE, "--relax", "var(Residual)", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    relaxed_model = slope_fit.model.relax("var(Residual)")
    relaxed = relaxed_model.fit()
    assert d["relaxations"] == ["released var(Residual)"]
    assert d["base"]["loglik"] == pytest.approx(SLOPE_LOGLIK, abs=1e-5)
    assert d["relaxed"]["loglik"] == pytest.approx(relaxed.loglik, abs=1e-8)
    assert d["relaxed"]["n_params"] == slope_fit.n_params + 8
    cmp = {r["model"]: r for r in d["comparison"]}
    assert cmp["relaxed"]["df"] == 8
    assert cmp["relaxed"]["lr"] == pytest.approx(2 * (relaxed.loglik - slope_fit.loglik),
                                                 rel=1e-8)
    score = slope_fit.scoretest(relaxed_model)
    assert d["score_test"]["chi2"] == pytest.approx(score["chi2"], rel=1e-9)
    assert d["score_test"]["df"] == 8
    # the relaxed table lists one residual variance per week
    labels = {r["label"] for r in d["relaxed"]["random"]}
    assert {f"var(e.weight[obs={k}])" for k in range(1, 10)} <= labels


def test_relax_text_correlate():
    proc = semlevel("relax", "pig", SLOPE, "--correlate", "id", "id.week")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("Base model: " + SLOPE)
    assert "Relaxed model: correlated id and id.week" in out
    # the relaxed model is example 3 (unstructured): the manual's log likelihood
    assert out.count("Log likelihood = -869.03825") == 1
    assert "Log likelihood = -868.96185" in out
    assert "Score test of the relaxation at the base fit: chi2(1) =" in out


def test_relax_single_member_is_bad_input():
    proc = semlevel("relax", "pig", SLOPE, "--relax", "id: var(_cons)")
    assert proc.returncode == 2
    assert proc.stderr.startswith("semlevel: error:") and "single member" in proc.stderr


# ---- diagram ------------------------------------------------------------------------------


def test_diagram_svg_dot_tikz(tmp_path):
    svg, dot, tex = tmp_path / "m.svg", tmp_path / "m.dot", tmp_path / "m.tex"
    proc = semlevel("diagram", "pig", "weight week || id:", "-o", str(svg), "--se")
    assert proc.returncode == 0, proc.stderr
    text = svg.read_text()
    assert "<svg" in text and "</svg>" in text
    assert "14.82" in text                    # id: var(_cons) = 14.81751 (manual example 1)
    proc = semlevel("diagram", "pig", "weight week || id:", "-o", str(dot), "--no-fit",
                    "--show", "labels")
    assert proc.returncode == 0, proc.stderr
    assert dot.read_text().lstrip().startswith(("digraph", "strict digraph"))
    proc = semlevel("diagram", "pig", "weight week || id:", "-o", str(tex))
    assert proc.returncode == 0, proc.stderr
    assert r"\begin{tikzpicture}" in tex.read_text()


def test_diagram_needs_a_known_suffix(tmp_path):
    proc = semlevel("diagram", "pig", "weight week || id:", "-o", str(tmp_path / "m.doc"))
    assert proc.returncode == 2 and "m.doc" in proc.stderr and ".svg" in proc.stderr


# ---- reshape ------------------------------------------------------------------------------


def test_reshape_csv_and_dta(tmp_path, pig):
    wide_csv, slots_csv, wide_dta = (tmp_path / "w.csv", tmp_path / "s.csv",
                                     tmp_path / "w.dta")
    proc = semlevel("reshape", "pig", "--outcome", "weight", "--levels", "id", "--time",
                    "week", "-o", str(wide_csv), "--slots", str(slots_csv))
    assert proc.returncode == 0, proc.stderr
    wide = pd.read_csv(wide_csv)
    assert wide.shape == (48, 10)
    # independent check: pandas' own pivot of the long data
    ref = pig.pivot(index="id", columns="week", values="weight")
    np.testing.assert_array_equal(wide.iloc[:, 1:].to_numpy(), ref.to_numpy())
    assert list(pd.read_csv(slots_csv)["n_obs"]) == [48] * 9
    proc = semlevel("reshape", "pig", "-y", "weight", "-l", "id", "-t", "week",
                    "-o", str(wide_dta))
    assert proc.returncode == 0, proc.stderr
    assert "weight_obs_1" in proc.stderr            # Stata names: brackets renamed
    back = pd.read_stata(wide_dta)
    np.testing.assert_array_equal(back.iloc[:, 1:].to_numpy(), ref.to_numpy())


def test_reshape_stdout_unknown_column():
    proc = semlevel("reshape", "pig", "--outcome", "wieght", "--levels", "id")
    assert proc.returncode == 2 and "wieght" in proc.stderr and "Traceback" not in proc.stderr


# ---- demo and datasets --------------------------------------------------------------------


def test_demo_json_and_list():
    proc = semlevel("demo", "pig-intercept", "-f", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["loglik"] == pytest.approx(-1014.9268, abs=1e-4)
    assert "matches the manual's -1014.9268" in proc.stderr
    proc = semlevel("demo", "--list")
    assert proc.returncode == 0
    from semlevel.cli.demos import DEMOS
    for name in DEMOS:
        assert name in proc.stdout


def test_datasets_list_and_export(tmp_path):
    proc = semlevel("datasets")
    assert proc.returncode == 0
    for name in sl.datasets.names():
        assert name in proc.stdout
    target = tmp_path / "ovary.dta"
    proc = semlevel("datasets", "ovary", "-o", str(target))
    assert proc.returncode == 0, proc.stderr
    back, ref = pd.read_stata(target), sl.datasets.load("ovary")
    assert list(back.columns) == list(ref.columns)
    np.testing.assert_allclose(back.to_numpy(float), ref.to_numpy(float), rtol=1e-15)
    proc = semlevel("datasets", "t43")
    assert proc.returncode == 0
    assert pd.read_csv(__import__("io").StringIO(proc.stdout)).equals(sl.datasets.load("t43"))


# ---- bad input: status 2, one line naming the problem -------------------------------------


def _assert_error(status, out, err, words):
    assert status == 2, (status, err)
    assert out == ""
    assert err.startswith("semlevel: error: ")
    assert "Traceback" not in err
    for w in words:
        assert w in err


@pytest.mark.parametrize("argv, words", [
    (["fit", "nowhere.csv", SLOPE], ["no such file", "nowhere.csv"]),        # missing file
    (["fit", "pig", "weight wek || id: week"], ["'wek'"]),                   # unknown column
    (["fit", "pig", "weight week || id: ||"], ["||"]),                      # malformed model
    (["fit", "pig", SLOPE, "--frobnicate"], ["unrecognized arguments", "--frobnicate"]),
    (["frobnicate"], ["frobnicate"]),                                        # unknown command
])
def test_bad_input_exit_2(argv, words):
    proc = semlevel(*argv)
    _assert_error(proc.returncode, proc.stdout, proc.stderr, words)


@pytest.mark.parametrize("argv, words", [
    (["fit", "pig", "weight week || id: week, cov(foo)"], ["foo"]),
    (["scoretests", "pig", SLOPE, "--information", "fisher"], ["fisher"]),
    (["scoretests", "pig", SLOPE, "--label", "var(Nothing)"], ["var(Nothing)"]),
    (["relax", "pig", SLOPE], ["nothing to relax"]),
    (["relax", "pig", SLOPE, "--relax", "var(Residual)", "--frobnicate"], ["--frobnicate"]),
    (["diagram", "pig", SLOPE], ["--output"]),
    (["diagram", "pig", SLOPE, "-o", "x.svg", "--no-fit", "--se"], ["--no-fit"]),
    (["reshape", "pig", "--outcome", "weight"], ["--levels"]),
    (["reshape", "pig", "-y", "weight", "-l", "id", "-o", "wide.sav"], ["wide.sav", ".csv"]),
    (["datasets", "nosuch"], ["nosuch", "pig"]),
    (["datasets", "-o", "x.csv"], ["NAME"]),
    (["demo", "nosuch"], ["nosuch", "pig-intercept"]),
])
def test_bad_input_in_process(capsys, tmp_path, monkeypatch, argv, words):
    from semlevel.cli import main
    monkeypatch.chdir(tmp_path)
    status = main(argv)
    out, err = capsys.readouterr()
    _assert_error(status, out, err, words)


def test_console_script_entry_point():
    """pyproject's console script is the same main()."""
    import tomllib
    from semlevel.cli import main
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, func = scripts["semlevel"].split(":")
    assert getattr(__import__(module, fromlist=[func]), func) is main


def test_fit_accepts_an_lme4_formula(pig):
    """A model string with ``~`` is an lme4 formula: the same fit as sl.lmer (REML)."""
    out = semlevel("fit", "pig", "weight ~ week + (week | id)", "--format", "json")
    assert out.returncode == 0, out.stderr
    want = sl.lmer("weight ~ week + (week | id)", data=pig)
    assert json.loads(out.stdout)["loglik"] == pytest.approx(want.loglik, rel=1e-10)
    bad = semlevel("fit", "pig", "weight ~ week + (week | id")
    assert bad.returncode == 2 and "position" in bad.stderr


def test_diagram_appearance_options(tmp_path):
    """The Python API's diagram options on the CLI: --color, --name, --label, --no-note,
    --intercepts, --digits."""
    out = tmp_path / "f.dot"
    base = [sys.executable, "-m", "semlevel", "diagram", "pig", "weight week || id:",
            "-o", str(out)]
    run = subprocess.run(base + ["--color", "--name", "weight", "y", "--label",
                                 "var(Residual)", "S_e", "--show", "both", "--no-note",
                                 "--digits", "1"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    dot = out.read_text()
    assert "fillcolor" in dot and "S_e = 4.4" in dot and 'label="y1' in dot
    assert "figure_note" not in dot
    gray = subprocess.run(base + ["--intercepts", "triangle"], capture_output=True, text=True)
    assert gray.returncode == 0 and "shape=triangle" in out.read_text()
    assert "fillcolor" not in out.read_text()
    bad = subprocess.run(base + ["--fontname", 'A" onmouseover="x'], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "font" in bad.stderr.lower()
