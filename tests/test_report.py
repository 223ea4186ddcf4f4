"""The Stata-like report (``Fit.summary()``): layout and numbers of the manual's examples.

Reference values are those printed in Stata's [ME] mixed manual, examples 1-5 (pig and
productivity data). Estimates are compared with a small tolerance on the last printed
digit; the layout (78 columns, ``|`` at Stata's columns, rules) is checked exactly.
"""
from __future__ import annotations

import dataclasses
import math
import re

import numpy as np
import pytest

import semlevel as sl
from semlevel.output.report import stata_g, stata_report

# --------------------------------------------------------------------------- stata_g


@pytest.mark.parametrize("x, width, expected", [
    (6.2098962, 9, "6.209896"),
    (0.03901237, 9, ".0390124"),
    (-0.09843784, 9, "-.0984378"),
    (19.355613, 9, "19.35561"),
    (14.817507, 9, "14.81751"),
    (4.3832641, 9, "4.383264"),
    (5.0492600, 9, "5.04926"),        # trailing zeros dropped
    (0.0000209, 9, ".0000209"),       # fixed as long as it keeps as many digits
    (0.00033993, 9, ".0003399"),
    (6.71e-10, 9, "6.71e-10"),        # scientific when fixed would lose digits
    (7.8412e-06, 9, "7.84e-06"),
    (0.001127, 9, ".001127"),
    (-1014.92684, 10, "-1014.9268"),  # %10.0g: log likelihoods
    (-869.038251, 10, "-869.03825"),
    (1430.50172, 10, "1430.5017"),
    (25337.4851, 9, "25337.49"),
    (1234567.8, 9, "1234568"),
    (123456789.0, 9, "1.23e+08"),
    (9.99999999, 9, "10"),
    (0.5, 9, ".5"),
    (1.0, 9, "1"),
    (0.0, 9, "0"),
    (-0.0, 9, "0"),
    (float("nan"), 9, "."),
    (float("inf"), 9, "."),
    (None, 9, "."),
])
def test_stata_g(x, width, expected):
    assert stata_g(x, width) == expected


def test_stata_g_never_wider_than_format():
    rng = np.random.default_rng(0)
    for x in np.concatenate([rng.normal(size=200) * 10.0 ** rng.integers(-12, 12, 200),
                             [1e-300, -1e300, 99999999.6, 0.99999999]]):
        for w in (8, 9, 10):
            s = stata_g(x, w)
            assert len(s) <= w, (x, w, s)
            rel = {8: 0.06, 9: 0.006, 10: 0.0006}[w]    # >= 2, 3, 4 significant digits
            assert math.isclose(float(s), x, rel_tol=rel), (x, w, s)


# --------------------------------------------------------------------------- helpers


def _row(report: str, label: str) -> list[float]:
    """Numbers of the (first) table row whose label, left of ``|``, is ``label``."""
    for line in report.splitlines():
        if "|" in line and line.split("|")[0].strip() == label:
            return [float(t) for t in line.split("|", 1)[1].split()]
    raise AssertionError(f"no row {label!r} in\n{report}")


def _line(report: str, start: str) -> str:
    for line in report.splitlines():
        if line.startswith(start):
            return line
    raise AssertionError(f"no line starting {start!r} in\n{report}")


def _close(got, expected, rel=2e-5, abs_=2e-7):
    assert len(got) == len(expected), (got, expected)
    for g, e in zip(got, expected):
        assert math.isclose(g, e, rel_tol=rel, abs_tol=abs_), (got, expected)


