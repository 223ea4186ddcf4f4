"""Score (Lagrange multiplier) tests and modification indices.

* Exactness: the statistics equal an independent dense computation (tests/reference.py
  ``structured_*``: score and expected information written from the textbook formulas on
  the long data) at the constrained estimates, for joint, univariate and generalized
  releases and for a modification index; the expected information matrix itself equals
  the dense one.
* Asymptotics: on a large sample the score test agrees with the LR test (and observed
  with expected information) where the constraint holds, both reject where it does not,
  and under a true constraint the p-values are uniform.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import semlevel as sl
from semlevel.engine.information import expected_information

from reference import (structured_blocks, structured_information, structured_score_test,
                       structured_stack)
from simulate import slot_three_level

SPEC = "y x || k: || j:"
J = 4


def _close(a: float, b: float, rel: float = 0.05, small: float = 0.3) -> bool:
    """Agreement of two chi-square statistics: within ``rel`` relative, or ``small``
    absolute when both are small.

    Under the null the score and LR statistics (and the score statistic with observed or
    expected information) differ by O_p(n^-1/2) *in absolute terms*: both are the same
    quadratic form in the score to first order, the difference comes from third
    derivatives. Near zero a relative criterion is meaningless (a statistic of 0.4 vs
    0.44 is a 10% "error" with p-values 0.94 vs 0.93), so small statistics are compared
    absolutely; 0.3 is well above the ~0.05-0.15 seen at 1500 clusters and well below the
    chi2(3) critical value 11.3 at 1%.
    """
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), small)


def _long(df):
    d = df.dropna(subset=["y"]).sort_values(["k", "j", "i"]).reset_index(drop=True)
    d["obs"] = d.groupby(["k", "j"]).cumcount() + 1
    return d


# ----------------------------------------------------------------------------------------
# exactness against an independent dense computation
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mid():
    """Heteroskedastic, correlated school effects; 150 counties, ~10% of y missing."""
    S = np.diag([0.5, 0.5, 1.0, 1.0])
    S[0, 1] = S[1, 0] = 0.25
    df = slot_three_level(77, K=150, J=J, I=3, V_cov=S, var_e=[0.5, 0.5, 0.5, 0.9])
    fit = sl.mixed(SPEC, data=df)
    assert fit.converged
    return df, fit


def _slots(d):
    return sorted({(int(j), int(o)) for j, o in zip(d["j"], d["obs"])})


def _reference(d, fit, mean, cov, beta_of, theta_of, coef_free=None, theta_free=None,
               information="expected"):
    """LM statistic of the dense reference at the constrained estimates, mapped into the
    relaxed parametrisation by ``beta_of``/``theta_of`` (new name -> constrained label)."""
    est = fit.model.labels["estimate"]
    stack = structured_stack(structured_blocks(d, "k", mean, cov))
    beta = np.array([est[beta_of(n)] for n in mean])
    # a covariance the constrained model does not have starts at zero
    theta = np.array([est[theta_of(n)] if theta_of(n) in est.index else 0.0 for n in cov])
    return structured_score_test(stack, theta, beta, coef_free, theta_free, information)


def _mixed_cov():
    return {"k: var(_cons)": lambda a, b: 1.0,
            "j: var(_cons)": lambda a, b: a["j"] == b["j"],
            "var(Residual)": lambda a, b: a["_i"] == b["_i"]}


MEAN = {"x": lambda c: c["x"], "_cons": lambda c: 1.0}


def _same(label):
    return lambda n: label


def _ident(n):
    return n


def test_joint_score_tests_equal_dense_reference(mid):
    df, fit = mid
    d = _long(df)
    table = fit.scoretests()
    assert {"x", "_cons", "j: var(_cons)", "var(Residual)"} <= set(table.index)
    assert "k: var(_cons)" not in table.index              # a single member: nothing to test
    slots = _slots(d)

    # school variances by position
    cov = {"k: var(_cons)": lambda a, b: 1.0,
           **{f"var(j[{p}])": (lambda a, b, p=p: (a["j"] == b["j"]) & (a["j"] == p))
              for p in range(1, J + 1)},
           "var(Residual)": lambda a, b: a["_i"] == b["_i"]}
    want = _reference(d, fit, MEAN, cov, _ident,
                      lambda n: "j: var(_cons)" if n.startswith("var(j[") else n)
    row = table.loc["j: var(_cons)"]
    assert row["df"] == J - 1
    assert row["chi2"] == pytest.approx(want, rel=1e-6)
    assert row["p"] == pytest.approx(stats.chi2.sf(want, J - 1), rel=1e-5)

    # residual variance by slot
    cov = {**{k: v for k, v in _mixed_cov().items() if k != "var(Residual)"},
           **{f"var(e.y[j={j},obs={o}])":
              (lambda a, b, j=j, o=o: (a["_i"] == b["_i"]) & (a["j"] == j) & (a["obs"] == o))
              for j, o in slots}}
    want = _reference(d, fit, MEAN, cov, _ident,
                      lambda n: "var(Residual)" if n.startswith("var(e.") else n)
    assert table.loc["var(Residual)", "df"] == len(slots) - 1
    assert table.loc["var(Residual)", "chi2"] == pytest.approx(want, rel=1e-6)

    # common slope and intercept by slot
    for term, col in (("x", lambda c: c["x"]), ("_cons", lambda c: 1.0)):
        mean = {f"{term}[j={j},obs={o}]":
                (lambda c, j=j, o=o, col=col: col(c) * ((c["j"] == j) & (c["obs"] == o)))
                for j, o in slots}
        other = "_cons" if term == "x" else "x"
        mean[other] = MEAN[other]
        want = _reference(d, fit, mean, _mixed_cov(),
                          lambda n, term=term: term if n.startswith(term + "[") else n, _ident)
        assert table.loc[term, "df"] == len(slots) - 1
        assert table.loc[term, "chi2"] == pytest.approx(want, rel=1e-6)


def test_univariate_and_generalized_tests(mid):
    df, fit = mid
    d = _long(df)
    tab = fit.scoretests(labels=["j: var(_cons)"], univariate=True,
                         releases={"north/south": lambda m: m.relax(
                             "j: var(_cons)", groups={"N": ["j=1", "j=2"], "S": ["j=3", "j=4"]}),
                                   "corr north": lambda m: m.correlate("j[1]", "j[2]")})
    uni = tab[tab["member"] != ""]
    # one row per member, df 1, named after the released parameter
    assert uni["member"].tolist() == fit.model.members("j: var(_cons)")["name"].tolist()
    assert uni.index.tolist() == [f"var(j[{p}])" for p in range(1, J + 1)]
    assert (uni["df"] == 1).all() and (uni["label"] == "j: var(_cons)").all()
    np.testing.assert_allclose(uni["p"], stats.chi2.sf(uni["chi2"], 1), rtol=1e-8)
    for p in range(1, J + 1):
        cov = {"k: var(_cons)": lambda a, b: 1.0,
               "j: var(_cons)": lambda a, b, p=p: (a["j"] == b["j"]) & (a["j"] != p),
               f"var(j[{p}])": lambda a, b, p=p: (a["j"] == b["j"]) & (a["j"] == p),
               "var(Residual)": lambda a, b: a["_i"] == b["_i"]}
        want = _reference(d, fit, MEAN, cov, _ident,
                          lambda n: "j: var(_cons)" if n.startswith("var(j[") else n)
        assert uni.loc[f"var(j[{p}])", "chi2"] == pytest.approx(want, rel=1e-6)
        # the same as a generalized test of that one release
        one = fit.scoretest(fit.model.relax("j: var(_cons)", groups={f"j[{p}]": "v"}))
        assert one["df"] == 1 and one["chi2"] == pytest.approx(want, rel=1e-6)

    # generalized: north/south (df 1) and a covariance between two schools (df 1)
    ns = tab.loc["north/south"]
    assert ns["df"] == 1 and ns["label"] == "" and ns["member"] == ""
    cov = {"k: var(_cons)": lambda a, b: 1.0,
           "N": lambda a, b: (a["j"] == b["j"]) & (a["j"] <= 2),
           "S": lambda a, b: (a["j"] == b["j"]) & (a["j"] >= 3),
           "var(Residual)": lambda a, b: a["_i"] == b["_i"]}
    want = _reference(d, fit, MEAN, cov, _ident,
                      lambda n: "j: var(_cons)" if n in ("N", "S") else n)
    assert ns["chi2"] == pytest.approx(want, rel=1e-6)
    cn = tab.loc["corr north"]
    cov = {**_mixed_cov(), "cov(j[1],j[2])":
           lambda a, b: ((a["j"] == 1) & (b["j"] == 2)) | ((a["j"] == 2) & (b["j"] == 1))}
    want = _reference(d, fit, MEAN, cov, _ident, _ident)
    assert cn["df"] == 1 and cn["chi2"] == pytest.approx(want, rel=1e-6)
    # an error covariance between the first students of schools 1 and 2
    res = fit.scoretest(fit.model.correlate("e.y[j=1,obs=1]", "e.y[j=2,obs=1]"))
    one = lambda c, j: (c["j"] == j) & (c["obs"] == 1)          # noqa: E731
    cov = {**_mixed_cov(), "cov(e)": lambda a, b: (one(a, 1) & one(b, 2)) | (one(a, 2) & one(b, 1))}
    want = _reference(d, fit, MEAN, cov, _ident, _ident)
    assert res["df"] == 1 and res["chi2"] == pytest.approx(want, rel=1e-6)
    # the data were simulated with N/S variances 0.5/1.0 and corr(j1, j2) = 0.5
    assert ns["p"] < 0.01 and cn["p"] < 0.01


def test_modification_indices_are_score_tests(mid):
    _, fit = mid
    mi = fit.modindices()
    lat = mi[~mi["lhs"].str.startswith("e.")].set_index(["lhs", "rhs"])
    names = ["k"] + [f"j[{p}]" for p in range(1, J + 1)]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    assert sorted(lat.index) == sorted(pairs)
    est = fit.model.labels["estimate"]
    for a, b in pairs:
        res = fit.scoretest(fit.model.correlate(a, b, label="c"))
        assert res["df"] == 1
        assert lat.loc[(a, b), "mi"] == pytest.approx(res["chi2"], rel=1e-6, abs=1e-9)
        assert lat.loc[(a, b), "epc"] == pytest.approx(res["epc"]["c"], rel=1e-6, abs=1e-9)
        va, vb = (est["k: var(_cons)" if n == "k" else "j: var(_cons)"] for n in (a, b))
        assert lat.loc[(a, b), "sepc"] == pytest.approx(lat.loc[(a, b), "epc"] / np.sqrt(va * vb),
                                                        rel=1e-9)
    # covariances between errors of two slots, when the table has them
    errs = mi[mi["lhs"].str.startswith("e.")]
    for _, r in errs.head(3).iterrows():
        res = fit.scoretest(fit.model.correlate(r["lhs"], r["rhs"], label="c"))
        assert r["mi"] == pytest.approx(res["chi2"], rel=1e-6, abs=1e-9)
        assert r["epc"] == pytest.approx(res["epc"]["c"], rel=1e-6, abs=1e-9)
    # the simulated correlation of schools 1 and 2 is the largest index among the schools
    schools = lat.drop(index=[p for p in pairs if p[0] == "k"])
    assert schools["mi"].idxmax() == ("j[1]", "j[2]")
    assert schools.loc[("j[1]", "j[2]"), "p"] < 0.01


def test_expected_information_equals_dense(mid):
    """Expected information of a relaxed model with a covariance and a residual group, at
    an arbitrary admissible point, against 1/2 tr(S^-1 D_j S^-1 D_k) and X'S^-1X."""
    df, _ = mid
    small = df[df["k"] <= 12]
    model = (sl.mixed_model(SPEC, data=small)
             .relax("j: var(_cons)", groups={"N": ["j=1", "j=2"], "S": ["j=3", "j=4"]})
             .correlate("j[1]", "j[2]").relax("var(Residual)", groups={"j=4": "var(e4)"}))
    lab = model.labels
    values = np.zeros(len(lab))
    point = {"k: var(_cons)": 0.8, "N": 0.6, "S": 1.1, "cov(j[1],j[2])": 0.2,
             "var(Residual)": 0.45, "var(e4)": 0.9, "x": 0.3, "_cons": 1.0}
    assert set(point) == set(lab.index)
    for name, v in point.items():
        values[lab.index.get_loc(name)] = v
    coef = ["x", "_cons"]
    var = ["k: var(_cons)", "N", "S", "cov(j[1],j[2])", "var(Residual)", "var(e4)"]
    info = expected_information(model, values, np.array([lab.index.get_loc(n) for n in coef]),
                                np.array([lab.index.get_loc(n) for n in var]))

    cov = {"k: var(_cons)": lambda a, b: 1.0,
           "N": lambda a, b: (a["j"] == b["j"]) & (a["j"] <= 2),
           "S": lambda a, b: (a["j"] == b["j"]) & (a["j"] >= 3),
           "cov(j[1],j[2])":
               lambda a, b: ((a["j"] == 1) & (b["j"] == 2)) | ((a["j"] == 2) & (b["j"] == 1)),
           "var(Residual)": lambda a, b: (a["_i"] == b["_i"]) & (a["j"] != 4),
           "var(e4)": lambda a, b: (a["_i"] == b["_i"]) & (a["j"] == 4)}
    stack = structured_stack(structured_blocks(_long(small), "k", MEAN, cov))
    I_beta, I_theta = structured_information(stack, np.array([point[n] for n in var]))
    np.testing.assert_allclose(info[:2, :2], I_beta, rtol=1e-8)
    np.testing.assert_allclose(info[2:, 2:], I_theta, rtol=1e-8)
    np.testing.assert_array_equal(info[:2, 2:], 0.0)


