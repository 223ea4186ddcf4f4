"""Results as data and documents, the iteration log, the progress display, and the command
line's exit statuses for non-convergence and bugs, and its --help."""
from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.cli import main
from semlevel.engine.optimize import IterationEvent
from semlevel.output.iterlog import IterationLog, log_line
from semlevel.progress import progress
from semlevel.output.tables import TABLE_FORMATS, fit_tables, render_table
from semlevel.output.report import stata_g

SLOPE = "weight week || id: week"
UNSTRUCTURED = "weight week || id: week, cov(un)"


@pytest.fixture(scope="module")
def fit(pig):
    return sl.mixed(UNSTRUCTURED, data=pig)


# ---- results as data ---------------------------------------------------------------------


def test_to_dict_is_the_tables_and_json_safe(fit):
    d = fit.to_dict()
    assert json.loads(fit.to_json()) == d
    assert d["model"] == UNSTRUCTURED and d["loglik"] == pytest.approx(-868.96185, abs=1e-5)
    fixed = {r["term"]: r for r in d["fixed"]}
    for term, row in fit.fixed.iterrows():
        for col in ("coef", "se", "z", "p", "ci_lower", "ci_upper"):
            assert fixed[term][col] == pytest.approx(row[col], rel=1e-15, abs=1e-300)
    random = {r["label"]: r for r in d["random"]}
    assert random["id: cov(week,_cons)"]["estimate"] == pytest.approx(-.0984378, abs=1e-6)
    assert random["id: cov(week,_cons)"]["block"] == "id: Unstructured"
    assert d["groups"] == [{"level": "id", "groups": 48, "min": 9, "avg": 9.0, "max": 9}]


def test_to_csv_round_trip(fit, tmp_path):
    target = tmp_path / "fit.csv"
    text = fit.to_csv(target)
    assert target.read_bytes().decode("utf-8") == text     # CRLF rows (RFC 4180)
    back = pd.read_csv(target)
    want = fit_tables(fit)
    assert list(back.columns) == list(want.columns)
    num = ["estimate", "se", "statistic", "p", "ci_lower", "ci_upper"]
    np.testing.assert_array_equal(back[num].to_numpy(float), want[num].to_numpy(float))
    assert list(back["table"]) == ["fixed"] * 2 + ["random"] * 4


def test_markdown_and_latex_hold_the_numbers(fit):
    md, tex = fit.to_markdown(), fit.to_latex()
    se = format(fit.fixed.loc["week", "se"], ".7g")
    assert abs(float(se) - .0910745) < 3e-6 * .0910745         # the manual's .0910745
    for text in (md, tex):
        assert "6.209896" in text and se in text                  # week: coef, SE
    assert "| `id: cov(week,_cons)` | id: Unstructured |" in md
    assert tex.count(r"\begin{tabular}") == 2 and r"cov(week,\_cons)" in tex


@pytest.mark.parametrize("fmt", TABLE_FORMATS)
def test_any_table_in_every_format(pig, fmt):
    a, b = sl.mixed("weight week || id:", data=pig), sl.mixed(SLOPE, data=pig)
    table = sl.compare(a, b, names=["intercept", "slope"])
    text = render_table(table, fmt, title="LR test")
    if fmt == "json":
        rows = json.loads(text)
        assert rows[1]["model"] == "slope" and rows[0]["lr"] is None     # NaN -> null
        assert rows[1]["lr"] == pytest.approx(291.78, abs=5e-3)          # manual: 291.78
    elif fmt == "csv":
        back = pd.read_csv(io.StringIO(text)).set_index("model")
        assert back.loc["slope", "df"] == 1
        assert back.loc["slope", "lr"] == pytest.approx(table.loc["slope", "lr"], rel=1e-12)
    else:
        assert "slope" in text and "291.777" in text             # 6 significant digits
        assert {"markdown": "|:---|", "latex": r"\toprule", "text": "----"}[fmt] in text


def test_render_table_unknown_format(fit):
    with pytest.raises(ValueError, match="xml"):
        render_table(fit.fixed, "xml")


