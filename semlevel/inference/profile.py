"""Profile-likelihood confidence intervals (lme4's ``confint(method = "profile")``).

The variance parameters are profiled in lme4's coordinates: a standard deviation for
every variance label (``id: sd(_cons)``, ``sd(Residual)``), a correlation for every
latent covariance label (``id: corr(week,_cons)`` = cov / sqrt(var_a var_b)); other
labels (residual covariances, residual-structure parameters) on their own scale. For a
parameter p with estimate p_hat the profile deviance is

    dev_p(v) = min over the other parameters of -2 log L  with p = v,

and the interval is {v : dev_p(v) - dev_min <= z^2}, found by root finding on the signed
root zeta(v) = sign(v - p_hat) sqrt(dev_p(v) - dev_min) (not interpolated: lme4 fits
splines through profile points, which agrees to about 1e-4). A standard deviation whose
profile stays below the cut-off down to 0 gets the lower limit 0; a correlation, -1 or 1.

Fixed effects are profiled by fixing the coefficient (``model.fix``) and maximising over
everything else (ML fits without ``constraints()`` only: the restricted likelihood is not
a likelihood for beta;
lme4 profiles a REML fit with the ML deviance, i.e. like an ML refit). Under REML the
variance parameters profile the restricted likelihood. Weighted fits are refused (their
criterion is a pseudo-likelihood).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..model.label_kinds import label_roles
from ..distributions import norm_ppf
from ..engine.evaluator import deviance, statistics
from ..engine.optimize import newton

__all__ = ["profile_trace", "profile_ci", "ProfileCoordinates"]


class ProfileCoordinates:
    """Map between lme4-like coordinates (SDs, correlations, raw values) of the free
    variance labels and the label values, with the chain rule for the gradient."""

    def __init__(self, fit):
        model = fit.model
        lab = model.labels
        kinds = lab["kind"].to_numpy()
        self.base = np.asarray(fit.values, dtype=float).copy()
        self.free = np.flatnonzero(lab["free"].to_numpy() & (kinds != "coef"))
        self.kind: list[str] = []
        self.members: list[tuple[int, int]] = []
        self.names: list[str] = []
        role, _ = label_roles(model)
        for j in self.free:
            name, kind = str(lab.index[j]), kinds[j]
            if role[j] == "variance":
                self.kind.append("sd")
                self.members.append((-1, -1))
                self.names.append(name.replace("var(", "sd(", 1))
            elif kind == "cov":
                a, b = fit._cov_members(name)
                self.kind.append("corr")
                self.members.append((model.label_index(a), model.label_index(b)))
                self.names.append(name.replace("cov(", "corr(", 1))
            else:
                self.kind.append("raw")
                self.members.append((-1, -1))
                self.names.append(name)
        self.pos = {int(j): i for i, j in enumerate(self.free)}

    def _sd(self, c: np.ndarray, j: int) -> float:
        i = self.pos.get(j)
        return float(c[i]) if i is not None and self.kind[i] == "sd" else \
            float(np.sqrt(max(self.base[j], 0.0)))

    def coordinates(self, values: np.ndarray) -> np.ndarray:
        """Coordinates of label values."""
        c = np.empty(len(self.free))
        for i, j in enumerate(self.free):
            if self.kind[i] == "sd":
                c[i] = np.sqrt(max(values[j], 0.0))
        for i, j in enumerate(self.free):
            if self.kind[i] == "corr":
                a, b = self.members[i]
                den = np.sqrt(values[a] * values[b])
                c[i] = values[j] / den if den > 0 else 0.0
            elif self.kind[i] == "raw":
                c[i] = values[j]
        return c

    def values(self, c: np.ndarray, base: np.ndarray | None = None) -> np.ndarray:
        """Label values at coordinates ``c`` (other labels from ``base``)."""
        v = (self.base if base is None else base).copy()
        for i, j in enumerate(self.free):
            k = self.kind[i]
            if k == "sd":
                v[j] = c[i] * c[i]
            elif k == "raw":
                v[j] = c[i]
        for i, j in enumerate(self.free):
            if self.kind[i] == "corr":
                a, b = self.members[i]
                v[j] = c[i] * self._sd(c, a) * self._sd(c, b)
        return v

    def gradient(self, c: np.ndarray, g: np.ndarray) -> np.ndarray:
        """d deviance / d c from d deviance / d label value ``g``."""
        out = np.zeros(len(c))
        for i, j in enumerate(self.free):
            k = self.kind[i]
            if k == "sd":
                out[i] += 2.0 * c[i] * g[j]
            elif k == "raw":
                out[i] += g[j]
            else:
                a, b = self.members[i]
                sa, sb = self._sd(c, a), self._sd(c, b)
                out[i] += sa * sb * g[j]
                for m, other in ((a, sb), (b, sa)):
                    p = self.pos.get(m)
                    if p is not None and self.kind[p] == "sd":
                        out[p] += c[i] * other * g[j]
        return out


class _Profiler:
    """Profile deviance of one parameter, warm-started from the previous point."""

    def __init__(self, fit, coords: ProfileCoordinates, index: int | None, coef: str | None):
        self.fit, self.coords, self.index, self.coef = fit, coords, index, coef
        self.reml = fit.reml
        self.stats = None if coef is not None else fit.stats
        self.start = coords.coordinates(fit.values)

    def __call__(self, v: float) -> float:
        co = self.coords
        base = co.base.copy()
        stats = self.stats
        if self.coef is not None:
            model = self.fit.model.fix(self.coef, v)
            stats = statistics(model)
            base[model.label_index(self.coef)] = v
        keep = np.arange(len(co.free)) if self.index is None else \
            np.delete(np.arange(len(co.free)), self.index)
        c = self.start.copy()
        if self.index is not None:
            c[self.index] = v

        def fun(u, want_grad):
            cc = c.copy()
            cc[keep] = u
            ev = deviance(co.values(cc, base), stats, self.reml, gradient=want_grad,
                          check_psd=True)
            if not np.isfinite(ev.deviance):
                return np.inf, None
            return ev.deviance, (co.gradient(cc, ev.gradient)[keep] if want_grad else None)

        u0 = c[keep]
        if not len(u0):
            return fun(u0, False)[0]
        f0, _ = fun(u0, False)
        if not np.isfinite(f0):
            u0 = self._admissible_start(fun, c, keep)
        scale = np.maximum(np.abs(u0), 1e-3 * max(np.abs(u0).max(), 1.0))
        u, rec = newton(fun, u0, scale, max_iter=200, tol=1e-12)
        dev = fun(u, False)[0]
        if np.isfinite(dev):
            self.start = c.copy()
            self.start[keep] = u
        return float(dev)

    def _admissible_start(self, fun, c, keep) -> np.ndarray:
        """Shrink correlations toward 0 until the starting point is admissible."""
        u = c[keep].copy()
        corr = np.array([self.coords.kind[i] == "corr" for i in keep])
        for _ in range(60):
            if np.isfinite(fun(u, False)[0]):
                return u
            u[corr] *= 0.5
        raise ValueError("no admissible starting point for the profile")


def _bounds(kind: str) -> tuple[float, float]:
    return {"sd": (0.0, np.inf), "corr": (-1.0, 1.0)}.get(kind, (-np.inf, np.inf))


def _limit(prof, est: float, dev_min: float, z: float, step: float, direction: int,
           bounds: tuple[float, float]) -> float:
    """The point on one side of ``est`` where the signed root of the profile deviance
    reaches ``direction * z`` (or the parameter's bound when it never does)."""
    def zeta(v: float) -> float:
        d = prof(v) - dev_min
        return np.sign(v - est) * np.sqrt(max(d, 0.0)) if np.isfinite(d) else direction * np.inf

    lo_b, hi_b = bounds
    inner, v = est, est
    for k in range(60):
        v = est + direction * step * (1.6 ** k)
        if direction < 0 and v <= lo_b:
            v = lo_b
        if direction > 0 and v >= hi_b:
            v = hi_b
        zv = zeta(v)
        if direction * zv >= z:
            break
        if v in (lo_b, hi_b):
            return float(v)               # the profile stays below the cut-off
        inner = v
    else:
        raise RuntimeError("profile did not reach the cut-off")
    a, b = sorted((inner, v))
    from scipy.optimize import brentq        # ~0.15 s to import: only profiles need it
    return float(brentq(lambda x: zeta(x) - direction * z, a, b, xtol=1e-12, rtol=1e-12))


def profile_ci(fit, parameters: list[str] | None = None, level: float | None = None,
               progress: bool | None = False) -> pd.DataFrame:
    """Profile-likelihood confidence intervals at ``level`` percent (default the fit's).

    ``parameters``: names as in the output index (``id: sd(_cons)``, ``id: corr(week,
    _cons)``, ``sd(Residual)``, fixed-effect terms); default all (fixed effects only for
    ML fits). Returns a DataFrame with ``estimate``, ``ci_lower``, ``ci_upper``.
    ``progress`` shows one step per parameter (:mod:`semlevel.progress`).
    """
    if not hasattr(fit, "stats") or not hasattr(fit, "_cov_members"):
        raise TypeError(f"profile_ci needs a PathModel fit, not {type(fit).__name__}")
    if fit.model.info.weights is not None:
        raise ValueError("profile-likelihood intervals are not available for weighted fits "
                         "(the weighted criterion is a pseudo-likelihood)")
    level = float(fit.level if level is None else level)
    if not 0 < level < 100:
        raise ValueError(f"level must be between 0 and 100, not {level}")
    z = float(norm_ppf(0.5 + level / 200.0))
    coords = ProfileCoordinates(fit)
    est_c = coords.coordinates(fit.values)
    fixed = fit.fixed
    constrained = fit.model.info.constraints is not None
    available = list(coords.names) + ([] if fit.reml or constrained else list(fixed.index))
    if parameters is None:
        parameters = available
    else:
        parameters = [parameters] if isinstance(parameters, str) else list(parameters)
        for p in parameters:
            if p not in available:
                extra = (" (fixed effects are not profiled under REML: the restricted "
                         "likelihood is not a likelihood for them)"
                         if fit.reml and p in fixed.index else
                         " (fixed effects are not profiled under constraints())"
                         if constrained and p in fixed.index else "")
                raise ValueError(f"no profiled parameter {p!r}{extra}; available: "
                                 f"{', '.join(available)}")
    dev_min = float(fit.deviance)
    sd_table = fit.random_sd
    rows = []
    from ..progress import progress as show_progress
    for p in show_progress(list(parameters), "profile", progress, name=str):
        if p in coords.names:
            i = coords.names.index(p)
            est, kind = float(est_c[i]), coords.kind[i]
            prof = _Profiler(fit, coords, i, None)
            se = sd_table.loc[p, "se"] if p in sd_table.index else np.nan
        else:
            est, kind = float(fixed.loc[p, "coef"]), "coef"
            prof = _Profiler(fit, coords, None, p)
            se = fixed.loc[p, "se"]
        scale = max(abs(est), 1e-3)
        step = float(se) / 2 if np.isfinite(se) and se > 0 else 0.05 * scale
        if kind == "corr":
            step = min(step, 0.05)
        bounds = _bounds(kind)
        lo = _limit(prof, est, dev_min, z, step, -1, bounds)
        prof.start = coords.coordinates(fit.values)
        hi = _limit(prof, est, dev_min, z, step, +1, bounds)
        rows.append({"parameter": p, "estimate": est, "ci_lower": lo, "ci_upper": hi})
    return pd.DataFrame(rows).set_index("parameter")


def profile_trace(fit, parameter: str, points: int = 13,
                  level: float | None = None) -> pd.DataFrame:
    """The profile of one parameter (lme4's ``profile()``): ``value`` on a grid over its
    profile interval at ``level`` (widened by a fifth each side) and the signed root
    deviance ``zeta = sign(value - estimate) sqrt(deviance(value) - deviance_min)``, which
    is a straight line where the Wald interval is right. Names as in :func:`profile_ci`."""
    ci = profile_ci(fit, [parameter], level)
    est, lo, hi = (float(ci.loc[parameter, c]) for c in ("estimate", "ci_lower", "ci_upper"))
    coords = ProfileCoordinates(fit)
    if parameter in coords.names:
        i = coords.names.index(parameter)
        prof = _Profiler(fit, coords, i, None)
        bounds = _bounds(coords.kind[i])
    else:
        prof = _Profiler(fit, coords, None, parameter)
        bounds = (-np.inf, np.inf)
    pad = 0.2 * (hi - lo)
    grid = np.linspace(max(lo - pad, bounds[0]), min(hi + pad, bounds[1]), int(points))
    dev_min = float(fit.deviance)
    zeta = []
    for v in grid:
        prof.start = coords.coordinates(fit.values)
        d = prof(float(v)) - dev_min
        zeta.append(np.sign(v - est) * np.sqrt(max(d, 0.0)) if np.isfinite(d) else np.nan)
    return pd.DataFrame({"value": grid, "zeta": zeta})
