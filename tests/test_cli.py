"""The command line: every output format, the demo, and errors without tracebacks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import semlevel as sl
from semlevel.cli import main

SLOPE = "weight week || id: week"        # manual example 2
SLOPE_LOGLIK = -869.03825
UNSTRUCTURED = "weight week || id: week, cov(un)"   # manual example 3
UNSTRUCTURED_LOGLIK = -868.96185
JSON_KEYS = {"loglik", "n_obs", "converged", "method", "aic", "bic", "fixed", "random",
             "groups", "sample", "optimization", "boundary"}


@pytest.fixture(scope="module")
def pig_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "pig.csv"
    sl.datasets.load("pig").to_csv(path, index=False)
    return path


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# ---- fit: every format, shipped dataset and file ----------------------------------------


@pytest.mark.parametrize("source", ["shipped", "csv"])
def test_json(capsys, pig_csv, source):
    data = "pig" if source == "shipped" else str(pig_csv)
    status, out, err = run(capsys, "fit", data, SLOPE, "--format", "json")
    assert status == 0, err
    d = json.loads(out)
    assert JSON_KEYS <= set(d)
    assert d["loglik"] == pytest.approx(SLOPE_LOGLIK, abs=1e-4)
    assert d["n_obs"] == 432 and d["converged"] is True and d["method"] == "ML"
    assert d["aic"] == pytest.approx(-2 * SLOPE_LOGLIK + 2 * 5, abs=1e-3)
    fixed = {r["term"]: r for r in d["fixed"]}
    assert set(fixed) == {"week", "_cons"}
    assert fixed["week"]["coef"] == pytest.approx(6.209896, abs=1e-6)
    assert fixed["week"]["se"] == pytest.approx(0.0906819, abs=2e-7)
    random = {r["label"]: r for r in d["random"]}
    assert set(random) == {"id: var(week)", "id: var(_cons)", "var(Residual)"}
    assert random["var(Residual)"]["estimate"] == pytest.approx(1.598811, abs=2e-6)
    assert d["groups"] == [{"level": "id", "groups": 48, "min": 9, "avg": 9.0, "max": 9}]
    assert d["sample"] == {"n_input": 432, "n_used": 432, "dropped": {}}
    opt = d["optimization"]
    assert {"iterations", "gradient_norm", "hessian_pd", "message"} <= set(opt)
    assert opt["hessian_pd"] is True and opt["gradient_norm"] < 1e-4
    assert d["boundary"] == []


def test_json_unstructured_and_reml(capsys):
    status, out, _ = run(capsys, "fit", "pig", UNSTRUCTURED, "-f", "json")
    d = json.loads(out)
    assert status == 0
    assert d["loglik"] == pytest.approx(UNSTRUCTURED_LOGLIK, abs=1e-4)
    assert "id: cov(week,_cons)" in {r["label"] for r in d["random"]}
    status, out, _ = run(capsys, "fit", "pig", SLOPE + ", reml", "-f", "json")
    d = json.loads(out)
    assert d["method"] == "REML" and d["loglik"] == pytest.approx(-870.51473, abs=1e-4)


def test_text_is_the_summary(capsys, pig_csv):
    status, out, err = run(capsys, "fit", str(pig_csv), SLOPE)
    assert status == 0, err
    fit = sl.mixed(SLOPE, data=sl.datasets.load("pig"))
    assert out.rstrip("\n") == fit.summary().rstrip("\n")
    assert "-869.03825" in out


@pytest.mark.parametrize("source", ["shipped", "csv"])
def test_markdown(capsys, pig_csv, source):
    data = "pig" if source == "shipped" else str(pig_csv)
    status, out, _ = run(capsys, "fit", data, SLOPE, "--format", "markdown")
    assert status == 0
    assert "|" in out and "|---" in out.replace(":---", "---")
    assert "-869.03825" in out
    assert "`id: var(week)`" in out and "`_cons`" in out


@pytest.mark.parametrize("source", ["shipped", "csv"])
def test_latex(capsys, pig_csv, source):
    data = "pig" if source == "shipped" else str(pig_csv)
    status, out, _ = run(capsys, "fit", data, SLOPE, "--format", "latex")
    assert status == 0
    assert out.count(r"\begin{tabular}") == 2 and out.count(r"\end{tabular}") == 2
    assert r"\toprule" in out and r"\bottomrule" in out
    assert r"\_cons" in out and "$-$869.03825" in out


def test_output_file(capsys, tmp_path):
    target = tmp_path / "fit.json"
    status, out, _ = run(capsys, "fit", "pig", SLOPE, "-f", "json", "--output", str(target))
    assert status == 0 and out == ""
    assert json.loads(target.read_text())["n_obs"] == 432


def test_tsv_and_missing_rows_are_counted(capsys, tmp_path):
    df = sl.datasets.load("pig")
    df.loc[[0, 5], "weight"] = float("nan")
    path = tmp_path / "pig.tsv"
    df.to_csv(path, sep="\t", index=False)
    status, out, _ = run(capsys, "fit", str(path), SLOPE, "-f", "json")
    d = json.loads(out)
    assert status == 0
    assert d["sample"] == {"n_input": 432, "n_used": 430, "dropped": {"missing weight": 2}}
    assert d["n_obs"] == 430


def test_nan_is_null_and_boundary_warning(capsys, tmp_path):
    # no group effect at all: the group variance goes to its boundary, its SE is NaN
    path = tmp_path / "flat.csv"
    path.write_text("g,y\n" + "".join(f"{i // 4},{v}\n" for i, v in
                                      enumerate([1, 2, 3, 4, 2, 3, 4, 1, 3, 4, 1, 2, 4, 1, 2, 3])))
    status, out, err = run(capsys, "fit", str(path), "y || g:", "-f", "json")
    assert status == 0
    d = json.loads(out)                        # strict JSON: no NaN tokens
    assert "NaN" not in out
    assert d["boundary"] == ["g: var(_cons)"]
    row = next(r for r in d["random"] if r["label"] == "g: var(_cons)")
    assert row["se"] is None and row["boundary"] is True
    assert "semlevel: warning:" in err and "boundary" in err


# ---- demo and datasets -------------------------------------------------------------------


def test_demo(capsys):
    status, out, err = run(capsys, "demo")
    assert status == 0, err
    assert "Log likelihood = -869.03825" in out
    last = out.rstrip("\n").splitlines()[-1]
    assert last.startswith("semlevel demo:") and SLOPE in last and "pig" in last


def test_demo_json_keeps_stdout_parseable(capsys):
    status, out, err = run(capsys, "demo", "--format", "json")
    assert status == 0
    assert json.loads(out)["loglik"] == pytest.approx(SLOPE_LOGLIK, abs=1e-4)
    assert "semlevel demo:" in err


def test_datasets(capsys):
    status, out, _ = run(capsys, "datasets")
    assert status == 0
    for name in sl.datasets.names():
        assert name in out
    assert "432 rows" in out


# ---- errors: status 2, one line naming the problem, no traceback ------------------------


def assert_error(status, out, err, *words):
    assert status == 2
    assert out == ""
    assert err.startswith("semlevel: error: ")
    assert "Traceback" not in err
    for w in words:
        assert w in err


def test_unknown_variable(capsys, pig_csv):
    assert_error(*run(capsys, "fit", str(pig_csv), "weight wek || id: week"), "'wek'")


def test_unknown_level_variable(capsys):
    assert_error(*run(capsys, "fit", "pig", "weight week || pig:"), "'pig'")


def test_syntax_error(capsys):
    assert_error(*run(capsys, "fit", "pig", "weight week || id: week, cov(foo)"), "foo")


def test_missing_file(capsys, tmp_path):
    missing = str(tmp_path / "nowhere.csv")
    assert_error(*run(capsys, "fit", missing, SLOPE), "nowhere.csv")


def test_unknown_file_type(capsys, tmp_path):
    path = tmp_path / "data.sav"
    path.write_text("x")
    assert_error(*run(capsys, "fit", str(path), SLOPE), "data.sav", ".csv")


def test_unreadable_csv(capsys, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert_error(*run(capsys, "fit", str(path), SLOPE), "empty.csv")


def test_missing_optional_reader(capsys, tmp_path, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("pyarrow", "fastparquet")
                        else real(name, *a))
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    assert_error(*run(capsys, "fit", str(path), SLOPE), "pyarrow")


def test_usage_errors(capsys):
    assert_error(*run(capsys, "fit", "pig"), "MODEL")
    assert_error(*run(capsys, "fit", "pig", SLOPE, "--format", "xml"), "xml")
    assert_error(*run(capsys, "frobnicate"), "frobnicate")
    status, _, err = run(capsys)
    assert status == 2 and "semlevel: error:" in err


def test_help_and_version(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == 0 and "demo" in out
    status, out, _ = run(capsys, "--version")
    assert status == 0 and sl.__version__ in out


# ---- python -m semlevel -----------------------------------------------------------------


def test_python_m_semlevel_demo():
    proc = subprocess.run([sys.executable, "-m", "semlevel", "demo"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "-869.03825" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_python_m_semlevel_error_status():
    proc = subprocess.run([sys.executable, "-m", "semlevel", "fit", "pig", "weight nosuch"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.startswith("semlevel: error:") and "nosuch" in proc.stderr