def _check_layout(report: str):
    lines = report.splitlines()
    assert all(len(l) <= 78 for l in lines), max(lines, key=len)
    assert all(l == l.rstrip() for l in lines)
    fixed_hdr = [i for i, l in enumerate(lines) if "| Coefficient  Std. err." in l]
    for i in fixed_hdr:
        assert lines[i - 1] == "-" * 78 and lines[i + 1] == "-" * 13 + "+" + "-" * 64
        j = i + 2
        while lines[j] != "-" * 78:
            assert lines[j][13] == "|", lines[j]
            assert len(lines[j]) in (14, 78) or lines[j].endswith("0  (base)"), lines[j]
            j += 1
    re_hdr = [i for i, l in enumerate(lines) if l.startswith("  Random-effects parameters  |")]
    assert len(re_hdr) <= 1
    for i in re_hdr:
        assert lines[i] == ("  Random-effects parameters  |   Estimate   Std. err."
                            + lines[i][53:])
        assert lines[i][53:].strip().endswith("conf. interval]") and len(lines[i]) == 78
        j = i + 1
        while lines[j] != "-" * 78:
            assert lines[j][29] in "|+", lines[j]
            j += 1
        assert lines[j - 1].strip().startswith(("var(Residual)", "sd(Residual)"))


# --------------------------------------------------------------------------- manual examples


@pytest.fixture(scope="module")
def productivity():
    return sl.datasets.load("productivity")


@pytest.fixture(scope="module")
def randint(pig):
    return sl.mixed("weight week || id:", pig)


def test_example1_random_intercept(randint):
    rep = randint.summary()
    assert rep == stata_report(randint)
    _check_layout(rep)
    lines = rep.splitlines()
    assert lines[0] == ("Mixed-effects ML regression" + " " * 21
                        + "Number of obs     =        432")
    assert lines[1] == "Group variable: id" + " " * 30 + "Number of groups  =         48"
    assert " " * 48 + "Obs per group:" in lines
    assert " " * 62 + "min =          9" in lines
    assert " " * 62 + "avg =        9.0" in lines
    assert " " * 62 + "max =          9" in lines
    assert re.fullmatch(r" {48}Wald chi2\(1\)      =   253\d\d\.\d\d",
                        _line(rep, " " * 48 + "Wald"))
    ll = _line(rep, "Log likelihood = ")
    assert ll.startswith("Log likelihood = -1014.9268") and ll.endswith(
        "Prob > chi2       =     0.0000") and len(ll) == 78
    assert "      weight | Coefficient  Std. err.      z    P>|z|     [95% conf. interval]" \
        in lines
    week = _line(rep, "        week |")
    assert week.startswith("        week |   6.209896   .0390124   159.18   0.000     6.1334")
    _close(_row(rep, "week"), [6.209896, .0390124, 159.18, 0.000, 6.133433, 6.286359])
    _close(_row(rep, "_cons"), [19.35561, .5974059, 32.40, 0.000, 18.18472, 20.52651])
    assert "id: Identity                 |" in lines
    # the ML optimum is 14.81749 (checked by direct maximisation); Stata prints 14.81751
    assert re.match(r" {18}var\(_cons\) \|   14\.817\d\d    3\.1242\d\d?      9\.8017\d\d"
                    r"    (22\.3999\d|22\.400)", _line(rep, "                  var(_cons) |"))
    _close(_row(rep, "var(_cons)"), [14.81751, 3.124225, 9.801716, 22.40002], rel=5e-6)
    _close(_row(rep, "var(Residual)"), [4.383264, .3163348, 3.805112, 5.04926], rel=1e-5)
    assert ("LR test vs. linear model: chibar2(01) = 472.65        Prob >= chibar2 = 0.0000"
            in lines)
    assert "Note: LR test is conservative" not in rep
    assert "Warning" not in rep and "rows used" not in rep


@pytest.fixture(scope="module")
def randslope(pig):
    return sl.mixed("weight week || id: week", pig)


def test_example2_random_slope_independent(randslope):
    rep = randslope.summary()
    _check_layout(rep)
    assert "Log likelihood = -869.03825" in rep
    assert "Wald chi2(1)      =    4689.5" in rep
    assert "id: Independent              |" in rep.splitlines()
    _close(_row(rep, "week"), [6.209896, .0906819, 68.48, 0.000, 6.032163, 6.387629])
    _close(_row(rep, "var(week)"), [.3680668, .0801181, .2402389, .5639103], rel=5e-6 * 1e1)
    _close(_row(rep, "var(_cons)"), [6.756364, 1.543503, 4.317721, 10.57235], rel=5e-6 * 1e1)
    assert ("LR test vs. linear model: chi2(2) = 764.42                Prob > chi2 = 0.0000"
            in rep.splitlines())
    assert "\n\nNote: LR test is conservative and provided only for reference.\n" in rep


