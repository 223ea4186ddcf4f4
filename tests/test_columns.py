"""semlevel.columns: the model's tables held as columns, DataFrames made on request.

A fit reads the columns (``model.label_table``, ...) and never makes the frames of its
model's tables; a user who reads ``model.labels`` gets the same DataFrame as before,
and a DataFrame given to a model (``with_labels``) is kept as its columns."""
import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.columns import ColumnTable

TABLES = ("label_table", "latent_table", "effect_table", "phi_table", "theta_table")


@pytest.fixture(scope="module")
def pig():
    return sl.datasets.load("pig")


def test_a_fit_makes_no_frame_of_its_models_tables(pig):
    fit = sl.mixed("weight week || id: week, cov(un)", data=pig)
    fit.fixed, fit.random, fit.loglik
    for model in (fit.model,):
        for name in TABLES:
            assert getattr(model, name)._frame is None, name
        assert model.data.slot_table._frame is None
        assert model.data.data_table._frame is None        # nor of its wide data


def test_the_frames_a_user_reads_are_the_tables(pig):
    model = sl.mixed_model("weight week || id: week, cov(un)", data=pig)
    lab = model.labels
    assert lab.index.name == "name"
    assert lab.index.tolist() == list(model.label_table.index)
    assert str(lab["kind"].dtype) == "str" and lab["free"].dtype == bool
    assert lab["kind"].tolist() == model.label_table["kind"].tolist()
    assert model.labels is lab                          # made once
    np.testing.assert_array_equal(model.phi["a"].to_numpy(), model.phi_table["a"])
    assert model.latents["key"].tolist() == model.latent_table["key"].tolist()
    assert model.latents["name"].tolist() == ["id.week", "id"]
    assert list(model.theta.columns) == ["s", "t", "label"] and len(model.theta) == 0
    slots = model.data.slots
    assert list(slots.columns) == ["obs", "n_obs"] and slots["n_obs"].tolist() == [48] * 9


def test_a_frame_given_to_a_model_is_kept_as_its_columns(pig):
    model = sl.mixed_model("weight week || id:", data=pig)
    changed = model.labels.copy()
    changed.loc["var(Residual)", ["free", "value"]] = [False, 2.0]
    other = model.with_labels(changed)
    tab = other.label_table
    j = other.label_index("var(Residual)")
    assert not tab["free"][j] and tab["value"][j] == 2.0
    assert other.labels is changed                      # the given frame is what it shows
    assert model.label_table["free"][j]                 # the first model is unchanged
    with pytest.raises(TypeError, match="table"):
        model.with_labels([1, 2])


def test_columns_are_read_only_and_assign_makes_a_new_table():
    t = ColumnTable({"a": [1, 2], "b": ["x", None], "k": [(1,), ()]},
                    index=["r1", "r2"], index_name="name")
    assert t["a"].dtype.kind == "i" and t["b"].dtype == object and t["k"][0] == (1,)
    with pytest.raises(ValueError):
        t["a"][0] = 5
    u = t.assign(a=np.array([3.0, 4.0]))
    assert t["a"].tolist() == [1, 2] and u["a"].tolist() == [3.0, 4.0]
    with pytest.raises(ValueError, match="3 entries in a table of 2 rows"):
        t.assign(c=[1, 2, 3])
    with pytest.raises(KeyError, match="no column 'z'"):
        t["z"]
    f = t.to_frame()
    assert f.index.name == "name" and f["a"].tolist() == [1, 2]
    f.loc["r1", "a"] = 9                                # the frame is the user's copy
    assert t["a"][0] == 1


def test_a_table_of_a_frame_round_trips():
    f = pd.DataFrame({"kind": ["coef", "var"], "free": [True, False], "value": [1.0, np.nan]},
                     index=pd.Index(["x", "y"], name="name"))
    t = ColumnTable.of(f)
    assert t.index.tolist() == ["x", "y"] and t.index_name == "name"
    assert t["kind"].dtype == object and t["free"].dtype == bool
    assert t.to_frame() is f
    plain = ColumnTable.of(pd.DataFrame({"a": [1, 2]}))
    assert plain.index is None and len(plain) == 2


def test_a_default_table_is_each_models_own(pig):
    a = sl.mixed_model("weight week || id:", data=pig)
    b = sl.mixed_model("weight week || id:", data=pig)
    a.theta.loc[0] = [0, 1, 2]                          # an edit of one model's frame
    assert len(b.theta) == 0 and len(b.theta_table) == 0


def test_the_wide_data_keeps_the_datas_dtypes_and_a_frame_is_made_on_request(pig):
    """The wide data's columns (sorted used rows) keep a categorical, a nullable float
    and a string column as pandas arrays; ``wide.data`` is their DataFrame with the same
    dtypes, and the fit on them equals the fit on plain numpy columns."""
    df = pig.copy()
    df["wk"] = pd.Categorical(df["week"] % 3)
    df["w2"] = df["weight"].astype("Float64")
    df["s"] = (df["id"] % 3).map({0: "a", 1: "b", 2: "c"})
    df.loc[5, "w2"] = pd.NA                                  # one row dropped
    model = sl.mixed_model("w2 i.wk i.s week || id:", data=df)
    wide = model.data
    assert wide.n_obs == 431
    tab = wide.data_table
    assert isinstance(tab["wk"].dtype, pd.CategoricalDtype)
    assert str(tab["w2"].dtype) == "Float64" and not isinstance(tab["w2"], np.ndarray)
    frame = wide.data
    assert frame["wk"].dtype == df["wk"].dtype and str(frame["w2"].dtype) == "Float64"
    assert frame["s"].dtype == df["s"].dtype and len(frame) == 431
    np.testing.assert_array_equal(frame["week"].to_numpy(),
                                  df["week"].to_numpy()[wide.source])
    plain = df.drop(index=5).assign(wk=lambda d: d["week"] % 3,
                                    w2=lambda d: d["weight"].astype(float))
    a = sl.mixed("w2 i.wk i.s week || id:", data=df)
    b = sl.mixed("w2 i.wk i.s week || id:", data=plain)
    assert a.loglik == b.loglik
    np.testing.assert_array_equal(a.fixed["coef"].to_numpy(), b.fixed["coef"].to_numpy())
    assert a.fixed.index.tolist() == ["1.wk", "2.wk", "b.s", "c.s", "week", "_cons"]
