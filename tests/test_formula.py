"""The lme4-style formula front end: ``sl.lmer("weight ~ week + (week | id)", data=df)``.

* each lme4 form builds the same MixedSpec as its Stata equivalent;
* fits agree with lme4: tests/data/lme4_formula.json (made by tests/data/lme4_formula.R,
  on the shipped datasets) and tests/data/r_reference.json (the formulas lme4 was given
  there, on the simulated data of tests/simulate.py);
* manual examples 10 (crossed) and 11 (three levels as two) fitted both ways;
* malformed formulas give errors that name the position; nothing is evaluated.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from semlevel.syntax.formula import FormulaSyntaxError
from semlevel.syntax.formula_map import formula_to_stata, parse_formula
from semlevel.syntax.mixed import MixedOptionError, MixedSyntaxError, parse_mixed

DATA = pathlib.Path(__file__).parent / "data"
PROD_VARS = ["gsp", "private", "emp", "hwy", "water", "other", "unemp"]


@pytest.fixture(scope="module")
def productivity():
    return sl.datasets.load("productivity")


# --------------------------------------------------------------------------- same spec

SAME_SPEC = [
    ("weight ~ week + (1 | id)", "weight week || id:"),
    ("weight ~ week + (week | id)", "weight week || id: week, covariance(unstructured)"),
    ("weight ~ week + (1 + week | id)", "weight week || id: week, cov(un)"),
    ("weight ~ week + (week || id)", "weight week || id: week"),
    ("weight ~ week + (1 | id) + (0 + week | id)", "weight week || id: week"),
    ("weight ~ week + (0 + week | id)", "weight week || id: week, noconstant"),
    ("weight ~ week + (week - 1 | id)", "weight week || id: week, nocons"),
    ("weight ~ 1 + (1 | id)", "weight || id:"),
    ("weight ~ 0 + week + (1 | id)", "weight week, noconstant || id:"),
    ("weight ~ week - 1 + (1 | id)", "weight week, noconstant || id:"),
    ("y ~ x + (1 | a/b)", "y x || a: || b:"),
    ("y ~ x + (1 | a) + (1 | a:b)", "y x || a: || b:"),
    ("y ~ x + (1 | a/b/c)", "y x || a: || b: || c:"),
    ("y ~ x + (x | a) + (1 | a:b)", "y x || a: x, cov(un) || b:"),
    # crossed: the last written grouping keeps a level equation (no data to count levels)
    ("y ~ x + (1 | a) + (1 | b)", "y x || _all: R.a || b:"),
    ("y ~ x + (x | a) + (1 | b)", "y x || _all: R.b || a: x, cov(un)"),
    ("y ~ x + (1 | c) + (1 | a/b)", "y x || _all: R.c || a: || b:"),
    # factors and interactions (R's coding rules are Stata's)
    ("y ~ factor(g) + (1 | id)", "y i.g || id:"),
    ("y ~ as.factor(g) + (1 | id)", "y i.g || id:"),
    ("y ~ C(g) + (1 | id)", "y i.g || id:"),
    ("y ~ C(g, Treatment(3)) + (1 | id)", "y ib3.g || id:"),
    ("y ~ C(g, Treatment(reference=3)) + (1 | id)", "y ib3.g || id:"),
    ("y ~ 0 + factor(g) + (1 | id)", "y ibn.g, noconstant || id:"),
    ("y ~ 0 + factor(g) + factor(h) + (1 | id)", "y ibn.g i.h, noconstant || id:"),
    ("y ~ x * z + (1 | id)", "y x z c.x#c.z || id:"),
    ("y ~ x:z + (1 | id)", "y c.x#c.z || id:"),
    ("y ~ factor(g) * x + (1 | id)", "y i.g x i.g#c.x || id:"),
    ("y ~ factor(g):x + (1 | id)", "y i.g#c.x || id:"),
    ("y ~ factor(g) * factor(h) + (1 | id)", "y i.g i.h i.g#i.h || id:"),
    ("y ~ (a + b + c)^2 + (1 | id)", "y a b c c.a#c.b c.a#c.c c.b#c.c || id:"),
    ("y ~ a * b - a:b + (1 | id)", "y a b || id:"),
    ("y ~ a / b + (1 | id)", "y a c.a#c.b || id:"),
    ("y ~ x + I(x^2) + (1 | id)", "y x c.x#c.x || id:"),
    ("y ~ I(x * z) + (1 | id)", "y c.x#c.z || id:"),
    ("y ~ x + (factor(g) | id)", "y x || id: i.g, cov(un)"),
    ("y ~ x + (0 + factor(g) | id)", "y x || id: ibn.g, noconstant cov(un)"),
    # blocks of one grouping: repeated-level equations, the intercept's block last
    ("y ~ x + (x | id) + (0 + z | id)", "y x || id: z, noconstant || id: x, cov(un)"),
    ("y ~ x + (1 + x + z || id)", "y x || id: x z"),
]


@pytest.mark.parametrize("formula, stata", SAME_SPEC)
def test_same_spec_as_stata(formula, stata):
    spec = parse_formula(formula)
    assert spec == parse_mixed(stata), (formula, spec.extra["text"])
    assert spec.extra["formula"] == formula
    # the Stata line it shows is that spec too
    assert parse_mixed(formula_to_stata(formula)) == spec


def test_options_reach_the_spec():
    spec = parse_formula("y ~ x + (1 | id)", reml=True, level=90, stddeviations=True)
    assert spec == parse_mixed("y x || id:, reml level(90) stddeviations")


def test_data_decides_factors_nesting_and_the_level_equation(productivity, pig):
    t43 = sl.datasets.load("t43").assign(drug_s=lambda d: "d" + d["drug"].astype(str))
    assert formula_to_stata("score ~ drug_s + (1 | person)", t43) == "score i.drug_s || person:"
    # state codes are unique across regions: (1|region) + (1|state) is the nested model
    text = formula_to_stata("gsp ~ private + (1 | region) + (1 | state)", productivity)
    assert text == "gsp private || region: || state:"
    assert formula_to_stata("gsp ~ private + (1 | region) + (1 | state)") == (
        "gsp private || _all: R.region || state:")
    # crossed: the grouping with more levels keeps the level equation (manual example 10)
    for f in ("weight ~ week + (1 | id) + (1 | week)", "weight ~ week + (1 | week) + (1 | id)"):
        assert formula_to_stata(f, pig) == "weight week || _all: R.week || id:"


# --------------------------------------------------------------------------- lme4 fits


def _load(name: str) -> pd.DataFrame:
    if name.endswith(".csv"):
        return pd.read_csv(DATA / name) if (DATA / name).exists() else sl.datasets.load(name[:-4])
    return sl.datasets.load(name)


def _our_label(grp: str, var1: str, var2: str, levels: dict) -> str:
    name = {"(Intercept)": "_cons"}
    if grp == "Residual":
        return "var(Residual)"
    level = levels.get(grp, grp.split(".")[0].split(":")[-1])
    if level == "_all":
        return f"_all: var(R.{grp})"
    if var2:
        return f"{level}: cov({name.get(var2, var2)},{name.get(var1, var1)})"
    return f"{level}: var({name.get(var1, var1)})"


FIXED_NAMES = {"(Intercept)": "_cons", "I(week^2)": "c.week#c.week",
               "factor(half)1": "1.half", "factor(half)1:sin1": "1.half#c.sin1",
               "sin1:cos1": "c.sin1#c.cos1"}


def _fixed_name(name: str) -> str:
    if name in FIXED_NAMES:
        return FIXED_NAMES[name]
    if name.startswith("factor(") and ")" in name:
        var, level = name[len("factor("):].split(")", 1)
        return f"{level}.{var}"
    return name


def _compare_with_lme4(ref: dict, data: pd.DataFrame, levels: dict | None = None):
    fit = sl.lmer(ref["formula"], data=data, reml=ref["reml"])
    assert fit.converged
    assert fit.n_obs == ref["nobs"]
    assert fit.reml == ref["reml"]
    # lme4's own optimum is within ~1e-8 of ours; ours is never worse
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-6)
    assert fit.loglik >= ref["logLik"] - 1e-8
    for name, coef in ref["fixef"].items():
        row = fit.fixed.loc[_fixed_name(name)]
        assert row["coef"] == pytest.approx(coef, rel=1e-5, abs=1e-7), name
        assert row["se"] == pytest.approx(ref["se"][name], rel=1e-4), name
    assert len(fit.fixed) == len(ref["fixef"])
    for vc in ref["varcomp"]:
        label = _our_label(vc["grp"], vc["var1"], vc["var2"], levels or {})
        if label not in fit.random.index and vc["var2"]:
            label = _our_label(vc["grp"], vc["var2"], vc["var1"], levels or {})
        got = fit.random_variance.loc[label, "estimate"] if hasattr(fit, "random_variance") \
            else fit.random.loc[label, "estimate"]
        assert got == pytest.approx(vc["vcov"], rel=2e-4, abs=1e-7), label
    return fit


LME4 = json.loads((DATA / "lme4_formula.json").read_text())["fits"]
LEVELS = {"ex10_crossed": {"week": "_all"}, "ex4_nested": {"state:region": "state"},
          "article_unbalanced": {"j:k": "j"}}


@pytest.mark.parametrize("key", sorted(LME4))
def test_fit_matches_lme4(key):
    ref = LME4[key]
    data = _load(ref["data"])
    if ref["derived"] == "half = 1 if mare > 6 else 0":
        data = data.assign(half=(data["mare"] > 6).astype(int))
    elif ref["derived"] == "rows with 0-based index mod 10 == 3 dropped":
        data = data[np.arange(len(data)) % 10 != 3]
    else:
        assert not ref["derived"], ref["derived"]
    _compare_with_lme4(ref, data, LEVELS.get(key))


RREF = json.loads((DATA / "r_reference.json").read_text())["fits"]


@pytest.mark.parametrize("key", sorted(RREF))
def test_fit_matches_r_reference(key):
    """The formulas that tests/data/r_reference.R gave lme4, given to sl.lmer as written."""
    ref = RREF[key]
    _compare_with_lme4(ref, _load(ref["data"]))


# --------------------------------------------------------------------------- manual 10/11


def test_manual_example10_both_ways(pig):
    stata = sl.mixed("weight week || _all: R.week || _all: R.id", data=pig)
    lme4 = sl.lmer("weight ~ week + (1 | week) + (1 | id)", data=pig, reml=False)
    assert lme4.spec.extra["text"] == "weight week || _all: R.week || id:"
    assert lme4.loglik == pytest.approx(stata.loglik, abs=1e-8)
    assert round(lme4.loglik, 3) == -1013.824                  # the manual's print
    assert lme4.random.loc["_all: var(R.week)", "estimate"] == pytest.approx(
        stata.random.loc["_all: var(R.week)", "estimate"], rel=1e-5)
    assert lme4.random.loc["id: var(_cons)", "estimate"] == pytest.approx(
        stata.random.loc["_all: var(R.id)", "estimate"], rel=1e-5)
    assert round(lme4.random.loc["id: var(_cons)", "estimate"], 2) == 14.84


def test_manual_example11_both_ways(productivity):
    df = productivity.copy()
    df[PROD_VARS] = df[PROD_VARS].astype(np.float32).astype(float)   # as Stata stores them
    rhs = "private + emp + hwy + water + other + unemp"
    stata = sl.mixed(f"gsp {rhs.replace(' +', '')} || region: R.state, cov(exchangeable)",
                     data=df)
    nested = sl.lmer(f"gsp ~ {rhs} + (1 | region/state)", data=df, reml=False)
    by_data = sl.lmer(f"gsp ~ {rhs} + (1 | region) + (1 | state)", data=df, reml=False)
    assert nested.spec == by_data.spec
    assert nested.loglik == pytest.approx(stata.loglik, abs=1e-7)
    assert abs(nested.loglik - 1430.5017) <= 1e-4                 # the manual's print
    r = nested.random["estimate"]
    assert stata.random.loc["region: cov(R.state)", "estimate"] == pytest.approx(
        r["region: var(_cons)"], rel=1e-4)
    assert stata.random.loc["region: var(R.state)", "estimate"] == pytest.approx(
        r["region: var(_cons)"] + r["state: var(_cons)"], rel=1e-4)
    assert nested.fixed["coef"].to_numpy() == pytest.approx(
        stata.fixed["coef"].to_numpy(), rel=1e-5)


# --------------------------------------------------------------------------- REML, factors


def test_reml_is_lmers_default(pig):
    default = sl.lmer("weight ~ week + (1 | id)", data=pig)
    assert default.reml
    assert default.loglik == pytest.approx(
        sl.mixed("weight week || id:", data=pig, reml=True).loglik, abs=1e-9)
    ml = sl.lmer("weight ~ week + (1 | id)", data=pig, REML=False)
    assert not ml.reml
    assert ml.loglik == pytest.approx(sl.mixed("weight week || id:", data=pig).loglik, abs=1e-9)
    assert sl.lmer("weight ~ week + (1 | id)", data=pig, reml=False).loglik == ml.loglik
    with pytest.raises(MixedOptionError, match="conflicting"):
        sl.lmer("weight ~ week + (1 | id)", data=pig, reml=True, REML=False)
    with pytest.raises(MixedOptionError, match="mle"):
        sl.lmer("weight ~ week + (1 | id)", data=pig, mle=True)
    with pytest.raises(MixedOptionError, match="True or False"):
        sl.lmer("weight ~ week + (1 | id)", data=pig, reml="yes")


def test_string_column_is_a_factor():
    t43 = sl.datasets.load("t43")
    as_str = t43.assign(drug=lambda d: "d" + d["drug"].astype(str))
    a = sl.lmer("score ~ drug + (1 | person)", data=as_str)
    b = sl.lmer("score ~ factor(drug) + (1 | person)", data=t43)
    assert a.loglik == pytest.approx(b.loglik, abs=1e-10)
    assert a.fixed["coef"].to_numpy() == pytest.approx(b.fixed["coef"].to_numpy(), abs=1e-9)


def test_lmer_model_builds_without_fitting(pig):
    model = sl.lmer_model("weight ~ week + (week | id)", data=pig, reml=False)
    assert isinstance(model, sl.PathModel)
    assert list(model.labels.index) == ["week", "_cons", "id: var(week)", "id: var(_cons)",
                                        "id: cov(week,_cons)", "var(Residual)"]
    assert model.reml is False
    assert sl.lmer_model("weight ~ week + (1 | id)", data=pig).reml is True


# --------------------------------------------------------------------------- errors

ERRORS = [
    # (formula, message fragment, 1-based position)
    ("", "empty formula", 1),
    ("~ week + (1 | id)", "missing outcome", 1),
    ("weight week || id:", "expected '~'", 8),
    ("weight ~", "missing terms", 9),
    ("weight ~ week + (week | id", "expected ')'", 27),
    ("weight ~ week + (week | )", "grouping variable", 25),
    ("weight ~ week + (1 | id) + ", "missing term", 28),
    ("weight ~ week +", "missing term", 16),
    ("weight ~ week + 2 + (1 | id)", "unexpected number '2'", 17),
    ("weight ~ log(week) + (1 | id)", "not evaluated", 10),
    ("weight ~ poly(week, 2) + (1 | id)", "polynomials", 10),
    ("weight ~ week + I(week + 1) + (1 | id)", "I() is not evaluated", 24),
    ("weight ~ week + I(2 * week) + (1 | id)", "I() is not evaluated", 19),
    ("weight ~ __import__('os') + (1 | id)", "not evaluated", 10),
    ("weight ~ week + 'x' + (1 | id)", "unexpected character", 17),
    ("weight ~ week + $x + (1 | id)", "unexpected character '$'", 17),
    ("weight ~ sin.1 + (1 | id)", "not a usable variable name", 10),
    ("weight ~ . + (1 | id)", "not a usable variable name", 10),
    ("weight ~ week + (1 | id):week", "cannot be used with ':'", 25),
    ("weight ~ week * (1 | id)", "cannot be used with '*'", 15),
    ("weight ~ week - (1 | id)", "cannot be subtracted", 17),
    ("weight ~ week + ((1 | id) | g)", "only allowed as a term", 18),
    ("weight ~ C(week, Sum) + (1 | id)", "treatment contrasts", 18),
    ("weight ~ week^x + (1 | id)", "positive whole number", 15),
    ("log(weight) ~ week + (1 | id)", "outcome must be a variable name", 1),
    ("weight ~ week", "no random-effects term", 14),
    ("weight ~ week + (1 | a:b)", "needs the grouping it is nested in", 17),
    ("weight ~ week + (week | a) + (week | b)", "more than one grouping", 30),
    ("weight ~ week + (1 | id) + (1 | id)", "two random intercepts", 28),
    ("weight ~ week + (week | id) + (0 + week | id)", "appears twice", 31),
    ("weight ~ week + (0 | id)", "no effects", 17),
]


@pytest.mark.parametrize("formula, fragment, position", ERRORS)
def test_malformed_formula_names_the_position(formula, fragment, position):
    with pytest.raises(FormulaSyntaxError) as info:
        parse_formula(formula)
    err = info.value
    assert fragment in str(err), str(err)
    assert err.position == position, str(err)
    assert f"position {position}" in str(err)
    assert isinstance(err, MixedSyntaxError) and isinstance(err, ValueError)


def test_formula_must_be_a_string(pig):
    with pytest.raises(FormulaSyntaxError, match="must be a string"):
        sl.lmer(42, data=pig)
    with pytest.raises(TypeError, match="DataFrame"):
        sl.lmer("weight ~ week + (1 | id)", data={"weight": [1.0]})


def test_unknown_variable_is_named(pig):
    with pytest.raises(ValueError, match="wieght"):
        sl.lmer("wieght ~ week + (1 | id)", data=pig)
