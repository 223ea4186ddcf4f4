"""Covariates with missing values as jointly normal variables (issue 18, item 1):
``sl.mixed(..., missing_x="fiml")`` equals lavaan's full-information ML
(``missing = "ml", fixed.x = FALSE``) on the same wide model (tests/data/missing_x: the
reference script and its numbers; panel.csv simulated once by :func:`simulate` with
seed 18), keeps every observed outcome, and removes the bias listwise deletion has when
the covariate is missing at random given the outcome."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semlevel as sl

HERE = Path(__file__).parent / "data" / "missing_x"
REF = json.loads((HERE / "reference.json").read_text())["models"]
NAMES = {"b0": "_cons", "bt": "t", "bx": "x", "bw": "w", "vu": "id: var(_cons)",
         "ve": "var(Residual)"}
TRUTH = {"_cons": 1.0, "t": 0.5, "x": 0.8, "w": 0.3, "id: var(_cons)": 1.0,
         "var(Residual)": 0.81}


def simulate(n: int, seed: int) -> pd.DataFrame:
    """The design of panel.csv: x depends on the unit covariate w; x is missing more
    often where the outcome is high (MAR given y); y missing in 5% of cells with its x;
    w missing for 10% of units."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        u, w, xi = rng.normal(0, 1.0), rng.normal(0, 1.0), rng.normal(0, 0.7)
        w_missing = rng.random() < 0.1
        for t in range(1, 5):
            x = 0.5 * w + xi + rng.normal(0, 0.8)
            y = 1 + 0.5 * t + 0.8 * x + 0.3 * w + u + rng.normal(0, 0.9)
            x_missing = rng.random() < 1 / (1 + np.exp(-(y - 4)))
            y_missing = rng.random() < 0.05
            rows.append((i + 1, t, None if (x_missing or y_missing) else round(x, 6),
                         None if w_missing else round(w, 6), None if y_missing else round(y, 6)))
    return pd.DataFrame(rows, columns=["id", "t", "x", "w", "y"])


@pytest.fixture(scope="module")
def panel():
    return pd.read_csv(HERE / "panel.csv")


@pytest.fixture(scope="module")
def fiml_xw(panel):
    return sl.mixed("y t x w || id:", panel, slot_key="t", missing_x="fiml")


def test_the_shipped_data_are_the_simulation(panel):
    pd.testing.assert_frame_equal(simulate(300, 18), panel, check_dtype=False)


@pytest.mark.parametrize("key,spec", [("x", "y t x || id:"), ("xw", "y t x w || id:")])
def test_equals_lavaan_full_information_ml(panel, fiml_xw, key, spec):
    ref = REF[key]
    fit = fiml_xw if key == "xw" else sl.mixed(spec, panel, slot_key="t", missing_x="fiml")
    assert fit.converged
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    assert fit.n_params == ref["npar"]
    for k, v in ref["est"].items():
        assert fit.params.loc[NAMES[k], "estimate"] == pytest.approx(v, abs=1e-4)
        assert fit.params.loc[NAMES[k], "se"] == pytest.approx(ref["se"][k], rel=1e-3)


def test_every_observed_outcome_is_used_and_the_output_says_so(panel, fiml_xw):
    listwise = sl.mixed("y t x w || id:", panel, slot_key="t")
    assert fiml_xw.n_obs == int(panel["y"].notna().sum()) == 1148
    assert fiml_xw.n_listwise == listwise.n_obs < fiml_xw.n_obs
    text = fiml_xw.summary()
    assert "Outcomes used: 1148 in 300 units" in text
    assert "282 missing x, 119 missing w" in text and f"would keep {listwise.n_obs}" in text
    block = fiml_xw.covariates
    assert "mean(w)" in block.index and "var(x[obs=1])" in block.index     # w: one per unit
    assert len(block) == 5 + 15


def test_listwise_bias_under_mar_is_removed(panel, fiml_xw):
    """On the shipped data: listwise deletion (x missing where y is high) shrinks the
    unit variance to 0.71 (truth 1.0, its SE ~0.1) and x's coefficient; FIML does not."""
    listwise = sl.mixed("y t x w || id:", panel, slot_key="t")
    lw, fi = listwise.random["estimate"], fiml_xw.params
    assert abs(lw["id: var(_cons)"] - TRUTH["id: var(_cons)"]) > 2.5 * fi.loc["id: var(_cons)", "se"]
    for name in ("x", "id: var(_cons)", "_cons"):
        assert abs(fi.loc[name, "estimate"] - TRUTH[name]) < 2 * fi.loc[name, "se"], name


