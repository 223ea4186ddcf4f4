"""BLUPs on the sparse (blocked) path equal the per-row computation.

The per-row posterior (:mod:`semlevel.inference.posterior`) forms each row's q x q
matrices densely; the sparse one reuses the blocked factor of the deviance. On the same
model and label values both must agree to 1e-8: BLUPs, conditional variances, PEVs,
fitted values and standardised residuals. The fit's statistics are swapped for the
sparse ones (``dataclasses.replace``), so the two see the same estimates.
"""
from __future__ import annotations

import dataclasses
import json
import functools
import warnings
from pathlib import Path

import numpy as np
import pytest

import semlevel as sl
from semlevel.engine.evaluator import statistics
from semlevel.engine.sparse_stats import SparseStats
from semlevel.inference import posterior_sparse
from semlevel.inference.posterior import posterior
from test_sparse import crossed, random_values

FIELDS = ("mean", "var", "pev", "prior", "xb", "fitted", "rstandard")

SPECS = [
    "y x || _all: R.s || d:",                         # crossed + nested (diagonal block 2)
    "y x || _all: R.s || _all: R.d",                  # two crossed factors
    "y x || _all: R.s || d: x, cov(un)",              # units of size 2 in block 1
    "y x || _all: R.s || d: x",                       # independent slopes
    "y x || _all: R.s",                               # block 1 only (q2 = 0)
]


@functools.lru_cache(maxsize=None)
def fitted(spec: str, path: str):
    model = sl.mixed_model(spec, data=crossed(1, n=300, n_s=30, n_d=14))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(path=path)


def on_sparse(fit):
    """The same fit with the sparse path's statistics."""
    return dataclasses.replace(fit, stats=statistics(fit.model, "sparse"))


def assert_same(a, b, tol: float = 1e-8) -> None:
    np.testing.assert_array_equal(a.row, b.row)
    np.testing.assert_array_equal(a.latent, b.latent)
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.shape == y.shape, f
        np.testing.assert_allclose(x, y, rtol=0, atol=tol, err_msg=f)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("path", ["dense", "pooled"])
def test_sparse_posterior_equals_per_row(spec, path):
    fit = fitted(spec, path)
    assert fit.converged
    sparse = on_sparse(fit)
    assert isinstance(sparse.stats, SparseStats)
    got = posterior_sparse.sparse_posterior(sparse)
    assert got is not None
    ref = posterior(fit)
    assert_same(got, ref)
    assert np.all(got.var > 0) and np.all(got.pev >= got.var) and np.all(got.var < got.prior)


@pytest.mark.parametrize("spec", ["y x || _all: R.d, cov(exch) || s:",
                                  "y x || _all: R.s || _all: R.d, cov(exch)"])
def test_exchangeable_block_two(spec):
    """A non-diagonal block 2 (exchangeable levels); at admissible values away from the
    estimates (the covariance is at its boundary for these data)."""
    fit = fitted("y x || _all: R.s || _all: R.d", "pooled")
    model = sl.mixed_model(spec, data=crossed(1, n=300, n_s=30, n_d=14))
    base = dataclasses.replace(fit, model=model, stats=statistics(model, "pooled"))
    rng = np.random.default_rng(5)
    for _ in range(2):
        v = random_values(model, rng)
        ref_fit = dataclasses.replace(base, values=v)
        sparse = dataclasses.replace(ref_fit, stats=statistics(model, "sparse"))
        assert not sparse.stats.phi2_diagonal
        got = posterior_sparse.sparse_posterior(sparse)
        assert_same(got, posterior(ref_fit))


def test_variance_at_zero():
    """T singular (a variance at its boundary): M stays positive definite."""
    fit = fitted("y x || _all: R.s || d: x, cov(un)", "pooled")
    v = fit.values.copy()
    lab = [i for i, n in enumerate(fit.model.labels.index) if "R.s" in n]
    assert lab
    v[lab] = 0.0
    ref = dataclasses.replace(fit, values=v)
    got = posterior_sparse.sparse_posterior(on_sparse(ref))
    assert_same(got, posterior(ref))
    s_lat = got.prior == 0
    assert s_lat.any() and np.all(got.mean[s_lat] == 0) and np.all(got.var[s_lat] == 0)


