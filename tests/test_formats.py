"""Data formats: each one round-trips the shipped data to the same fit; Stata value labels
become factor-level names in the output while the model keeps Stata's codes."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.cli import main
from semlevel.io import DataFileError, MissingPackageError, read_data, write_data

SLOPE = "weight week || id: week"                 # manual example 2
T43 = "score i.drug || person:, reml"             # manual example 13 (without dfmethod)
DRUGS = {1: "Placebo", 2: "Drug B", 3: "Drug C", 4: "Drug D"}


@pytest.fixture(scope="module")
def pig_fit(pig):
    return sl.mixed(SLOPE, data=pig)


def same_fit(a, b, rel=1e-10):
    assert a.loglik == pytest.approx(b.loglik, rel=rel)
    np.testing.assert_allclose(a.fixed.to_numpy(float), b.fixed.to_numpy(float), rtol=1e-8)
    np.testing.assert_allclose(a.random.to_numpy(float), b.random.to_numpy(float), rtol=1e-7)


@pytest.mark.parametrize("suffix", ["csv", "csv.gz", "tsv", "dta", "parquet", "xlsx"])
def test_round_trip_same_fit(tmp_path, pig, pig_fit, suffix):
    path = tmp_path / f"pig.{suffix}"
    assert write_data(pig, path) == {}
    back = read_data(path)
    assert list(back.columns) == list(pig.columns)
    np.testing.assert_array_equal(back.to_numpy(float), pig.to_numpy(float))
    same_fit(sl.mixed(SLOPE, data=back), pig_fit)


@pytest.mark.parametrize("suffix", ["dta", "parquet", "xlsx"])
def test_cli_reads_each_format(tmp_path, capsys, pig, pig_fit, suffix):
    path = tmp_path / f"pig.{suffix}"
    write_data(pig, path)
    assert main(["fit", str(path), SLOPE, "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["loglik"] == pytest.approx(pig_fit.loglik, rel=1e-10)
    assert d["loglik"] == pytest.approx(-869.03825, abs=1e-5)


def test_excel_sheet(tmp_path, pig, pig_fit, capsys):
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame({"note": ["not the data"]}).to_excel(xl, sheet_name="readme", index=False)
        pig.to_excel(xl, sheet_name="pigs", index=False)
    same_fit(sl.mixed(SLOPE, data=read_data(path, sheet="pigs")), pig_fit)
    assert main(["fit", str(path), SLOPE, "--sheet", "1", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_obs"] == 432


# ---- value labels ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def t43_dta(tmp_path_factory):
    """t43 as a Stata file whose drug variable carries value labels, written by pandas'
    own Stata writer (independent of semlevel's)."""
    path = tmp_path_factory.mktemp("dta") / "t43.dta"
    sl.datasets.load("t43").to_stata(path, write_index=False, value_labels={"drug": DRUGS})
    return path


def test_stata_value_labels_are_read(t43_dta):
    df = read_data(t43_dta)
    assert df.attrs["value_labels"] == {"drug": DRUGS}
    assert sorted(df["drug"].unique()) == [1, 2, 3, 4]          # the codes, as Stata


def test_labelled_factor_fit_and_report(t43_dta):
    fit = sl.mixed(T43, data=read_data(t43_dta))
    # the model uses the codes: Stata's coefficient names and the manual's numbers
    assert list(fit.fixed.index) == ["2.drug", "3.drug", "4.drug", "_cons"]
    assert fit.loglik == pytest.approx(-49.640099, abs=1e-6)
    assert fit.fixed.loc["3.drug", "coef"] == pytest.approx(-10.8, abs=1e-6)
    lines = fit.summary().splitlines()
    rows = {l.split("|")[0].strip(): l for l in lines if "|" in l}
    assert rows["Placebo"].split("|")[1].split() == ["0", "(base)"]
    assert rows["Drug C"].split("|")[1].split()[:2] == ["-10.8", "1.939072"]
    assert "Drug B" in rows and "Drug D" in rows and "3" not in rows
    # nofvlabel shows the codes, as in Stata
    plain = sl.mixed(T43 + " nofvlabel", data=read_data(t43_dta)).summary()
    assert "Drug B" not in plain and any(l.strip().startswith("3  |") for l in plain.splitlines())


def test_labels_in_every_output(t43_dta, capsys):
    fit = sl.mixed(T43, data=read_data(t43_dta))
    fixed = {r["term"]: r for r in fit.to_dict()["fixed"]}
    assert fixed["2.drug"]["value_label"] == "Drug B" and fixed["_cons"]["value_label"] is None
    assert "`3.drug` (Drug C)" in fit.to_markdown()
    assert "3.drug (Drug C)" in fit.to_latex()
    tab = pd.read_csv(__import__("io").StringIO(fit.to_csv())).set_index("parameter")
    assert tab.loc["4.drug", "value_label"] == "Drug D"
    assert main(["fit", str(t43_dta), T43]) == 0
    assert "Drug D  |" in capsys.readouterr().out


def test_categorical_columns_become_labelled_codes(tmp_path):
    """A categorical drug (parquet keeps it) reads as codes 1..4 in category order with the
    categories as labels: the same model as the coded data."""
    coded = sl.datasets.load("t43")
    cat = coded.assign(drug=pd.Categorical(coded["drug"].map(DRUGS),
                                           categories=list(DRUGS.values())))
    path = tmp_path / "t43.parquet"
    cat.to_parquet(path)
    back = read_data(path)
    assert back.attrs["value_labels"] == {"drug": DRUGS}
    np.testing.assert_array_equal(back["drug"], coded["drug"])
    same_fit(sl.mixed(T43, data=back), sl.mixed(T43, data=coded))


def test_labels_survive_write_and_read(tmp_path):
    df = sl.datasets.load("t43")
    sl.io.set_value_labels(df, {"drug": DRUGS})
    for suffix in ("dta", "parquet"):
        path = tmp_path / f"t43.{suffix}"
        write_data(df, path)
        assert read_data(path).attrs["value_labels"] == {"drug": DRUGS}
    with pytest.raises(ValueError, match="nosuch"):
        sl.io.set_value_labels(df, {"nosuch": {1: "a"}})


# ---- errors ------------------------------------------------------------------------------


def test_bad_files(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_data(tmp_path / "nowhere.dta")
    (tmp_path / "x.sav").write_text("x")
    with pytest.raises(DataFileError, match=r"unknown file type '\.sav'"):
        read_data(tmp_path / "x.sav")
    (tmp_path / "broken.dta").write_bytes(b"not a stata file")
    with pytest.raises(DataFileError, match="broken.dta"):
        read_data(tmp_path / "broken.dta")
    (tmp_path / "empty.csv").write_text("a,b\n")
    with pytest.raises(DataFileError, match="holds no data"):
        read_data(tmp_path / "empty.csv")
    with pytest.raises(DataFileError, match="compressed"):
        write_data(pd.DataFrame({"a": [1]}), tmp_path / "x.dta.gz")


@pytest.mark.parametrize("suffix, package", [("xlsx", "openpyxl"), ("parquet", "pyarrow")])
def test_missing_optional_package_is_named(tmp_path, monkeypatch, capsys, suffix, package):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in (package, "fastparquet")
                        else real(name, *a))
    path = tmp_path / f"data.{suffix}"
    path.write_bytes(b"x")
    with pytest.raises(MissingPackageError, match=package) as info:
        read_data(path)
    assert "semlevel[formats]" in str(info.value)
    with pytest.raises(MissingPackageError, match=package):
        write_data(pd.DataFrame({"a": [1]}), tmp_path / f"out.{suffix}")
    assert main(["fit", str(path), SLOPE]) == 2
    assert package in capsys.readouterr().err


def test_stata_names_for_wide_columns(tmp_path):
    wide, _ = sl.pivot_wide(sl.datasets.load("pig"), "weight", ["id"], time="week")
    renamed = write_data(wide, tmp_path / "wide.dta")
    assert renamed["weight[obs=1]"] == "weight_obs_1"
    back = pd.read_stata(tmp_path / "wide.dta")
    assert list(back.columns) == [renamed.get(c, c) for c in wide.columns]
