"""Tests for semlevel.syntax.factor: factor-variable notation and design matrices."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from semlevel.syntax.factor import (
    Design,
    Term,
    design_matrix,
    expand_terms,
    find_collinear,
    parse_term,
    variables_of,
)


def texts(terms):
    return [t.text for t in expand_terms(terms)]


# ------------------------------------------------------------------ expansion


def test_full_factorial_two_factors():
    assert texts(["i.a##i.b"]) == ["i.a", "i.b", "i.a#i.b"]


def test_full_factorial_factor_continuous():
    assert texts(["i.a##c.x"]) == ["i.a", "c.x", "i.a#c.x"]


def test_full_factorial_three_way_stata_order():
    assert texts(["a##b##c"]) == ["i.a", "i.b", "i.c", "i.a#i.b", "i.a#i.c", "i.b#i.c",
                                  "i.a#i.b#i.c"]


def test_bare_names_in_interactions_are_factors_and_main_bare_is_continuous():
    terms = expand_terms(["x", "a#b", "a#c.x"])
    assert [p.factor for p in terms[0].parts] == [False]
    assert [p.factor for p in terms[1].parts] == [True, True]
    assert [p.factor for p in terms[2].parts] == [True, False]
    assert texts(["c.x"]) == ["c.x"]


def test_duplicates_dropped_in_any_order():
    assert texts(["i.a", "i.a##i.b", "i.b#i.a", "x", "c.x"]) == ["i.a", "i.b", "i.a#i.b", "c.x"]
    # a different base specification is a different term (and will be collinear)
    assert texts(["i.a", "ibn.a", "ib2.a", "i.a"]) == ["i.a", "ibn.a", "ib2.a"]


def test_groups():
    assert texts(["i.(a b)"]) == ["i.a", "i.b"]
    assert texts(["i.(a b)##i.c"]) == ["i.a", "i.c", "i.a#i.c", "i.b", "i.b#i.c"]
    assert texts(["c.(x z)"]) == ["c.x", "c.z"]


def test_base_operators_parse():
    assert texts(["ibn.g", "ib3.g", "ib(first).h", "ib(last).h", "ib(freq).k", "ib(#2).m",
                  "2.g", "i(1 3).h"]) == [
        "ibn.g", "ib3.g", "ib(first).h", "ib(last).h", "ib(freq).k", "ib(#2).m", "2.g",
        "i(1 3).h"]
    (part,) = parse_term("ib3.g")[0].parts
    assert part.factor and part.base == "value" and part.base_arg == 3


def test_r_terms_are_flagged():
    (term,) = expand_terms(["R.id"])
    assert isinstance(term, Term) and term.kind == "R" and term.text == "R.id"
    assert variables_of(["R.id"]) == ["id"]


def test_whitespace_separated_terms_in_one_string():
    assert texts("week i.drug c.age#c.age") == ["c.week", "i.drug", "c.age#c.age"]


@pytest.mark.parametrize("bad,msg", [
    ("i.a#", "empty component"), ("L.x", "time-series operator"), ("q.x", "unknown factor"),
    ("i.a#i.a", "more than once"), ("i.a#R.b", "R. notation"), ("i.", "invalid variable"),
    ("1x", "invalid variable"), ("i.(a b", "unbalanced"),
])
def test_invalid_terms(bad, msg):
    with pytest.raises(ValueError, match=msg):
        expand_terms([bad])


def test_variables_of():
    assert variables_of(["week", "i.drug##c.age", "c.age#c.age", "ib2.z"]) == [
        "week", "drug", "age", "z"]


# ------------------------------------------------------------------ manual designs


@pytest.fixture
def childweight():
    rng = np.random.default_rng(1)
    n = 40
    return pd.DataFrame({
        "id": np.repeat(np.arange(10), 4),
        "girl": np.repeat(rng.permutation([0, 1] * 5), 4),
        "age": rng.uniform(0.1, 2.5, n).round(3),
        "weight": rng.normal(8, 2, n),
    })


@pytest.fixture
def strength():
    rows = [(pid, prog, day) for pid in range(12) for prog in [1 + pid % 2]
            for day in (0, 4, 6, 8, 12)]
    df = pd.DataFrame(rows, columns=["id", "program", "day"])
    df["strength"] = np.random.default_rng(2).normal(80, 3, len(df))
    return df


def test_manual_girl_fixed_effects(childweight):
    d = design_matrix(["ibn.girl", "i.girl#c.age", "c.age#c.age"], childweight, constant=False)
    assert isinstance(d, Design)
    assert d.labels == ["0.girl", "1.girl", "0.girl#c.age", "1.girl#c.age", "c.age#c.age"]
    assert d.re_labels == ["0.girl", "1.girl", "0.girl#age", "1.girl#age", "age#age"]
    assert d.base == []
    g, a = childweight["girl"].to_numpy(), childweight["age"].to_numpy()
    expected = np.column_stack([g == 0, g == 1, (g == 0) * a, (g == 1) * a, a * a]).astype(float)
    np.testing.assert_array_equal(d.matrix, expected)
    assert d.matrix.dtype == np.float64
    assert d.variables == ["girl", "age"]
    assert d.factor_levels == {"girl": [0, 1]}
    assert d.term_of_column == [0, 0, 1, 1, 2]


def test_manual_girl_random_effects_labels(childweight):
    d = design_matrix(["ibn.girl", "i.girl#c.age"], childweight, constant=False,
                      check_rank=False)
    assert d.re_labels == ["0.girl", "1.girl", "0.girl#age", "1.girl#age"]


def test_manual_quadratic_age(childweight):
    d = design_matrix(["age", "c.age#c.age"], childweight, constant=True)
    assert d.labels == ["age", "c.age#c.age", "_cons"]
    assert d.re_labels == ["age", "age#age", "_cons"]
    a = childweight["age"].to_numpy()
    np.testing.assert_allclose(d.matrix, np.column_stack([a, a * a, np.ones_like(a)]))
    assert d.term_of_column == [0, 1, -1]


def test_manual_program_by_day(strength):
    d = design_matrix(["i.program##i.day"], strength, constant=True)
    assert d.labels == [
        "2.program", "4.day", "6.day", "8.day", "12.day",
        "2.program#4.day", "2.program#6.day", "2.program#8.day", "2.program#12.day", "_cons"]
    assert d.factor_levels == {"program": [1, 2], "day": [0, 4, 6, 8, 12]}
    assert d.base[:2] == ["1b.program", "0b.day"]
    assert "1b.program#0b.day" in d.base and "2.program#0b.day" in d.base
    p, day = strength["program"].to_numpy(), strength["day"].to_numpy()
    col = d.labels.index("2.program#8.day")
    np.testing.assert_array_equal(d.matrix[:, col], ((p == 2) & (day == 8)).astype(float))
    np.testing.assert_array_equal(d.matrix[:, d.labels.index("12.day")], (day == 12) * 1.0)
    assert d.matrix.shape == (len(strength), 10)


def test_simple_factor_and_continuous_labels():
    df = pd.DataFrame({"drug": [1, 2, 3, 1, 2, 3], "week": [1.0, 2, 3, 4, 5, 7]})
    d = design_matrix(["week", "i.drug"], df, constant=True)
    assert d.labels == ["week", "2.drug", "3.drug", "_cons"]
    assert d.base == ["1b.drug"]
    np.testing.assert_array_equal(d.matrix[:, 1], [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(d.matrix[:, 3], np.ones(6))


# ------------------------------------------------------------------ base rules


@pytest.fixture
def abx():
    rng = np.random.default_rng(3)
    n = 60
    return pd.DataFrame({"a": np.tile([1, 2, 3], n // 3), "b": np.repeat([0, 1], n // 2),
                         "x": rng.normal(size=n), "f": rng.choice([1, 2, 2, 2, 5], n)})


@pytest.mark.parametrize("term,labels,base", [
    ("i.a", ["2.a", "3.a"], ["1b.a"]),
    ("ib2.a", ["1.a", "3.a"], ["2b.a"]),
    ("ib(first).a", ["2.a", "3.a"], ["1b.a"]),
    ("ib(last).a", ["1.a", "2.a"], ["3b.a"]),
    ("ib(#2).a", ["1.a", "3.a"], ["2b.a"]),
    ("ib(freq).f", ["1.f", "5.f"], ["2b.f"]),
    ("ibn.a", ["1.a", "2.a", "3.a"], []),
    ("2.a", ["2.a"], []),
    ("i(1 3).a", ["1.a", "3.a"], []),
])
def test_main_effect_bases(abx, term, labels, base):
    d = design_matrix([term], abx, constant=False, check_rank=False)
    assert d.labels == labels
    assert d.base == base


def test_main_effect_drops_base_even_without_constant(abx):
    assert design_matrix(["i.a"], abx, constant=False).labels == ["2.a", "3.a"]


def test_factor_by_continuous_keeps_all_levels_without_main_continuous(abx):
    d = design_matrix(["i.a#c.x"], abx, constant=True)
    assert d.labels == ["1.a#c.x", "2.a#c.x", "3.a#c.x", "_cons"]
    assert d.base == []


def test_factor_by_continuous_drops_base_when_continuous_main_present(abx):
    d = design_matrix(["i.a##c.x"], abx, constant=True)
    assert d.labels == ["2.a", "3.a", "x", "2.a#c.x", "3.a#c.x", "_cons"]
    assert d.re_labels == ["2.a", "3.a", "x", "2.a#x", "3.a#x", "_cons"]
    assert d.base == ["1b.a", "1b.a#c.x"]
    a, x = abx["a"].to_numpy(), abx["x"].to_numpy()
    np.testing.assert_allclose(d.matrix[:, 4], (a == 3) * x)


def test_interaction_bases_depend_on_which_main_effects_are_present(abx):
    # b's base is dropped (i.a is a term), a keeps all its levels (i.b is not a term)
    d = design_matrix(["i.a", "i.a#i.b"], abx, constant=True)
    assert d.labels == ["2.a", "3.a", "1.a#1.b", "2.a#1.b", "3.a#1.b", "_cons"]
    # the interaction term order does not matter for the rule
    d2 = design_matrix(["i.b", "i.a#i.b"], abx, constant=True)
    assert d2.labels == ["1.b", "2.a#0.b", "2.a#1.b", "3.a#0.b", "3.a#1.b", "_cons"]


def test_interaction_order_first_variable_slowest(abx):
    d = design_matrix(["ibn.a#ibn.b"], abx, constant=False)
    assert d.labels == ["1.a#0.b", "1.a#1.b", "2.a#0.b", "2.a#1.b", "3.a#0.b", "3.a#1.b"]
    d = design_matrix(["ibn.b#ibn.a"], abx, constant=False)
    assert d.labels[:3] == ["0.b#1.a", "0.b#2.a", "0.b#3.a"]


def test_interaction_alone_with_constant_is_singular(abx):
    with pytest.raises(ValueError, match="'3.a#1.b' is collinear"):
        design_matrix(["i.a#i.b"], abx, constant=True)


def test_three_way_full_factorial_counts():
    grid = pd.MultiIndex.from_product([[1, 2], [1, 2, 3], [0, 1]], names=["a", "b", "c"])
    df = grid.to_frame(index=False)
    df = pd.concat([df, df], ignore_index=True)
    d = design_matrix(["i.a##i.b##i.c"], df, constant=True)
    # 1 + 2 + 1 main, 2 + 1 + 2 two-way, 2 three-way, constant: saturated (12 cells)
    assert d.matrix.shape == (24, 12)
    assert d.labels[-2:] == ["2.a#3.b#1.c", "_cons"]


def test_empty_cells_are_dropped_and_reported():
    df = pd.DataFrame({"a": [1, 1, 2, 2, 1, 2], "b": [1, 2, 1, 1, 1, 2]})
    df = df[~((df.a == 2) & (df.b == 2))]
    df = pd.concat([df, pd.DataFrame({"a": [3], "b": [1]})], ignore_index=True)
    d = design_matrix(["ibn.a#ibn.b"], df, constant=False)
    assert d.labels == ["1.a#1.b", "1.a#2.b", "2.a#1.b", "3.a#1.b"]
    assert d.empty == ["2.a#2.b", "3.a#2.b"]


# ------------------------------------------------------------------ data types


def test_string_factor_labels():
    df = pd.DataFrame({"sex": ["male", "female", "female", "male"], "x": [1.0, 2, 3, 5]})
    d = design_matrix(["i.sex", "i.sex#c.x", "x"], df, constant=True)
    assert d.labels == ["male.sex", "male.sex#c.x", "x", "_cons"]
    assert d.base == ["femaleb.sex", "femaleb.sex#c.x"]
    assert d.factor_levels == {"sex": ["female", "male"]}
    np.testing.assert_array_equal(d.matrix[:, 0], [1, 0, 0, 1])
    np.testing.assert_array_equal(d.matrix[:, 1], [1, 0, 0, 5])


def test_categorical_and_bool_factors():
    df = pd.DataFrame({
        "grp": pd.Categorical(["lo", "hi", "mid", "lo"], categories=["lo", "mid", "hi"],
                              ordered=True),
        "flag": [True, False, True, False],
    })
    d = design_matrix(["ibn.grp", "i.flag"], df, constant=False)
    assert d.labels == ["lo.grp", "mid.grp", "hi.grp", "1.flag"]
    np.testing.assert_array_equal(d.matrix[:, 3], [1, 0, 1, 0])


def test_float_integer_valued_factor():
    df = pd.DataFrame({"d": [1.0, 2.0, 2.0, 4.0]})
    assert design_matrix(["i.d"], df, constant=True).labels == ["2.d", "4.d", "_cons"]


# ------------------------------------------------------------------ errors


def test_one_level_factor_error():
    df = pd.DataFrame({"drug": [1, 1, 1], "y": [1.0, 2, 3]})
    with pytest.raises(ValueError, match=r"factor variable 'drug' has only one level \(1\) in "
                                         r"the estimation sample"):
        design_matrix(["i.drug"], df, constant=True)


def test_non_numeric_continuous_error():
    df = pd.DataFrame({"grp": ["a", "b", "a"]})
    with pytest.raises(ValueError, match=r"variable 'grp' is not numeric \(dtype (object|str)\); "
                                         r"write i.grp to use it as a factor"):
        design_matrix(["grp"], df, constant=True)


def test_unknown_variable_suggests_close_names():
    df = pd.DataFrame({"weight": [1.0, 2.0], "week": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"variable 'wek' not found.*'week'"):
        design_matrix(["wek"], df, constant=True)
    with pytest.raises(ValueError, match=r"variable 'zzz' not found in data$"):
        design_matrix(["i.zzz"], df, constant=True)


def test_non_integer_factor_error():
    df = pd.DataFrame({"d": [1.0, 1.5, 2.0]})
    with pytest.raises(ValueError, match=r"'d' has non-integer values \(e.g. 1.5\)"):
        design_matrix(["i.d"], df, constant=True)


def test_negative_factor_error():
    df = pd.DataFrame({"d": [-1, 0, 1]})
    with pytest.raises(ValueError, match="negative"):
        design_matrix(["i.d"], df, constant=True)


def test_missing_values_error():
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0], "d": [1, 2, 1]})
    with pytest.raises(ValueError, match="'x' has missing"):
        design_matrix(["x"], df, constant=True)
    df2 = pd.DataFrame({"d": [1.0, np.nan, 2.0]})
    with pytest.raises(ValueError, match="'d' has missing"):
        design_matrix(["i.d"], df2, constant=True)


def test_r_term_design_error():
    df = pd.DataFrame({"id": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"R\.id.*_all.*not supported yet"):
        design_matrix(["R.id"], df, constant=False)


def test_missing_base_level_error(abx):
    with pytest.raises(ValueError, match="base level 7 of factor variable 'a'"):
        design_matrix(["ib7.a"], abx, constant=True)
    with pytest.raises(ValueError, match="level 9 of factor variable 'a'"):
        design_matrix(["9.a"], abx, constant=True)


def test_collinear_error_names_columns():
    df = pd.DataFrame({"x": [1.0, 2, 3, 4, 5], "d": [1, 2, 1, 2, 2]})
    df["z"] = 2 * df["x"] + 1
    with pytest.raises(ValueError, match=r"singular fixed-effects design: 'z' is collinear "
                                         r"with earlier columns"):
        design_matrix(["x", "z"], df, constant=True)
    df["w"] = (df["d"] == 2).astype(float)
    with pytest.raises(ValueError, match=r"'w' is collinear"):
        design_matrix(["i.d", "w"], df, constant=True)
    with pytest.raises(ValueError, match=r"'2.d' is collinear"):
        design_matrix(["w", "i.d"], df, constant=True)
    # the caller may skip the check (random-effects designs)
    d = design_matrix(["x", "z"], df, constant=True, check_rank=False)
    assert d.matrix.shape == (5, 3)


def test_find_collinear_scales_and_zero_columns():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 4)) * [1e-6, 1.0, 1e6, 1.0]
    near = X[:, 1] + 1e-3 * rng.normal(size=200)  # nearly, not exactly, collinear
    X = np.column_stack([X, X[:, 0] * 3e6 + X[:, 2], np.zeros(200), near])
    assert find_collinear(X) == [4, 5]
    assert find_collinear(X[:, :4]) == []
    assert find_collinear(X[:, [0, 1, 2, 3, 6]]) == []


def test_no_observations_error():
    with pytest.raises(ValueError, match="no observations"):
        design_matrix(["x"], pd.DataFrame({"x": pd.Series([], dtype=float)}), constant=True)


# ------------------------------------------------------------------ scale


def test_large_data_is_fast_and_correct():
    n = 1_000_000
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"a": rng.integers(0, 5, n), "b": rng.integers(1, 4, n),
                       "x": rng.random(n), "s": rng.choice(["u", "v", "w"], n)})
    t0 = time.perf_counter()
    d = design_matrix(["i.a##i.b", "c.x##i.s"], df, constant=True)
    elapsed = time.perf_counter() - t0
    assert d.matrix.shape == (n, 4 + 2 + 8 + 1 + 2 + 2 + 1)
    col = d.labels.index("3.a#2.b")
    np.testing.assert_array_equal(d.matrix[:, col], ((df.a == 3) & (df.b == 2)).to_numpy())
    col = d.labels.index("c.x#w.s")
    np.testing.assert_allclose(d.matrix[:, col], df.x.to_numpy() * (df.s == "w").to_numpy())
    assert elapsed < 20.0


def test_parsed_terms_are_kept_and_each_caller_gets_its_own_list():
    """parse_term keeps the (immutable) terms of texts it has parsed; each call returns
    a list of its own, so a caller that changes it changes no later answer, and an
    invalid text raises every time."""
    from semlevel.syntax.factor import parse_term
    a = parse_term("i.a##c.x")
    a.append("junk")
    b = parse_term("i.a##c.x")
    assert "junk" not in b and len(b) == 3
    assert b == parse_term("i.a##c.x") and b is not parse_term("i.a##c.x")
    for _ in range(2):
        with pytest.raises(ValueError, match="more than once"):
            parse_term("i.a#i.a")