# ----------------------------------------------------------------------------------------
# asymptotics on large samples
# ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def homoskedastic():
    """1500 counties where the mixed model holds (school variance 0.6 in every school)."""
    fit = sl.mixed(SPEC, data=slot_three_level(11, K=1500, V_cov=0.6, var_e=0.5))
    assert fit.converged
    return fit


@pytest.mark.parametrize("label,df", [("j: var(_cons)", J - 1), ("x", 11), ("var(Residual)", 11)])
def test_score_agrees_with_lr_where_constraint_holds(homoskedastic, label, df):
    fit = homoskedastic
    relaxed = fit.model.relax(label)
    score = fit.scoretests(labels=[label]).loc[label]
    lr = fit.lrtest(relaxed.fit())
    assert score["df"] == lr.df == df
    assert _close(score["chi2"], lr.statistic), (score["chi2"], lr.statistic)
    assert score["p"] > 0.01 and lr.p > 0.01


@pytest.mark.parametrize("label,rel", [("j: var(_cons)", 0.05), ("x", 0.05), ("_cons", 0.05),
                                       ("var(Residual)", 0.15)])
def test_observed_and_expected_information_agree(homoskedastic, label, rel):
    """Close at a true constraint on 1500 counties. The residual variances by slot get a
    wider margin: each is informed by one slot's ~1100 observations only, and the
    observed information of a variance fluctuates around the expected one by about
    sqrt(2/1100) = 4% per parameter, which over 11 released parameters moves the
    statistic by up to ~10% (seen: 4-10% over seeds 11-13; both versions are checked
    exactly against the dense reference in ``test_observed_information_equals_dense``)."""
    fit = homoskedastic
    exp_ = fit.scoretests(labels=[label], information="expected").loc[label]
    obs = fit.scoretests(labels=[label], information="observed").loc[label]
    assert exp_["df"] == obs["df"]
    assert _close(exp_["chi2"], obs["chi2"], rel=rel), (exp_["chi2"], obs["chi2"])