# ---- iteration log -----------------------------------------------------------------------


def test_log_matches_the_optimizer_record(pig, capsys):
    events: list[IterationEvent] = []
    model = sl.mixed_model(SLOPE, data=pig)
    quiet = model.fit(callback=events.append)
    assert capsys.readouterr().out == ""                  # a callback prints nothing
    assert [e.step for e in events][0] == "start" and events[-1].step == "done"
    steps = [e for e in events if e.step in ("scoring", "newton")]
    assert [e.iteration for e in steps] == list(range(1, quiet.optimization.iterations + 1))
    moved = [e.deviance for e in steps if e.step_length > 0]
    assert moved == quiet.optimization.history            # every accepted step, in order
    devs = [e.deviance for e in events]
    assert all(b <= a + 1e-9 for a, b in zip(devs, devs[1:]))   # never uphill
    assert events[-1].deviance == pytest.approx(quiet.deviance, rel=1e-12)


def test_log_option_prints_stata_lines(pig, capsys):
    fit = sl.mixed(SLOPE, data=pig, log=True)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Performing gradient-based optimization:"
    its = [l for l in out if l.startswith("Iteration ")]
    assert [int(re.match(r"Iteration (\d+):", l).group(1)) for l in its] == \
        list(range(fit.optimization.iterations + 1))
    assert its[-1] == "Iteration %d:  Log likelihood = -869.03825" % fit.optimization.iterations
    assert all(re.fullmatch(r"Iteration \d+:  Log likelihood = [ -]?[\d.]+( +\(.*\))?", l)
               for l in its)
    assert out[-2:] == ["Computing standard errors ...", ""]
    # quiet by default; the string option and nolog
    sl.mixed(SLOPE, data=pig)
    assert capsys.readouterr().out == ""
    sl.mixed(SLOPE + ", reml log", data=pig)
    text = capsys.readouterr().out
    assert "Log restricted-likelihood = -870.51473" in text
    sl.mixed(SLOPE + ", log nolog", data=pig)
    assert capsys.readouterr().out == ""


def test_log_line_notes():
    e = IterationEvent(3, 1738.0765, "scoring", 0.5, False)
    assert log_line(e, reml=False) == ("Iteration 3:  Log likelihood = -869.03825  "
                                       "(Fisher scoring) (not concave) (backed up)")
    assert log_line(IterationEvent(0, -2861.0034, "start"), reml=True) == \
        "Iteration 0:  Log restricted-likelihood =  1430.5017"
    stream = io.StringIO()
    log = IterationLog(stream=stream)
    log(IterationEvent(0, 2.0, "start"))
    log(IterationEvent(0, 2.0, "done"))
    assert stream.getvalue().splitlines() == [
        "Performing gradient-based optimization:",
        "Iteration 0:  Log likelihood =         -1",             # %10.0g, as Stata
        "", "Computing standard errors ...", ""]


