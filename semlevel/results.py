"""Fit: the estimates of a PathModel, their tables, tests and the Stata-like report."""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .columns import float_frame, names_index
from .distributions import chi2_sf, norm_ppf, norm_sf
from .engine.deviance import Evaluation
from .engine.optimize import OptimizationSummary
from .engine.stats import PoolStats
from .inference.lrtest import LRTest, linear_loglik, lr_linear, lrtest
from .inference.varcorr import (covariance_members, free_variances, sd_table,
                                variance_columns)
from .model.pathmodel import PathModel
from .model.sem import SEMModel

if TYPE_CHECKING:  # pragma: no cover
    from .output.summary import Summary

__all__ = ["Fit", "LRTest", "SEMFit", "ADFFit", "MissingXFit", "LikelihoodCriteria"]


class LikelihoodCriteria:
    """Log likelihood, parameter count and information criteria of any fitted model with
    a ``deviance``, ``n_obs``, ``optimization`` and ``model.n_free``."""

    @property
    def loglik(self) -> float:
        """Log likelihood (log restricted likelihood under REML)."""
        return -0.5 * self.deviance

    @property
    def converged(self) -> bool:
        return bool(self.optimization.converged)

    @property
    def n_params(self) -> int:
        """Free parameters (fixed effects + variance components), as lme4 counts them."""
        return self.model.n_free

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.n_obs) * self.n_params


