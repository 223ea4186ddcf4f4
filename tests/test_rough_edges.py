"""Rough edges a first hour meets (issue 24, item 4): each with the message or behaviour
a user coming from Stata, lme4 or statsmodels expects."""
from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

import semlevel as sl


@pytest.mark.parametrize("command", ["mixed", "xtmixed"])
def test_command_name_in_the_model_string(pig, command):
    with pytest.raises(ValueError, match="command name: give what follows the command"):
        sl.mixed(f"{command} weight week || id:", data=pig)


@pytest.mark.parametrize("option", ["reml", "covariance", "noconstant"])
def test_option_without_a_comma(pig, option):
    with pytest.raises(ValueError, match=f"'{option}' is an option, and options follow a comma"):
        sl.mixed(f"weight week || id: week {option}", data=pig)


def test_a_column_named_like_an_option_is_still_a_variable(pig):
    fit = sl.mixed("weight week reml || id:", data=pig.assign(reml=pig["week"] % 2))
    assert "reml" in fit.fixed.index


def test_compare_warns_about_reml_fits_with_other_fixed_effects(pig):
    a = sl.mixed("weight week || id:, reml", data=pig)
    b = sl.mixed("weight || id:, reml", data=pig.assign())
    with pytest.warns(UserWarning, match="not comparable"):
        table = sl.compare(a, b)
    assert table["note"].str.contains("not comparable").all()
    assert "no LR test" in table["note"].iloc[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # ML fits: no warning, no note
        ml = sl.compare(sl.mixed("weight week || id:", data=pig),
                        sl.mixed("weight week || id: week", data=pig))
    assert (ml["note"] == "").all()


def test_residual_block_by_a_variable_is_not_abbreviated(pig):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sl.mixed("weight week || id:, residuals(independent, by(week))", data=pig)
    text = str(fit.summary())
    assert "Residual: Independent," in text and "    by week" in text
    assert "by ~" not in text


def test_cli_suggests_a_shipped_dataset():
    run = subprocess.run([sys.executable, "-m", "semlevel", "fit", "pigs", "weight week || id:"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "did you mean 'pig'?" in run.stderr


def test_stata_dots_are_missing_and_counted(pig, tmp_path):
    data = pig.astype({"weight": object})
    data.loc[:4, "weight"] = "."
    path = tmp_path / "dots.csv"
    data.to_csv(path, index=False)
    frame = sl.read_data(path)
    assert frame["weight"].isna().sum() == 5 and frame["weight"].dtype == float
    assert frame.attrs["stata_missing"] == {"weight": 5}
    run = subprocess.run([sys.executable, "-m", "semlevel", "fit", str(path),
                          "weight week || id:", "--format", "json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "'.' read as missing (Stata's missing value): 5 in weight" in run.stderr
    assert '"n_obs": 427' in run.stdout


def test_text_columns_with_dots_stay_text(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,name,y\n1,a.b,1.5\n2,.,2.5\n3,c,3.5\n")
    frame = sl.read_data(path)
    assert "stata_missing" not in frame.attrs
    assert frame["y"].tolist() == [1.5, 2.5, 3.5]


def test_value_labels_in_the_small_sample_table(pig):
    """With dfmethod() and value labels on a factor, the base row and the levels print
    their labels as the normal table does (it printed ``1 | 0 (base)``; issue 22)."""
    d = pig.assign(grp=1 + pig["id"] % 3)
    d.attrs["value_labels"] = {"grp": {1: "Control", 2: "Diet A", 3: "Diet B"}}
    normal = str(sl.mixed("weight week i.grp || id:, reml", data=d).summary())
    small = str(sl.mixed("weight week i.grp || id:, reml dfmethod(residual)", data=d).summary())
    for text in (normal, small):
        assert "    Control  |          0  (base)" in text
        assert "     Diet A  |" in text and "     Diet B  |" in text
        assert "          1  |          0  (base)" not in text


@pytest.mark.parametrize("suffix, method, loglik", [
    (", REML = FALSE", "ML", "Log likelihood = -868.96185"),          # manual example 3
    (", reml=F", "ML", "Log likelihood = -868.96185"),
    ("", "REML", "Log restricted-likelihood"),
    (", REML = TRUE", "REML", "Log restricted-likelihood")])
def test_cli_formula_takes_lmers_reml_argument(suffix, method, loglik):
    run = subprocess.run([sys.executable, "-m", "semlevel", "fit", "pig",
                          "weight ~ week + (week | id)" + suffix],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"Mixed-effects {method} regression" in run.stdout and loglik in run.stdout


def test_fit_help_mentions_formulas():
    run = subprocess.run([sys.executable, "-m", "semlevel", "fit", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert "lme4 formula" in run.stdout and "REML = FALSE" in run.stdout


def test_formula_to_stata_of_crossed_groupings_agrees_with_lmer_given_data(pig):
    """With data the mapping is the one lmer() fits (the grouping with more levels keeps
    its level equation); without data it cannot know the sizes, and says so."""
    f = "weight ~ week + (1|id) + (1|week)"
    fitted = sl.lmer_model(f, data=pig).info["spec"]
    assert sl.formula_to_stata(f, pig) == "weight week || _all: R.week || id:"
    assert [e.level for e in fitted.equations] == ["_all", "id"]
    with pytest.warns(UserWarning, match=r"without data.*\(week\).*pass data="):
        assert sl.formula_to_stata(f) == "weight week || _all: R.id || week:"


def test_progress_uses_tqdm_in_a_notebook(monkeypatch):
    """In a Jupyter kernel (ipykernel loaded) with tqdm importable, progress=True hands
    the iteration to tqdm.auto; elsewhere the plain display is used."""
    import sys
    import types
    from semlevel.progress import progress
    calls = []

    def fake_tqdm(items, desc, total):
        calls.append((desc, total))
        return iter(items)
    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = fake_tqdm
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert list(progress([1, 2, 3], "fits", enabled=True)) == [1, 2, 3]
    assert calls == [("fits", 3)]
    monkeypatch.delitem(sys.modules, "ipykernel")
    assert list(progress([1, 2], "fits", enabled=False)) == [1, 2]
    assert calls == [("fits", 3)]


def test_progress_of_profile_and_dask(pig, capsys):
    """The shared display reaches profile intervals and the Dask back end's passes over
    the partitions (here the local scheduler, to a non-terminal: plain lines)."""
    from semlevel.distributed.backend import Backend
    fit = sl.mixed("weight week || id:", data=pig)
    fit.profile_ci(["id: sd(_cons)", "week"], progress=True)
    err = capsys.readouterr().err
    assert "profile: 1/2 id: sd(_cons)" in err and "profile: 2 done" in err
    dask = pytest.importorskip("dask")
    tasks = [dask.delayed(lambda i=i: i * i)() for i in range(5)]
    assert Backend(None, progress=True).compute(tasks, "statistics") == [0, 1, 4, 9, 16]
    assert "statistics:" in capsys.readouterr().err
    assert Backend(None).compute(tasks) == [0, 1, 4, 9, 16]
    assert capsys.readouterr().err == ""
