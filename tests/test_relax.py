"""Relaxations of the mixed model's constraints (relax, correlate, constrain, fix, free).

Two kinds of test:

* the operations themselves: pure (a new model, the old one untouched), member naming and
  selection by slot-key patterns, both forms of ``groups``, and the errors a user meets;
* the fits of relaxed models on simulated unbalanced three-level data (heteroskedastic and
  correlated school effects, ~10% of y missing), against an independent dense long-form
  likelihood (tests/reference.py ``structured_*``) that this file sets up from the long
  data alone -- the covariance of each county is written as sum_l theta_l D_l with the
  0/1 pattern matrices D_l of the relaxed parameters -- and maximises with scipy.  The
  engine's fast path must also equal its dense RAM evaluation (``ram_deviance``).
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from ram_reference import ram_deviance

from reference import (structured_blocks, structured_loglik, structured_mle,
                       structured_stack)
from simulate import slot_three_level

SPEC = "y x || k: || j:"


# ----------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------

def _truth():
    """School effects: variances 0.5 (schools 1, 2, 'north') and 1.0 (3, 4, 'south'),
    corr(j1, j2) = 0.5; residual variance 0.9 in school 4, 0.5 elsewhere."""
    S = np.diag([0.5, 0.5, 1.0, 1.0])
    S[0, 1] = S[1, 0] = 0.25
    return S


@pytest.fixture(scope="module")
def data():
    df = slot_three_level(2024, K=150, J=4, I=3, V_cov=_truth(), var_e=[0.5, 0.5, 0.5, 0.9],
                          missing=0.10)
    assert 0.08 < df["y"].isna().mean() < 0.12
    return df


@pytest.fixture(scope="module")
def base(data):
    fit = sl.mixed(SPEC, data=data)
    assert fit.converged
    return fit


@pytest.fixture(scope="module")
def small():
    return sl.mixed_model(SPEC, data=slot_three_level(5, K=25))


# ----------------------------------------------------------------------------------------
# purity
# ----------------------------------------------------------------------------------------

def _snapshot(model):
    return {"labels": model.labels.copy(deep=True), "path_label": model.path_label.copy(),
            "resid_label": model.resid_label.copy(), "phi": model.phi.copy(deep=True),
            "X": model.X.copy(), "latents": copy.deepcopy(model.latents),
            "theta": model.theta.copy(deep=True)}


def _unchanged(model, snap):
    pd.testing.assert_frame_equal(model.labels, snap["labels"])
    np.testing.assert_array_equal(model.path_label, snap["path_label"])
    np.testing.assert_array_equal(model.resid_label, snap["resid_label"])
    pd.testing.assert_frame_equal(model.phi, snap["phi"])
    np.testing.assert_array_equal(model.X, snap["X"])
    pd.testing.assert_frame_equal(model.latents, snap["latents"])
    pd.testing.assert_frame_equal(model.theta, snap["theta"])


@pytest.mark.parametrize("op", [
    lambda m: m.relax("j: var(_cons)"),
    lambda m: m.relax("x", groups={"j=1": "x1"}),
    lambda m: m.relax("var(Residual)", groups={"j=4": "var(e4)"}),
    lambda m: m.correlate("j[1]", "j[2]"),
    lambda m: m.correlate("e.y[j=1,obs=1]", "e.y[j=2,obs=1]"),
    lambda m: m.relax("j: var(_cons)").constrain("var(j[1])", "var(j[2])"),
    lambda m: m.constrain("k: var(_cons)", "j: var(_cons)"),
    lambda m: m.fix("x", 0.5),
    lambda m: m.fix("k: var(_cons)", 1.0).free("k: var(_cons)"),
], ids=["relax", "relax-groups", "relax-resid", "correlate", "correlate-errors",
        "relax-constrain", "constrain", "fix", "fix-free"])
def test_relaxations_are_pure(base, op):
    original = base.model
    snap = _snapshot(original)
    new = op(original)
    assert new is not original
    assert isinstance(new, sl.PathModel)
    _unchanged(original, snap)
    # the new model really differs (labels, their use, or their freedom)
    differs = (not new.labels[["kind", "free"]].equals(original.labels[["kind", "free"]])
               or not new.labels["value"].equals(original.labels["value"])
               or len(new.phi) != len(original.phi) or len(new.theta) != len(original.theta)
               or not np.array_equal(new.resid_label, original.resid_label)
               or not np.array_equal(new.path_label, original.path_label))
    assert differs
    # and a second operation on the original still starts from the original
    again = op(original)
    pd.testing.assert_frame_equal(again.labels, new.labels)


def test_fix_and_free_only_touch_their_label(base):
    m = base.model
    fixed = m.fix("x", 0.5)
    assert not fixed.labels.loc["x", "free"] and fixed.labels.loc["x", "value"] == 0.5
    assert fixed.n_free == m.n_free - 1
    assert m.labels.loc["x", "free"]
    back = fixed.free("x")
    assert back.labels.loc["x", "free"] and back.n_free == m.n_free
    assert not fixed.labels.loc["x", "free"]            # free() did not mutate `fixed`


def test_relaxed_members_start_at_the_constrained_estimate(base):
    m = base.model
    est = m.labels["estimate"]
    r = m.relax("j: var(_cons)")
    for p in range(1, 5):
        assert r.labels.loc[f"var(j[{p}])", "value"] == pytest.approx(est["j: var(_cons)"])
    assert r.labels.loc["var(j[1])", "kind"] == "var"
    c = m.correlate("j[1]", "j[2]")
    assert c.labels.loc["cov(j[1],j[2])", "value"] == 0.0
    assert c.labels.loc["cov(j[1],j[2])", "kind"] == "cov"


# ----------------------------------------------------------------------------------------
# members and selection
# ----------------------------------------------------------------------------------------

def test_member_names(small):
    m = small
    lat = m.members("j: var(_cons)")
    assert lat["name"].tolist() == ["j[1]", "j[2]", "j[3]", "j[4]"]
    assert lat["keys"].tolist() == [{"j": 1}, {"j": 2}, {"j": 3}, {"j": 4}]
    x = m.members("x")
    assert "x[j=1,obs=1]" in x["name"].tolist() and "x[j=4,obs=3]" in x["name"].tolist()
    assert len(x) == m.data.n_slots
    res = m.members("var(Residual)")
    assert res["name"].iloc[0] == "e.y[j=1,obs=1]"
    assert all(n.startswith("e.y[j=") for n in res["name"])
    # fully relaxed labels are named after their parameter
    r = m.relax("j: var(_cons)")
    assert [f"var(j[{p}])" for p in range(1, 5)] == \
        [n for n in r.labels.index if n.startswith("var(j[")]
    assert "j: var(_cons)" not in r.labels.index          # no member left: label dropped
    rx = m.relax("x")
    assert {f"x[j={j},obs={o}]" for j in range(1, 5) for o in range(1, 4)} <= set(rx.labels.index)
    assert "x" not in rx.labels.index and "_cons" in rx.labels.index
    re_ = m.relax("var(Residual)")
    assert "var(e.y[j=2,obs=3])" in re_.labels.index
    assert re_.n_free == m.n_free - 1 + m.data.n_slots


def test_key_patterns_select_members(small):
    m = small
    r = m.relax("var(Residual)", groups={"j=4": "var(e4)"})
    lab = r.labels.index.to_numpy()[r.resid_label]
    keys = [m.data.slot_keys(s) for s in range(m.data.n_slots)]
    assert all((v == "var(e4)") == (k["j"] == 4) for v, k in zip(lab, keys))
    assert all(v == "var(Residual)" for v, k in zip(lab, keys) if k["j"] != 4)
    assert r.n_free == m.n_free + 1
    # two keys at once
    r2 = m.relax("var(Residual)", groups={"j=4,obs=1": "first4"})
    lab2 = r2.labels.index.to_numpy()[r2.resid_label]
    assert [k for v, k in zip(lab2, keys) if v == "first4"] == [{"j": 4, "obs": 1}]
    # coefficient by school position
    rx = m.relax("x", groups={"j=1": "x1", "j=2": "x2"})
    labx = rx.labels.index.to_numpy()[rx.path_label[:, rx.terms.index("x")]]
    assert all(v == {1: "x1", 2: "x2"}.get(k["j"], "x") for v, k in zip(labx, keys))


def test_groups_both_forms_and_exact_names(small):
    m = small
    by_member = m.relax("j: var(_cons)", groups={"j[1]": "N", "j[2]": "N", "j=3": "S",
                                                 "j[4]": "S"})
    by_label = m.relax("j: var(_cons)", groups={"N": ["j=1", "j[2]"], "S": ["j=3", "j=4"]})
    pd.testing.assert_frame_equal(by_member.labels, by_label.labels)
    pd.testing.assert_frame_equal(by_member.phi, by_label.phi)
    names = by_label.latents["name"].to_numpy()
    lab_of = {names[a]: by_label.labels.index[l]
              for a, b, l in by_label.phi[["a", "b", "label"]].itertuples(index=False) if a == b}
    assert lab_of == {"k": "k: var(_cons)", "j[1]": "N", "j[2]": "N", "j[3]": "S", "j[4]": "S"}
    assert "j: var(_cons)" not in by_label.labels.index
    assert by_label.n_free == m.n_free + 1
    # members not named keep the old label
    part = m.relax("j: var(_cons)", groups={"j[4]": "var4"})
    assert {"j: var(_cons)", "var4"} <= set(part.labels.index)


def test_equal_correlation_label_shared_by_pairs(small):
    m = (small.correlate("j[1]", "j[2]", label="rho").correlate("j[1]", "j[3]", label="rho")
         .correlate("j[2]", "j[3]", label="rho"))
    assert m.n_free == small.n_free + 1
    j = m.labels.index.get_loc("rho")
    assert (m.phi["label"] == j).sum() == 3
    assert len(m.members("rho")) == 3
    # relaxing the shared label gives one covariance per pair
    free3 = m.relax("rho")
    assert free3.n_free == small.n_free + 3
    assert "cov(j[1],j[2])" in free3.labels.index


def test_constrain_equates(small):
    r = small.relax("j: var(_cons)")
    c = r.constrain("var(j[1])", "var(j[2])", name="N")
    assert c.n_free == r.n_free - 1
    assert "N" in c.labels.index and "var(j[1])" not in c.labels.index
    assert len(c.members("N")) == 2


# ----------------------------------------------------------------------------------------
# errors
# ----------------------------------------------------------------------------------------

def test_unknown_label_names_close_ones(small):
    with pytest.raises(KeyError, match=r"did you mean 'j: var\(_cons\)'"):
        small.relax("j: var(_con)")
    with pytest.raises(KeyError, match="no label 'slope'"):
        small.fix("slope", 1.0)


def test_unknown_member_pattern_lists_members(small):
    with pytest.raises(ValueError, match=r"no member matches 'j=9'.*j\[1\], j\[2\], j\[3\], j\[4\]"):
        small.relax("j: var(_cons)", groups={"j=9": "a"})
    with pytest.raises(ValueError, match=r"no member matches 'school'.*x\[j=1,obs=1\]"):
        small.relax("x", groups={"hi": ["school"]})


def test_single_member_label_has_nothing_to_relax(small):
    with pytest.raises(ValueError, match=r"single member \(k\).*no equality constraint"):
        small.relax("k: var(_cons)")


def test_correlate_errors(small):
    with pytest.raises(ValueError, match=r"no latent variable 'j\[7\]'.*k, j\[1\], j\[2\]"):
        small.correlate("j[1]", "j[7]")
    with pytest.raises(ValueError, match="already have a covariance.*cov\\(j\\[1\\],j\\[2\\]\\)"):
        small.correlate("j[1]", "j[2]").correlate("j[2]", "j[1]")
    with pytest.raises(ValueError):
        small.correlate("j[1]", "j[1]")
    with pytest.raises(ValueError, match="not a covariance"):
        small.correlate("j[1]", "j[2]", label="x")
    # errors: unknown ones are listed, a latent and an error cannot be correlated
    with pytest.raises(ValueError, match=r"no error 'e.y\[j=1,obs=9\]'.*e.y\[j=1,obs=1\]"):
        small.correlate("e.y[j=1,obs=9]", "e.y[j=1,obs=1]")
    with pytest.raises(ValueError, match=r"latents are k, j\[1\]"):
        small.correlate("e.y[j=1,obs=1]", "j[1]")
    with pytest.raises(ValueError, match="already have a covariance"):
        small.correlate("e.y[j=1,obs=1]", "e.y[j=2,obs=1]").correlate("e.y[j=2,obs=1]",
                                                                      "e.y[j=1,obs=1]")


def test_constrain_and_fix_errors(small):
    with pytest.raises(ValueError, match="different kinds"):
        small.constrain("x", "var(Residual)")
    with pytest.raises(ValueError, match="at least two"):
        small.constrain("x")
    with pytest.raises(ValueError, match="negative"):
        small.fix("j: var(_cons)", -0.1)
    with pytest.raises(ValueError, match="negative"):
        small.fix("var(Residual)", -1.0)
    assert not small.fix("x", -2.0).labels.loc["x", "free"]     # a coefficient may be < 0


def test_unidentified_release_refused_before_fitting(monkeypatch):
    pig = sl.datasets.load("pig")
    fit = sl.mixed("weight week || id:", data=pig)
    relaxed = fit.model.relax("week")          # week is constant within each slot

    def no_optimiser(*args, **kwargs):
        raise AssertionError("the optimiser ran on an unidentified model")

    monkeypatch.setattr("semlevel.engine.fitting.newton", no_optimiser)
    with pytest.raises(ValueError, match="not identified") as err:
        relaxed.fit()
    assert "'week[obs=1]'" in str(err.value) and "'_cons'" in str(err.value)
    # the score-test table says so instead of a number
    row = fit.scoretests(labels=["week"]).loc["week"]
    assert np.isnan(row["chi2"]) and "not identified" in row["note"]


def test_unidentified_variances_named():
    """School 2 never has more than one student: its effect and its residual cannot be
    told apart once both are released, though the mixed model is identified."""
    df = slot_three_level(9, K=60, drop=0.0, missing=0.0)
    df = df[(df["j"] != 2) | (df["i"] == 1)]
    m = sl.mixed_model(SPEC, data=df)
    m.fit()                                              # identified as a mixed model
    bad = m.relax("j: var(_cons)").relax("var(Residual)", groups={"j=2": "var(e2)"})
    with pytest.raises(ValueError, match="not identified") as err:
        bad.fit()
    assert "'var(j[2])'" in str(err.value) and "'var(e2)'" in str(err.value)
    assert "'var(j[1])'" not in str(err.value)
    # releasing only one of the two is fine
    m.relax("var(Residual)", groups={"j=2": "var(e2)"}).fit()


# ----------------------------------------------------------------------------------------
# relaxed fits against an independent dense likelihood
# ----------------------------------------------------------------------------------------

def _long(df):
    """Observed rows sorted by county, school, student, with the slot's observation key
    (order of the student among the school's observed students)."""
    d = df.dropna(subset=["y"]).sort_values(["k", "j", "i"]).reset_index(drop=True)
    d["obs"] = d.groupby(["k", "j"]).cumcount() + 1
    return d


# covariance patterns D[a, b] written from the long data (a, b: the two observations)
def _ones(a, b):
    return 1.0


def _school(positions):
    ps = list(positions)
    return lambda a, b: (a["j"] == b["j"]) & np.isin(a["j"], ps)


def _pairs(pairs):
    return lambda a, b: sum(((a["j"] == p) & (b["j"] == q)) | ((a["j"] == q) & (b["j"] == p))
                            for p, q in pairs)


def _resid(select):
    return lambda a, b: (a["_i"] == b["_i"]) & select(a)


def _errors(pairs):
    """Covariance of the errors of slots (j, obs) and (j', obs') in one county."""
    def f(a, b):
        out = 0.0
        for (j1, o1), (j2, o2) in pairs:
            one = (a["j"] == j1) & (a["obs"] == o1) & (b["j"] == j2) & (b["obs"] == o2)
            two = (a["j"] == j2) & (a["obs"] == o2) & (b["j"] == j1) & (b["obs"] == o1)
            out = out + (one | two)
        return out
    return f


_ALL = _resid(lambda a: True)
_MIXED_COV = {"k: var(_cons)": _ones, "j: var(_cons)": _school(range(1, 5)),
              "var(Residual)": _ALL}
_MIXED_MEAN = {"x": lambda c: c["x"], "_cons": lambda c: 1.0}
_BY_POSITION = {"k: var(_cons)": _ones, **{f"var(j[{p}])": _school([p]) for p in range(1, 5)},
                "var(Residual)": _ALL}


def _slot_slopes():
    out = {f"x[j={p},obs={o}]": (lambda c, p=p, o=o: c["x"] * ((c["j"] == p) & (c["obs"] == o)))
           for p in range(1, 5) for o in range(1, 4)}
    out["_cons"] = lambda c: 1.0
    return out


# name -> (relaxation of the mixed model, mean columns, covariance patterns,
#          fixed values of theta labels, offset of y)
CASES = {
    "mixed": (lambda m: m, _MIXED_MEAN, _MIXED_COV, {}, None),
    "variances by position": (lambda m: m.relax("j: var(_cons)"), _MIXED_MEAN, _BY_POSITION,
                              {}, None),
    "north/south": (
        lambda m: m.relax("j: var(_cons)", groups={"N": ["j=1", "j=2"], "S": ["j=3", "j=4"]}),
        _MIXED_MEAN, {"k: var(_cons)": _ones, "N": _school([1, 2]), "S": _school([3, 4]),
                      "var(Residual)": _ALL}, {}, None),
    "correlated j1 j2": (
        lambda m: m.relax("j: var(_cons)").correlate("j[1]", "j[2]"),
        _MIXED_MEAN, {**_BY_POSITION, "cov(j[1],j[2])": _pairs([(1, 2)])}, {}, None),
    "equal correlation": (
        lambda m: (m.correlate("j[1]", "j[2]", label="rho").correlate("j[1]", "j[3]", label="rho")
                   .correlate("j[2]", "j[3]", label="rho")),
        _MIXED_MEAN, {**_MIXED_COV, "rho": _pairs([(1, 2), (1, 3), (2, 3)])}, {}, None),
    "residual of school 4": (
        lambda m: m.relax("var(Residual)", groups={"j=4": "var(e4)"}),
        _MIXED_MEAN, {"k: var(_cons)": _ones, "j: var(_cons)": _school(range(1, 5)),
                      "var(Residual)": _resid(lambda a: a["j"] != 4),
                      "var(e4)": _resid(lambda a: a["j"] == 4)}, {}, None),
    "slope by slot": (lambda m: m.relax("x"), _slot_slopes(), _MIXED_COV, {}, None),
    "fixed slope": (lambda m: m.fix("x", 0.5), {"_cons": _MIXED_MEAN["_cons"]}, _MIXED_COV, {},
                    lambda c: 0.5 * c["x"]),
    "fixed county variance": (lambda m: m.fix("k: var(_cons)", 1.0), _MIXED_MEAN, _MIXED_COV,
                              {"k: var(_cons)": 1.0}, None),
    "correlated errors": (
        lambda m: (m.correlate("e.y[j=1,obs=1]", "e.y[j=2,obs=1]")
                   .correlate("e.y[j=3,obs=1]", "e.y[j=3,obs=2]", label="rc")
                   .correlate("e.y[j=3,obs=2]", "e.y[j=3,obs=3]", label="rc")),
        _MIXED_MEAN, {**_MIXED_COV,
                      "cov(e.y[j=1,obs=1],e.y[j=2,obs=1])": _errors([((1, 1), (2, 1))]),
                      "rc": _errors([((3, 1), (3, 2)), ((3, 2), (3, 3))])}, {}, None),
    "story": (
        lambda m: (m.relax("j: var(_cons)", groups={"N": ["j=1", "j=2"], "S": ["j=3", "j=4"]})
                   .correlate("j[1]", "j[2]").relax("var(Residual)", groups={"j=4": "var(e4)"})),
        _MIXED_MEAN, {"k: var(_cons)": _ones, "N": _school([1, 2]), "S": _school([3, 4]),
                      "cov(j[1],j[2])": _pairs([(1, 2)]),
                      "var(Residual)": _resid(lambda a: a["j"] != 4),
                      "var(e4)": _resid(lambda a: a["j"] == 4)}, {}, None),
}


def _reference_stack(d, mean, cov, offset):
    return structured_stack(structured_blocks(d, "k", mean, cov, offset=offset))


@pytest.fixture(scope="module")
def relaxed_fits(base):
    return {name: case[0](base.model).fit() for name, case in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_relaxed_fit_equals_independent_maximum(data, relaxed_fits, name):
    _, mean, cov, fixed, offset = CASES[name]
    fit = relaxed_fits[name]
    assert fit.converged
    names = list(cov)
    assert set(names) == set(fit.model.labels.index[fit.model.labels["kind"] != "coef"])
    assert set(mean) == set(fit.model.labels.index[fit.model.labels["kind"] == "coef"]
                            [fit.model.labels["free"][fit.model.labels["kind"] == "coef"]])
    stack = _reference_stack(_long(data), mean, cov, offset)
    assert sum(Y.size for Y, _, _ in stack) == fit.n_obs

    # the reference at semlevel's estimates is semlevel's log likelihood
    est = fit.model.labels["estimate"]
    theta_sl = np.array([est[n] for n in names])
    ll_at, beta_at = structured_loglik(stack, theta_sl)
    assert ll_at == pytest.approx(fit.loglik, rel=1e-9)
    np.testing.assert_allclose(beta_at, [est[n] for n in mean], rtol=1e-7, atol=1e-9)

    # an independent maximisation from a neutral start reaches the same maximum
    theta0 = np.array([fixed.get(n, 0.0 if n.startswith(("cov", "rho", "rc")) else 0.5)
                       for n in names])
    free = np.array([n not in fixed for n in names])
    lower = [None if n.startswith(("cov", "rho", "rc")) else 1e-8 for n in names]
    theta_ref, ll_ref, _ = structured_mle(stack, theta0, free=free, lower=lower)
    assert ll_ref == pytest.approx(fit.loglik, abs=1e-4)
    assert ll_ref <= fit.loglik + 1e-6                  # semlevel did not stop short
    np.testing.assert_allclose(theta_ref, theta_sl, atol=1e-5)

    # fast path (Woodbury, pooled statistics) equals the dense RAM evaluation
    assert -0.5 * ram_deviance(fit.model, fit.values) == pytest.approx(fit.loglik, rel=1e-8)


NESTED = [("mixed", "variances by position"), ("variances by position", "correlated j1 j2"),
          ("mixed", "north/south"), ("north/south", "variances by position"),
          ("mixed", "equal correlation"), ("mixed", "residual of school 4"),
          ("mixed", "slope by slot"), ("fixed slope", "mixed"), ("fixed county variance", "mixed"),
          ("north/south", "story"), ("residual of school 4", "story"),
          ("mixed", "correlated errors")]


@pytest.mark.parametrize("small_name,big_name", NESTED)
def test_nested_relaxations_never_fit_worse(relaxed_fits, small_name, big_name):
    small_fit, big_fit = relaxed_fits[small_name], relaxed_fits[big_name]
    assert big_fit.model.n_free > small_fit.model.n_free
    assert big_fit.loglik >= small_fit.loglik - 1e-7
    lr = big_fit.lrtest(small_fit)
    assert lr.df == big_fit.model.n_free - small_fit.model.n_free
    assert lr.statistic == pytest.approx(2 * (big_fit.loglik - small_fit.loglik), abs=1e-9)


def test_relaxations_find_the_simulated_structure(relaxed_fits):
    """The truth has N/S variances 0.5/1.0, cov(j1, j2) = 0.25 and var(e4) = 0.9: the
    relaxations that describe it fit significantly better than the mixed model."""
    mixed = relaxed_fits["mixed"]
    story = relaxed_fits["story"]
    assert story.lrtest(mixed).p < 0.01
    est = story.model.labels["estimate"]
    assert est["S"] > est["N"]
    assert est["var(e4)"] > est["var(Residual)"]
    assert est["cov(j[1],j[2])"] > 0
    assert story.aic < mixed.aic


def test_correlation_of_minus_one_outside_cholesky_blocks_is_reported():
    """correlate() of two latents that share a variance label: the covariance is not a
    Cholesky block, and an estimate at correlation -1 must be reported as a boundary."""
    import warnings as _w
    from simulate import slot_three_level
    df = slot_three_level(4, K=30, J=3, I=2, missing=0.0)
    m = sl.mixed_model("y x || k: || j:", data=df).correlate("j[1]", "j[2]")
    with _w.catch_warnings(record=True) as caught:
        _w.simplefilter("always")
        fit = m.fit()
    assert any("correlation -1" in b and "cov(j[1],j[2])" in b for b in fit.boundary)
    assert any("boundary" in str(c.message) for c in caught)


# ------------------------------------------------------------------ slots keyed by a variable

def _unbalanced_pupils():
    rng = np.random.default_rng(0)
    rows = [(k, i, rng.normal(), rng.normal()) for k in range(40) for i in range(1, 4)
            if not (i == 1 and rng.random() < 0.2)]
    return pd.DataFrame(rows, columns=["k", "i", "x", "y"])


def test_slot_key_keys_observations_by_a_variable():
    """slot_key='i': slot obs=2 is pupil i == 2 in every school (reshape ... j(i)), not
    the second pupil present; the likelihood of the unrelaxed model is the same."""
    import warnings
    df = _unbalanced_pupils()
    order = sl.mixed_model("y x || k:", data=df)
    keyed = sl.mixed_model("y x || k:", data=df, slot_key="i")
    assert keyed.data.obs_key == "i" and order.data.obs_key is None
    assert keyed.data.slots["n_obs"].tolist() == [int((df.i == v).sum()) for v in (1, 2, 3)]
    assert order.data.slots["n_obs"].tolist() != keyed.data.slots["n_obs"].tolist()
    second = keyed.data.slot_names().index("y[obs=2]")
    assert np.all(keyed.data.column("i")[keyed.data.slot == second] == 2)
    assert sl.mixed("y x || k:", data=df, slot_key="i").loglik == pytest.approx(
        sl.mixed("y x || k:", data=df).loglik, abs=1e-9)
    # releasing by position warns on order-keyed slots of an unbalanced design only
    with pytest.warns(UserWarning, match="keyed by their order.*slot_key="):
        order.relax("var(Residual)", groups={"obs=1": "v1"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        keyed.relax("var(Residual)", groups={"obs=1": "v1"})


def test_slot_key_errors():
    df = _unbalanced_pupils()
    with pytest.raises(ValueError, match="'i' keys the observations.*value 1 occurs twice"):
        sl.mixed_model("y x || k:", data=df.assign(i=1), slot_key="i")
    with pytest.raises(ValueError, match="slot_key variable"):
        sl.mixed_model("y x || k:", data=df, slot_key="pupil")
    with pytest.raises(ValueError, match="key the observations differently"):
        sl.mixed_model("y x || k:, residuals(ar 1, t(x))", data=df, slot_key="i")