def test_observed_information_equals_dense(mid):
    df, fit = mid
    d = _long(df)
    with pytest.raises(ValueError, match="information"):
        fit.scoretests(labels=["x"], information="sandwich")
    cov = {"k: var(_cons)": lambda a, b: 1.0,
           **{f"var(j[{p}])": (lambda a, b, p=p: (a["j"] == b["j"]) & (a["j"] == p))
              for p in range(1, J + 1)},
           "var(Residual)": lambda a, b: a["_i"] == b["_i"]}
    want = _reference(d, fit, MEAN, cov, _ident,
                      lambda n: "j: var(_cons)" if n.startswith("var(j[") else n,
                      information="observed")
    got = fit.scoretests(labels=["j: var(_cons)"], information="observed").loc["j: var(_cons)"]
    assert got["chi2"] == pytest.approx(want, rel=1e-6)
    mean = {f"x[j={p}]": (lambda c, p=p: c["x"] * (c["j"] == p)) for p in range(1, J + 1)}
    mean["_cons"] = MEAN["_cons"]
    want = _reference(d, fit, mean, _mixed_cov(), lambda n: "x" if n.startswith("x[") else n,
                      _ident, information="observed")
    res = fit.scoretest(fit.model.relax("x", groups={f"j={p}": f"x[j={p}]" for p in range(1, J + 1)}),
                        information="observed")
    assert res["df"] == J - 1
    assert res["chi2"] == pytest.approx(want, rel=1e-6)


