"""Every script in examples/ runs and prints its reference numbers.

Each script runs in a subprocess (as a user would run it); its printed output is read
back. Reference numbers are the manual's printed values (seeds/000, the line numbers are
given) or, for the article's simulated stories, lme4's (tests/data/*.json, made by the R
scripts beside them). A printed number agrees when it is within one unit of the
reference's last printed digit, or within ``rel`` of it: 3e-6 by default, because Stata
stops a few units of the 7th significant digit short of the optimum (see
tests/test_manual.py; our log likelihood is never lower). Log likelihoods are held to the
printed digits with no relative slack.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
STORY = json.loads((ROOT / "tests" / "data" / "article_story_lme4.json").read_text())
RREF = json.loads((ROOT / "tests" / "data" / "r_reference.json").read_text())["fits"]
LME4 = json.loads((ROOT / "tests" / "data" / "lme4_formula.json").read_text())["fits"]


def _fmt(v: float, digits: int = 7) -> str:
    """A reference from R as a Stata-like printed number (7 significant digits)."""
    return f"{v:.{digits}g}"


# script -> {"loglik": [...], "rows": [(label, [values], rel)], "lines": [...]}
#   rows are found in order: the first line after the previous match whose text before
#   '|' is the label; None skips a column (a fixed-effects row prints coef, se, z, p and
#   the CI, a random-effects row estimate, se and the CI).
REFERENCE: dict[str, dict] = {
    "manual_ex01_random_intercept.py": {          # manual lines 814-830
        "loglik": ["-1014.9268"],
        "rows": [("week", ["6.209896", ".0390124", None, None, "6.133433", "6.286359"]),
                 ("_cons", ["19.35561", ".5974059", None, None, "18.18472", "20.52651"]),
                 ("var(_cons)", ["14.81751", "3.124225", "9.801716", "22.40002"]),
                 ("var(Residual)", ["4.383264", ".3163348", "3.805112", "5.04926"])],
        "lines": ["LR test vs. linear model: chibar2(01) = 472.65"]},
    "manual_ex02_random_slope.py": {              # lines 905-920
        "loglik": ["-869.03825"],
        "rows": [("week", ["6.209896", ".0906819", None, None, "6.032163", "6.387629"]),
                 ("_cons", ["19.35561", ".3979159", None, None, "18.57571", "20.13551"]),
                 ("var(week)", [".3680668", ".0801181"]),
                 ("var(_cons)", ["6.756364", "1.543503"]),
                 ("var(Residual)", ["1.598811", ".1233988", "1.374359", "1.85992"])],
        "lines": ["LR test vs. linear model: chi2(2) = 764.42", "log likelihood -869.03825"]},
    "manual_ex03_correlated_effects.py": {        # lines 994-1025
        "loglik": ["-868.96185"],
        "rows": [("week", ["6.209896", ".0910745", None, None, "6.031393", "6.388399"]),
                 ("var(week)", [".3715251", ".0812958"]),
                 ("var(_cons)", ["6.823363", "1.566194"]),
                 ("cov(week,_cons)", ["-.0984378", ".2545767"], 5e-6),
                 ("var(Residual)", ["1.596829", ".123198"])],
        "lines": ["LR test vs. linear model: chi2(3) = 764.58",
                  "LR chi2(1) = 0.15, Prob > chi2 = 0.6959"]},
    "manual_reml_pig.py": {                       # lines 1040-1072
        "loglik": ["-870.51473"],
        "rows": [("week", ["6.209896", ".0916387", None, None, "6.030287", "6.389504"]),
                 ("_cons", ["19.35561", ".4021144", None, None, "18.56748", "20.14374"]),
                 ("var(week)", [".3764405", ".0827027"], 1e-5),
                 ("var(_cons)", ["6.917604", "1.593247"]),
                 ("var(Residual)", ["1.598784", ".1234011", "1.374328", "1.859898"])],
        "lines": ["LR test vs. linear model: chi2(2) = 765.92",
                  "log restricted-likelihood -870.51473"]},
    "manual_ex04_three_level.py": {               # lines 1188-1203
        "loglik": ["1430.5017"],
        "rows": [("private", [".2671484", ".0212591", None, None, ".2254814", ".3088154"], 1e-6),
                 ("emp", [".754072", ".0261868"]),
                 ("unemp", ["-.0058983", ".0009031"]),
                 ("_cons", ["2.128823", ".1543854", None, None, "1.826233", "2.431413"]),
                 ("var(_cons)", [".0014506", ".0012995"]),          # region
                 ("var(_cons)", [".0062757", ".0014871"]),          # state
                 ("var(Residual)", [".0013461", ".0000689", ".0012176", ".0014882"])],
        "lines": ["LR test vs. linear model: chi2(2) = 1154.73", "log likelihood 1430.5017"]},
    "manual_ex05_repeated_levels.py": {           # lines 1256-1330
        "loglik": ["1447.6787", "1447.6784"],
        "rows": [("var(unemp)", [".0000238", ".0000135"]),
                 ("var(_cons)", [None]),                            # region (near zero)
                 ("var(_cons)", [".0063658", ".0015611"], 2e-4),    # state
                 ("var(Residual)", [".0012469", ".0000643", ".001127", ".0013795"]),
                 ("var(hwy unemp)", [".0000238", ".0000134"]),
                 ("var(_cons)", [".0028191", ".0030429"], 2e-4),    # region, blocked
                 ("var(_cons)", [".006358", ".0015309"], 2e-4),     # state
                 ("var(Residual)", [".0012469", ".0000643"])],
        "lines": ["LR test vs. linear model: chi2(4) = 1189.08",
                  "LR test vs. linear model: chi2(3) = 1189.08",
                  "LR chi2(1) = 0.00, Prob > chi2 = 0.9784"]},
    "manual_ex08_ar_residuals.py": {              # lines 1837-1850
        "loglik": ["-772.59855"],
        "rows": [("sin1", ["-2.899228", ".5110784", None, None, "-3.900923", "-1.897532"]),
                 ("cos1", ["-.8652936", ".5432923"]),
                 ("_cons", ["12.14455", ".9473731"]),
                 ("var(_cons)", ["7.09265", "4.402051"], 1e-5),     # see test_residuals
                 ("phi1", [".5386103", ".0624897"], 5e-6),
                 ("phi2", [".1446711", ".0632039"], 1e-5),
                 ("var(e)", ["14.25103", "2.435226"], 5e-6)],
        "lines": ["LR test vs. linear model: chi2(3) = 251.67"]},
    "manual_ex10_crossed.py": {                   # lines 2044-2059, 2084
        "loglik": ["-1013.824"],
        # the manual's week SE (.0639313) is an OCR error for .0539313 (see test_manual)
        "rows": [("week", ["6.209896", ".0539313", None, None, "6.104192", "6.315599"]),
                 ("_cons", ["19.35561", ".6333982", None, None, "18.11418", "20.59705"]),
                 ("var(R.week)", [".0849874", ".0868856"], 1e-5),
                 ("var(R.id)", ["14.83623", "3.126142"]),
                 ("var(Residual)", ["4.297328", ".3134404", "3.724888", "4.957741"])],
        "lines": ["LR test vs. linear model: chi2(2) = 474.85", "AIC = 2037.648   BIC = 2057.99",
                  "log likelihood -1013.8240", "-> \"weight week || _all: R.week || id:\""]},
    "manual_ex11_exchangeable.py": {              # lines 2169-2185
        "loglik": ["1430.5017"],
        "rows": [("private", [".2671484", ".0212591"], 1e-6),
                 ("var(R.state)", [".0077263", ".0017926"]),
                 ("cov(R.state)", [".0014506", ".0012995"]),
                 ("var(Residual)", [".0013461", ".0000689"])],
        "lines": ["LR test vs. linear model: chi2(2) = 1154.73",
                  "(1 | region/state): log likelihood 1430.5017"]},
    "manual_ex13_small_sample.py": {              # lines 2599-2612, replay 2626-2640
        "loglik": ["-49.640099", "-49.640099"],
        "rows": [("2", ["-.8", "1.939072", "-0.41", "0.687", "-5.024874", "3.424874"]),
                 ("3", ["-10.8", "1.939072", "-5.57", "0.000", "-15.02487", "-6.575126"]),
                 ("4", ["5.6", "1.939072", "2.89", "0.014", "1.375126", "9.824874"]),
                 ("_cons", ["26.4", "3.149604", "8.38", "0.001", "17.6553", "35.1447"]),
                 ("var(_cons)", ["40.20004", "30.10272", "9.264606", "174.4319"]),
                 ("var(Residual)", ["9.399997", "3.837532", "4.22305", "20.92325"]),
                 ("2", ["-.8", "1.939072", "-0.41", "0.680", "-4.600511", "3.000511"]),
                 ("3", ["-10.8", "1.939072", "-5.57", "0.000", "-14.60051", "-6.999489"]),
                 ("4", ["5.6", "1.939072", "2.89", "0.004", "1.799489", "9.400511"]),
                 ("_cons", ["26.4", "3.149604", "8.38", "0.000", "20.22689", "32.57311"])],
        "lines": ["F(3, 12.00)       =      24.76", "DF method: Repeated",
                  "LR test vs. linear model: chibar2(01) = 15.03",
                  "log restricted-likelihood -49.640099"]},
    "pig.py": {                                   # examples 1-3 and their LR tests
        "loglik": ["-1014.9268", "-869.03825", "-868.96185"],
        "rows": [("var(week)", [".3680668"]), ("cov(week,_cons)", ["-.0984378"], 5e-6)],
        "lines": ["LR chi2(1) = 291.78", "LR chi2(1) = 0.15, Prob > chi2 = 0.6959"]},
    "article_sem_equals_mixed.py": {              # lme4 on the same simulated data
        "loglik": [_fmt(RREF["art_ml"]["logLik"], 8), _fmt(LME4["article_unbalanced"]["logLik"], 8)],
        "rows": [("x", [_fmt(RREF["art_ml"]["fixef"]["x"]), _fmt(RREF["art_ml"]["se"]["x"])]),
                 ("var(_cons)", [_fmt(RREF["art_ml"]["varcomp"][1]["vcov"])], 1e-5),   # k
                 ("var(_cons)", [_fmt(RREF["art_ml"]["varcomp"][0]["vcov"])], 1e-5),   # j
                 ("x", [_fmt(LME4["article_unbalanced"]["fixef"]["x"])])],
        "lines": [f"SEM (wide MVN) log likelihood {RREF['art_ml']['logLik']:.5f}",
                  f"SEM (wide MVN) log likelihood {LME4['article_unbalanced']['logLik']:.5f}"]},
    "article_story.py": {                         # lme4: tests/data/article_story_lme4.json
        "loglik": [_fmt(STORY["mixed"]["logLik"], 7)],
        "rows": [("x", [_fmt(STORY["mixed"]["fixef"]["x"])], 1e-6),
                 ("var(_cons)", [_fmt(STORY["mixed"]["varcomp"]["region (Intercept)"])], 1e-5),
                 ("var(_cons)", [_fmt(STORY["mixed"]["varcomp"]["county:region (Intercept)"])],
                  1e-5),
                 ("var(_cons)", [_fmt(STORY["mixed"]["varcomp"][
                     "school:(county:region) (Intercept)"])], 1e-5),
                 ("var(Residual)", [_fmt(STORY["mixed"]["varcomp"]["Residual"])], 1e-5)],
        "lines": ["N/S variances vs mixed: LR chi2(1) = "
                  f"{2 * (STORY['north_south']['logLik'] - STORY['mixed']['logLik']):.2f}"]},
}


def test_every_example_has_a_reference():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(REFERENCE)


def _run(name: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True,
                          text=True, cwd=str(ROOT), env=env, timeout=300)


class _Outputs(dict):
    """Each example run once, when a test first asks for it (tests of one example may
    then run on different pytest-xdist workers in parallel)."""

    def __missing__(self, name: str) -> subprocess.CompletedProcess:
        self[name] = _run(name)
        return self[name]


@pytest.fixture(scope="module")
def outputs() -> dict[str, subprocess.CompletedProcess]:
    return _Outputs()


def _unit(printed: str) -> float:
    text = printed.strip().lstrip("-")
    if "e" in text:
        mant, exp = text.split("e")
        dec = len(mant.split(".")[1]) if "." in mant else 0
        return 10.0 ** (int(exp) - dec)
    return 10.0 ** -(len(text.split(".")[1]) if "." in text else 0)


def _agrees(ours: str, ref: str, rel: float) -> bool:
    tol = max(_unit(ref), _unit(ours), rel * abs(float(ref)))
    return abs(float(ours) - float(ref)) <= tol * (1 + 1e-9)


_LL = re.compile(r"Log (?:restricted-)?likelihood =\s+(-?[\d.]+)")


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_example_prints_its_reference_numbers(outputs, name):
    run = outputs[name]
    assert run.returncode == 0, run.stderr[-3000:]
    text, ref = run.stdout, REFERENCE[name]
    lls = _LL.findall(text)
    assert len(lls) >= len(ref["loglik"]), lls
    for ours, printed in zip(lls, ref["loglik"]):
        assert _agrees(ours, printed, 0.0), (ours, printed)
    lines = text.splitlines()
    at = 0
    for row in ref["rows"]:
        label, values = row[0], row[1]
        rel = row[2] if len(row) > 2 else 3e-6
        while at < len(lines) and not ("|" in lines[at]
                                       and lines[at].split("|")[0].strip() == label):
            at += 1
        assert at < len(lines), f"row {label!r} not found (in order) in the output of {name}"
        numbers = lines[at].split("|", 1)[1].split()
        assert len(numbers) >= len(values), lines[at]
        bad = [(o, p) for o, p in zip(numbers, values) if p is not None and not _agrees(o, p, rel)]
        assert not bad, f"{name}, {label}: (ours, reference) {bad}"
        at += 1
    for line in ref["lines"]:
        assert line in text, f"{line!r} not in the output of {name}"