def test_cli_log_above_text_report(capsys):
    assert main(["fit", "pig", SLOPE, "--log"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Performing gradient-based optimization:\nIteration 0:")
    assert out.index("Computing standard errors ...") < out.index("Mixed-effects ML regression")


# ---- progress ----------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_only_when_asked_or_a_terminal():
    pipe, tty = io.StringIO(), _Terminal()
    assert list(progress(range(3), "work", enabled=False, stream=pipe)) == [0, 1, 2]
    assert list(progress(range(3), "work", enabled=None, stream=pipe)) == [0, 1, 2]
    assert pipe.getvalue() == ""                            # not asked, not a terminal
    assert list(progress(range(3), "work", enabled=True, stream=pipe, name=str)) == [0, 1, 2]
    lines = pipe.getvalue().splitlines()
    assert [re.sub(r" \(?[\d.]+ s\)?$", "", l) for l in lines] == [
        "work: 1/3 0", "work: 2/3 1", "work: 3/3 2", "work: 3 done in"]
    list(progress(["a", "b"], "tests", enabled=None, stream=tty))
    text = tty.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and "tests: 2/2" in text


def test_scoretests_progress(fit, capsys):
    quiet = fit.scoretests(labels=["var(Residual)"])
    assert capsys.readouterr().err == ""
    shown = fit.scoretests(labels=["var(Residual)"], progress=True)
    assert "score tests: 1/1 var(Residual)" in capsys.readouterr().err
    pd.testing.assert_frame_equal(quiet, shown)


# ---- exit statuses: 1 (not converged), 3 (bug); --help everywhere -------------------------


def test_nonconvergence_exit_1_with_report(monkeypatch, capsys):
    import semlevel.engine.fitting as fitting
    real = fitting.newton
    monkeypatch.setattr(fitting, "newton", lambda *a, **k: real(*a, **{**k, "max_iter": 1}))
    status = main(["fit", "pig", SLOPE, "-f", "json"])
    out, err = capsys.readouterr()
    assert status == 1
    assert json.loads(out)["converged"] is False           # the result is still written
    assert "semlevel: warning:" in err and "converge" in err


def test_internal_error_exit_3(monkeypatch, capsys):
    import semlevel.cli.cmd_fit as cmd_fit
    monkeypatch.setattr(cmd_fit, "load_source", lambda *a: 1 / 0)
    assert main(["fit", "pig", SLOPE]) == 3
    err = capsys.readouterr().err
    assert err.startswith("semlevel: error: internal error (ZeroDivisionError")
    assert "--traceback" in err
    with pytest.raises(ZeroDivisionError):
        main(["--traceback", "fit", "pig", SLOPE])


@pytest.mark.parametrize("command", ["fit", "scoretests", "relax", "diagram", "reshape",
                                     "demo", "datasets"])
def test_help_of_every_command(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: semlevel {command}")
    assert "exit status" in out


def test_top_help_documents_exit_statuses(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0    success", "1    done, but not to be trusted", "2    usage error",
                 "3    internal error"):
        assert line in out


@pytest.mark.parametrize("fmt", ["markdown", "latex", "csv"])
def test_relax_documents(fmt, capsys):
    argv = ["relax", "pig", "weight week || id:", "--relax", "var(Residual)", "-f", fmt]
    assert main(argv) == 0
    out = capsys.readouterr().out
    if fmt == "csv":
        tab = pd.read_csv(io.StringIO(out))
        assert set(tab["model"]) == {"base", "relaxed"}
        base = tab[(tab["model"] == "base") & (tab["parameter"] == "var(Residual)")]
        assert base["estimate"].iloc[0] == pytest.approx(4.383264, abs=1e-6)  # example 1
        assert (tab["parameter"] == "var(e.weight[obs=9])").sum() == 1
    else:
        if fmt == "markdown":
            assert out.count("## Mixed-effects ML regression") == 2
        else:
            assert out.count(r"\begin{tabular}") == 5          # 2 per fit, 1 comparison
        assert "Score test of the relaxation at the base fit: chi2(8) =" in out
        assert ("| relaxed | ML | 432 | 12 |" in out) if fmt == "markdown" else \
            (r"relaxed & ML & 432 & 12" in out)


def test_progress_in_a_log_is_a_few_plain_lines():
    """Not a terminal: no carriage returns, and 200 items give one line per tenth (issue
    24: a bootstrap to a log wrote 200 updates joined on one line)."""
    import io
    log = io.StringIO()
    assert len(list(progress(range(200), "bootstrap", enabled=True, stream=log))) == 200
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert len(lines) == 11                      # 20, 40, ..., 200, and the closing line
    assert lines[-1].startswith("bootstrap: 200 done in")


def test_bootstrap_progress_to_a_log(capsys, pig):
    import semlevel as sl
    fit = sl.mixed("weight week || id:", data=pig)
    fit.bootstrap(n=20, seed=1, progress=True)
    err = capsys.readouterr().err
    assert "\r" not in err and 3 <= len(err.splitlines()) <= 12
    assert "bootstrap: 20 done in" in err
