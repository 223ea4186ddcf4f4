"""fit.plot (issue 24): the pictures of a fit, drawn with matplotlib's Agg backend and
checked by what they hold (the data behind each artist equals the fit's numbers), in
grayscale; the CLI writes a PNG; a clear message without matplotlib."""
from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.colors import to_rgb                            # noqa: E402

import semlevel as sl                                          # noqa: E402


@pytest.fixture(scope="module")
def slope_fit():
    return sl.mixed("weight week || id: week", data=sl.datasets.load("pig"))


def _gray(color) -> bool:
    r, g, b = to_rgb(color)
    return abs(r - g) < 1e-9 and abs(g - b) < 1e-9


def test_ranef_draws_sorted_blups_with_intervals(slope_fit):
    fig = slope_fit.plot.ranef()
    assert len(fig.axes) == 2                                 # week and _cons
    blups = slope_fit.ranef()["id"]
    for a, eff in zip(fig.axes, ["week", "_cons"]):
        line = a.lines[0]                                     # the errorbar's points
        np.testing.assert_allclose(np.asarray(line.get_xdata()),
                                   np.sort(blups[eff].to_numpy()), rtol=1e-12)
        bars = a.collections[0].get_segments()                # +-1.96 SE
        half = np.array([abs(s[1][0] - s[0][0]) / 2 for s in bars])
        np.testing.assert_allclose(half, 1.959963984540054 * blups[f"se({eff})"].to_numpy()
                                   [np.argsort(blups[eff].to_numpy())], rtol=1e-9)
        assert a.get_title() == f"id: {eff}" and _gray(line.get_color())
    assert fig is not slope_fit.plot("ranef")                 # a new figure each call
    with pytest.raises(ValueError, match="no level 'school'"):
        slope_fit.plot.ranef(level="school")


def test_residuals_and_qq(slope_fit):
    pts = slope_fit.plot.residuals().axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(pts[:, 0], slope_fit.predict(kind="fitted"), rtol=1e-12)
    np.testing.assert_allclose(pts[:, 1], slope_fit.predict(kind="residuals"), rtol=1e-12)
    q = slope_fit.plot.qq().axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(q[:, 1], np.sort(slope_fit.predict(kind="rstandard")))
    assert np.all(np.diff(q[:, 0]) > 0)
    assert len(slope_fit.plot.qq(which="id: _cons").axes[0].collections[0].get_offsets()) == 48
    with pytest.raises(ValueError, match="which="):
        slope_fit.plot.qq(which="id: age")


def test_trajectories_profile_bootstrap(slope_fit, pig):
    fig = slope_fit.plot.trajectories(x="week", data=pig, max_groups=5)
    assert len(fig.axes[0].lines) == 5
    fitted = slope_fit.predict(data=pig, kind="fitted")[pig["id"] == pig["id"].min()]
    np.testing.assert_allclose(np.asarray(fig.axes[0].lines[0].get_ydata()),
                               fitted.to_numpy(), rtol=1e-12)
    ri = sl.mixed("weight week || id:", data=pig)
    prof = ri.plot.profile(parameters=["id: sd(_cons)"], points=7)
    x = np.asarray(prof.axes[0].lines[0].get_xdata())
    zeta = np.asarray(prof.axes[0].lines[0].get_ydata())
    ci = ri.profile_ci(["id: sd(_cons)"]).iloc[0]
    assert x.min() < ci["ci_lower"] < ci["estimate"] < ci["ci_upper"] < x.max()
    assert np.all(np.diff(zeta) > 0)                          # zeta rises through 0
    boot = ri.bootstrap(n=20, seed=3)
    h = ri.plot.bootstrap(boot, parameters=["week"])
    assert sum(p.get_height() for p in h.axes[0].patches) == 20
    assert h.axes[0].lines[0].get_xdata()[0] == pytest.approx(boot.estimate["week"])
    with pytest.raises(ValueError, match="unknown plot 'pie'"):
        slope_fit.plot("pie")
    with pytest.raises(ValueError, match="need the data"):
        slope_fit.plot.trajectories(x="week")


def test_cli_writes_a_png(tmp_path):
    out = tmp_path / "ranef.png"
    run = subprocess.run([sys.executable, "-m", "semlevel", "plot", "pig",
                          "weight week || id:", "ranef", "-o", str(out), "--dpi", "100"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    with open(out, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24])[0] > 100


def test_missing_matplotlib_message(monkeypatch, slope_fit):
    """Without matplotlib: an ImportError that says how to install it."""
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "semlevel\[plot\]"'):
        slope_fit.plot.residuals()
