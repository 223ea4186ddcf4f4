"""Labels by a grouping variable: relax(label, by=) and residuals(..., by())."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from ram_reference import ram_deviance


@pytest.fixture(scope="module")
def kids():
    """Children weighed at varying ages (manual example 6's design), boys and girls with
    different random-effect variances."""
    rng = np.random.default_rng(11)
    rows = []
    for cid in range(90):
        girl = cid % 2
        u0, u1 = rng.normal(0, [0.5 if girl == 0 else 0.8, 0.5 if girl == 0 else 0.2])
        for age in np.sort(rng.uniform(0.1, 2.5, size=rng.integers(1, 6))):
            w = 3.5 - 0.4 * girl + (7.7 + u1) * age - 1.6 * age ** 2 + u0 + rng.normal(0, 0.55)
            rows.append({"id": cid, "girl": girl, "age": age, "weight": w})
    return pd.DataFrame(rows)


FIXED = "weight ibn.girl i.girl#c.age c.age#c.age, noconstant"


def test_example6_heteroskedastic_effects_equal_sem_relaxation(kids):
    het = sl.mixed(FIXED + " || id: ibn.girl i.girl#c.age, noconstant", data=kids)
    hom = sl.mixed(FIXED + " || id: age", data=kids)
    relaxed = hom.model.relax("id: var(age)", by="girl").relax("id: var(_cons)", by="girl")
    fit = relaxed.fit()
    assert fit.loglik == pytest.approx(het.loglik, abs=1e-7)
    pairs = {"id: var(0.girl)": "id: var(_cons) [girl=0]",
             "id: var(1.girl)": "id: var(_cons) [girl=1]",
             "id: var(0.girl#age)": "id: var(age) [girl=0]",
             "id: var(1.girl#age)": "id: var(age) [girl=1]"}
    for a, b in pairs.items():
        assert fit.random.loc[b, "estimate"] == pytest.approx(het.random.loc[a, "estimate"],
                                                               rel=1e-5)
        assert fit.random.loc[b, "se"] == pytest.approx(het.random.loc[a, "se"], rel=1e-4)
    assert fit.evaluation.deviance == pytest.approx(ram_deviance(fit.model, fit.values),
                                                    rel=1e-10)
    # the score test of the homoskedastic model sees what the LR test sees
    score = hom.scoretest(relaxed)
    lr = 2 * (fit.loglik - hom.loglik)
    assert score["df"] == 2 and lr > 0 and score["chi2"] > 0
    assert abs(score["chi2"] - lr) < 0.5 * lr + 1.0
    # the original model is untouched
    assert "id: var(age)" in hom.model.labels.index and hom.model.obs_group is None


def test_residual_variance_by_group_and_residuals_by_option(kids):
    a = sl.mixed(FIXED + " || id:", data=kids).model.relax("var(Residual)", by="girl").fit()
    b = sl.mixed(FIXED + " || id:, residuals(independent, by(girl))", data=kids)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-8)
    assert list(b.random.index[-2:]) == ["Residual: var(e) [girl=0]",
                                        "Residual: var(e) [girl=1]"]
    assert b.random["se"].notna().all()
    assert b.lr_linear["df"] == 2
    assert a.evaluation.deviance == pytest.approx(ram_deviance(a.model, a.values), rel=1e-10)


def test_residual_variance_by_a_variable_that_varies_within_units():
    pig = sl.datasets.load("pig").assign(late=lambda d: (d.week > 5).astype(int))
    fit = sl.mixed("weight week || id:, residuals(independent, by(late))", data=pig)
    r = fit.random
    assert r.loc["Residual: var(e) [late=1]", "estimate"] > \
        r.loc["Residual: var(e) [late=0]", "estimate"]
    assert fit.evaluation.deviance == pytest.approx(ram_deviance(fit.model, fit.values),
                                                    rel=1e-10)


def test_exchangeable_and_unstructured_by_group():
    pig = sl.datasets.load("pig").assign(grp=lambda d: d.id % 2)
    ri = sl.mixed("weight week || id:", data=pig)
    exc = sl.mixed("weight week || id:, noconstant residuals(exchangeable, t(week))", data=pig)
    assert exc.loglik == pytest.approx(ri.loglik, abs=1e-7)      # the same covariance model
    excg = sl.mixed("weight week || id:, noconstant residuals(exchangeable, t(week) by(grp))",
                    data=pig)
    assert excg.loglik >= exc.loglik - 1e-8
    assert len(excg.random) == 4
    un = sl.mixed("weight week || id:, noconstant residuals(unstructured, t(week) by(grp))",
                  data=pig)
    assert un.n_params == 2 + 2 * 45
    assert un.evaluation.deviance == pytest.approx(ram_deviance(un.model, un.values), rel=1e-9)


def test_grouping_errors(kids):
    pig = sl.datasets.load("pig").assign(late=lambda d: (d.week > 5).astype(int))
    m = sl.mixed_model("weight week late || id:", data=pig)
    with pytest.raises(ValueError, match=r"'late' varies within 'id' units"):
        m.relax("id: var(_cons)", by="late")
    with pytest.raises(ValueError, match=r"'nosuch' is not in the data"):
        m.relax("id: var(_cons)", by="nosuch")
    with pytest.raises(ValueError, match=r"cannot be relaxed by a variable"):
        m.relax("week", by="late")
    with pytest.raises(ValueError, match=r"varies within 'id' groups"):
        sl.mixed("weight week || id:, noconstant residuals(exchangeable, t(week) by(late))",
                 data=pig)
    with pytest.raises(ValueError, match=r"'late' varies within 'id' groups: "
                                         r"residuals\(ar, by\(\)\) needs it constant"):
        sl.mixed("weight week || id:, residuals(ar 1, t(week) by(late))", data=pig)
    with pytest.raises(ValueError, match=r"cannot be equated"):
        sl.mixed_model("weight week || id:, residuals(ar 1, t(week))", data=pig).constrain(
            "Residual: rho", "Residual: var(e)")
    # a random intercept and exchangeable errors are one covariance model: refused
    with pytest.raises(ValueError, match=r"not identified.*id: var\(_cons\)"):
        sl.mixed("weight week || id:, residuals(exchangeable, t(week))", data=pig)


def test_nonlinear_structure_by_group():
    ov = sl.datasets.load("ovary").assign(half=lambda d: (d.mare > 6).astype(int))
    one = sl.mixed("follicles sin1 cos1 || mare:, residuals(ar 1, t(time))", data=ov)
    fit = sl.mixed("follicles sin1 cos1 || mare:, residuals(ar 1, t(time) by(half))", data=ov)
    names = ["Residual: rho [half=0]", "Residual: var(e) [half=0]",
             "Residual: rho [half=1]", "Residual: var(e) [half=1]"]
    assert list(fit.random.index[-4:]) == names
    assert fit.loglik >= one.loglik - 1e-8 and fit.n_params == one.n_params + 2
    assert fit.evaluation.deviance == pytest.approx(ram_deviance(fit.model, fit.values),
                                                    rel=1e-10)
    # AR(1) against AR(2) by a score test on the structure's parameter
    ar2 = sl.mixed("follicles sin1 cos1 || mare:, residuals(ar 2, t(time))", data=ov)
    ar1 = ar2.model.fix("Residual: phi2", 0.0).fit()
    assert ar1.loglik == pytest.approx(one.loglik, abs=1e-6)
    score = ar1.scoretest(ar1.model.free("Residual: phi2"))
    lr = 2 * (ar2.loglik - ar1.loglik)
    assert score["df"] == 1 and abs(score["chi2"] - lr) < 0.15 * lr