@pytest.fixture(scope="module")
def unstructured(pig):
    return sl.mixed("weight week || id: week, covariance(unstructured)", pig)


def test_example3_unstructured(unstructured):
    rep = unstructured.summary()
    _check_layout(rep)
    lines = rep.splitlines()
    assert "Log likelihood = -868.96185" in rep
    assert "Wald chi2(1)      =    4649.17" in rep
    _close(_row(rep, "week"), [6.209896, .0910745, 68.18, 0.000, 6.031393, 6.388399])
    i = lines.index("id: Unstructured             |")
    assert lines[i + 1].startswith("                   var(week) |   .37152")
    assert lines[i + 2].startswith("                  var(_cons) |   6.8233")
    assert lines[i + 3].startswith("             cov(week,_cons) |  -.098437")
    assert lines[i + 4] == "-" * 29 + "+" + "-" * 48
    assert re.match(r" {15}var\(Residual\) \|  +1\.5968\d*   \.12319\d\d      1\.3727",
                    lines[i + 5])
    _close(_row(rep, "cov(week,_cons)"), [-.0984378, .2545767, -.5973991, .4005234], rel=1e-5)
    assert "chi2(3) = 764.58" in rep and "Prob > chi2 = 0.0000" in rep


def test_example_reml(pig):
    fit = sl.mixed("weight week || id: week, reml", pig)
    rep = fit.summary()
    _check_layout(rep)
    assert rep.startswith("Mixed-effects REML regression                   Number of obs")
    assert _line(rep, "Log restricted-likelihood").startswith(
        "Log restricted-likelihood = -870.51473")
    assert "Wald chi2(1)      =    4592.10" in rep
    _close(_row(rep, "week"), [6.209896, .0916387, 67.77, 0.000, 6.030287, 6.389504])
    _close(_row(rep, "var(_cons)"), [6.917604, 1.593247, 4.404624, 10.86432], rel=5e-6 * 1e1)
    assert "LR test vs. linear model: chi2(2) = 765.92" in rep


@pytest.fixture(scope="module")
def threelevel(productivity):
    return sl.mixed("gsp private emp hwy water other unemp || region: || state:",
                        productivity)


def test_example4_three_levels(threelevel):
    rep = threelevel.summary()
    _check_layout(rep)
    lines = rep.splitlines()
    assert lines[0].endswith("Number of obs     =        816")
    assert "Group variable:" not in rep and "Number of groups" not in rep
    i = lines.index("-" * 61)
    assert lines[i:i + 7] == [
        "-" * 61,
        "                |     No. of       Observations per group",
        " Group variable |     groups    Minimum    Average    Maximum",
        "----------------+--------------------------------------------",
        "         region |          9         51       90.7        136",
        "          state |         48         17       17.0         17",
        "-" * 61]
    assert "Wald chi2(6)      =   18829.0" in rep
    assert _line(rep, "Log likelihood").startswith("Log likelihood =  1430.50")
    assert "         gsp | Coefficient" in rep
    _close(_row(rep, "emp"), [.754072, .0261868, 28.80, 0.000, .7027468, .8053973], rel=1e-5)
    _close(_row(rep, "unemp"), [-.0058983, .0009031, -6.53, 0.000, -.0076684, -.0041282],
           rel=1e-4)
    r = lines.index("region: Identity             |")
    s = lines.index("state: Identity              |")
    assert s > r and lines[s - 1] == "-" * 29 + "+" + "-" * 48
    assert lines[r + 1].startswith("                  var(_cons) |   .0014506")
    assert lines[s + 1].startswith("                  var(_cons) |   .0062757")
    assert _line(rep, "               var(Residual) |").startswith(
        "               var(Residual) |   .0013461   .0000689      .0012176    .0014882")
    assert "LR test vs. linear model: chi2(2) = 1154.73" in rep


