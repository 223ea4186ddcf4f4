"""Results as objects (issue 24, item 1): the Summary's four renderings, the notebook view,
one-screen reprs, and statsmodels-style accessors that alias the tables."""
from __future__ import annotations

import html.parser
import re

import numpy as np
import pandas as pd
import pytest

import semlevel as sl


@pytest.fixture(scope="module")
def fit(pig):
    return sl.mixed("weight week || id: week", data=pig)


class _Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.cells, self._in = [], False

    def handle_starttag(self, tag, attrs):
        self._in = tag in ("td", "th")

    def handle_data(self, data):
        if self._in:
            self.cells.append(data.strip())


def test_summary_is_the_text_report_with_four_renderings(fit):
    s = fit.summary()
    assert isinstance(s, str) and s == s.as_text()          # str behaviour kept
    assert "Log likelihood = -869.03825" in s
    assert s.as_markdown() == fit.to_markdown()
    assert s.as_latex() == fit.to_latex()
    parser = _Cells()
    parser.feed(s.as_html())
    parser.close()
    cells = parser.cells
    # the HTML holds the numbers of the text report
    for term, r in fit.fixed.iterrows():
        row = cells[cells.index(term):cells.index(term) + 3]
        assert float(row[1]) == pytest.approx(r["coef"], rel=1e-6)
        assert float(row[2]) == pytest.approx(r["se"], rel=1e-6)
        text_row = [ln for ln in s.splitlines() if ln.strip().startswith(term + " ")][0]
        assert f"{r['coef']:.6f}"[:7] in text_row
    assert "-869.03825" in cells
    assert fit._repr_html_() == s.as_html()


def test_html_escapes_what_it_embeds(pig):
    d = pig.assign(grp=1 + pig["id"] % 2)
    f = sl.mixed("weight week || id:", data=d)
    html_text = f.summary().as_html()
    assert "<script" not in html_text
    parser = _Cells()
    parser.feed(html_text)                    # parses


def test_reprs_fit_on_one_screen(fit):
    assert len(repr(fit)) < 200
    r = repr(fit.model)
    assert len(r) < 300 and "432 observations" in r and "48 rows" in r


def test_statsmodels_accessors_alias_the_tables(fit):
    pd.testing.assert_series_equal(fit.params, fit.fixed["coef"], check_names=False)
    pd.testing.assert_series_equal(fit.bse, fit.fixed["se"], check_names=False)
    pd.testing.assert_series_equal(fit.tvalues, fit.fixed["z"], check_names=False)
    pd.testing.assert_series_equal(fit.pvalues, fit.fixed["p"], check_names=False)
    np.testing.assert_array_equal(fit.conf_int().to_numpy(),
                                  fit.fixed[["ci_lower", "ci_upper"]].to_numpy())
    assert list(fit.conf_int().columns) == [0, 1]
    pd.testing.assert_frame_equal(fit.cov_params(), fit.fixed_vcov)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov_params())), fit.bse, rtol=1e-12)
    assert fit.llf == fit.loglik and fit.nobs == fit.n_obs == 432
    assert fit.df_resid == 430


def test_t_statistics_under_dfmethod(pig):
    f = sl.mixed("weight week || id:, reml dfmethod(residual)", data=pig)
    pd.testing.assert_series_equal(f.tvalues, f.fixed["t"], check_names=False)