def test_score_and_lr_both_reject_violated_constraint():
    fit = sl.mixed(SPEC, data=slot_three_level(12, K=1500, V_cov=np.diag([0.4, 0.4, 0.8, 0.8]),
                                               var_e=0.5))
    relaxed = fit.model.relax("j: var(_cons)")
    score = fit.scoretest(relaxed)
    lr = fit.lrtest(relaxed.fit())
    assert score["df"] == lr.df == J - 1
    assert score["p"] < 0.01 and lr.p < 0.01
    assert score["chi2"] > 30 and lr.statistic > 30


def test_modification_index_close_to_lr_and_epc_to_refit():
    """A small true covariance between schools 1 and 2 (corr 0.2), 1500 counties: the
    index of cov(j[1], j[2]) is close to the LR statistic of adding it, and its expected
    parameter change close to the refitted covariance (both first-order approximations
    of the same move, exact as the covariance goes to zero)."""
    S = 0.6 * np.eye(J)
    S[0, 1] = S[1, 0] = 0.12
    fit = sl.mixed(SPEC, data=slot_three_level(13, K=1500, V_cov=S, var_e=0.5))
    relaxed = fit.model.correlate("j[1]", "j[2]")
    res = fit.scoretest(relaxed)
    refit = relaxed.fit()
    lr = 2.0 * (refit.loglik - fit.loglik)
    cov_hat = refit.model.labels.loc["cov(j[1],j[2])", "estimate"]
    epc = res["epc"]["cov(j[1],j[2])"]
    assert res["chi2"] > 10 and lr > 10                 # a real, moderate effect
    assert res["chi2"] == pytest.approx(lr, rel=0.10)
    assert epc == pytest.approx(cov_hat, rel=0.10)
    assert epc == pytest.approx(0.12, abs=0.05)


