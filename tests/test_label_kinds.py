"""Label kinds, roles and CI scales decided in one place (model/label_kinds.py), from the
kind and the residual structure object, never from the label's text (issue 22 item 2)."""
from __future__ import annotations

import numpy as np
import pytest

import semlevel as sl
from semlevel.model.label_kinds import LabelKind, label_roles
from semlevel.model.pathmodel import LABEL_KINDS


def _roles(spec, data):
    model = sl.mixed_model(spec, data=data)
    role, scale = label_roles(model)
    return model, dict(zip(model.labels.index, zip(role, scale)))


@pytest.mark.parametrize("spec, params", [
    ("weight week || id:, residuals(ar 1, t(week))",
     {"Residual: rho": ("structure", "wald"), "Residual: var(e)": ("variance", "log")}),
    ("weight week || id:, residuals(ma 2, t(week))",
     {"Residual: theta1": ("structure", "wald"), "Residual: var(e)": ("variance", "log")}),
    ("weight week || id:, residuals(exponential, t(week))",
     {"Residual: rho": ("structure", "logit"), "Residual: var(e)": ("variance", "log")}),
    ("weight week || id:, residuals(toeplitz 2, t(week) by(late))",
     {"Residual: rho1 [late=0]": ("structure", "atanh"),
      "Residual: var(e) [late=1]": ("variance", "log")}),
])
def test_structure_parameters_get_their_role_from_the_structure(pig, spec, params):
    data = pig.assign(late=(pig["id"] > 24).astype(int))
    model, roles = _roles(spec, data)
    for name, want in params.items():
        assert roles[name] == want
    for name, kind in model.labels["kind"].items():
        if kind == "lag":
            assert roles[name] == ("derived", "")


def test_kinds_roles_and_scales_of_a_mixed_model(pig):
    _, roles = _roles("weight week || id: week, cov(un)", pig)
    assert roles == {"week": ("coefficient", "wald"), "_cons": ("coefficient", "wald"),
                     "id: var(week)": ("variance", "log"),
                     "id: var(_cons)": ("variance", "log"),
                     "id: cov(week,_cons)": ("covariance", "wald"),
                     "var(Residual)": ("variance", "log")}
    assert set(LABEL_KINDS) == {k.value for k in LabelKind}
    assert LabelKind.RESVAR == "resvar"


def test_the_report_uses_those_scales(pig):
    """The exponential structure's rho gets a logit interval (inside (0, 1)), var(e) a
    log one (positive)."""
    fit = sl.mixed("weight week || id:, residuals(exponential, t(week))", data=pig)
    rv = fit.random_variance
    lo, hi = rv.loc["Residual: rho", ["ci_lower", "ci_upper"]]
    assert 0 < lo < rv.loc["Residual: rho", "estimate"] < hi < 1
    assert rv.loc["Residual: var(e)", "ci_lower"] > 0


def test_unknown_kind_is_refused(pig):
    model = sl.mixed_model("weight week || id:", data=pig)
    labels = model.labels.copy()
    labels.loc["var(Residual)", "kind"] = "bogus"
    with pytest.raises(ValueError, match="unknown label kind 'bogus'"):
        label_roles(model.with_labels(labels))
    assert np.all(labels.index == model.labels.index)


def test_model_info_is_typed(pig):
    """PathModel.info is a ModelInfo: typed fields (model/info.py), read as attributes;
    a mapping of its field names converts; an unknown name is refused."""
    from semlevel.model.info import ModelInfo
    model = sl.mixed_model("weight week || id:, residuals(ar 1, t(week))", data=pig)
    assert isinstance(model.info, ModelInfo)
    assert model.info.structure.kind == "ar" and model.info.spec.depvar == "weight"
    assert model.info.get("structure") is model.info.structure        # mapping view
    derived = model.with_labels(model.labels, info=dict(model.info, notes=["x"]))
    assert isinstance(derived.info, ModelInfo) and derived.info.notes == ["x"]
    with pytest.raises(TypeError, match="no field 'colour'"):
        model.with_labels(model.labels, info={"colour": 1})
    with pytest.raises(TypeError, match="no field 'colour'"):
        model.info.updated(colour=1)
