"""Parametric bootstrap of a fit (lme4's ``bootMer``; Stata's ``bootstrap`` with
``mixed`` simulations).

Each replicate draws a new outcome from the fitted model, row by row: latents
b_r ~ N(0, Phi_r), errors e_r ~ N(0, Theta_r), y_r = X_r beta + Z_r b_r + e_r (missing
cells stay missing, covariates stay fixed), then refits the same PathModel (mixed or
relaxed) by the same engine, starting from the original estimates. The statistic is by
default every parameter: the fixed effects and the rows of ``fit.random``.

Reproducible: ``seed`` (an int, a ``numpy.random.SeedSequence`` or a ``Generator``)
spawns one child seed per replicate, so the replicates do not depend on ``workers``
(processes of ``concurrent.futures``). A replicate whose refit fails is kept as a row of
NaN with its error message; one that did not converge is flagged and, by default, left
out of the intervals. Progress goes to stderr (default: only when stderr is a terminal).
"""
from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .posterior import obs_mean, row_batches

__all__ = ["bootstrap", "BootstrapResult", "SimulationPlan", "simulation_plan",
           "default_statistic"]


def _sqrt_psd(M: np.ndarray) -> np.ndarray:
    """Square roots L with L L' = M of a stack of positive semi-definite matrices
    (singular allowed)."""
    if not M.size:
        return M
    lam, vec = np.linalg.eigh(0.5 * (M + np.swapaxes(M, -1, -2)))
    top = np.maximum(np.abs(lam).max(axis=-1, keepdims=True), 1e-300)
    if np.any(lam < -1e-8 * top):
        raise ValueError("the fitted covariance matrix is not positive semi-definite")
    return vec * np.sqrt(np.maximum(lam, 0.0))[..., None, :]


@dataclass(frozen=True)
class SimulationPlan:
    """What drawing an outcome from a fitted PathModel needs: per batch of rows of one
    shape (n observations, q latents), the observations ``obs`` (B, n), square roots of
    the latent covariances ``Lphi`` (B, q, q), the loadings ``Z`` (B, n, q) and square
    roots of the residual covariances ``Ltheta`` (B, n, n) or residual SDs ``sd`` (B, n).
    """

    xb: np.ndarray
    batches: tuple

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One simulated outcome vector (order of ``model.data``)."""
        y = self.xb.copy()
        for obs, Lphi, Z, Ltheta, sd in self.batches:
            B, n, q = Z.shape
            if q:
                b = (Lphi @ rng.standard_normal((B, q, 1)))
                y[obs] += (Z @ b)[:, :, 0]
            if Ltheta is None:
                y[obs] += sd * rng.standard_normal((B, n))
            else:
                y[obs] += (Ltheta @ rng.standard_normal((B, n, 1)))[:, :, 0]
        return y


def simulation_plan(fit) -> SimulationPlan:
    """The :class:`SimulationPlan` of a PathModel fit at its estimates."""
    model = fit.model
    values = np.asarray(fit.values, dtype=float)
    batches = []
    for bt in row_batches(model, values):
        Lphi = _sqrt_psd(bt.Phi)
        Ltheta = np.linalg.cholesky(bt.theta) if bt.theta is not None else None
        batches.append((bt.obs, Lphi, bt.Z, Ltheta, np.sqrt(bt.res)))
    return SimulationPlan(xb=obs_mean(model, values, model.X, model.data.slot),
                          batches=tuple(batches))


def default_statistic(fit) -> pd.Series:
    """Every parameter of a fit: fixed effects (by term) and ``fit.random`` estimates."""
    return pd.concat([fit.fixed["coef"], fit.random["estimate"]])


def _with_outcome(model, y: np.ndarray):
    """The model on the same rows with outcome values ``y``."""
    wide = model.data
    return model.replace(data=wide.replace(data=wide.data_table.assign(
        **{wide.outcome: np.asarray(y, dtype=float)})))


def _replicate(model, plan: SimulationPlan, seed: np.random.SeedSequence, statistic
               ) -> tuple[pd.Series | None, bool, str]:
    """One replicate: (statistic or None, converged, error message)."""
    y = plan.draw(np.random.default_rng(seed))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            refit = _with_outcome(model, y).fit()
        value = statistic(refit)
    except (ValueError, FloatingPointError, np.linalg.LinAlgError) as exc:
        return None, False, f"{type(exc).__name__}: {exc}"
    return pd.Series(value, dtype=float), bool(refit.converged), ""


def _run_chunk(model, plan, seeds, statistic, indices):
    """Replicates ``indices`` (a worker's task)."""
    return [(i, *_replicate(model, plan, s, statistic)) for i, s in zip(indices, seeds)]


@dataclass(frozen=True)
class BootstrapResult:
    """Replicates of a parametric bootstrap.

    ``estimate``: the statistic on the original fit; ``replicates``: one row per replicate
    (NaN where the refit failed); ``converged``: per replicate; ``errors``: message per
    failed replicate (index -> text); ``seed``: the entropy of the root seed sequence.
    """

    estimate: pd.Series
    replicates: pd.DataFrame
    converged: np.ndarray
    errors: dict = field(default_factory=dict)
    seed: object = None

    @property
    def n(self) -> int:
        return int(len(self.replicates))

    @property
    def n_failed(self) -> int:
        return int(self.replicates.isna().all(axis=1).sum())

    def _usable(self, converged_only: bool) -> pd.DataFrame:
        rep = self.replicates
        return rep[self.converged] if converged_only else rep

    def se(self, converged_only: bool = True) -> pd.Series:
        """Bootstrap standard errors (SD of the replicates)."""
        return self._usable(converged_only).std(ddof=1)

    def bias(self, converged_only: bool = True) -> pd.Series:
        """Mean of the replicates less the original estimate."""
        return self._usable(converged_only).mean() - self.estimate

    def ci(self, level: float = 95.0, converged_only: bool = True) -> pd.DataFrame:
        """Percentile intervals: ``estimate``, ``ci_lower``, ``ci_upper``, ``n`` (replicates
        used)."""
        if not 0 < level < 100:
            raise ValueError(f"level must be between 0 and 100, not {level}")
        rep = self._usable(converged_only)
        a = (100.0 - level) / 200.0
        lo = rep.quantile(a)
        hi = rep.quantile(1.0 - a)
        return pd.DataFrame({"estimate": self.estimate, "ci_lower": lo, "ci_upper": hi,
                             "n": rep.notna().sum()})

    def __repr__(self) -> str:
        return (f"<semlevel BootstrapResult: {self.n} replicates, {self.n_failed} failed, "
                f"{int((~self.converged).sum())} not converged>")


def _root_seed(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(0, 2 ** 63)))
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.SeedSequence(None if seed is None else int(seed))
    raise TypeError(f"seed must be an int, SeedSequence, Generator or None, not "
                    f"{type(seed).__name__}")