@dataclass(frozen=True, eq=False)
class Fit(LikelihoodCriteria):
    """A fitted PathModel (ML or REML by FIML).

    The contract: ``loglik``, ``n_obs``, ``converged``, ``fixed``, ``random``, ``aic``,
    ``bic``, ``summary()``, ``lrtest(other)``, ``model``; ``optimization`` is the
    optimiser's record and ``boundary`` lists variances estimated at zero.
    """

    model: PathModel
    stats: PoolStats = field(repr=False)
    values: np.ndarray = field(repr=False)
    evaluation: Evaluation = field(repr=False)
    theta_vcov: np.ndarray = field(repr=False)
    optimization: OptimizationSummary = field(repr=False)
    boundary: list[str] = field(default_factory=list)
    vce: object = field(default=None, repr=False)   # RobustVCE under vce(robust|cluster)
    #: convention of the fixed effects' standard errors: "conditional" ((X'V^-1X)^-1, as
    #: lme4 and Stata's mixed) or "full" (the joint observed information of the
    #: coefficients and the variance parameters, as lavaan and Stata's sem); ``with_se``
    se_convention: str = "conditional"

    # ---- basics ----------------------------------------------------------------------
    @property
    def reml(self) -> bool:
        return bool(self.model.reml)

    @property
    def deviance(self) -> float:
        """-2 log L (-2 log L_R under REML)."""
        return self.evaluation.deviance

    @property
    def n_obs(self) -> int:
        """Observations used (under frequency weights: the sum of the replication counts)."""
        w = self.model.info.weights
        if w is not None and w.kind == "fweight":
            return int(round(w.total))
        return int(self.stats.n_obs)

    @property
    def vce_type(self) -> str:
        """Variance estimator of the standard errors: ``oim``, ``robust`` or ``cluster``
        (details in ``fit.vce``, :mod:`semlevel.inference.sandwich`)."""
        return "oim" if self.vce is None else self.vce.kind

    @property
    def spec(self):
        return self.model.info.spec

    @property
    def level(self) -> float:
        return float(getattr(self.spec, "level", 95.0))

    @property
    def _z(self) -> float:
        return float(norm_ppf(0.5 + self.level / 200.0))

    # ---- fixed effects ---------------------------------------------------------------
    def with_se(self, convention: str) -> "Fit":
        """This fit with the fixed effects' standard errors of ``convention``:
        ``"conditional"`` ((X'V^-1X)^-1: the variance parameters taken as known, as lme4's
        ``vcov`` and Stata's ``mixed``; the default) or ``"full"`` (the coefficients' block
        of the inverse joint observed information of coefficients and variance parameters,
        as lavaan with ``information="observed"`` and Stata's ``sem``; ML fits with the
        default variance estimator only). Estimates are unchanged; see docs/inference.md."""
        if convention not in ("conditional", "full"):
            raise ValueError(f"se convention {convention!r}: use 'conditional' or 'full'")
        if convention == "full":
            if self.reml:
                raise ValueError("se='full' needs an ML fit: under REML the coefficients are "
                                 "not parameters of the restricted likelihood")
            if self.vce is not None:
                raise ValueError("se='full' is the observed information's convention; this "
                                 f"fit's standard errors are {self.vce_type} (sandwich)")
            if self.small_sample is not None:
                raise ValueError("se='full' does not combine with dfmethod()")
        return dataclasses.replace(self, se_convention=convention)

    @cached_property
    def _coefficient_map(self):
        """The model's map from estimated to reported coefficients (computed once)."""
        from .model.constraints import coefficient_map
        return coefficient_map(self.model)

    @cached_property
    def fixed_vcov(self) -> pd.DataFrame:
        """Covariance of the free coefficients (T Var(g) T' under constraints):
        (X'V^-1X)^-1, or under ``se_convention="full"`` the coefficients' block of the
        inverse joint observed information."""
        names = self._coefficient_map.names
        return pd.DataFrame(self._fixed_vcov, index=names, columns=names)

    @cached_property
    def _fixed_vcov(self) -> np.ndarray:
        """:attr:`fixed_vcov` as an array (what :attr:`fixed` needs)."""
        cmap = self._coefficient_map
        xtvx = self.evaluation.xtvx
        inv = np.linalg.inv(xtvx) if xtvx is not None and len(xtvx) else np.zeros((0, 0))
        if self.vce is not None:                      # vce(robust|cluster): the sandwich
            inv = self.vce.vcov[:len(inv), :len(inv)]
        elif self.se_convention == "full" and len(inv):
            from .inference.score import joint_observed_vcov
            inv = joint_observed_vcov(self)[:len(inv), :len(inv)]
        return cmap.T @ inv @ cmap.T.T if cmap.constrained else inv

    @cached_property
    def fixed(self) -> pd.DataFrame:
        """Fixed effects: coef, se, z, p, ci_lower, ci_upper (index = Stata term labels);
        with ``dfmethod()``: coef, se, t, p, ci_lower, ci_upper, df. A coefficient that
        constraints fix has se 0 and no test."""
        cmap = self._coefficient_map
        names = cmap.names
        coef = np.asarray(self.evaluation.beta, dtype=float)
        coef = cmap.T @ coef + cmap.a if cmap.constrained else coef
        se = np.sqrt(np.clip(np.diag(self._fixed_vcov), 0.0, None)) if len(coef) \
            else np.zeros(0)
        se = np.where(cmap.determined, 0.0, se) if cmap.constrained else se
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, coef / se, np.nan)
        p = 2.0 * norm_sf(np.abs(z))
        zc = np.where(se > 0, self._z, np.nan)
        table = float_frame({"coef": coef, "se": se, "z": z, "p": p,
                             "ci_lower": coef - zc * se, "ci_upper": coef + zc * se},
                            names_index(names, "term"))
        if self.small_sample is not None:
            from .inference.dfmethod import small_sample_table
            return small_sample_table(self, table)
        return table

    @cached_property
    def small_sample(self):
        """Small-sample inference of a fit with ``dfmethod()`` (per-coefficient ``df``,
        ``vcov`` of the t statistics, ``model_test``); None without it. See
        :mod:`semlevel.inference.dfmethod`."""
        from .inference.dfmethod import small_sample
        return small_sample(self)

    def test(self, hypothesis, r=None, small: bool | None = None):
        """Wald test of linear hypotheses on the fixed effects, as Stata's ``test``:
        ``fit.test("week = 0")``, ``fit.test(["2.drug", "3.drug"])`` (jointly zero),
        ``fit.test("2.drug = 3.drug")`` or ``fit.test(R, r)``. chi2, or F with the
        ``dfmethod()`` DDF (``small=False``: chi2 anyway); see :mod:`semlevel.inference.wald`."""
        from .inference.wald import wald_test
        return wald_test(self, hypothesis, r=r, small=small)

    # ---- variance components ---------------------------------------------------------
    @cached_property
    def _free_var(self) -> np.ndarray:
        return free_variances(self.model)

    @cached_property
    def random_variance(self) -> pd.DataFrame:
        """Variance components in the variance metric, as `mixed` prints them (CIs on the
        scale of each label's kind); see :func:`semlevel.inference.varcorr.variance_table`."""
        return self._variance_columns.to_frame()

    @cached_property
    def _variance_columns(self):
        """:attr:`random_variance`'s columns (a ColumnTable), made once."""
        return variance_columns(self, self._z)

    @cached_property
    def random_sd(self) -> pd.DataFrame:
        """Variance components as standard deviations and correlations (delta method;
        CIs on the log scale for SDs and the atanh scale for correlations)."""
        return sd_table(self, self.random_variance, self._z)

    def _cov_members(self, name: str) -> tuple[str, str]:
        """Variance labels of the two effects of a covariance label ``lvl: cov(a,b)``."""
        return covariance_members(self.model, name)

    @property
    def random(self) -> pd.DataFrame:
        """Random-effects parameters: estimate, se, ci_lower, ci_upper (index = labels).

        Variances and covariances; standard deviations and correlations when the model was
        specified with ``stddeviations``.
        """
        if getattr(self.spec, "stddeviations", False):
            tab = self.random_sd
            # (a frame of the columns, not tab[[...]]: a selection costs 0.5 ms in pandas 3)
            return pd.DataFrame({c: tab[c] for c in ("estimate", "se", "ci_lower",
                                                     "ci_upper")}, index=tab.index)
        tab = self._variance_columns
        return float_frame({c: tab[c] for c in ("estimate", "se", "ci_lower", "ci_upper")},
                           names_index(tab.index, tab.index_name))

    # ---- tests -----------------------------------------------------------------------
    @cached_property
    def wald(self) -> tuple[float, int, float]:
        """Wald chi2 that all coefficients but the constant are zero: (chi2, df, p)
        (coefficients that constraints fix are left out)."""
        from .inference.wald import model_test
        test = model_test(self, small=False)
        return (np.nan, 0, np.nan) if test is None else tuple(test)

    @cached_property
    def linear_loglik(self) -> float:
        """Log likelihood (restricted under REML) of the linear model without random effects."""
        return linear_loglik(self.model, self.reml)

    @cached_property
    def lr_linear(self) -> dict:
        """LR test versus the linear model, with `mixed`'s chibar2 / conservative note
        (none with robust standard errors, as in Stata); :mod:`semlevel.inference.lrtest`."""
        return lr_linear(self)

    def lrtest(self, other: "Fit") -> LRTest:
        """Likelihood-ratio test of two nested fits (either order), as Stata's ``lrtest``."""
        if not isinstance(other, Fit):
            raise TypeError(f"lrtest compares two fits: got {type(other).__name__} "
                            f"({other!r:.60}) instead of a Fit")
        return lrtest(self, other)

    def scoretests(self, labels: list[str] | None = None, univariate: bool = False,
                   releases: dict | None = None, information: str = "expected",
                   progress: bool | None = False) -> pd.DataFrame:
        """Score tests of releasing each equality label (Stata's ``estat scoretests``,
        lavaan's ``lavTestScore``): chi2, df, p; see :mod:`semlevel.inference.score`.
        ``progress=True`` shows progress on standard error (None: on a terminal only)."""
        from .inference.score import score_tests
        return score_tests(self, labels=labels, univariate=univariate, releases=releases,
                           information=information, progress=progress)

    def scoretest(self, relaxed: PathModel, information: str = "expected") -> dict:
        """Generalized score test of this fit against any relaxation of its model."""
        from .inference.score import score_test
        return score_test(self, relaxed, information)

    def modindices(self, max_pairs: int = 500, information: str = "expected",
                   errors: bool | None = None) -> pd.DataFrame:
        """Modification indices of the covariances fixed at zero (latents; errors), with EPC."""
        from .inference.score import modification_indices
        return modification_indices(self, max_pairs=max_pairs, information=information,
                                    errors=errors)

    # ---- predictions, profile CIs, bootstrap (semlevel.inference) ---------------------
    @cached_property
    def _posterior(self):
        from .inference.posterior import posterior
        return posterior(self)

    def ranef(self, se: str = "conditional") -> dict[str, pd.DataFrame]:
        """BLUPs of the random effects per level with standard errors (``conditional``,
        ``comparative`` or ``diagnostic``); see :mod:`semlevel.inference.predict`."""
        from .inference.predict import ranef
        return ranef(self, se=se)

    def predict(self, data: pd.DataFrame | None = None, kind: str = "fitted",
                reasons: bool = False):
        """``xb``, ``fitted``, ``residuals`` or ``rstandard`` for ``data`` (default the
        estimation data), indexed like it; see :mod:`semlevel.inference.predict`."""
        from .inference.predict import predict
        return predict(self, data=data, kind=kind, reasons=reasons)

    def profile_ci(self, parameters: list[str] | None = None, level: float | None = None,
                   progress: bool | None = False) -> pd.DataFrame:
        """Profile-likelihood confidence intervals (SDs, correlations, fixed effects);
        ``progress`` shows one step per parameter. See :mod:`semlevel.inference.profile`."""
        from .inference.profile import profile_ci
        return profile_ci(self, parameters=parameters, level=level, progress=progress)

    def bootstrap(self, n: int = 1000, seed=None, **options):
        """Parametric bootstrap of this fit; see :mod:`semlevel.inference.bootstrap`."""
        from .inference.bootstrap import bootstrap
        return bootstrap(self, n=n, seed=seed, **options)

    # ---- report ----------------------------------------------------------------------
    def group_summary(self) -> pd.DataFrame:
        """Groups and observations per group at every level (nesting taken into account)."""
        return self.model.data.hierarchy.group_summary()

    # ---- postestimation (semlevel.inference.postestimation) ---------------------------
    def icc(self, level: float | None = None) -> pd.DataFrame:
        """Intraclass correlations of a random-intercept model per level (Stata's
        ``estat icc``), with SE and a logit-scale interval."""
        from .inference.postestimation import icc
        return icc(self, level)

    def recovariance(self, correlation: bool = False) -> dict:
        """Per level, the covariance (or correlation) matrix of its random effects
        (``estat recovariance``)."""
        from .inference.postestimation import recovariance
        return recovariance(self, correlation)

    def wcorrelation(self, row: int = 0, correlation: bool = True) -> pd.DataFrame:
        """The implied correlation (or covariance) matrix of one top-level unit's
        observations (``estat wcorrelation``): the wide row's Sigma."""
        from .inference.postestimation import wcorrelation
        return wcorrelation(self, row, correlation)

    def lincom(self, expression: str, level: float | None = None) -> pd.Series:
        """A linear combination of the fixed effects with SE, z, p and interval
        (``lincom``), e.g. ``fit.lincom("week + 2*_cons")``; parsed, never evaluated."""
        from .inference.postestimation import lincom
        return lincom(self, expression, level)

    @property
    def plot(self):
        """The pictures of the fit (matplotlib, ``pip install "semlevel[plot]"``):
        ``fit.plot.ranef()`` (caterpillar), ``.residuals()``, ``.qq()``,
        ``.trajectories(x=, data=)``, ``.profile()``, ``.bootstrap(result)``, or
        ``fit.plot("ranef")``; each returns the matplotlib Figure. See
        :mod:`semlevel.output.plots`."""
        from .output.plots import FitPlots
        return FitPlots(self)

    def standardized(self, by: str = "slot", se: bool = True) -> pd.DataFrame:
        """The standardized solution (lavaan's ``standardizedSolution()``): ``std_all``
        with its delta-method SE, z, p and interval, and ``std_lv``, for every row of
        the parameter table (``by="slot"``: the implied variances differ by slot), or
        once per label with the moments of all observations (``by="pooled"``). See
        :mod:`semlevel.inference.standardized`."""
        from .inference.standardized import standardized_solution
        return standardized_solution(self, by=by, se=se)

    def diagram(self, **options):
        """Path diagram with the estimates (a ``graphviz.Digraph``); options:
        ``semlevel.diagram.DiagramOptions`` (``se=True``, ``stars=True``, ...)."""
        from .diagram import diagram
        return diagram(self, **options)

    def summary(self, small: bool = True, dftable: str | None = None) -> "Summary":
        """The report, a :class:`~semlevel.output.summary.Summary`: a ``str`` holding the
        Stata-like text (header, group table, fixed and random tables, LR test), with
        ``as_html()`` (what a notebook shows), ``as_latex()``, ``as_markdown()``.

        With ``dfmethod()``: the small-sample table, laid out per ``dftable`` ("default",
        "ci", "pvalue"; default the fit's ``dftable()``); ``small=False`` replays the
        large-sample results, as Stata's ``mixed`` without ``small`` does."""
        from .output.summary import Summary
        from .output.report import stata_report
        if not small or dftable is not None:
            from .output.report import replay
            return Summary(replay(self, small=small, dftable=dftable), self)
        return Summary(stata_report(self), self)

    def _repr_html_(self) -> str:
        """Jupyter's view of a fit: the summary's HTML."""
        return self.summary().as_html()

    # ---- statsmodels-style accessors (pandas objects, aliases of the tables) ----------
    @property
    def params(self) -> pd.Series:
        """Fixed-effect coefficients (statsmodels' ``params``; lme4's ``fixef``)."""
        return self.fixed["coef"].rename("params")

    @property
    def bse(self) -> pd.Series:
        """Standard errors of the fixed effects (statsmodels' ``bse``)."""
        return self.fixed["se"].rename("bse")

    @property
    def tvalues(self) -> pd.Series:
        """z (or t with ``dfmethod()``) statistics of the fixed effects."""
        col = "t" if "t" in self.fixed.columns else "z"
        return self.fixed[col].rename("tvalues")

    @property
    def pvalues(self) -> pd.Series:
        """p-values of the fixed effects."""
        return self.fixed["p"].rename("pvalues")

    def conf_int(self) -> pd.DataFrame:
        """Confidence intervals of the fixed effects at the fit's level (columns 0, 1)."""
        return self.fixed[["ci_lower", "ci_upper"]].set_axis([0, 1], axis=1)

    def cov_params(self) -> pd.DataFrame:
        """Covariance of the fixed effects (statsmodels' ``cov_params()``; lme4's
        ``vcov``): :attr:`fixed_vcov`."""
        return self.fixed_vcov

    @property
    def llf(self) -> float:
        """Log likelihood (statsmodels' ``llf``; lme4's ``logLik``)."""
        return self.loglik

    @property
    def nobs(self) -> int:
        """Observations used (statsmodels' ``nobs``)."""
        return self.n_obs

    @property
    def df_resid(self) -> int:
        """Observations less fixed effects (statsmodels' ``df_resid``)."""
        return int(self.n_obs - len(self.fixed))

    # ---- results as data and documents (semlevel.output) -----------------------------
    def to_dict(self) -> dict:
        """The results as plain Python (JSON-safe; NaN as None): see
        :func:`semlevel.output.records.fit_to_dict`."""
        from .output.records import fit_to_dict
        return fit_to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a strict JSON text."""
        from .output.records import fit_to_json
        return fit_to_json(self, indent=indent)

    def to_markdown(self) -> str:
        """The results as Markdown: facts, groups, fixed and random pipe tables."""
        from .output.markdown import fit_to_markdown
        return fit_to_markdown(self)

    def to_latex(self) -> str:
        """The results as LaTeX booktabs tabulars, for papers."""
        from .output.latex import fit_to_latex
        return fit_to_latex(self)

    def to_csv(self, path=None) -> str:
        """The fixed and random tables stacked as CSV; also written to ``path`` if given."""
        from .output.tables import fit_to_csv
        text = fit_to_csv(self)
        if path is not None:
            from pathlib import Path
            Path(path).write_text(text, encoding="utf-8", newline="")
        return text

    def __repr__(self) -> str:
        method = "REML" if self.reml else "ML"
        return (f"<semlevel Fit: {method}, n_obs={self.n_obs}, loglik={self.loglik:.6g}, "
                f"converged={self.converged}>")


@dataclass(frozen=True, eq=False)
class SEMFit(LikelihoodCriteria):
    """A fitted general model: ``loglik``, ``fixed`` (mean parameters and structural
    paths), ``random`` ((co)variances), ``aic``, ``bic``, ``converged``, ``n_obs`` (observed
    cells)."""

    model: SEMModel
    values: np.ndarray
    deviance: float
    xtvx: np.ndarray
    free: np.ndarray
    vcov: np.ndarray
    optimization: OptimizationSummary
    n_obs: int

    #: standard errors from the inverse joint observed information (lavaan, Stata ``sem``)
    se_convention = "full"

    def lrtest(self, other) -> LRTest:
        """Likelihood-ratio test against a nested fit of the same rows (a mixed ``Fit`` or
        another ``SEMFit``): 2 |delta log L| on the difference in free parameters. No
        boundary correction is made: the note says so."""
        if not isinstance(other, LikelihoodCriteria):
            raise TypeError(f"lrtest compares two fits: got {type(other).__name__}")
        if self.n_obs != other.n_obs:
            raise ValueError(f"the fits use different observations ({self.n_obs} vs "
                             f"{other.n_obs}): fit both on the same rows")
        big, small = (self, other) if self.n_params >= other.n_params else (other, self)
        df = int(big.n_params - small.n_params)
        stat = max(2.0 * (big.loglik - small.loglik), 0.0)
        p = float(chi2_sf(stat, df)) if df > 0 else np.nan
        return LRTest(statistic=stat, df=df, p=p,
                      note="Assumes the null hypothesis is not on the boundary of the "
                      "parameter space; if it is, the test is conservative.")

    def _not_on_this_route(self, what: str):
        raise NotImplementedError(
            f"{what} are not available for general SEM paths (regress/path) yet: the RAM "
            "evaluation releases labels by slot only (scoretests()); compare other nested "
            "fits with lrtest(), or test the mixed part before adding the paths")

    def scoretests(self, labels: list[str] | None = None,
                   information: str = "observed") -> pd.DataFrame:
        """Joint score test of releasing each label that repeats across slots (df = its
        members - 1), with the observed information (lavaan's ``lavTestScore`` with
        ``information = "observed"``); labels that cannot be released by slot are listed
        with the reason. See :mod:`semlevel.inference.sem_score`."""
        from .inference.sem_score import sem_score_tests
        return sem_score_tests(self, labels, information)

    def scoretest(self, *args, **kwargs):
        """Not available on this route (raises, saying what is missing): release labels
        by slot with :meth:`scoretests`."""
        self._not_on_this_route("score tests of an arbitrary relaxed model")

    def modindices(self, *args, **kwargs):
        """Not available on this route yet (raises, saying what is missing)."""
        self._not_on_this_route("modification indices")

    def _table(self, idx, se) -> pd.DataFrame:
        names = self.model.labels.index[idx]
        est = self.values[idx]
        z = norm_ppf(0.975)
        with np.errstate(divide="ignore", invalid="ignore"):
            zs = est / se
        return pd.DataFrame({"coef": est, "se": se, "z": zs, "p": 2 * norm_sf(np.abs(zs)),
                             "ci_lower": est - z * se, "ci_upper": est + z * se},
                            index=pd.Index(names, name="term"))

    def _se(self, idx: np.ndarray) -> np.ndarray:
        pos = {int(j): i for i, j in enumerate(self.free)}
        return np.array([np.sqrt(self.vcov[pos[j], pos[j]]) if j in pos else np.nan
                         for j in idx])

    @property
    def fixed(self) -> pd.DataFrame:
        """Mean parameters and structural coefficients, with standard errors from the joint
        observed information."""
        lab = self.model.labels
        coef = np.flatnonzero((lab["kind"].to_numpy() == "coef"))
        path = np.flatnonzero((lab["kind"].to_numpy() == "path"))
        return pd.concat([self._table(coef, self._se(coef)), self._table(path, self._se(path))])

    @property
    def random(self) -> pd.DataFrame:
        """(Co)variance parameters: estimate and standard error."""
        lab = self.model.labels
        idx = np.flatnonzero(np.isin(lab["kind"].to_numpy(), ["var", "cov", "resvar", "rescov"]))
        return pd.DataFrame({"estimate": self.values[idx], "se": self._se(idx)},
                            index=pd.Index(lab.index[idx], name="label"))


def _wald_table(est: np.ndarray, vcov: np.ndarray, names: list[str], kinds, level: float
                ) -> pd.DataFrame:
    """estimate, se, z, p, Wald interval at ``level`` percent, and kind, per parameter."""
    se = np.sqrt(np.clip(np.diag(vcov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = est / se
    q = float(norm_ppf(0.5 + level / 200.0))
    return pd.DataFrame({"estimate": est, "se": se, "z": z, "p": 2 * norm_sf(np.abs(z)),
                         "ci_lower": est - q * se, "ci_upper": est + q * se,
                         "kind": list(kinds)}, index=pd.Index(names, name="label"))


@dataclass(frozen=True, eq=False)
class ADFFit:
    """A model fitted by its moments with the ADF weight matrix (:func:`semlevel.adf`;
    Stata ``sem, method(adf)``, lavaan ``estimator = "WLS"``): ``params`` (every free
    label), ``fixed``, ``random``, ``test`` (the chi-squared test of the model against
    the saturated moments), ``n_obs`` (the complete rows used) and ``n_incomplete``
    (rows left out by ``listwise``). There is no likelihood: no ``loglik``, AIC or BIC.
    Variances are not bounded at zero (the moments may imply a negative one: reported,
    with its Wald interval)."""

    model: PathModel
    names: list[str]
    estimate: object = field(repr=False)            # engine.adf.ADFEstimate
    n_obs: int = 0
    n_incomplete: int = 0
    level: float = 95.0

    @property
    def converged(self) -> bool:
        return bool(self.estimate.converged)

    @cached_property
    def params(self) -> pd.DataFrame:
        """estimate, se, z, p, ci_lower, ci_upper (Wald) of every free label."""
        return _wald_table(self.estimate.theta, self.estimate.vcov, self.names,
                           self.model.labels.loc[self.names, "kind"].to_numpy(), self.level)

    @property
    def fixed(self) -> pd.DataFrame:
        """The coefficients: coef, se, z, p, ci_lower, ci_upper (as ``Fit.fixed``)."""
        p = self.params[self.params["kind"] == "coef"]
        return p.drop(columns="kind").rename(columns={"estimate": "coef"}) \
            .rename_axis("term")

    @property
    def random(self) -> pd.DataFrame:
        """The variance parameters: estimate, se, ci_lower, ci_upper."""
        p = self.params[self.params["kind"] != "coef"]
        return p[["estimate", "se", "ci_lower", "ci_upper"]]

    @property
    def test(self) -> dict:
        """The model against the saturated means and covariances: chi2, df, p."""
        e = self.estimate
        return {"chi2": float(e.chi2), "df": int(e.df),
                "p": float(chi2_sf(e.chi2, e.df)) if e.df > 0 else np.nan}

    def summary(self) -> str:
        """A plain-text report: the sample, the test of the model and the parameters."""
        t = self.test
        lines = [f"ADF (asymptotically distribution-free) estimation of the moments: "
                 f"{self.model.outcome}",
                 f"Complete rows used: {self.n_obs}"
                 + (f" ({self.n_incomplete} rows with missing slots left out: listwise)"
                    if self.n_incomplete else ""),
                 f"Model vs. saturated: chi2({t['df']}) = {t['chi2']:.4f}, "
                 f"Prob > chi2 = {t['p']:.4f}",
                 "" if self.converged else "Warning: the Gauss-Newton steps did not converge",
                 ""]
        body = self.params.drop(columns="kind").to_string(float_format=lambda x: f"{x:.6g}")
        return "\n".join(line for line in lines if line is not None) + body + "\n"

    def __repr__(self) -> str:
        t = self.test
        return (f"<semlevel ADFFit: n_obs={self.n_obs}, chi2({t['df']})={t['chi2']:.4g}, "
                f"converged={self.converged}>")


@dataclass(frozen=True, eq=False)
class MissingXFit:
    """A ``mixed`` model fitted by full-information ML with its covariates as jointly
    normal variables (``sl.mixed(..., missing_x="fiml")``; Stata ``sem``'s
    ``method(mlmv)``, lavaan ``missing="ml", fixed.x=FALSE``): every observed outcome is
    used, its missing covariates integrated out. ``params`` holds every free parameter:
    the model's labels, then the covariate block's means (``mean(x[t=1])``), variances
    and covariances; ``loglik`` is the joint log likelihood of outcomes and covariates
    (not comparable with a conditional ``mixed`` fit's)."""

    model: PathModel
    names: list[str]
    kinds: list[str]
    estimate: object = field(repr=False)           # engine.joint_fiml.JointEstimate
    n_obs: int = 0                                  # outcomes used
    n_rows: int = 0                                 # top-level units
    n_listwise: int = 0                             # outcomes listwise deletion would keep
    missing_values: dict = field(default_factory=dict)   # covariate -> values modelled
    level: float = 95.0

    @property
    def loglik(self) -> float:
        return float(self.estimate.loglik)

    @property
    def converged(self) -> bool:
        return bool(self.estimate.converged)

    @property
    def n_params(self) -> int:
        return len(self.names)

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2.0 * self.n_params

    @property
    def bic(self) -> float:
        return -2.0 * self.loglik + np.log(self.n_rows) * self.n_params

    @cached_property
    def params(self) -> pd.DataFrame:
        """estimate, se, z, p, ci_lower, ci_upper (Wald) and kind of every parameter."""
        return _wald_table(self.estimate.theta, self.estimate.vcov, self.names, self.kinds,
                           self.level)

    @property
    def fixed(self) -> pd.DataFrame:
        """The coefficients: coef, se, z, p, ci_lower, ci_upper (as ``Fit.fixed``)."""
        p = self.params[self.params["kind"] == "coef"]
        return p.drop(columns="kind").rename(columns={"estimate": "coef"}).rename_axis("term")

    @property
    def random(self) -> pd.DataFrame:
        """The model's variance parameters: estimate, se, ci_lower, ci_upper."""
        p = self.params[~self.params["kind"].isin(["coef", "covariate"])]
        return p[["estimate", "se", "ci_lower", "ci_upper"]]

    @property
    def covariates(self) -> pd.DataFrame:
        """The covariate block: means, variances and covariances."""
        p = self.params[self.params["kind"] == "covariate"]
        return p[["estimate", "se", "ci_lower", "ci_upper"]]

    def summary(self) -> str:
        """A plain-text report: the sample (what listwise deletion would have kept), the
        likelihood and the parameters."""
        miss = ", ".join(f"{n} missing {v}" for v, n in self.missing_values.items())
        lines = [f"Mixed model by full-information ML with the covariates as jointly normal "
                 f"variables (missing_x='fiml'): {self.model.outcome}",
                 f"Outcomes used: {self.n_obs} in {self.n_rows} units "
                 f"({miss or 'no missing covariate values'}; listwise deletion would keep "
                 f"{self.n_listwise})",
                 f"Log likelihood (outcomes and covariates) = {self.loglik:.6f}",
                 "" if self.converged else f"Warning: not converged ({self.estimate.message})",
                 ""]
        body = self.params.drop(columns="kind").to_string(float_format=lambda x: f"{x:.6g}")
        return "\n".join(lines) + body + "\n"

    def __repr__(self) -> str:
        return (f"<semlevel MissingXFit: n_obs={self.n_obs}, loglik={self.loglik:.6g}, "
                f"converged={self.converged}>")
