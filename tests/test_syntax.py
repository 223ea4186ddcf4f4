"""Tests for semlevel.syntax.mixed: parsing Stata `mixed` command lines."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from semlevel.syntax.mixed import MixedOptionError, MixedSyntaxError, parse_mixed
from semlevel.syntax.spec import LevelEquation, MixedSpec

EQ = LevelEquation

# Every model-fitting `. mixed` command of the manual (continuation lines joined),
# with the spec it must produce:
# (text, depvar, fixed_terms, constant, equations, reml, display, pending)
MANUAL = [
    ("weight week || id:", "weight", ("week",), True,
     (EQ("id", (), True, "identity"),), False, [], {}),
    ("weight week || id: week", "weight", ("week",), True,
     (EQ("id", ("week",), True, "independent"),), False, [], {}),
    ("weight week || id: week, covariance(unstructured)", "weight", ("week",), True,
     (EQ("id", ("week",), True, "unstructured"),), False, [], {}),
    ("weight week || id: week, reml", "weight", ("week",), True,
     (EQ("id", ("week",), True, "independent"),), True, [], {}),
    ("gsp private emp hwy water other unemp || region: || state:", "gsp",
     ("private", "emp", "hwy", "water", "other", "unemp"), True,
     (EQ("region", (), True, "identity"), EQ("state", (), True, "identity")), False, [], {}),
    ("gsp private emp hwy water other unemp || region: hwy unemp || state:, "
     "nolog nogroup nofetable", "gsp",
     ("private", "emp", "hwy", "water", "other", "unemp"), True,
     (EQ("region", ("hwy", "unemp"), True, "independent"), EQ("state", (), True, "identity")),
     False, ["nolog", "nogroup", "nofetable"], {}),
    ("gsp private emp hwy water other unemp || region: hwy unemp, cov(identity) "
     "|| region: || state:, nolog nogroup nofetable", "gsp",
     ("private", "emp", "hwy", "water", "other", "unemp"), True,
     (EQ("region", ("hwy", "unemp"), False, "identity"), EQ("region", (), True, "identity"),
      EQ("state", (), True, "identity")),
     False, ["nolog", "nogroup", "nofetable"], {}),
    ("weight age c.age#c.age || id: age, nolog", "weight", ("age", "c.age#c.age"), True,
     (EQ("id", ("age",), True, "independent"),), False, ["nolog"], {}),
    ("weight ibn.girl i.girl#c.age c.age#c.age, noconstant nofvlabel || id: age, nolog",
     "weight", ("ibn.girl", "i.girl#c.age", "c.age#c.age"), False,
     (EQ("id", ("age",), True, "independent"),), False, ["nofvlabel", "nolog"], {}),
    ("weight ibn.girl i.girl#c.age c.age#c.age, noconstant nofvlabel || id: ibn.girl "
     "i.girl#c.age, noconstant nolog nofetable",
     "weight", ("ibn.girl", "i.girl#c.age", "c.age#c.age"), False,
     (EQ("id", ("ibn.girl", "i.girl#c.age"), False, "independent"),), False,
     ["nofvlabel", "nolog", "nofetable"], {}),
    ("gcf followup base_gcf cda age || patient: followup, cov(un) || tooth:, reml nolog",
     "gcf", ("followup", "base_gcf", "cda", "age"), True,
     (EQ("patient", ("followup",), True, "unstructured"), EQ("tooth", (), True, "identity")),
     True, ["nolog"], {}),
    ("gcf followup base_gcf cda age || patient: followup, cov(un) || tooth:, "
     "residuals(independent, by(followup)) reml nolog",
     "gcf", ("followup", "base_gcf", "cda", "age"), True,
     (EQ("patient", ("followup",), True, "unstructured"), EQ("tooth", (), True, "identity")),
     True, ["nolog"], {"residuals": "independent, by(followup)"}),
    ("follicles sinl cosl || mare:, residuals(ar 2, t(time)) reml nolog",
     "follicles", ("sinl", "cosl"), True, (EQ("mare", (), True, "identity"),), True,
     ["nolog"], {"residuals": "ar 2, t(time)"}),
    ("strength i.program##i.day || id:, noconstant residuals(unstructured, t(day)) nolog",
     "strength", ("i.program##i.day",), True, (EQ("id", (), False, "independent"),), False,
     ["nolog"], {"residuals": "unstructured, t(day)"}),
    ("strength i.program##i.day || id:, noconstant residuals(exponential, t(day)) nolog "
     "nofetable",
     "strength", ("i.program##i.day",), True, (EQ("id", (), False, "independent"),), False,
     ["nolog", "nofetable"], {"residuals": "exponential, t(day)"}),
    ("weight week || _all: R.week || _all: R.id", "weight", ("week",), True,
     (EQ("_all", ("R.week",), False, "identity"), EQ("_all", ("R.id",), False, "identity")),
     False, [], {}),
    ("weight week || id:week", "weight", ("week",), True,
     (EQ("id", ("week",), True, "independent"),), False, [], {}),
    ("weight week || _all: R.id", "weight", ("week",), True,
     (EQ("_all", ("R.id",), False, "identity"),), False, [], {}),
    ("weight week || _all: R.week || id:", "weight", ("week",), True,
     (EQ("_all", ("R.week",), False, "identity"), EQ("id", (), True, "identity")),
     False, [], {}),
    ("gsp private emp hwy water other unemp || region: R.state, cov(exchangeable)", "gsp",
     ("private", "emp", "hwy", "water", "other", "unemp"), True,
     (EQ("region", ("R.state",), False, "exchangeable"),), False, [], {}),
    ("isei female high_school college one_for both_for test_lang [pw=w_fstuwt] || "
     "id_school:, pweight(wnrschbw) pwscale(size)", "isei",
     ("female", "high_school", "college", "one_for", "both_for", "test_lang"), True,
     (EQ("id_school", (), True, "identity"),), False, [],
     {}),        # weights and pwscale: extra["weights"] (test_survey_options_parsed)
    ("isei female high_school college one_for both_for test_lang [pw=w_fstuwt/wnrschbw] || "
     "id_school:, pweight(wnrschbw) pwscale(gk)", "isei",
     ("female", "high_school", "college", "one_for", "both_for", "test_lang"), True,
     (EQ("id_school", (), True, "identity"),), False, [],
     {}),
    ("score i.drug || person:, reml dfmethod(repeated)", "score", ("i.drug",), True,
     (EQ("person", (), True, "identity"),), True, [], {"dfmethod": "repeated"}),
    ("gcf followup base_gcf cda age || patient: followup, cov(un) || tooth:, reml nolog "
     "dfmethod(kroger)",
     "gcf", ("followup", "base_gcf", "cda", "age"), True,
     (EQ("patient", ("followup",), True, "unstructured"), EQ("tooth", (), True, "identity")),
     True, ["nolog"], {"dfmethod": "kroger"}),
    ("gcf followup base_gcf cda age || patient: followup, cov(un) || tooth:, reml nolog "
     "dfmethod(satterthwaite)",
     "gcf", ("followup", "base_gcf", "cda", "age"), True,
     (EQ("patient", ("followup",), True, "unstructured"), EQ("tooth", (), True, "identity")),
     True, ["nolog"], {"dfmethod": "satterthwaite"}),
]


@pytest.mark.parametrize("case", MANUAL, ids=[c[0][:60] for c in MANUAL])
def test_manual_commands(case):
    text, depvar, fixed, constant, eqs, reml, display, pending = case
    spec = parse_mixed(text)
    assert isinstance(spec, MixedSpec)
    assert spec.depvar == depvar
    assert spec.fixed_terms == fixed
    assert spec.constant is constant
    assert spec.equations == eqs
    assert spec.reml is reml
    assert spec.level == 95.0
    assert spec.variance is True and spec.stddeviations is False
    assert spec.extra["display"] == display
    # every option is parsed in syntax into typed fields; the text as written is recorded
    got = dict(spec.extra["option_text"])
    if spec.residuals is not None:
        got["residuals"] = spec.residuals.text
    assert got == pending


#: the manual's ``mixed`` commands, extracted from shared/seeds/000_... once (the manual
#: itself is not in the repository)
MANUAL_COMMANDS = json.loads((Path(__file__).parent / "data" / "manual_mixed_commands.json")
                             .read_text())["commands"]


def test_every_manual_command_is_covered():
    cmds = MANUAL_COMMANDS
    models = [c for c in cmds if c and not c.startswith(",") and "..." not in c]
    replays = [c for c in cmds if not c or c.startswith(",")]
    assert len(models) >= 25 and len(replays) == 3
    known = {c[0] for c in MANUAL}
    for cmd in models:
        assert cmd in known, cmd
        assert parse_mixed(cmd).depvar
    for cmd in replays:  # replay forms have no model: missing depvar
        with pytest.raises(MixedSyntaxError, match="missing depvar"):
            parse_mixed(cmd)


@pytest.mark.parametrize("text", ["", "   ", ", small", ", dftable(pvalue) noretable"])
def test_replay_and_empty_are_errors(text):
    with pytest.raises(MixedSyntaxError, match=r"missing depvar.*position 1") as ei:
        parse_mixed(text)
    assert ei.value.position == 1


def test_equation_extra_info_and_level_weights():
    spec = parse_mixed("y x || school: z, cov(ex) pweight(w2) || class:")
    info = spec.extra["equations"]
    assert info[0]["covariance_explicit"] is True and info[1]["covariance_explicit"] is False
    assert info[0]["pending"] == {"pweight": "w2"}
    assert info[0]["position"] == 8 and info[1]["position"] == 42
    assert "pweight" not in spec.extra["unsupported"]
    assert spec.extra["weights"].levels == (("school", "w2"),)
    assert spec.levels == ("school", "class")
    assert spec.equations[0].covariance == "exchangeable"


# ------------------------------------------------------------------ abbreviations


@pytest.mark.parametrize("name", ["cov", "cova", "covar", "covari", "covaria", "covarian",
                                  "covarianc", "covariance", "COV"])
@pytest.mark.parametrize(
    "value,expected",
    [("ind", "independent"), ("inde", "independent"), ("independent", "independent"),
     ("ex", "exchangeable"), ("exc", "exchangeable"), ("exchangeable", "exchangeable"),
     ("id", "identity"), ("ide", "identity"), ("iden", "identity"), ("identity", "identity"),
     ("un", "unstructured"), ("uns", "unstructured"), ("unstructured", "unstructured")],
)
def test_covariance_abbreviations(name, value, expected):
    spec = parse_mixed(f"y x || id: x, {name}({value})")
    assert spec.equations[0].covariance == expected


@pytest.mark.parametrize("bad,msg", [("i", "ambiguous covariance structure 'i'"),
                                     ("in", "unknown covariance structure 'in'"),
                                     ("diag", "unknown covariance structure 'diag'"),
                                     ("", "unknown covariance structure ''")])
def test_bad_covariance_values(bad, msg):
    text = f"y x || id: x, cov({bad})"
    with pytest.raises(MixedSyntaxError) as ei:
        parse_mixed(text)
    assert msg in str(ei.value)
    assert f"at position {text.index('cov(') + 1}" in str(ei.value)


@pytest.mark.parametrize("abbr", ["co", "c", "covx"])
def test_too_short_or_wrong_covariance_option_name(abbr):
    with pytest.raises(MixedSyntaxError, match=f"unknown option '{abbr}\\(un\\)'"):
        parse_mixed(f"y x || id: x, {abbr}(un)")


@pytest.mark.parametrize("abbr", ["nocons", "noconst", "noconsta", "noconstan", "noconstant"])
def test_noconstant_abbreviations(abbr):
    spec = parse_mixed(f"y x, {abbr} || id: x, {abbr}")
    assert spec.constant is False
    assert spec.equations[0].constant is False
    assert spec.equations[0].covariance == "identity"  # one random effect left


@pytest.mark.parametrize("abbr", ["noc", "nocon"])
def test_noconstant_too_short(abbr):
    with pytest.raises(MixedSyntaxError, match=f"unknown option '{abbr}'"):
        parse_mixed(f"y x || id:, {abbr}")


@pytest.mark.parametrize("abbr", ["stddev", "stddevi", "stddeviations"])
def test_stddeviations_abbreviations(abbr):
    spec = parse_mixed(f"y x || id:, {abbr}")
    assert spec.stddeviations is True and spec.variance is False


def test_stddeviations_too_short():
    with pytest.raises(MixedSyntaxError, match="unknown option 'stdd'"):
        parse_mixed("y x || id:, stdd")


@pytest.mark.parametrize("abbr", ["var", "vari", "variance"])
def test_variance_abbreviations(abbr):
    spec = parse_mixed(f"y x || id:, {abbr}")
    assert spec.variance is True and spec.stddeviations is False


@pytest.mark.parametrize("text,reml", [("y x || id:, ml", False), ("y x || id:, mle", False),
                                       ("y x || id:, reml", True), ("y x || id:", False)])
def test_estimation_method(text, reml):
    assert parse_mixed(text).reml is reml


@pytest.mark.parametrize("opt,value", [("level(90)", 90.0), ("l(80)", 80.0), ("lev(99.5)", 99.5),
                                       ("level( 10 )", 10.0), ("level(99.99)", 99.99)])
def test_level_option(opt, value):
    assert parse_mixed(f"y x || id:, {opt}").level == value


@pytest.mark.parametrize("opt", ["level(9.9)", "level(100)", "level(abc)"])
def test_level_option_invalid(opt):
    text = f"y x || id:, {opt}"
    with pytest.raises(MixedSyntaxError) as ei:
        parse_mixed(text)
    assert opt in str(ei.value) and f"position {text.index(opt) + 1}" in str(ei.value)


@pytest.mark.parametrize("opt,entry", [
    ("nolog", "nolog"), ("log", "log"), ("nogr", "nogroup"), ("nogroup", "nogroup"),
    ("nofet", "nofetable"), ("noret", "noretable"), ("nohead", "noheader"),
    ("nofvlabel", "nofvlabel"), ("fvlabel", "fvlabel"), ("nolr", "nolrtest"),
    ("nostd", "nostderr"), ("emlog", "emlog"), ("noomit", "noomitted"),
    ("estm", "estmetric"), ("cformat(%9.3f)", "cformat(%9.3f)"),
])
def test_display_options_recorded(opt, entry):
    spec = parse_mixed(f"y x || id:, {opt}")
    assert spec.extra["display"] == [entry]
    assert spec.extra["unsupported"] == {}


@pytest.mark.parametrize("opt,name,raw", [
    ("residuals(ar 2, t(time))", "residuals", "ar 2, t(time)"),
    ("res(exchangeable)", "residuals", "exchangeable"),
    ("dfmethod(kroger)", "dfmethod", "kroger"),
    ("dftable(pvalue)", "dftable", "pvalue"),
    ("constraints(1 2)", "constraints", "1 2"),
    ("small", "small", ""),
    ("emiterate(50)", "emiterate", "50"),
    ("iterate(10)", "iterate", "10"),
    ("matlog", "matlog", ""),
])
def test_pending_options_keep_raw_argument(opt, name, raw):
    spec = parse_mixed(f"y x || id:, {opt}")
    got = dict(spec.extra["option_text"])
    if spec.residuals is not None:                 # parsed in syntax, its text kept
        got["residuals"] = spec.residuals.text
    assert got == {name: raw}


def test_if_in_and_weight_qualifiers_are_pending():
    spec = parse_mixed('y x i.g if inlist(day, 0, 4) & sex == "m" in 1/50 [fw=f] || id:')
    assert spec.fixed_terms == ("x", "i.g")
    assert spec.extra["unsupported"] == {
        "if": 'inlist(day, 0, 4) & sex == "m"', "in": "1/50"}
    assert spec.extra["weights"].kind == "fweight" and spec.extra["weights"].observation == "f"


def test_survey_options_parsed():
    """vce(), weights and pwscale() leave pending for extra["vce"] / extra["weights"]
    (semlevel.syntax.survey; behaviour tested in tests/test_vce.py, test_weights.py)."""
    spec = parse_mixed("isei female [pw=w_fstuwt/wnrschbw] || id_school:, "
                       "pweight(wnrschbw) pwscale(gk)")
    w = spec.extra["weights"]
    assert (w.kind, w.observation, w.levels, w.pwscale) == (
        "pweight", "w_fstuwt/wnrschbw", (("id_school", "wnrschbw"),), "gk")
    assert spec.extra["vce"].kind == "robust" and spec.extra["unsupported"] == {}
    spec = parse_mixed("y x || id:, vce(cluster school)")
    assert (spec.extra["vce"].kind, spec.extra["vce"].cluster) == ("cluster", "school")
    assert spec.extra["weights"] is None


# ------------------------------------------------------------------ structure


def test_repeated_levels_only_last_of_run_keeps_constant():
    spec = parse_mixed("y x || a: u || a: v, cov(un) || a: w z || b:")
    assert [e.level for e in spec.equations] == ["a", "a", "a", "b"]
    assert [e.constant for e in spec.equations] == [False, False, True, True]
    # one effect without constant -> identity; explicit cov kept; two terms + cons -> indep.
    assert [e.covariance for e in spec.equations] == [
        "identity", "unstructured", "independent", "identity"]
    assert spec.levels == ("a", "b")


def test_repeated_levels_noconstant_on_last():
    spec = parse_mixed("y x || a: u || a: v, noconstant")
    assert [e.constant for e in spec.equations] == [False, False]


def test_nonconsecutive_repeated_level_is_error():
    text = "y x || a: || b: || a:"
    with pytest.raises(MixedSyntaxError) as ei:
        parse_mixed(text)
    assert "'a'" in str(ei.value) and "consecutively" in str(ei.value)
    assert ei.value.position == text.rindex("a:") + 1


def test_many_levels_top_to_bottom():
    spec = parse_mixed("y x || l5: || l4: || l3: z || l2:")
    assert spec.levels == ("l5", "l4", "l3", "l2")
    assert spec.equations[2].terms == ("z",)


def test_no_random_effects_is_allowed():
    spec = parse_mixed("y x1 x2, noconstant reml")
    assert spec.equations == () and spec.constant is False and spec.reml is True


def test_depvar_only():
    spec = parse_mixed("y || id:")
    assert spec.depvar == "y" and spec.fixed_terms == ()


def test_global_options_after_last_equation_split_from_re_options():
    spec = parse_mixed("weight week || id: week, cov(un) reml nolog level(90) stddev")
    eq = spec.equations[0]
    assert eq.covariance == "unstructured" and eq.constant is True
    assert spec.reml is True and spec.level == 90.0 and spec.stddeviations is True
    assert spec.constant is True  # fixed constant untouched
    assert spec.extra["display"] == ["nolog"]


def test_global_options_in_fixed_segment_and_middle_equation():
    spec = parse_mixed("y x, nofvlabel reml || a: z, nolog cov(ind) || b:, noconstant")
    assert spec.reml is True
    assert spec.extra["display"] == ["nofvlabel", "nolog"]
    assert spec.constant is True
    assert spec.equations[0].covariance == "independent"
    assert spec.equations[1].constant is False


def test_noconstant_after_last_equation_belongs_to_equation():
    spec = parse_mixed("strength i.program##i.day || id:, noconstant")
    assert spec.constant is True and spec.equations[0].constant is False


def test_covariance_in_fixed_segment_is_error():
    text = "y x, cov(un) || id:"
    with pytest.raises(MixedSyntaxError, match=r"'cov\(un\)'.*position 6"):
        parse_mixed(text)


def test_factor_terms_kept_as_typed():
    spec = parse_mixed("y week i.drug c.age#c.age i.program##i.day ib2.x ibn.g ib(last).z "
                       "i.(a b) || id: i.g#c.age")
    assert spec.fixed_terms == ("week", "i.drug", "c.age#c.age", "i.program##i.day", "ib2.x",
                                "ibn.g", "ib(last).z", "i.(a b)")
    assert spec.equations[0].terms == ("i.g#c.age",)
    assert spec.equations[0].covariance == "independent"


def test_whitespace_is_free():
    a = parse_mixed("y x||id:week,cov(un) reml")
    b = parse_mixed("  y   x   ||   id  :  week  ,  cov ( un )   reml  ")
    c = parse_mixed("y x || id: week, covariance( unstructured ) reml")
    assert a == b == c
    assert a.equations[0] == EQ("id", ("week",), True, "unstructured")


def test_options_after_parenthesised_argument_need_no_space():
    spec = parse_mixed("y x || id: x, cov(un)reml level(90)nolog")
    assert spec.equations[0].covariance == "unstructured"
    assert spec.reml is True and spec.level == 90.0 and spec.extra["display"] == ["nolog"]


def test_numpy_bools_accepted_as_keyword_values():
    np = pytest.importorskip("numpy")
    assert parse_mixed("y x || id:", reml=np.True_).reml is True


def test_whitespace_inside_factor_terms_is_normalised():
    spec = parse_mixed("y i.( a  b ) c.age # c.age ib (last).z || id:")
    assert spec.fixed_terms == ("i.(a b)", "c.age#c.age", "ib(last).z")


def test_all_level_and_r_terms():
    spec = parse_mixed("y x || _all: R.a || b:")
    assert spec.equations == (EQ("_all", ("R.a",), False, "identity"), EQ("b", (), True, "identity"))
    assert spec.extra["equations"][0]["crossed"] is True


def test_r_term_rules():
    with pytest.raises(MixedSyntaxError, match=r"'R\.a'.*only term.*position 14"):
        parse_mixed("y x || _all: R.a z")
    with pytest.raises(MixedSyntaxError, match=r"'R\.a'.*random-effects equations.*position 5"):
        parse_mixed("y x R.a || id:")
    with pytest.raises(MixedSyntaxError, match=r"covariance\(unstructured\).*R\. notation"):
        parse_mixed("y x || _all: R.a, cov(un)")


def test_repeated_covariance_in_one_equation_is_error():
    with pytest.raises(MixedSyntaxError, match="more than once"):
        parse_mixed("y x || id: x, cov(un) cov(ind)")


# ------------------------------------------------------------------ keyword overrides


def test_keyword_overrides():
    spec = parse_mixed("y x || id: x, nolog", reml=True, level=90, stddeviations=True,
                       noconstant=True, nogroup=True, nolog=False)
    assert spec.reml is True and spec.level == 90.0
    assert spec.stddeviations is True and spec.variance is False
    assert spec.constant is False
    assert spec.equations[0].constant is True  # only the fixed constant
    assert spec.extra["display"] == ["nogroup"]


def test_keyword_overrides_text():
    spec = parse_mixed("y x || id:, reml stddev", mle=True, variance=True)
    assert spec.reml is False and spec.variance is True and spec.stddeviations is False
    assert parse_mixed("y x || id:", reml=False).reml is False
    assert parse_mixed("y x || id:", mle=False).reml is True


@pytest.mark.parametrize("kw", [dict(reml=True, mle=True), dict(reml=False, mle=False),
                                dict(variance=True, stddeviations=True)])
def test_keyword_conflicts(kw):
    with pytest.raises(MixedSyntaxError, match="conflicting keyword options"):
        parse_mixed("y x || id:", **kw)


@pytest.mark.parametrize("text,msg", [("y x || id:, reml mle", "reml and mle"),
                                      ("y x || id:, variance stddev", "variance and stddeviations")])
def test_text_conflicts(text, msg):
    with pytest.raises(MixedSyntaxError, match=msg):
        parse_mixed(text)


def test_unknown_keyword_is_typeerror_like():
    with pytest.raises(MixedOptionError, match="'covarance'") as ei:
        parse_mixed("y x || id:", covarance="un")
    assert isinstance(ei.value, TypeError) and isinstance(ei.value, MixedSyntaxError)


@pytest.mark.parametrize("kw", [dict(level=5), dict(level="abc"), dict(reml="yes")])
def test_bad_keyword_values(kw):
    with pytest.raises(MixedSyntaxError):
        parse_mixed("y x || id:", **kw)


# ------------------------------------------------------------------ error messages


def _err(text: str) -> MixedSyntaxError:
    with pytest.raises(MixedSyntaxError) as ei:
        parse_mixed(text)
    return ei.value


@pytest.mark.parametrize("text,token,position", [
    ("weight week) || id: week", ")", 12),
    ("weight week || id: week)", ")", 24),
    ("weight (week || id:", "(", 8),
    ("weight week || id: week, cov(un", "(", 29),
    ("weight week || id: week, covarance(un)", "covarance(un)", 26),
    ("weight week || id: week, nosuchopt", "nosuchopt", 26),
    ("weight week || id week", "week", 19),
    ("weight week || id", "id", 16),
    ("weight week ||", "||", 13),
    ("weight week || || id:", "||", 13),
    ("weight week ||    , reml", ",", 19),
    ("weight week || : week", ":", 16),
    ("weight week || 1id: week", "1id", 16),
    ("weight week | id:", "|", 13),
    ("weight week, reml, nolog", ",", 18),
    ("weight week || id: week, cov(un) reml ! nolog", "!", 39),
    ("i.weight week || id:", "i.weight", 1),
    ("weight we$ek || id:", "$", 10),
    ("weight i.x# || id:", "i.x#", 8),
    ("weight week || id: week, level(200)", "level(200)", 26),
    ("weight week || id: week (x)", "(", 25),
    ("weight week || id: week [fw=w]", "[", 25),
    ("weight week [aw=w] || id:", "[aw=w]", 13),
    ('weight week || id: "x', '"', 20),
])
def test_error_names_token_and_position(text, token, position):
    err = _err(text)
    assert err.token == token
    assert err.position == position
    assert f"'{token}'" in str(err) and f"at position {position}" in str(err)


def test_error_message_examples():
    assert str(_err("weight week || id: week)")) == "unexpected token ')' at position 24"
    assert "missing ':' after level 'id'" in str(_err("weight week || id week"))
    assert str(_err("weight week || id: week, covarance(un)")) == (
        "unknown option 'covarance(un)' at position 26")


def test_option_argument_arity_errors():
    assert "requires an argument" in str(_err("y x || id:, cov"))
    assert "does not take an argument" in str(_err("y x || id:, reml(1)"))


def test_errors_are_valueerrors():
    assert issubclass(MixedSyntaxError, ValueError)
    with pytest.raises(ValueError):
        parse_mixed("|| id:")


def test_options_are_parsed_completely_in_syntax():
    """Issue 22: every option a module handles is parsed into a typed field by the parser;
    only what no module takes is left (as text) for the builder to refuse by name."""
    from semlevel.syntax.smallsample import DFMethod
    spec = parse_mixed("y x || id:, reml dfmethod(satt, oim) dftable(ci) constraints(1 2) "
                       "residuals(ar 1, t(time)) emiterate(5)")
    assert spec.extra["unsupported"] == {"emiterate": "5"}
    assert spec.extra["dfmethod"] == DFMethod("satterthwaite", "oim")
    assert spec.extra["dftable"] == "ci"
    assert spec.extra["constraints_numbered"] == "1 2"
    assert spec.residuals.kind == "ar" and spec.extra["vce"].kind == "oim"
    assert spec.extra["option_text"]["dfmethod"] == "satt, oim"   # as written


def test_a_model_string_parsed_again_gives_the_same_spec_with_its_own_extra():
    """parse_mixed keeps the specs of texts it has parsed (bootstraps and simulations
    parse one string hundreds of times): equal specs, each with its own ``extra`` (a
    caller may add to it), typed options kept apart, and errors raised every time."""
    from semlevel.syntax.mixed import parse_mixed, MixedSyntaxError
    a = parse_mixed("weight week || id: week, cov(un)")
    b = parse_mixed("weight week || id: week, cov(un)")
    assert a == b and a.extra == b.extra and a.extra is not b.extra
    a.extra["formula"] = "weight ~ week + (week | id)"
    assert "formula" not in parse_mixed("weight week || id: week, cov(un)").extra
    assert parse_mixed("weight week || id:", reml=True).reml
    assert not parse_mixed("weight week || id:").reml
    for _ in range(2):
        with pytest.raises(MixedSyntaxError):
            parse_mixed("weight week || id: week, cov(bogus)")
    with pytest.raises(TypeError):
        parse_mixed("weight week || id:", nosuchoption=True)
    assert parse_mixed("weight week || id:", level=90).level == 90.0
