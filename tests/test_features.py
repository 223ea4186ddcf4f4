"""Options and notation of the mixed syntax as they reach the fit, and the PathModel view."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

import semlevel as sl
from simulate import three_level, two_level


@pytest.fixture(scope="module")
def kids():
    """Children weighed at varying ages, boys and girls (manual example 6's design)."""
    rng = np.random.default_rng(11)
    rows = []
    for cid in range(70):
        girl = cid % 2
        u0, u1 = rng.normal(0, [0.6, 0.5 if girl == 0 else 0.25])
        for age in np.sort(rng.uniform(0.1, 2.5, size=rng.integers(1, 6))):
            w = 3.5 - 0.4 * girl + (7.7 + u1) * age - 1.6 * age ** 2 + u0 + rng.normal(0, 0.55)
            rows.append({"id": cid, "girl": girl, "age": age, "weight": w})
    return pd.DataFrame(rows)


def test_factor_terms_in_random_part_equal_explicit_dummies(kids):
    spec = "weight ibn.girl i.girl#c.age c.age#c.age, noconstant || id: ibn.girl i.girl#c.age, noconstant"
    fit = sl.mixed(spec, data=kids)
    assert list(fit.fixed.index) == ["0.girl", "1.girl", "0.girl#c.age", "1.girl#c.age",
                                     "c.age#c.age"]
    assert list(fit.random.index) == ["id: var(0.girl)", "id: var(1.girl)",
                                      "id: var(0.girl#age)", "id: var(1.girl#age)",
                                      "var(Residual)"]
    d = kids.assign(g0=(kids.girl == 0) * 1.0, g1=(kids.girl == 1) * 1.0)
    d = d.assign(g0a=d.g0 * d.age, g1a=d.g1 * d.age, a2=d.age ** 2)
    plain = sl.mixed("weight g0 g1 g0a g1a a2, noconstant || id: g0 g1 g0a g1a, noconstant",
                     data=d)
    assert fit.loglik == pytest.approx(plain.loglik, abs=1e-8)
    np.testing.assert_allclose(fit.fixed.to_numpy(), plain.fixed.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(fit.random.to_numpy(), plain.random.to_numpy(), rtol=1e-5)


def test_factor_fixed_effects_and_interactions(pig):
    df = pig.assign(grp=pig["id"] % 3)
    fit = sl.mixed("weight i.grp##c.week || id:", data=df)
    assert list(fit.fixed.index) == ["1.grp", "2.grp", "week", "1.grp#c.week",
                                     "2.grp#c.week", "_cons"]
    assert fit.model.info["fixed_base"] == ["0b.grp", "0b.grp#c.week"] or \
        "0b.grp" in fit.model.info["fixed_base"]


def test_level_option_sets_interval_width(pig):
    fit95 = sl.mixed("weight week || id: week", data=pig)
    fit90 = sl.mixed("weight week || id: week, level(90)", data=pig)
    kw90 = sl.mixed("weight week || id: week", data=pig, level=90)
    z = st.norm.ppf(0.95)
    row = fit90.fixed.loc["week"]
    assert row["ci_upper"] == pytest.approx(row["coef"] + z * row["se"], rel=1e-12)
    assert fit90.fixed.loc["week", "ci_upper"] < fit95.fixed.loc["week", "ci_upper"]
    pd.testing.assert_frame_equal(fit90.random, kw90.random)
    v = fit90.random.loc["id: var(week)"]
    assert v["ci_lower"] == pytest.approx(v["estimate"] * np.exp(-z * v["se"] / v["estimate"]))


def test_stddeviations_option(pig):
    var = sl.mixed("weight week || id: week, cov(un)", data=pig)
    sd = sl.mixed("weight week || id: week, cov(un) stddeviations", data=pig)
    r, v = sd.random, var.random
    assert list(r.index) == ["id: sd(week)", "id: sd(_cons)", "id: corr(week,_cons)",
                             "sd(Residual)"]
    assert r.loc["id: sd(week)", "estimate"] == pytest.approx(
        np.sqrt(v.loc["id: var(week)", "estimate"]))
    # log-scale CIs map exactly: the SD interval is the square root of the variance one
    np.testing.assert_allclose(r.loc["id: sd(_cons)", ["ci_lower", "ci_upper"]].to_numpy(dtype=float),
                               np.sqrt(v.loc["id: var(_cons)", ["ci_lower", "ci_upper"]].to_numpy(dtype=float)),
                               rtol=1e-10)
    rho = v.loc["id: cov(week,_cons)", "estimate"] / np.sqrt(
        v.loc["id: var(week)", "estimate"] * v.loc["id: var(_cons)", "estimate"])
    assert r.loc["id: corr(week,_cons)", "estimate"] == pytest.approx(rho)
    lo, hi = r.loc["id: corr(week,_cons)", ["ci_lower", "ci_upper"]]
    assert -1 < lo < rho < hi < 1
    assert sd.loglik == var.loglik


def test_exchangeable_and_identity_structures():
    df = two_level(7, n_groups=80)
    un = sl.mixed("y x t || id: x t, cov(un)", data=df)
    ex = sl.mixed("y x t || id: x t, cov(exchangeable)", data=df)
    idn = sl.mixed("y x t || id: x t, cov(identity)", data=df)
    ind = sl.mixed("y x t || id: x t", data=df)
    assert set(ex.random.index) == {"id: var(x t _cons)", "id: cov(x t _cons)", "var(Residual)"}
    assert set(idn.random.index) == {"id: var(x t _cons)", "var(Residual)"}
    assert len(ind.random) == 4 and len(un.random) == 7
    # nested structures: the more general never fits worse
    assert un.loglik >= ex.loglik - 1e-8 and ex.loglik >= idn.loglik - 1e-8
    assert un.loglik >= ind.loglik - 1e-8 and ind.loglik >= idn.loglik - 1e-8
    assert [f.n_params for f in (idn, ind, ex, un)] == [5, 7, 6, 10]


def test_noconstant_fixed_part(pig):
    fit = sl.mixed("weight week, noconstant || id:", data=pig)
    assert list(fit.fixed.index) == ["week"]
    assert fit.wald[1] == 1 and np.isfinite(fit.wald[0])


def test_model_tables_and_graph_describe_the_sem():
    df = three_level(2)
    fit = sl.mixed("y x || k: || j:", data=df)
    m = fit.model
    assert set(m.latents["name"]) == {"k"} | {f"j[{j}]" for j in range(1, 6)}
    # one label per assumption: common slope, one variance per level, one residual
    assert list(m.labels.index) == ["x", "_cons", "k: var(_cons)", "j: var(_cons)",
                                    "var(Residual)"]
    tab = m.table
    slopes = tab[(tab.op == "~") & (tab.label == "x")]
    assert len(slopes) == m.data.n_slots                  # y[j,obs] <- x[j,obs], label x
    loads = tab[tab.op == "=~"]
    assert (loads["value"] == 1.0).all()
    assert (tab.loc[tab.label == "j: var(_cons)", "op"] == "~~").sum() == 5
    assert np.allclose(tab.loc[tab.label == "x", "estimate"], fit.fixed.loc["x", "coef"])
    g = m.graph
    kinds = {n: d["kind"] for n, d in g.nodes(data=True)}
    assert kinds["k"] == "latent" and kinds["j[1]"] == "latent"
    assert g.has_edge("j[1]", "y[j=1,obs=1]") and not g.has_edge("j[2]", "y[j=1,obs=1]")
    assert g.edges["j[1]", "j[1]"]["two_headed"]


def test_random_slope_latents_use_definition_variables(pig):
    m = sl.mixed_model("weight week || id: week", data=pig)
    tab = m.table
    slope_loads = tab[(tab.op == "=~") & (tab.lhs == "id.week")]
    assert len(slope_loads) == 9 and slope_loads["value"].isna().all()
    assert (slope_loads["definition"] == "week").all()
    assert m.graph.edges["id.week", "weight[obs=3]"]["definition"] == "week"


def test_compare_table(pig):
    a = sl.mixed("weight week || id:", data=pig)
    b = sl.mixed("weight week || id: week", data=pig)
    c = sl.mixed("weight week || id: week, cov(un)", data=pig)
    tab = sl.compare(a, b, c, names=["randint", "randslope", "unstructured"])
    assert list(tab.index) == ["randint", "randslope", "unstructured"]
    assert tab.loc["randslope", "delta_aic"] == 0.0
    assert tab.loc["randslope", "lr"] == pytest.approx(291.78, abs=0.005)
    assert tab.loc["unstructured", "p"] == pytest.approx(0.6959, abs=5e-5)
    assert tab["n_params"].tolist() == [4, 5, 6]
    np.testing.assert_allclose(tab["aic"], [f.aic for f in (a, b, c)])
    with pytest.raises(ValueError, match="different numbers of observations"):
        sl.compare(a, sl.mixed("weight week || id:", data=pig.iloc[:-9]))
