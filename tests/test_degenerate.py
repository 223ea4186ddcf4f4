"""Degenerate input and wrong argument types (issue 14, items 3 and 6): a clear error or a
reported boundary, never a confident wrong number or an internal traceback."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.syntax.formula import FormulaSyntaxError

AR1 = "weight week || id:, residuals(ar 1, t(week))"


@pytest.fixture(scope="module")
def ri(pig):
    return sl.mixed("weight week || id:", data=pig)


# --------------------------------------------------------------------------- item 3


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_fix_refuses_non_finite_values(ri, value):
    with pytest.raises(ValueError, match="finite"):
        ri.model.fix("var(Residual)", value)


@pytest.mark.parametrize("value", ["abc", None, [1.0], True])
def test_fix_refuses_non_numbers(ri, value):
    with pytest.raises(TypeError, match="real number"):
        ri.model.fix("var(Residual)", value)


def test_fix_accepts_numpy_numbers(ri):
    m = ri.model.fix("var(Residual)", np.float32(4.0))
    assert not m.labels.loc["var(Residual)", "free"]
    assert m.labels.loc["var(Residual)", "value"] == 4.0


def test_constant_outcome_is_refused(pig):
    with pytest.raises(ValueError, match="constant"):
        sl.mixed("c week || id:", data=pig.assign(c=5.0))


def test_perfect_fit_is_refused(pig):
    """y = 2 week + 1 exactly: no residual variance; refused, not 'converged' with a log
    likelihood of thousands."""
    with pytest.raises(ValueError, match="exact linear function"):
        sl.mixed("p week || id:", data=pig.assign(p=2 * pig["week"] + 1.0))


def test_near_perfect_fit_is_still_fitted(pig):
    """Small but real residual variation is not mistaken for a perfect fit."""
    rng = np.random.default_rng(3)
    p = 2 * pig["week"] + 1.0 + rng.normal(0, 1e-3, len(pig))
    fit = sl.mixed("p week || id:", data=pig.assign(p=p))
    assert fit.converged
    assert fit.random.loc["var(Residual)", "estimate"] == pytest.approx(1e-6, rel=0.3)


def test_cli_refuses_a_constant_outcome(tmp_path, pig):
    path = tmp_path / "c.csv"
    pig.assign(c=1.0).to_csv(path, index=False)
    run = subprocess.run([sys.executable, "-m", "semlevel", "fit", str(path), "c week || id:"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "constant" in run.stderr


def test_pooled_path_refuses_a_residual_structure(pig):
    """Forcing the pooled path on AR(1) errors was a silent wrong fit (the structure
    ignored, log likelihood -1014.93); it is refused."""
    with pytest.raises(ValueError, match="independent residuals"):
        sl.mixed_model(AR1, data=pig).fit(path="pooled")


@pytest.mark.parametrize("path", [None, "dense"])
def test_zero_variance_with_a_residual_structure_is_a_boundary(pig, path):
    """var(_cons) goes to zero under AR(1) errors: reported as a boundary (estimate 0, no
    SE) on every evaluation path, with no numpy RuntimeWarning; the fit then equals the
    model without the random intercept."""
    model = sl.mixed_model(AR1, data=pig)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fit = model.fit(path=path)
    assert not [w for w in seen if issubclass(w.category, RuntimeWarning)], \
        [str(w.message) for w in seen]
    assert "id: var(_cons)" in fit.boundary
    assert fit.random.loc["id: var(_cons)", "estimate"] == 0.0
    assert np.isnan(fit.random.loc["id: var(_cons)", "se"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        without = sl.mixed("weight week || id:, noconstant residuals(ar 1, t(week))", data=pig)
    assert fit.loglik == pytest.approx(without.loglik, abs=1e-6)
    for lab in ("Residual: rho", "Residual: var(e)"):
        assert fit.random.loc[lab, "estimate"] == pytest.approx(
            without.random.loc[lab, "estimate"], rel=1e-5)
        assert fit.random.loc[lab, "se"] == pytest.approx(without.random.loc[lab, "se"],
                                                          rel=1e-4)


def test_boundary_is_in_the_json(tmp_path):
    run = subprocess.run([sys.executable, "-m", "semlevel", "fit", "pig", AR1, "--format",
                          "json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["boundary"] == ["id: var(_cons)"]
    assert "boundary" in run.stderr


def test_scoretests_with_a_residual_structure(pig):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sl.mixed(AR1, data=pig)
    tab = fit.scoretests()
    for lab in ("Residual: rho", "Residual: var(e)"):
        assert np.isnan(tab.loc[lab, "chi2"])
        assert tab.loc[lab, "note"].startswith("not tested: a parameter of the residual")
    assert {"week", "_cons"} <= set(tab.index)


def test_cli_scoretests_with_a_residual_structure():
    run = subprocess.run([sys.executable, "-m", "semlevel", "scoretests", "pig", AR1],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "not tested" in run.stdout


# --------------------------------------------------------------------------- item 6


@pytest.mark.parametrize("call, error, match", [
    (lambda f: f.model.relax(None), TypeError, "label is a string"),
    (lambda f: f.model.relax(3), TypeError, "label is a string"),
    (lambda f: f.model.fix(None, 1.0), TypeError, "label is a string"),
    (lambda f: f.model.correlate(None, "id"), TypeError, "correlate"),
    (lambda f: f.lrtest("x"), TypeError, "two fits"),
    (lambda f: f.lrtest(None), TypeError, "two fits"),
    (lambda f: sl.render("hello", "x.svg"), TypeError, "cannot render"),
    (lambda f: sl.render(12, "x.svg"), TypeError, "cannot render"),
    (lambda f: f.scoretests(labels=["nosuch"]), KeyError, "no label"),
])
def test_wrong_argument_types_get_clear_errors(ri, call, error, match):
    with pytest.raises(error, match=match):
        call(ri)


def test_duplicate_column_names_are_refused(pig):
    data = pd.concat([pig, pig[["week"]]], axis=1)
    with pytest.raises(ValueError, match="duplicate column names: 'week'"):
        sl.mixed("weight week || id:", data=data)


def test_huge_factor_is_refused_before_allocating():
    """i.f with 20,000 levels on 40,000 rows would need 6 GiB: refused with the size."""
    rng = np.random.default_rng(0)
    n = 40_000
    data = pd.DataFrame({"y": rng.normal(size=n), "f": np.arange(n) // 2,
                         "g": rng.integers(0, 5, n)})
    with pytest.raises(ValueError, match=r"40,000 rows x 20,000 columns \(6\.0 GiB"):
        sl.mixed("y i.f || g:", data=data)


def test_deeply_nested_formula_is_a_syntax_error(pig):
    formula = "weight ~ " + "(" * 500 + "week" + ")" * 500 + " + (1|id)"
    with pytest.raises(FormulaSyntaxError, match="nested more than"):
        sl.lmer(formula, data=pig)


def test_empty_string_ids_are_missing(pig):
    data = pig.assign(sid=pig["id"].astype(str))
    data.loc[:8, "sid"] = ""
    fit = sl.mixed("weight week || sid:", data=data)
    assert fit.n_obs == len(pig) - 9
    assert fit.model.data.sample.dropped == {"missing sid (level id)": 9}
    assert fit.group_summary().loc["sid", "groups"] == 47


# --------------------------------------------------------------------------- item 4


@pytest.mark.parametrize("factor", [1e-50, 1e-8, 1e-4, 1e-2, 1e2, 1e4, 1e8, 1e50])
@pytest.mark.parametrize("variable", ["weight", "week"])
def test_rescaled_variables_give_the_rescaled_fit(pig, variable, factor):
    """The outcome or the slope's variable in other units: the same fit, rescaled. With
    week x 1e4 the slope variance (3.7e-9) was taken for zero against the outcome's
    variance and the fit reported converged 297 log-likelihood units below the optimum."""
    spec = "weight week || id: week"
    base = sl.mixed(spec, data=pig)
    fit = sl.mixed(spec, data=pig.assign(**{variable: pig[variable] * factor}))
    shift = len(pig) * np.log(factor) if variable == "weight" else 0.0
    assert fit.converged and not fit.boundary
    assert fit.loglik + shift == pytest.approx(base.loglik, abs=1e-7)
    sy = factor if variable == "weight" else 1.0
    sx = factor if variable == "week" else 1.0
    assert fit.fixed.loc["week", "coef"] == pytest.approx(
        base.fixed.loc["week", "coef"] * sy / sx, rel=1e-6)
    assert fit.random.loc["id: var(week)", "estimate"] == pytest.approx(
        base.random.loc["id: var(week)", "estimate"] * sy ** 2 / sx ** 2, rel=1e-5)
    assert fit.random.loc["var(Residual)", "estimate"] == pytest.approx(
        base.random.loc["var(Residual)", "estimate"] * sy ** 2, rel=1e-5)
    # standard errors rescale the same way
    assert fit.fixed.loc["week", "se"] == pytest.approx(
        base.fixed.loc["week", "se"] * sy / sx, rel=1e-5)
    assert fit.random.loc["id: var(week)", "se"] == pytest.approx(
        base.random.loc["id: var(week)", "se"] * sy ** 2 / sx ** 2, rel=1e-4)
    assert fit.random.loc["var(Residual)", "se"] == pytest.approx(
        base.random.loc["var(Residual)", "se"] * sy ** 2, rel=1e-4)


@pytest.mark.parametrize("variable", ["weight", "week"])
def test_unrepresentable_scales_get_a_clear_error(pig, variable):
    with pytest.raises(ValueError, match="double precision"):
        sl.mixed("weight week || id: week", data=pig.assign(**{variable: pig[variable] * 1e150}))


def test_three_level_model_in_other_units(pig):
    """A nested design and an unstructured slope block, outcome x 1e8: the same fit."""
    prod = sl.datasets.load("productivity")
    spec = "gsp private emp hwy water other unemp || region: || state:"
    base = sl.mixed(spec, data=prod)
    fit = sl.mixed(spec, data=prod.assign(gsp=prod["gsp"] * 1e8))
    assert fit.converged
    assert fit.loglik + len(prod) * np.log(1e8) == pytest.approx(base.loglik, abs=1e-6)
    np.testing.assert_allclose(fit.random["estimate"], base.random["estimate"] * 1e16,
                               rtol=1e-5)
    slope = sl.mixed("weight week || id: week, cov(un)", data=pig)
    fit = sl.mixed("weight week || id: week, cov(un)", data=pig.assign(week=pig["week"] * 1e6))
    assert fit.random.loc["id: cov(week,_cons)", "estimate"] == pytest.approx(
        slope.random.loc["id: cov(week,_cons)", "estimate"] / 1e6, rel=1e-5)


# ------------------------------------------------------------- 5. deep nesting (issue 14)

def _eight_levels(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({f"l{i}": rng.integers(0, 3, n) for i in range(8)})
    df["y"] = rng.normal(size=n) + 0.3 * df["l0"] + 0.2 * df["l3"]
    return df


EIGHT = "y " + " ".join(f"|| l{i}:" for i in range(8))


def test_eight_nested_levels_take_the_tree_path_and_equal_dense():
    """``y || l0: || l1: ... || l7:`` on 4,000 rows with 3 codes per level: the latents
    of a top unit form a tree whose fronts hold at most 8 latents (one per level), so an
    evaluation is linear in the units (the timing is in benchmarks/nested.py, not here);
    on 400 rows the tree path's deviance and gradient equal the dense path's."""
    from semlevel.engine.evaluator import deviance, path_of, statistics
    from semlevel.engine.tree_stats import tree_structure
    model = sl.mixed_model(EIGHT, data=_eight_levels(4000))
    assert path_of(model) == "tree"
    tree = tree_structure(model)
    assert tree.max_front == 8 and tree.size.max() == 1
    small = sl.mixed_model(EIGHT, data=_eight_levels(400))
    v = np.zeros(len(small.labels))
    var = (small.labels["kind"] != "coef").to_numpy()
    v[var] = np.linspace(0.2, 1.0, var.sum())
    a = deviance(v, statistics(small, "tree"), False)
    b = deviance(v, statistics(small, "dense"), False)
    assert a.deviance == pytest.approx(b.deviance, rel=1e-12)
    np.testing.assert_allclose(a.gradient[var], b.gradient[var], rtol=1e-9)


def test_dropped_empty_equation_is_noted(pig):
    """An equation with no effects (the first of a repeated level, or noconstant with no
    variables) is dropped, as Stata does, and the report says so."""
    text = " ".join(sl.mixed("weight week || id: || id: week", data=pig).summary().split())
    assert "equation 1 ('|| id:') has no effects (a repeated level" in text
    lone = " ".join(sl.mixed("weight week || id:, noconstant", data=pig).summary().split())
    assert "(noconstant and no variables) and was dropped" in lone


def test_a_fit_that_reml_cannot_identify_names_the_labels_it_cannot_tell_apart():
    """An exchangeable covariance among a crossed factor's levels at _all (one group) is
    a covariance shared by every observation: under REML the intercept absorbs it, so
    the restricted likelihood is flat along var - cov held fixed. The fit is reported as
    not converged (its Hessian is singular) and names the two labels, with the reason;
    under ML the same model ends on the boundary (singular exchangeable block) instead."""
    from semlevel.engine.fitting import ConvergenceWarning
    from test_sparse import crossed
    spec = "y x || _all: R.d, cov(exchangeable) || s:"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = sl.mixed_model(spec, data=crossed(2), reml=True).fit()
    assert not fit.converged
    msgs = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(msgs) == 1
    assert "flat along a combination of _all: var(R.d), _all: cov(R.d)" in msgs[0]
    assert "REML" in msgs[0] and "flat along" in fit.optimization.message
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ml = sl.mixed_model(spec, data=crossed(2)).fit()
    assert ml.converged and "flat along" not in ml.optimization.message


def test_flat_labels_name_the_flattest_direction_only_where_it_is_flat():
    from semlevel.engine.fitting import flat_labels
    names = np.array(["a", "b", "c"])
    # the inverse of a curvature whose direction (1, -1, 0) is flat, c apart
    H = np.array([[4.0, 4.0 - 1e-9, 0.5], [4.0 - 1e-9, 4.0, 0.5], [0.5, 0.5, 9.0]])
    V = np.linalg.inv(H)
    assert flat_labels(V, names) == ["a", "b"]
    assert flat_labels(np.linalg.inv(np.diag([1.0, 2.0, 3.0])), names) == []
    # a label without a standard error (NaN: at the boundary) is left out
    W = np.full((3, 3), np.nan)
    W[:2, :2] = np.linalg.inv(H[:2, :2])
    assert flat_labels(W, names) == ["a", "b"]