def _null_pvalues(replications: int) -> np.ndarray:
    rng = np.random.default_rng(20260425)
    pvals = []
    for seed in rng.integers(0, 2**31, size=replications):
        df = slot_three_level(int(seed), K=80, J=3, I=2, V_cov=0.8, var_e=0.5, drop=0.05,
                              missing=0.05)
        fit = sl.mixed(SPEC, data=df)
        res = fit.scoretest(fit.model.relax("j: var(_cons)"))
        assert res["df"] == 2
        pvals.append(res["p"])
    return np.array(pvals)


def test_score_pvalues_not_far_from_uniform():
    """The cheap version of the test below (40 of its 150 replications): the p-values of
    a true constraint are not far from uniform (Kolmogorov-Smirnov at 0.1%) and do not
    reject at 5% far more often than 5%."""
    pvals = _null_pvalues(40)
    assert stats.kstest(pvals, "uniform").pvalue > 0.001
    assert (pvals < 0.05).mean() <= 0.15


@pytest.mark.slow
def test_score_pvalues_uniform_under_true_constraint():
    """150 replications of a small design (80 counties, 3 schools of 1-2 students) where
    the school variances are equal: the p-values of the joint test of releasing them are
    uniform (Kolmogorov-Smirnov), and rejections at 5% near 5%."""
    pvals = _null_pvalues(150)
    assert stats.kstest(pvals, "uniform").pvalue > 0.01
    assert 0.01 <= (pvals < 0.05).mean() <= 0.10


