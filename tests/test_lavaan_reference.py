"""Self-checks of the lavaan reference (tests/data/lavaan/, made by reference.R).

The reference numbers are for semlevel's score tests, modification indices and
relaxed fits; these tests only establish that the stored data are what the
simulator produces, that the JSON has the layout the later tests rely on, and
that semlevel's constrained fit of the same data agrees with lme4 (so the
reference and semlevel describe the same model and slots).
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

from simulate import hetero_three_level

HERE = pathlib.Path(__file__).parent / "data" / "lavaan"
LABELS = ["b", "c", "vk", "vj", "ve"]
SHARED = {"b": 12, "c": 12, "vj": 4, "ve": 12}
RELAXED = ["a_vj_released", "b_vj_released_cov_j1_j2", "c_ve_school4", "d_b_released"]


@pytest.fixture(scope="module")
def ref():
    with open(HERE / "reference.json") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def data():
    return pd.read_csv(HERE / "hetero3.csv")


def test_csv_is_the_simulator_output(data):
    df = hetero_three_level()
    assert list(data.columns) == ["k", "j", "i", "x", "y"] == list(df.columns)
    np.testing.assert_allclose(data.to_numpy(float), df.to_numpy(float), rtol=0, atol=0)
    assert df["x"].notna().all()
    assert df.attrs["n_dropped_cells"] == 288 and df.attrs["n_missing_y"] == df["y"].isna().sum()
    assert df["k"].nunique() == 300 and set(df["j"]) == {1, 2, 3, 4}
    assert not df.duplicated(["k", "j", "i"]).any()


def test_json_layout(ref, data):
    assert set(ref) >= {"about", "data", "slots", "lavaan_options", "constrained", "lme4",
                        "score_tests", "modindices", "relaxed", "checks"}
    assert ref["lavaan_options"]["information"] == "observed"
    assert ref["data"]["n_counties"] == 300 and ref["data"]["n_used"] == data["y"].notna().sum()

    # slots: y_j_i <-> semlevel y[j=..,obs=..], counts add up to the used rows
    names = [s["y"] for s in ref["slots"]]
    assert names == [f"y_{j}_{i}" for j in (1, 2, 3, 4) for i in (1, 2, 3)]
    assert all(s["semlevel"] == f"y[j={s['j']},obs={s['i']}]" for s in ref["slots"])
    assert sum(s["n_obs"] for s in ref["slots"]) == ref["data"]["n_used"]

    con = ref["constrained"]
    assert con["converged"] and con["nobs"] == 300 and con["npar"] == 5
    assert con["x_part_is_zero"] and abs(con["x_part"]) < 1e-6
    assert abs(con["logl"] - ref["lme4"]["logl"]) < 1e-6
    for lab in LABELS:
        e = con["estimates"][lab]
        assert e["se"] > 0 and abs(e["est"] - e["est_analytic"]) < 1e-5
    assert abs(con["estimates"]["b"]["est"] - ref["lme4"]["fixef"]["x"]) < 1e-5

    labels = ref["score_tests"]["labels"]
    assert set(labels) == set(SHARED)
    for lab, n in SHARED.items():
        t = labels[lab]
        assert len(t["members"]) == n and t["joint"]["df"] == n - 1
        assert len(t["joint"]["constraint_indices"]) == n - 1
        assert len(t["univariate"]) == n - 1 and len(t["univariate_reversed"]) == n - 1
        assert set(t["release_member_alone"]) == set(t["members"])
        assert t["chain_from"] == t["members"][0]
        assert all(u["lhs_member"] == t["members"][0] for u in t["univariate"])
        assert [u["released"] for u in t["univariate"]] == t["members"][1:]
        for m, u in t["release_member_alone"].items():
            assert u["df"] == 1 and abs(u["chi2"] - u["chi2_analytic"]) <= 1e-5 * max(1, u["chi2"])
    idx = sorted(i for t in labels.values() for i in t["joint"]["constraint_indices"])
    assert idx == list(range(1, len(ref["score_tests"]["constraints"]) + 1))

    mi = ref["modindices"]
    lat = {(z["lhs"], z["rhs"]) for z in mi["latent_covariances"]}
    assert len(lat) == 10 and ("j1", "j2") in lat and ("k", "j1") in lat
    res = {(z["lhs"], z["rhs"]) for z in mi["residual_covariances"]}
    assert len(res) == 66 and ("y_1_1", "y_2_1") in res
    for z in mi["latent_covariances"] + mi["residual_covariances"]:
        assert z["op"] == "~~" and z["mi"] >= 0
        assert abs(z["mi"] - z["mi_analytic"]) <= 1e-5 * max(1, z["mi"])

    assert set(ref["relaxed"]) == set(RELAXED)
    npar = {"a_vj_released": 8, "b_vj_released_cov_j1_j2": 9, "c_ve_school4": 6, "d_b_released": 16}
    for name in RELAXED:
        r = ref["relaxed"][name]
        assert r["converged"] and r["nobs"] == 300 and r["npar"] == npar[name]
        assert len(r["estimates"]) == npar[name]
        assert r["logl"] >= con["logl"] and abs(r["logl_minus_x_part"] - r["logl_analytic"]) < 1e-6


def test_semlevel_constrained_fit_matches_lme4(ref, data):
    sl = pytest.importorskip("semlevel")
    fit = sl.mixed("y x || k: || j:", data=data)
    assert fit.n_obs == ref["data"]["n_used"]
    assert abs(fit.loglik - ref["lme4"]["logl"]) < 1e-6