@pytest.mark.slow
def test_simulation_listwise_biased_fiml_not():
    """20 data sets of 150 units: the average listwise estimate of x's coefficient and the
    unit variance are biased beyond their Monte Carlo error; FIML's are not."""
    est = {"listwise": [], "fiml": []}
    for rep in range(20):
        d = simulate(150, 1000 + rep)
        lw = sl.mixed("y t x w || id:", d, slot_key="t")
        fi = sl.mixed("y t x w || id:", d, slot_key="t", missing_x="fiml")
        est["listwise"].append([lw.fixed.loc["x", "coef"], lw.random.loc["id: var(_cons)",
                                                                           "estimate"]])
        est["fiml"].append([fi.params.loc["x", "estimate"],
                            fi.params.loc["id: var(_cons)", "estimate"]])
    truth = np.array([TRUTH["x"], TRUTH["id: var(_cons)"]])
    for how, values in est.items():
        v = np.array(values)
        bias, mc_se = v.mean(axis=0) - truth, v.std(axis=0, ddof=1) / np.sqrt(len(v))
        if how == "listwise":
            assert np.all(np.abs(bias) > 3 * mc_se), (bias, mc_se)
        else:
            assert np.all(np.abs(bias) < 3 * mc_se), (bias, mc_se)


def test_refusals(panel):
    with pytest.raises(ValueError, match="missing_x must be 'listwise'"):
        sl.mixed("y t x || id:", panel, missing_x="em")
    with pytest.raises(ValueError, match="random-slope variable 'x' has missing values"):
        sl.mixed("y t x || id: x", panel, slot_key="t", missing_x="fiml")
    with pytest.raises(ValueError, match="REML"):
        sl.mixed("y t x || id:, reml", panel, slot_key="t", missing_x="fiml")
    g = panel.assign(g=np.where(panel["x"].isna(), np.nan, panel["id"] % 3))
    with pytest.raises(ValueError, match="factor variable 'g' has missing values"):
        sl.mixed("y t x i.g || id:", g, slot_key="t", missing_x="fiml")


def test_command_line(capsys):
    from semlevel.cli import main
    path = str(HERE / "panel.csv")
    assert main(["fit", path, "y t x || id:", "--slot-key", "t", "--missing-x", "fiml"]) == 0
    out = capsys.readouterr().out
    assert "Log likelihood (outcomes and covariates) = -3101.8896" in out
    assert main(["fit", path, "y t x || id:", "--slot-key", "t", "--missing-x", "fiml",
                 "--adf"]) == 2
    assert "choose one" in capsys.readouterr().err


def test_without_missing_values_the_joint_fit_factors(panel):
    """With every covariate observed, the joint likelihood factors into mixed's conditional
    one and the covariates' saturated normal one: the model's estimates equal the
    conditional fit's, and the log likelihoods differ by the covariates' own maximum."""
    complete = panel.dropna()
    joint = sl.mixed("y t x || id:", complete, slot_key="t", missing_x="fiml")
    cond = sl.mixed("y t x || id:", complete, slot_key="t")
    for name, value in cond.fixed["coef"].items():
        assert joint.params.loc[name, "estimate"] == pytest.approx(value, abs=1e-6)
    for name, value in cond.random["estimate"].items():
        assert joint.params.loc[name, "estimate"] == pytest.approx(value, rel=1e-5)
    # the covariates' saturated ML over their observed patterns, computed here directly
    from semlevel.engine.joint_fiml import loglik_parts, patterns
    wide = complete.pivot(index="id", columns="t", values="x").to_numpy()
    X = wide[~np.isnan(wide).all(axis=1)]
    blk = joint.covariates["estimate"]
    names = [f"x[obs={t}]" for t in range(1, 5)]
    mu = np.array([blk[f"mean({n})"] for n in names])
    S = np.array([[blk[f"var({a})"] if a == b else blk.get(f"cov({a},{b})",
                   blk.get(f"cov({b},{a})")) for b in names] for a in names])
    ll_x = loglik_parts(mu, S, patterns(X), gradient=False)[0]
    assert joint.loglik == pytest.approx(cond.loglik + ll_x, abs=1e-6)