# ----------------------------------------------------------------------------------------
# an indefinite observed information: the statistic as computed, with a note
# ----------------------------------------------------------------------------------------

NEG_J = 3


@pytest.fixture(scope="module")
def sparse_slots():
    """Unbalanced: 60 counties, 3 schools of up to 3 students, 30% of the cells dropped and
    20% of y missing; the last students' slots are sparse."""
    df = slot_three_level(1, K=60, J=NEG_J, I=3, drop=0.3, missing=0.2)
    fit = sl.mixed(SPEC, data=df)
    assert fit.converged
    return df, fit


def test_negative_observed_statistic_is_reported_with_a_note(sparse_slots):
    """Releasing var(Residual) by slot with observed information: the information of the
    relaxed model at the constrained estimates is indefinite and the statistic negative.
    It is reported as computed (it equals the dense reference's g' H^-1 g), p is NaN and
    the note names the cause and the remedy; never chi2 0, p 1."""
    df, fit = sparse_slots
    d = _long(df)
    slots = _slots(d)
    cov = {"k: var(_cons)": lambda a, b: 1.0,
           "j: var(_cons)": lambda a, b: a["j"] == b["j"],
           **{f"e[{j},{o}]": (lambda a, b, j=j, o=o: (a["_i"] == b["_i"]) & (a["j"] == j)
                              & (a["obs"] == o)) for j, o in slots}}
    want = _reference(d, fit, MEAN, cov, _ident,
                      lambda n: "var(Residual)" if n.startswith("e[") else n,
                      information="observed")
    got = fit.scoretests(labels=["var(Residual)"], information="observed").loc["var(Residual)"]
    assert want < 0
    assert got["chi2"] == pytest.approx(want, rel=1e-5)
    assert np.isnan(got["p"])
    assert got["note"].startswith("observed information not positive definite")
    assert "information='expected'" in got["note"]
    single = fit.scoretest(fit.model.relax("var(Residual)"), information="observed")
    assert single["chi2"] == pytest.approx(want, rel=1e-5) and np.isnan(single["p"])
    assert single["note"] == got["note"]
    # the expected information is positive definite: an ordinary chi2 and no note
    exp_ = fit.scoretests(labels=["var(Residual)"]).loc["var(Residual)"]
    assert exp_["chi2"] > 0 and 0 <= exp_["p"] <= 1 and exp_["note"] == ""


def test_negative_statistic_on_the_command_line(sparse_slots, tmp_path):
    import json
    import subprocess
    import sys
    df, _ = sparse_slots
    path = tmp_path / "sparse.csv"
    df.to_csv(path, index=False)
    base = [sys.executable, "-m", "semlevel", "scoretests", str(path), SPEC, "--label",
            "var(Residual)", "--information", "observed"]
    text = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    row = [line for line in text.stdout.splitlines() if line.startswith("var(Residual)")][0]
    assert "-" in row.split()[2] and "not positive definite" in row
    js = subprocess.run(base + ["--format", "json"], capture_output=True, text=True,
                        timeout=120)
    test = json.loads(js.stdout)["tests"][0]
    assert test["chi2"] < 0 and test["p"] is None
    assert "not positive definite" in test["note"]


def test_modindices_carry_the_same_note(sparse_slots):
    _, fit = sparse_slots
    mi = fit.modindices(information="observed")
    assert "note" in mi.columns
    bad = mi[~(mi["mi"] >= 0)]
    assert (bad["note"].str.contains("not positive definite") | bad["mi"].isna()).all()
    assert mi.loc[mi["mi"] >= 0, "p"].between(0, 1).all()
