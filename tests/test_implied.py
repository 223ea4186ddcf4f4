"""The implied moments in symbols (issue 18 item 3): model.implied(row) as sympy
matrices in the labels, equal to the dense RAM reference once the estimates are
substituted."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import semlevel as sl
from ram_reference import ram_implied

ART = pd.read_csv(Path(__file__).parent / "data" / "art.csv")


def test_article_2x2_pattern():
    """The article's 2 x 2 model: sigma2_k + sigma2_j + sigma2_e on the diagonal,
    sigma2_k + sigma2_j within a school, sigma2_k across schools: three distinct entries."""
    imp = sl.mixed_model("y x || k: || j:", data=ART).implied(0)
    s = imp.symbols
    k, j, e = s["k: var(_cons)"], s["j: var(_cons)"], s["var(Residual)"]
    assert imp.cov[0, 0] == k + j + e
    assert imp.cov[1, 0] == k + j                       # same school j=1
    assert imp.cov[2, 0] == k                           # other school
    assert imp.mean[0].free_symbols == {s["_cons"], s["x"]}
    pat = imp.pattern()
    assert len(pat) == 3 and pat["occurrences"].sum() == 10
    tex = imp.to_latex()
    assert "\\sigma^2_{e}" in tex and "\\sigma^2_{k}" in tex and "\\beta_{x}" in tex


@pytest.mark.parametrize("spec, relax", [
    ("y x || k: || j:", None),
    ("y x || k: x, cov(un) || j:", None),
    ("y x || k: || j:", "j: var(_cons)"),
])
def test_substituted_estimates_equal_the_numeric_implied_moments(spec, relax):
    model = sl.mixed_model(spec, data=ART)
    if relax:
        model = model.relax(relax)
    fit = model.fit()
    for row in (0, 7):
        imp = fit.model.implied(row)
        mu, cov = imp.numeric(fit.model.labels["estimate"])
        S, m = ram_implied(fit.model, np.asarray(fit.values), row)
        np.testing.assert_allclose(cov, S, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(mu, m, rtol=1e-12, atol=1e-14)


def test_bad_row():
    model = sl.mixed_model("y x || k: || j:", data=ART)
    with pytest.raises(ValueError, match="row must be"):
        model.implied(10_000)
    with pytest.raises(ValueError, match="symbolic=False"):
        model.implied(0, symbolic=False)
