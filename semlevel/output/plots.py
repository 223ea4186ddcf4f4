"""Pictures of what was fitted (matplotlib, the ``plots`` extra): the plots lme4 users
look at first.

* :func:`caterpillar`: each level's predicted random effects (BLUPs) sorted, with
  intervals of +-z conditional SEs (lme4's ``dotplot(ranef(fit, condVar = TRUE))``);
* :func:`residuals_vs_fitted`: residuals against fitted values, with a zero line;
* :func:`qq`: normal quantile plot of the standardized residuals or of one effect's
  BLUPs;
* :func:`trajectories`: the fitted values against a covariate, one line per group (the
  first ``max_groups`` groups), over the observed points.

Each returns the matplotlib ``Figure`` and draws on ``ax`` when one is given (one axes;
the caterpillar plot takes a sequence, one per effect). matplotlib is imported here
only, so the package does not need it (``pip install "semlevel[plots]"``).
"""
from __future__ import annotations

import numpy as np

from ..distributions import norm_ppf

__all__ = ["caterpillar", "residuals_vs_fitted", "qq", "trajectories", "PLOTS"]

PLOTS = ("caterpillar", "residuals", "qq", "trajectories")


def _plt():
    """matplotlib's pyplot (its backend is the user's choice: nothing is set here)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install \"semlevel[plots]\" (or pip "
                          "install matplotlib)") from exc
    return plt


def _axes(ax, n: int = 1, width: float = 5.0, height: float = 4.0):
    plt = _plt()
    if ax is None:
        fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
        return fig, list(axes[0])
    axes = list(ax) if isinstance(ax, (list, tuple, np.ndarray)) else [ax]
    if len(axes) < n:
        raise ValueError(f"this plot needs {n} axes, got {len(axes)}")
    return axes[0].figure, axes


def caterpillar(fit, level: str | None = None, ax=None, level_pct: float = 95.0):
    """Sorted BLUPs of ``level`` (default: the lowest level) with +-z conditional-SE
    intervals, one panel per random effect."""
    blups = fit.ranef()
    if not blups:
        raise ValueError("the model has no random effects to plot")
    if level is None:
        level = list(blups)[-1]
    if level not in blups:
        raise ValueError(f"no level {level!r}; levels: {', '.join(blups)}")
    table = blups[level]
    effects = [c for c in table.columns if not c.startswith("se(")]
    z = float(norm_ppf(0.5 + level_pct / 200.0))
    fig, axes = _axes(ax, len(effects), width=4.0, height=max(3.0, 0.12 * len(table)))
    for a, eff in zip(axes, effects):
        order = np.argsort(table[eff].to_numpy())
        v = table[eff].to_numpy()[order]
        se = table[f"se({eff})"].to_numpy()[order] if f"se({eff})" in table else None
        y = np.arange(len(v))
        if se is not None:
            a.errorbar(v, y, xerr=z * se, fmt="o", ms=3, lw=0.8, capsize=0)
        else:
            a.plot(v, y, "o", ms=3)
        a.axvline(0.0, color="0.5", lw=0.8)
        a.set_yticks(y if len(y) <= 40 else [])
        if len(y) <= 40:
            a.set_yticklabels([str(i) for i in table.index.to_numpy()[order]], fontsize=7)
        a.set_title(f"{level}: {eff}")
        a.set_xlabel(f"BLUP (±{z:.2f} conditional SE)")
    fig.tight_layout()
    return fig


def residuals_vs_fitted(fit, ax=None):
    """Residuals (y minus the fitted values with the BLUPs) against the fitted values."""
    fitted = fit.predict(kind="fitted")
    resid = fit.predict(kind="residuals")
    fig, (a,) = _axes(ax)
    a.scatter(fitted, resid, s=8, alpha=0.6)
    a.axhline(0.0, color="0.5", lw=0.8)
    a.set_xlabel("fitted")
    a.set_ylabel("residual")
    a.set_title("Residuals vs fitted")
    fig.tight_layout()
    return fig


def qq(fit, which: str = "residuals", ax=None):
    """Normal quantile plot of the standardized residuals (``which="residuals"``) or of
    one random effect's BLUPs (``which="level: effect"``, e.g. ``"id: _cons"``)."""
    if which == "residuals":
        v = np.asarray(fit.predict(kind="rstandard"), dtype=float)
        title = "standardized residuals"
    else:
        level, _, eff = which.partition(":")
        blups = fit.ranef()
        level, eff = level.strip(), eff.strip()
        if level not in blups or eff not in blups[level]:
            raise ValueError(f"which={which!r}: give 'residuals' or 'level: effect' with a "
                             "level and effect of fit.ranef()")
        v = blups[level][eff].to_numpy(dtype=float)
        title = f"BLUPs {level}: {eff}"
    v = np.sort(v[np.isfinite(v)])
    n = len(v)
    theo = np.array([norm_ppf((i + 0.5) / n) for i in range(n)])
    fig, (a,) = _axes(ax)
    a.scatter(theo, v, s=8)
    q1, q3 = np.quantile(v, [0.25, 0.75])
    t1, t3 = norm_ppf(0.25), norm_ppf(0.75)
    slope = (q3 - q1) / (t3 - t1)
    a.plot(theo, q1 + slope * (theo - t1), color="0.4", lw=0.8)
    a.set_xlabel("normal quantile")
    a.set_ylabel("sample quantile")
    a.set_title(f"Normal QQ: {title}")
    fig.tight_layout()
    return fig


def trajectories(fit, x: str, data=None, group: str | None = None, max_groups: int = 12,
                 ax=None):
    """Fitted values against covariate ``x``, one line per group of ``group`` (default:
    the top level), over the observed outcome, for the first ``max_groups`` groups."""
    import pandas as pd
    model = fit.model
    if data is None:
        raise ValueError("trajectories need the data the model was fitted to (data=df)")
    if x not in data.columns:
        raise ValueError(f"no column {x!r} in the data")
    group = group or model.data.hierarchy.levels[0]
    if group not in data.columns:
        raise ValueError(f"no column {group!r} in the data")
    fitted = fit.predict(data=data, kind="fitted")
    frame = pd.DataFrame({"g": data[group], "x": data[x], "y": data[model.outcome],
                          "f": fitted}).dropna()
    fig, (a,) = _axes(ax, width=6.0)
    for k, (g, part) in enumerate(frame.groupby("g", sort=True)):
        if k >= max_groups:
            break
        part = part.sort_values("x")
        line, = a.plot(part["x"], part["f"], lw=1)
        a.scatter(part["x"], part["y"], s=6, color=line.get_color(), alpha=0.6)
    a.set_xlabel(x)
    a.set_ylabel(model.outcome)
    a.set_title(f"Fitted trajectories (first {min(max_groups, frame['g'].nunique())} "
                f"{group})")
    fig.tight_layout()
    return fig
