"""A Dask DataFrame partitioned by top-level unit, and the passes over it."""
from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from ..data.sample import check_columns
from ..engine.coefficient_basis import CoefficientBasis
from ..engine.stats import PoolStats
from ..model.pathmodel import PathModel
from .backend import Backend, require_dask
from .facts import Facts, combine_facts, partition_facts
from .partition import (Context, Moments, combine_moments, partition_moments,
                        partition_stats)
from .plan import Plan
from .pools import merge_capped

__all__ = ["DaskSource", "partition_by_top", "POOL_LIMIT"]

#: largest merged pooled statistics (bytes) brought to the client; above it the
#: statistics stay on the workers and every evaluation is a map-reduce over them
POOL_LIMIT = 64e6


def is_dask_frame(data) -> bool:
    """Whether ``data`` is a Dask DataFrame (without importing Dask if it is not)."""
    mod = type(data).__module__
    return mod.startswith("dask") and hasattr(data, "to_delayed") and hasattr(data, "columns")


def partition_by_top(data, plan: Plan, npartitions: int | None = None):
    """The columns the model reads, with all rows of a top-level unit in one partition:
    as they are when the frame is indexed by the top level with known divisions (e.g.
    after ``set_index``), else by a shuffle on the top-level id."""
    top = plan.top
    if data.index.name == top and top not in data.columns:
        if not data.known_divisions:
            raise ValueError(f"the frame is indexed by {top!r} without known divisions, so "
                             "a unit's rows may be in several partitions: reset_index() "
                             "or set_index() it")
        data = data.reset_index()
        return data[plan.columns]
    frame = data[plan.columns]
    return frame.shuffle(on=top, npartitions=npartitions)


class DaskSource:
    """The data of a model on Dask: the partitioned frame, where the work runs, the
    plan, the facts of the first pass and the prototype design rows."""

    def __init__(self, frame, backend: Backend, plan: Plan, facts: Facts,
                 design: pd.DataFrame):
        self.frame = frame
        self.backend = backend
        self.plan = plan
        self.facts = facts
        self.design = design
        self._moments: dict = {}

    # ---- opening ---------------------------------------------------------------------
    @staticmethod
    def check_frame(data, plan: Plan) -> None:
        """Columns and the outcome's type, from the frame's metadata."""
        names = pd.DataFrame(columns=list(data.columns) + ([data.index.name]
                                                           if data.index.name else []))
        check_columns(names, [plan.depvar], "outcome variable")
        check_columns(names, list(plan.levels), "level variable")
        check_columns(names, list(plan.covariates))
        dtype = data.dtypes[plan.depvar]
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise ValueError(f"outcome {plan.depvar!r} is not numeric (dtype {dtype}); "
                             "convert it to numbers first")

    @classmethod
    def open(cls, data, plan: Plan, backend: Backend, persist: bool | None = None,
             npartitions: int | None = None) -> "DaskSource":
        """Partition ``data`` by top-level unit (kept on the workers when ``persist``,
        by default when distributed) and run the first pass."""
        cls.check_frame(data, plan)
        frame = partition_by_top(data, plan, npartitions)
        if persist is None:
            persist = backend.distributed
        if persist:
            frame = backend.client.persist(frame) if backend.distributed else frame.persist()
        source = cls(frame, backend, plan, facts=None, design=None)
        facts = backend.reduce(combine_facts, source._keep(partition_facts, plan))
        if facts.n_obs == 0:
            raise ValueError("no observations left: every row has a missing outcome, "
                             "covariate or level id (" + ", ".join(
                                 f"{n} {w}" for w, n in facts.dropped.items()) + ")")
        source.facts = facts
        return source

    # ---- passes ----------------------------------------------------------------------
    def _tasks(self, fn, *args) -> list:
        dask = require_dask()
        parts = self.frame.to_delayed()
        # one graph key per argument (not a copy per task), recomputable if a worker dies
        shared = [dask.delayed(a, pure=True, traverse=False) for a in args]
        return [dask.delayed(fn, pure=False)(p, *shared) for p in parts]

    def _keep(self, fn, *args) -> list:
        """``fn(partition, *args)`` on every partition, results kept where computed."""
        return self.backend.persist(self._tasks(fn, *args),
                                    getattr(fn, "__name__", "partitions").replace("_", " "))

    def context(self, template: PathModel) -> Context:
        return Context(plan=self.plan, slots=self.facts.slots, design=self.design,
                       template=template)

    def moments(self, template: PathModel) -> Moments:
        """Second pass (once per coefficient structure): the moments of the coefficient
        design and the outcome, the loadings' mean squares."""
        key = (tuple(template.labels.index), tuple(template.labels["free"]),
               tuple(np.nan_to_num(template.labels["value"].to_numpy(dtype=float))),
               template.path_label.tobytes())
        if key not in self._moments:
            handles = self._keep(partition_moments, self.context(template))
            self._moments[key] = self.backend.reduce(combine_moments, handles)
        return self._moments[key]

    def check_rank(self, template: PathModel) -> None:
        """The builder's full-rank check of the fixed-effects design, on the whole data
        (its triangular factor has the same column dependencies)."""
        from ..syntax.factor import find_collinear
        m = self.moments(template)
        k = m.k
        if not k:
            return
        terms = list(template.terms)
        order = [k - 1] + list(range(k - 1)) if self.plan.spec.constant else list(range(k))
        bad = sorted(order[j] for j in find_collinear(m.R[:k, :k][:, order]))
        if bad:
            names = ", ".join(f"'{terms[j]}'" for j in bad)
            verb = "is" if len(bad) == 1 else "are"
            raise ValueError(f"singular fixed-effects design: {names} {verb} collinear with "
                             "earlier columns")

    def statistics(self, template: PathModel, basis: CoefficientBasis, limit: float
                   ) -> tuple[PoolStats | None, list]:
        """Third pass: every partition's pooled statistics. Returns the whole data's
        merged PoolStats when they take at most ``limit`` bytes (and keeps nothing on
        the workers), else None and the per-partition statistics kept on the workers."""
        handles = self._keep(partition_stats, self.context(template), basis)
        merged = self.backend.reduce(partial(merge_capped, limit=limit), handles)
        if merged is False:
            return None, handles
        self.backend.release(handles)
        if merged is None:
            raise ValueError("no observations in the estimation sample")
        return merged, []
