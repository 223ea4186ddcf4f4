"""Pictures of what was fitted (matplotlib, the ``plot`` extra): the plots lme4 users
look at first, reached as ``fit.plot.ranef()``, ``fit.plot.residuals()``, ... (a
:class:`FitPlots`), drawn in grayscale.

* :func:`caterpillar`: each level's predicted random effects (BLUPs) sorted, with
  intervals of +-z conditional SEs (lme4's ``dotplot(ranef(fit, condVar = TRUE))``);
* :func:`residuals_vs_fitted`: residuals against fitted values, with a zero line;
* :func:`qq`: normal quantile plot of the standardized residuals or of one effect's
  BLUPs;
* :func:`trajectories`: the fitted values against a covariate, one line per group (the
  first ``max_groups`` groups), over the observed points;
* :func:`profile`: the profile zeta of each parameter (lme4's ``xyplot(profile(fit))``):
  straight where the Wald interval is right;
* :func:`bootstrap`: histograms of bootstrap replicates with the estimate marked.

Each returns the matplotlib ``Figure`` and draws on ``ax`` when one is given (one axes;
the caterpillar plot takes a sequence, one per effect). matplotlib is imported here
only, so the package does not need it (``pip install "semlevel[plot]"``).
"""
from __future__ import annotations

import numpy as np

from ..distributions import norm_ppf

__all__ = ["caterpillar", "residuals_vs_fitted", "qq", "trajectories", "profile",
           "bootstrap", "FitPlots", "PLOTS"]

PLOTS = ("ranef", "residuals", "qq", "trajectories", "profile", "bootstrap")

#: grayscale by default (journals print in black and white)
INK, GRID = "0.15", "0.6"


def _plt():
    """matplotlib's pyplot (its backend is the user's choice: nothing is set here)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plots need matplotlib: pip install \"semlevel[plot]\" (or pip "
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
            a.errorbar(v, y, xerr=z * se, fmt="o", ms=3, lw=0.8, capsize=0, color=INK)
        else:
            a.plot(v, y, "o", ms=3, color=INK)
        a.axvline(0.0, color=GRID, lw=0.8)
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
    a.scatter(fitted, resid, s=8, alpha=0.6, color=INK)
    a.axhline(0.0, color=GRID, lw=0.8)
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
    a.scatter(theo, v, s=8, color=INK)
    q1, q3 = np.quantile(v, [0.25, 0.75])
    t1, t3 = norm_ppf(0.25), norm_ppf(0.75)
    slope = (q3 - q1) / (t3 - t1)
    a.plot(theo, q1 + slope * (theo - t1), color=GRID, lw=0.8)
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
    shades = np.linspace(0.0, 0.6, max(min(max_groups, frame["g"].nunique()), 1))
    for k, (g, part) in enumerate(frame.groupby("g", sort=True)):
        if k >= max_groups:
            break
        part = part.sort_values("x")
        line, = a.plot(part["x"], part["f"], lw=1, color=str(shades[k]))
        a.scatter(part["x"], part["y"], s=6, color=line.get_color(), alpha=0.6)
    a.set_xlabel(x)
    a.set_ylabel(model.outcome)
    a.set_title(f"Fitted trajectories (first {min(max_groups, frame['g'].nunique())} "
                f"{group})")
    fig.tight_layout()
    return fig


def profile(fit, parameters: list[str] | None = None, points: int = 13, ax=None):
    """The profile zeta of each parameter against its value, with the +-z lines of the
    interval (lme4's ``xyplot(profile(fit))``); one panel per parameter."""
    from ..inference.profile import profile_ci, profile_trace
    names = list(profile_ci(fit).index) if parameters is None else list(parameters)
    fig, axes = _axes(ax, len(names), width=3.2, height=3.0)
    z = float(norm_ppf(0.5 + fit.level / 200.0))
    for a, name in zip(axes, names):
        tr = profile_trace(fit, name, points)
        a.plot(tr["value"], tr["zeta"], "-o", ms=2.5, lw=1, color=INK)
        for level in (-z, z):
            a.axhline(level, color=GRID, lw=0.7, ls="--")
        a.set_title(name, fontsize=9)
        a.set_xlabel("value")
    axes[0].set_ylabel("zeta")
    fig.tight_layout()
    return fig


def bootstrap(fit, result, parameters: list[str] | None = None, bins: int = 30, ax=None):
    """Histograms of the bootstrap replicates (``result``: ``fit.bootstrap(...)``) with
    the estimate marked; one panel per parameter (default: all)."""
    reps = result.replicates
    names = list(reps.columns) if parameters is None else list(parameters)
    missing = [n for n in names if n not in reps.columns]
    if missing:
        raise ValueError(f"no bootstrap replicates of {missing[0]!r}; parameters: "
                         f"{', '.join(map(str, reps.columns))}")
    fig, axes = _axes(ax, len(names), width=3.2, height=3.0)
    est = result.estimate
    for a, name in zip(axes, names):
        v = reps[name].to_numpy(dtype=float)
        a.hist(v[np.isfinite(v)], bins=bins, color="0.75", edgecolor=INK, lw=0.5)
        a.axvline(float(est[name]), color=INK, lw=1.2)
        a.set_title(str(name), fontsize=9)
    fig.tight_layout()
    return fig


class FitPlots:
    """``fit.plot``: the pictures of one fit. Call it with a kind (``fit.plot("ranef")``)
    or use a method; each returns the matplotlib Figure."""

    def __init__(self, fit) -> None:
        self._fit = fit

    def __call__(self, kind: str = "ranef", **options):
        draw = {"ranef": self.ranef, "caterpillar": self.ranef, "residuals": self.residuals,
                "qq": self.qq, "trajectories": self.trajectories, "profile": self.profile,
                "bootstrap": self.bootstrap}.get(kind)
        if draw is None:
            raise ValueError(f"unknown plot {kind!r}: one of {', '.join(PLOTS)}")
        return draw(**options)

    def __repr__(self) -> str:
        return f"<semlevel plots of a fit: {', '.join(PLOTS)}>"

    def ranef(self, level: str | None = None, ax=None):
        """Caterpillar plot of the BLUPs of ``level`` (see :func:`caterpillar`)."""
        return caterpillar(self._fit, level=level, ax=ax)

    def residuals(self, ax=None):
        """Residuals against fitted values (see :func:`residuals_vs_fitted`)."""
        return residuals_vs_fitted(self._fit, ax=ax)

    def qq(self, which: str = "residuals", ax=None):
        """Normal QQ plot of the standardized residuals or of one effect's BLUPs."""
        return qq(self._fit, which=which, ax=ax)

    def trajectories(self, x: str, data=None, group: str | None = None,
                     max_groups: int = 12, ax=None):
        """Fitted lines per group over the observed points (see :func:`trajectories`)."""
        return trajectories(self._fit, x, data=data, group=group, max_groups=max_groups,
                            ax=ax)

    def profile(self, parameters: list[str] | None = None, points: int = 13, ax=None):
        """Profile zeta per parameter (see :func:`profile`)."""
        return profile(self._fit, parameters=parameters, points=points, ax=ax)

    def bootstrap(self, result, parameters: list[str] | None = None, ax=None):
        """Histograms of bootstrap replicates (see :func:`bootstrap`)."""
        return bootstrap(self._fit, result, parameters=parameters, ax=ax)