def test_example5_small_numbers_and_display_options(productivity):
    fit = sl.mixed("gsp private emp hwy water other unemp || region: hwy unemp || state:,"
                       " nolog nogroup nofetable", productivity)
    rep = fit.summary()
    _check_layout(rep)
    assert "Coefficient" not in rep and "Observations per group" not in rep
    assert "Log likelihood =  1447.678" in rep
    assert "region: Independent          |" in rep
    unemp = _line(rep, "                  var(unemp) |")
    assert re.search(r"\|   \.0000238   \.0000135      7\.8\de-06    \.000072\d$", unemp)
    hwy = _line(rep, "                    var(hwy) |")
    assert re.search(r"\|   \.0000\d\d\d   \.000\d\d\d\d      \d\.\d\de-10 ", hwy)
    assert "LR test vs. linear model: chi2(4) = 1189.08" in rep


def test_repeated_level_blocks_stay_separate(productivity):
    fit = sl.mixed("gsp private emp hwy water other unemp || region: hwy unemp,"
                       " cov(identity) || region: || state:, nogroup nofetable", productivity)
    rep = fit.summary()
    _check_layout(rep)
    lines = rep.splitlines()
    assert lines.count("region: Identity             |") == 2
    assert "              var(hwy unemp) |   .0000238   .0000134" in rep
    assert "chi2(3) = 1189.08" in rep


# --------------------------------------------------------------------------- details


def test_level_option_changes_ci_header(pig):
    fit = sl.mixed("weight week || id:, level(90)", pig)
    rep = fit.summary()
    _check_layout(rep)
    assert "| Coefficient  Std. err.      z    P>|z|     [90% conf. interval]" in rep
    assert "|   Estimate   Std. err.     [90% conf. interval]" in rep


def test_stddeviations_metric(pig):
    fit = sl.mixed("weight week || id: week, covariance(unstructured) stddeviations", pig)
    rep = fit.summary()
    _check_layout(rep)
    assert "                    sd(week) |" in rep
    assert "            corr(week,_cons) |" in rep
    assert "                sd(Residual) |" in rep
    assert "var(" not in rep


def test_factor_variables_grouped_with_base(productivity):
    df = productivity.copy()
    df["yr"] = (df["year"] > 1978).astype(int) + 1
    fit = sl.mixed("gsp private ib2.region c.unemp#c.unemp i.yr#c.unemp || state:", df)
    rep = fit.summary()
    _check_layout(rep)
    lines = rep.splitlines()
    i = lines.index("      region |")
    assert lines[i - 1] == " " * 13 + "|"
    assert lines[i + 1].startswith("          1  |  -")
    assert lines[i + 2] == "          2  |          0  (base)"
    assert lines[i + 3].startswith("          3  |  -")
    assert lines[i + 9].startswith("          9  |")
    assert lines[i + 10] == " " * 13 + "|"
    # long interaction names are split at '#' over two lines, as Stata does
    j = lines.index("    c.unemp# |")
    assert lines[j + 1].startswith("     c.unemp |   ")
    k = lines.index("  yr#c.unemp |")
    assert lines[k + 1].startswith("          1  |  -")
    assert lines[k + 2].startswith("          2  |")
    _close([_row(rep, "private")[0]], [fit.fixed.loc["private", "coef"]], rel=1e-6)


def test_dropped_rows_boundary_and_nonconvergence(pig):
    df = pig.copy()
    df.loc[[3, 10], "weight"] = np.nan
    fit = sl.mixed("weight week || id:", df)
    rep = fit.summary()
    _check_layout(rep)
    assert "Note: 430 of 432 rows used; dropped: 2 missing weight" in rep
    assert "Number of obs     =        430" in rep
    # a (pretend) boundary estimate and a failed optimisation are flagged clearly
    bad = dataclasses.replace(
        fit, boundary=["id: var(_cons)"],
        optimization=dataclasses.replace(fit.optimization, converged=False,
                                         message="iteration limit reached"))
    rep = bad.summary()
    _check_layout(rep)
    row = _line(rep, "                  var(_cons) |")
    assert row.endswith("(boundary)")
    assert "Warning: convergence not achieved" in rep and "iteration limit reached" in rep
    assert "Warning: variance at the boundary (zero): id: var(_cons)" in rep