def test_latent_without_loadings_falls_back():
    """A slope latent whose loadings are all zero in its row (x = 0 for one d level):
    the sparse statistics leave it out, so the per-row computation is used."""
    df = crossed(1, n=300, n_s=30, n_d=14)
    df.loc[df["d"] == 3, "x"] = 0.0
    model = sl.mixed_model("y x || _all: R.s || d: x, cov(un)", data=df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(path="pooled")
    sparse = on_sparse(fit)
    assert posterior_sparse.sparse_posterior(sparse) is None
    assert_same(posterior(sparse), posterior(fit))


def test_routed_from_fit():
    """fit.ranef() and fit.predict() of a sparse-path fit go through the blocked solve."""
    fit = fitted("y x || _all: R.s || d:", "sparse")
    assert isinstance(fit.stats, SparseStats)
    ref = dataclasses.replace(fit, stats=statistics(fit.model, "dense"))
    re_s, re_d = fit.ranef(), ref.ranef()
    assert re_s.keys() == re_d.keys()
    for key in re_s:
        np.testing.assert_allclose(re_s[key].to_numpy(), re_d[key].to_numpy(), atol=1e-8)
    for kind in ("fitted", "rstandard", "xb"):
        np.testing.assert_allclose(fit.predict(kind=kind).to_numpy(dtype=float),
                                   ref.predict(kind=kind).to_numpy(dtype=float), atol=1e-8,
                                   equal_nan=True)


def test_manual_example10_pig_crossed():
    """Manual example 10 (pig, crossed week and id): the sparse fit's BLUPs equal the
    default fit's (to the optimisers' agreement) and, at the same estimates, exactly."""
    pig = sl.datasets.load("pig")
    model = sl.mixed_model("weight week || _all: R.week || _all: R.id", data=pig)
    default = model.fit()
    sparse = model.fit(path="sparse")
    assert isinstance(sparse.stats, SparseStats)
    assert not isinstance(default.stats, SparseStats)
    a, b = sparse.ranef(), default.ranef()
    assert a.keys() == b.keys() and len(a) == 2
    for key in a:
        np.testing.assert_allclose(a[key].to_numpy(), b[key].to_numpy(), rtol=1e-5,
                                   atol=1e-5)
    same = dataclasses.replace(default, stats=statistics(model, "sparse"))
    c = same.ranef()
    for key in a:
        np.testing.assert_allclose(c[key].to_numpy(), b[key].to_numpy(), rtol=0, atol=1e-8)


def test_pig_crossed_sparse_equals_lme4():
    """Independent reference: lme4 ``weight ~ week + (1|week) + (1|id)`` (ML),
    ``ranef(condVar = TRUE)`` and ``fitted`` (tests/data/predict/reference.json, made by
    reference.R next to it), against a fit on the sparse path; 1e-6 absolute as in
    test_predict.py (the optimisers' stopping points; seen: <= 4.1e-7)."""
    ref = json.loads((Path(__file__).parent / "data" / "predict" / "reference.json")
                     .read_text())["cases"]["pig_crossed_ml"]
    pig = sl.datasets.load("pig")
    fit = sl.mixed_model("weight week || _all: R.week || _all: R.id", data=pig
                         ).fit(path="sparse")
    assert isinstance(fit.stats, SparseStats)
    assert fit.loglik == pytest.approx(ref["logLik"], abs=1e-8)
    re = fit.ranef()
    tol = 1e-6
    np.testing.assert_allclose(re["R.week"]["R.week"], ref["ranef"]["week"]["(Intercept)"],
                               rtol=0, atol=tol)
    np.testing.assert_allclose(re["R.week"]["se(R.week)"],
                               ref["ranef"]["week"]["sd_(Intercept)"], rtol=0, atol=tol)
    np.testing.assert_allclose(re["R.id"]["R.id"], ref["ranef"]["id"]["(Intercept)"],
                               rtol=0, atol=tol)
    np.testing.assert_allclose(re["R.id"]["se(R.id)"], ref["ranef"]["id"]["sd_(Intercept)"],
                               rtol=0, atol=tol)
    np.testing.assert_allclose(fit.predict(), ref["fitted"], rtol=0, atol=tol)
