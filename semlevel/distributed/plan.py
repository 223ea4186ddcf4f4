"""What every partition needs to know about the model before it sees the data: the
columns, the levels and the factor variables of a ``mixed`` specification, and the
checks that refuse what cannot be fitted part by part."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.sample import Sample
from ..syntax.factor import expand_terms, variables_of
from ..syntax.spec import MixedSpec

__all__ = ["Plan", "make_plan", "sample_of"]


@dataclass(frozen=True)
class Plan:
    """The data side of a specification: outcome, covariates, levels (top first), the
    variables used as factors and those used as continuous, and the slot keying."""

    spec: MixedSpec
    depvar: str
    covariates: tuple[str, ...]
    levels: tuple[str, ...]
    factor_vars: tuple[str, ...]
    continuous_vars: tuple[str, ...]
    key_by: str
    n_terms: int

    @property
    def top(self) -> str:
        return self.levels[0]

    @property
    def columns(self) -> list[str]:
        """Every column the fit reads, each once."""
        return list(dict.fromkeys([self.depvar, *self.covariates, *self.levels]))


def make_plan(spec: MixedSpec, key_by: str = "value") -> Plan:
    """The :class:`Plan` of ``spec``; refuses what a partitioned fit does not support."""
    unsupported = spec.extra.get("unsupported") or {}
    if spec.residuals is not None:
        raise ValueError("residuals() is not supported on Dask data yet: fit residual "
                         "structures on a pandas DataFrame")
    if unsupported:
        raise ValueError(f"option {next(iter(unsupported))}() is not supported yet by "
                         "semlevel")
    extra = spec.extra
    for name in ("dfmethod", "dftable", "constraints", "constraints_numbered"):
        if extra.get(name) is not None:
            option = "constraints" if name == "constraints_numbered" else name
            raise ValueError(f"option {option}() is not supported on Dask data yet")
    if extra.get("weights") is not None:
        raise ValueError("weights are not supported on Dask data yet")
    vce = extra.get("vce")
    if vce is not None and getattr(vce, "kind", "oim") != "oim":
        raise ValueError(f"vce({vce.kind}) is not supported on Dask data yet")
    for key in ("dfmethod", "constraints"):
        if extra.get(key) is not None:
            raise ValueError(f"{key}() is not supported on Dask data yet")
    levels = tuple(spec.levels)
    if not levels:
        raise ValueError("a model without random-effects levels has no top-level units to "
                         "partition the data by; fit it on a pandas DataFrame")
    if "_all" in levels:
        raise ValueError("crossed effects (_all: R.var) make all the data one top-level "
                         "unit, which cannot be split into partitions; fit them on a pandas "
                         "DataFrame")
    if key_by not in ("value", "order"):
        raise ValueError(f"key_by must be 'value' or 'order', not {key_by!r}")
    terms = list(spec.fixed_terms) + [t for eq in spec.equations for t in eq.terms]
    expanded = expand_terms(terms)
    for term in expanded:
        if term.kind == "R":
            raise ValueError(f"{term.text}: R. terms are not supported on Dask data")
        for part in term.parts:
            if part.factor and part.base == "freq":
                raise ValueError(f"{part.text}: the most frequent level of a factor is not "
                                 "known before the data are read; name the base level "
                                 f"(ib#.{part.var}) on Dask data")
    factor_vars = tuple(dict.fromkeys(p.var for t in expanded for p in t.parts if p.factor))
    cont = tuple(dict.fromkeys(p.var for t in expanded for p in t.parts if not p.factor))
    fixed_vars = variables_of(list(spec.fixed_terms))
    re_vars = [v for eq in spec.equations for v in variables_of(list(eq.terms))]
    covariates = tuple(dict.fromkeys(fixed_vars + re_vars))
    return Plan(spec=spec, depvar=spec.depvar, covariates=covariates, levels=levels,
                factor_vars=factor_vars, continuous_vars=cont, key_by=key_by,
                n_terms=len(expanded) + 1)


def sample_of(df: pd.DataFrame, plan: Plan) -> Sample:
    """Listwise deletion of one partition, counted as :func:`semlevel.data.sample.
    select_sample` counts it (outcome, then covariates, then level ids; each row once),
    but without refusing a partition that has no complete row."""
    n = len(df)
    used = np.ones(n, dtype=bool)
    dropped: dict[str, int] = {}
    groups = [("outcome", [plan.depvar]), ("covariate", list(plan.covariates)),
              ("level id", list(plan.levels))]
    for kind, cols in groups:
        for col in dict.fromkeys(cols):
            miss = df[col].isna().to_numpy() & used
            if miss.any():
                dropped[f"missing {col}" + (" (level id)" if kind == "level id" else "")] = \
                    int(miss.sum())
                used &= ~miss
    return Sample(n_input=n, used=used, dropped=dropped)
