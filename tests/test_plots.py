"""fit.plot(): the pictures of a fit (issue 24), drawn with matplotlib's Agg backend and
checked by what they hold (the points drawn are the fit's numbers)."""
from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import semlevel as sl                                          # noqa: E402


@pytest.fixture(scope="module")
def slope_fit():
    return sl.mixed("weight week || id: week", data=sl.datasets.load("pig"))


def test_caterpillar_draws_sorted_blups_with_intervals(slope_fit):
    fig = slope_fit.plot("caterpillar")
    axes = fig.axes
    assert len(axes) == 2                                     # week and _cons
    blups = slope_fit.ranef()["id"]
    for a, eff in zip(axes, ["week", "_cons"]):
        line = a.lines[0]                                     # the errorbar's points
        x = np.asarray(line.get_xdata())
        np.testing.assert_allclose(x, np.sort(blups[eff].to_numpy()), rtol=1e-12)
        assert a.get_title() == f"id: {eff}"
    with pytest.raises(ValueError, match="no level 'school'"):
        slope_fit.plot("caterpillar", level="school")


def test_residuals_and_qq(slope_fit):
    fig = slope_fit.plot("residuals")
    pts = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], slope_fit.predict(kind="fitted"), rtol=1e-12)
    np.testing.assert_allclose(pts[:, 1], slope_fit.predict(kind="residuals"), rtol=1e-12)
    q = slope_fit.plot("qq").axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(q[:, 1], np.sort(slope_fit.predict(kind="rstandard")))
    assert np.all(np.diff(q[:, 0]) > 0)
    b = slope_fit.plot("qq", which="id: _cons").axes[0].collections[0].get_offsets()
    assert len(b) == 48
    with pytest.raises(ValueError, match="which="):
        slope_fit.plot("qq", which="id: age")


def test_trajectories_and_errors(slope_fit, pig):
    fig = slope_fit.plot("trajectories", x="week", data=pig, max_groups=5)
    assert len(fig.axes[0].lines) == 5
    first = fig.axes[0].lines[0]
    fitted = slope_fit.predict(data=pig, kind="fitted")[pig["id"] == pig["id"].min()]
    np.testing.assert_allclose(np.asarray(first.get_ydata()), fitted.to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="unknown plot 'pie'"):
        slope_fit.plot("pie")
    with pytest.raises(ValueError, match="need the data"):
        slope_fit.plot("trajectories", x="week")
