"""model.label_arrays: the labels table's columns read once per model (the engine's
hot path reads them instead of the DataFrame); equal to the table, read-only, and a new
model (relax, with_labels) gets its own."""
import numpy as np
import pytest

import semlevel as sl
from semlevel.model.label_arrays import label_arrays


@pytest.fixture(scope="module")
def model():
    return sl.mixed_model("weight week || id: week, cov(un)", data=sl.datasets.load("pig"))


def test_arrays_equal_the_table(model):
    la = label_arrays(model)
    lab = model.labels
    assert la.names.tolist() == lab.index.tolist()
    assert la.kind.tolist() == lab["kind"].tolist()
    np.testing.assert_array_equal(la.free, lab["free"].to_numpy())
    np.testing.assert_array_equal(la.value, lab["value"].to_numpy(dtype=float))
    assert la.block.tolist() == lab["block"].tolist()
    kinds = lab["kind"].to_numpy()
    assert la.coefficients.tolist() == np.flatnonzero(kinds == "coef").tolist()
    assert la.free_variances.tolist() == np.flatnonzero(kinds != "coef").tolist()
    assert label_arrays(model) is la                 # read once


def test_arrays_are_read_only(model):
    la = label_arrays(model)
    for a in (la.names, la.kind, la.free, la.value, la.block):
        with pytest.raises(ValueError):
            a[0] = a[0]


def test_a_new_model_reads_its_own_table(model):
    relaxed = model.relax("var(Residual)")              # a new model, a new table
    assert len(relaxed.labels) > len(model.labels)
    assert label_arrays(relaxed).names.tolist() == relaxed.labels.index.tolist()
    changed = model.labels.copy()
    changed.loc["id: cov(week,_cons)", ["free", "value"]] = [False, 0.0]
    other = model.with_labels(changed)
    la = label_arrays(other)
    j = other.label_index("id: cov(week,_cons)")
    assert not la.free[j] and la.value[j] == 0.0
    assert label_arrays(model).free[j]               # the first model is unchanged


def test_phi_arrays_equal_the_table_and_follow_a_fitted_model(model):
    from semlevel.model.label_arrays import phi_arrays
    pa = phi_arrays(model)
    for name in ("a", "b", "label"):
        np.testing.assert_array_equal(getattr(pa, name), model.phi[name].to_numpy())
    fit = model.fit()
    # the fitted model (the table with estimates) shares the arrays, equal to its own
    assert label_arrays(fit.model).names.tolist() == fit.model.labels.index.tolist()
    assert phi_arrays(fit.model) is pa