class _Progress:
    """Replicates done, through the shared display (:mod:`semlevel.progress`)."""

    def __init__(self, total: int, show: bool):
        from ..progress import Progress
        self.bar = Progress(total, "bootstrap") if show else None
        self.failed = 0

    def step(self, k: int = 1, failed: int = 0) -> None:
        if self.bar is None:
            return
        for _ in range(k):
            self.bar.update(f"replicates ({failed} failed)" if failed else "replicates")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def bootstrap(fit, n: int = 1000, seed=None, statistic: Callable | None = None,
              workers: int = 1, progress: bool | None = None) -> BootstrapResult:
    """Parametric bootstrap of ``fit`` with ``n`` replicates (see the module docstring).

    ``statistic(fit)`` returns a number, a dict or a Series (default: every parameter);
    with ``workers > 1`` it must be picklable (a module-level function). ``progress``:
    True/False, or None for "only when stderr is a terminal".
    """
    if not hasattr(fit, "model") or not hasattr(fit.model, "effect_latent"):
        raise TypeError("bootstrap needs a fit of a PathModel (sl.mixed, model.fit()); got "
                        f"{type(fit).__name__} (general SEM paths are not supported)")
    if fit.model.info.weights is not None:
        raise ValueError("the parametric bootstrap simulates from the model's likelihood; "
                         "it is not available for weighted fits")
    n = int(n)
    if n < 1:
        raise ValueError(f"n must be a positive number of replicates, not {n}")
    workers = int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    statistic = statistic or default_statistic
    estimate = pd.Series(statistic(fit), dtype=float)
    root = _root_seed(seed)
    seeds = root.spawn(n)
    plan = simulation_plan(fit)
    model = fit.model
    show = sys.stderr.isatty() if progress is None else bool(progress)
    bar = _Progress(n, show)
    results: dict[int, tuple] = {}
    failed = 0
    try:
        if workers == 1:
            for i, s in enumerate(seeds):
                results[i] = _replicate(model, plan, s, statistic)
                failed += results[i][0] is None
                bar.step(1, failed)
        else:
            size = max(1, n // (workers * 8))
            chunks = [list(range(i, min(i + size, n))) for i in range(0, n, size)]
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_run_chunk, model, plan, [seeds[i] for i in c],
                                       statistic, c) for c in chunks]
                for fut in as_completed(futures):
                    out = fut.result()
                    for i, value, conv, err in out:
                        results[i] = (value, conv, err)
                        failed += value is None
                    bar.step(len(out), failed)
    finally:
        bar.close()
    columns = list(estimate.index)
    rows = [results[i][0].reindex(columns) if results[i][0] is not None
            else pd.Series(np.nan, index=columns) for i in range(n)]
    replicates = pd.DataFrame(rows, index=pd.RangeIndex(n, name="replicate"))
    converged = np.array([results[i][0] is not None and results[i][1] for i in range(n)])
    errors = {i: results[i][2] for i in range(n) if results[i][2]}
    if errors:
        first = next(iter(errors.values()))
        warnings.warn(f"{len(errors)} of {n} bootstrap refits failed (first: {first}); "
                      "they are NaN in .replicates", RuntimeWarning, stacklevel=2)
    return BootstrapResult(estimate=estimate, replicates=replicates, converged=converged,
                           errors=errors, seed=root.entropy)
