"""Side-by-side estimates tables (``sl.estimates_table``): the numbers are each fit's own
(no recomputation: compared exactly), parameters a fit lacks are NaN, statistics are those
of the fits, and the markdown/LaTeX renderings hold every number at the requested digits."""
from __future__ import annotations

import numpy as np
import pytest

import semlevel as sl


@pytest.fixture(scope="module")
def fits():
    pig = sl.datasets.load("pig")
    return [sl.mixed("weight week || id:", data=pig),
            sl.mixed("weight week || id: week, covariance(unstructured)", data=pig)]


def test_table_holds_each_fits_estimates(fits):
    tab = sl.estimates_table(fits, names=["intercept", "slope"],
                             stats=["loglik", "aic", "bic", "n_obs", "n_params"])
    assert list(tab.columns) == ["intercept", "slope"]
    assert tab.index.names == ["section", "parameter", "statistic"]
    for name, fit in zip(tab.columns, fits):
        for p, r in fit.fixed.iterrows():
            assert tab.loc[("fixed", p, "coef"), name] == r["coef"]
            assert tab.loc[("fixed", p, "se"), name] == r["se"]
        for p, r in fit.random.iterrows():
            assert tab.loc[("random", p, "estimate"), name] == r["estimate"]
            assert tab.loc[("random", p, "se"), name] == r["se"]
        stats = tab.xs("stats", level="section")[name].droplevel("statistic")
        assert stats["loglik"] == fit.loglik and stats["aic"] == fit.aic
        assert stats["bic"] == fit.bic and stats["n_obs"] == fit.n_obs
        assert stats["n_params"] == fit.n_params
    # the random-intercept model has no slope variance or covariance
    assert np.isnan(tab.loc[("random", "id: var(week)", "estimate"), "intercept"])
    assert np.isnan(tab.loc[("random", "id: cov(week,_cons)", "se"), "intercept"])
    # residual parameters come after the random effects
    rnd = list(dict.fromkeys(tab.xs("random", level="section").index.get_level_values(0)))
    assert rnd[-1] == "var(Residual)"
    no_se = sl.estimates_table(fits, se=False)
    assert "se" not in set(no_se.index.get_level_values("statistic"))


def test_markdown_and_latex(fits):
    md = sl.estimates_table(fits, names=["a", "b"], format="markdown", digits=3)
    lines = md.splitlines()
    assert lines[0] == "| | a | b |"
    week = next(l for l in lines if l.startswith("| week |"))
    assert f"{fits[0].fixed.loc['week', 'coef']:.3f}" in week
    assert f"({fits[1].fixed.loc['week', 'se']:.3f})" in lines[lines.index(week) + 1]
    assert "| N | 432 | 432 |" in lines
    tex = sl.estimates_table(fits, names=["a_1", "b"], format="latex")
    assert tex.startswith(r"\begin{tabular}{lrr}") and tex.rstrip().endswith(r"\end{tabular}")
    assert r"a\_1" in tex and r"\_cons" in tex
    assert f"{fits[1].loglik:.4f}" in tex


def test_bad_input_is_named(fits):
    with pytest.raises(ValueError, match="at least one fit"):
        sl.estimates_table([])
    with pytest.raises(ValueError, match="2 names for 1 fits"):
        sl.estimates_table(fits[:1], names=["a", "b"])
    with pytest.raises(ValueError, match="unknown statistic"):
        sl.estimates_table(fits, stats=["r2"])
    with pytest.raises(ValueError, match="must differ"):
        sl.estimates_table(fits, names=["a", "a"])
    with pytest.raises(ValueError, match="format"):
        sl.estimates_table(fits, format="html")


def test_names_are_escaped_by_the_shared_writers(fits):
    """Column names are user text: every LaTeX special is escaped (the table's own escape
    missed braces, ~, ^ and $), and a | cannot split a Markdown cell."""
    tex = sl.estimates_table(fits, names=[r"a{b}~^$\x", "p|q"], format="latex")
    head = tex.splitlines()[2]
    assert "{b}" not in head and "$" not in head.replace(r"\$", "")
    assert r"\{b\}" in head and r"\textasciitilde" in head
    md = sl.estimates_table(fits, names=["a", "p|q"], format="markdown")
    assert md.splitlines()[0] == r"| | a | p\|q |"
