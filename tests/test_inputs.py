"""Bad input gets a clear error; messy input gets the same fit as its clean equivalent."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.engine.fitting import BoundaryWarning
from semlevel.syntax.mixed import MixedSyntaxError
from simulate import three_level, two_level


@pytest.fixture(scope="module")
def sim3():
    return three_level(2)


# ---- bad input ---------------------------------------------------------------------------

def test_unknown_variable_is_named_with_suggestion(pig):
    with pytest.raises(ValueError, match=r"'wek'.*did you mean 'week'"):
        sl.mixed("weight wek || id:", data=pig)
    with pytest.raises(ValueError, match=r"'weigth'"):
        sl.mixed("weigth week || id:", data=pig)
    with pytest.raises(ValueError, match=r"'idx'"):
        sl.mixed("weight week || idx:", data=pig)
    with pytest.raises(ValueError, match=r"'wk'"):
        sl.mixed("weight week || id: wk", data=pig)


def test_non_numeric_outcome_and_covariate(pig):
    df = pig.assign(weight=pig["weight"].astype(str), wk=pig["week"].map(lambda w: f"w{w}"))
    with pytest.raises(ValueError, match=r"outcome 'weight' is not numeric"):
        sl.mixed("weight week || id:", data=df)
    with pytest.raises(ValueError, match=r"'wk' is not numeric.*i\.wk"):
        sl.mixed("week wk || id:", data=df.assign(week=pig["week"].astype(float)))


def test_level_not_nested(sim3):
    with pytest.raises(ValueError, match=r"'k' is not nested within 'j'"):
        sl.mixed("y x || j: || k:", data=sim3.assign(j=sim3["k"] * 10 + sim3["j"]))


def test_empty_group_and_no_data(pig):
    with pytest.raises(ValueError, match=r"no observations left"):
        sl.mixed("weight week || id:", data=pig.assign(id=np.nan))
    with pytest.raises(MixedSyntaxError, match=r"position"):
        sl.mixed("weight week || :", data=pig)


def test_singular_fixed_design(pig):
    with pytest.raises(ValueError, match=r"collinear"):
        sl.mixed("weight week week2 || id:", data=pig.assign(week2=2 * pig["week"] + 1))


def test_factor_with_one_level(pig):
    with pytest.raises(ValueError, match=r"only one level"):
        sl.mixed("weight i.one || id:", data=pig.assign(one=1))


def test_unknown_option_and_unsupported_option(pig):
    with pytest.raises(MixedSyntaxError, match=r"unknown option 'covarance\(un\)' at position"):
        sl.mixed("weight week || id: week, covarance(un)", data=pig)
    with pytest.raises(MixedSyntaxError):
        sl.mixed("weight week || id:", data=pig, bogus=True)
    with pytest.raises(ValueError, match=r"emonly\(\) is not supported yet"):
        sl.mixed("weight week || id:, emonly", data=pig)


def test_syntax_error_names_token_and_position(pig):
    with pytest.raises(MixedSyntaxError, match=r"position \d+"):
        sl.mixed("weight week || id week", data=pig)


def test_data_must_be_a_dataframe(pig):
    with pytest.raises(TypeError, match="DataFrame"):
        sl.mixed("weight week || id:", data=pig.to_numpy())


def test_unknown_label_named():
    model = sl.mixed_model("weight week || id:", data=sl.datasets.load("pig"))
    with pytest.raises(KeyError, match=r"id: var\(_cons\)"):
        model.label_index("id: var(cons)")


# ---- no row silently lost ----------------------------------------------------------------

def test_dropped_rows_are_counted(pig):
    df = pig.copy()
    df.loc[[0, 5, 9], "weight"] = np.nan
    df.loc[[20], "week"] = np.nan
    df.loc[[30, 31], "id"] = np.nan
    fit = sl.mixed("weight week || id:", data=df)
    sample = fit.model.data.sample
    assert fit.n_obs == 432 - 6 and sample.n_input == 432
    assert sample.dropped == {"missing weight": 3, "missing week": 1,
                              "missing id (level id)": 2}
    assert "426 of 432 rows used" in sample.describe()


# ---- messy data: same fit as the clean equivalent ---------------------------------------

def _same_fit(a, b, tol=1e-7):
    assert a.n_obs == b.n_obs
    assert a.loglik == pytest.approx(b.loglik, rel=tol, abs=tol)
    np.testing.assert_allclose(a.fixed.to_numpy(), b.fixed.to_numpy(), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(a.random.to_numpy(), b.random.to_numpy(), rtol=1e-5, atol=1e-8)


@pytest.fixture(scope="module")
def clean3(sim3):
    return sl.mixed("y x || k: || j:", data=sim3)


def test_rows_in_any_order(sim3, clean3):
    shuffled = sim3.sample(frac=1.0, random_state=3)
    _same_fit(sl.mixed("y x || k: || j:", data=shuffled), clean3)


def test_string_and_categorical_ids(sim3, clean3):
    df = sim3.assign(k=sim3["k"].map(lambda v: f"county-{v:03d}"),
                     j=pd.Categorical(sim3["j"].map(lambda v: f"school {v}")))
    _same_fit(sl.mixed("y x || k: || j:", data=df), clean3)


def test_ids_repeated_or_unique_across_parents(sim3, clean3):
    # j restarts within every k in sim3; unique codes give the same nesting and fit
    unique = sim3.assign(j=sim3["k"] * 100 + sim3["j"])
    _same_fit(sl.mixed("y x || k: || j:", data=unique), clean3)


def test_groups_of_size_one_and_all_missing_units():
    df = two_level(1)
    sizes = df.dropna(subset=["y", "x"]).groupby("id").size()
    assert (sizes == 1).any()                      # some groups have one observation
    assert df.groupby("id")["y"].apply(lambda s: s.isna().all()).any()  # a unit all missing
    fit = sl.mixed("y x t || id: t, cov(un)", data=df)
    clean = df.dropna(subset=["y", "x"])
    _same_fit(sl.mixed("y x t || id: t, cov(un)", data=clean), fit)
    assert fit.model.data.sample.dropped["missing y"] > 0


def test_key_by_order_gives_same_fit(sim3, clean3):
    m = sl.mixed_model("y x || k: || j:", data=sim3.assign(j=sim3["k"] * 100 + sim3["j"]),
                       key_by="order")
    assert m.data.n_slots <= 6 * 5
    _same_fit(m.fit(), clean3)


# ---- boundary: reported, and the fixed effects are not corrupted ------------------------

def test_variance_at_boundary_is_reported_and_fixed_effects_sane():
    rng = np.random.default_rng(5)
    n_groups, size = 40, 6
    df = pd.DataFrame({"id": np.repeat(np.arange(n_groups), size),
                       "x": rng.normal(size=n_groups * size)})
    # no group effect at all, and group means of the noise pulled together: the
    # between-group variance of the ML fit is zero
    e = rng.normal(size=n_groups * size)
    e -= 0.8 * pd.Series(e).groupby(df["id"]).transform("mean").to_numpy()
    df["y"] = 1.0 + 2.0 * df["x"] + e
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sl.mixed("y x || id:", data=df)
    assert any(issubclass(w.category, BoundaryWarning) for w in caught)
    assert fit.boundary == ["id: var(_cons)"]
    assert fit.random.loc["id: var(_cons)", "estimate"] == 0.0
    assert np.isnan(fit.random.loc["id: var(_cons)", "se"])
    assert fit.converged and fit.optimization.hessian_pd
    # with the variance at zero the model is the linear regression: OLS coefficients
    X = np.column_stack([df["x"], np.ones(len(df))])
    ols, *_ = np.linalg.lstsq(X, df["y"], rcond=None)
    np.testing.assert_allclose(fit.fixed["coef"].to_numpy(), ols, rtol=1e-8)
    assert np.all(fit.fixed["se"] > 0) and np.all(fit.fixed["coef"] != 0)
    assert fit.loglik == pytest.approx(fit.linear_loglik, abs=1e-8)


def test_optimizer_record_attached(pig):
    fit = sl.mixed("weight week || id: week", data=pig)
    rec = fit.optimization
    assert rec.converged and rec.iterations > 0 and rec.evaluations > rec.iterations
    assert rec.gradient_norm < 1e-3 and rec.hessian_pd and rec.min_hessian_eigenvalue > 0
    assert "converged" in str(rec)


def test_correlated_pair_heading_to_the_boundary_converges_and_is_reported():
    # a school's variance heads to zero inside a correlated pair (this used to raise a
    # bare FloatingPointError from the difference Hessian)
    from simulate import slot_three_level
    S = np.diag([.3, .3, .8, .8])
    S[0, 1] = S[1, 0] = .15
    df = slot_three_level(3, K=120, V_cov=S, var_e=[.5, .5, .5, 1.])
    m = sl.mixed("y x || k: || j:", data=df).model.relax("j: var(_cons)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = m.correlate("j[1]", "j[2]").fit()
    assert fit.converged
    assert any("singular covariance matrix" in b for b in fit.boundary)
    assert any(issubclass(w.category, BoundaryWarning) for w in caught)
    r = fit.random
    rho = r.loc["cov(j[1],j[2])", "estimate"] / np.sqrt(
        r.loc["var(j[1])", "estimate"] * r.loc["var(j[2])", "estimate"])
    assert rho == pytest.approx(1.0, abs=1e-3)


def test_wide_relaxations_take_the_dense_path_instead_of_huge_pools():
    from semlevel.engine.evaluator import path_of
    from ram_reference import ram_deviance
    df = three_level(8, n_top=150, mid_range=(4, 5), low_range=(5, 6))
    m = sl.mixed("y x || k: || j:", data=df).model
    assert path_of(m) == "pooled"
    wide = m.relax("var(Residual)").relax("x")
    assert path_of(wide) == "dense"
    fit = wide.fit()
    assert fit.evaluation.deviance == pytest.approx(ram_deviance(fit.model, fit.values), rel=1e-9)


def test_identification_check_from_pooled_statistics_equals_row_by_row():
    from semlevel.engine.evaluator import statistics
    from semlevel.engine.identify import unidentified_labels
    df = three_level(4, n_top=60, mid_range=(2, 4), low_range=(1, 1))  # one pupil a school
    df = df.dropna(subset=["y", "x"])
    m = sl.mixed_model("y x || k:", data=df.assign(kj=df.k * 10 + df.j))
    cases = [m, sl.mixed_model("y x || k: || j:", data=df)]
    cases.append(cases[1].relax("j: var(_cons)"))
    for model in cases:
        fast = unidentified_labels(model, stats=statistics(model))
        assert fast == unidentified_labels(model)
    # school and residual variances are one variance when every school has one pupil
    assert set(unidentified_labels(cases[1])) == {"j: var(_cons)", "var(Residual)"}
    with pytest.raises(ValueError, match="not identified"):
        cases[1].fit()
