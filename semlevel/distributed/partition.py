"""Work on one partition (whole top-level units): its part of the model, the moments
that fix the global centring and starting values, and its pooled statistics."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..data.wide import OBS_KEY, build_wide
from ..engine.coefficient_basis import CoefficientBasis
from ..model.coefficients import coefficient_design, fixed_offset
from ..engine.stats import PoolStats, pool_statistics
from ..model.pathmodel import PathModel
from ..syntax.factor import design_matrix
from .plan import Plan, sample_of

__all__ = ["Context", "partition_model", "Moments", "partition_moments", "combine_moments",
           "partition_stats"]


@dataclass(frozen=True)
class Context:
    """What a partition needs besides its rows: the plan, the global slot table, the
    prototype design rows and the model's structure (a PathModel without observations)."""

    plan: Plan
    slots: pd.DataFrame
    design: pd.DataFrame
    template: PathModel


def _with_prototype(design: pd.DataFrame, data: pd.DataFrame, columns: list[str]
                    ) -> pd.DataFrame:
    """The prototype design rows, then the partition's rows (factor columns in the
    partition's dtype, continuous ones as floats)."""
    out = {}
    for c in columns:
        if c in design.columns and not pd.api.types.is_float_dtype(design[c].dtype):
            out[c] = pd.concat([design[c].astype(data[c].dtype), data[c]], ignore_index=True)
        else:
            out[c] = np.concatenate([design[c].to_numpy(dtype=float),
                                     data[c].to_numpy(dtype=float)])
    return pd.DataFrame(out)


def partition_model(df: pd.DataFrame, ctx: Context) -> PathModel | None:
    """The model's part on one partition: its wide rows keyed by the global slot table,
    its design columns those of the whole data. None when no row is complete."""
    plan, template = ctx.plan, ctx.template
    sample = sample_of(df, plan)
    if not sample.used.any():
        return None
    wide = build_wide(df, plan.depvar, list(plan.levels), sample, list(plan.covariates),
                      key_by=plan.key_by)
    keys = list(plan.levels[1:]) + [OBS_KEY]
    local = wide.slots[keys].reset_index(drop=True)
    glob = ctx.slots[keys].reset_index(drop=True).reset_index(names="_slot")
    pos = local.merge(glob, on=keys, how="left")["_slot"]
    if pos.isna().any():
        raise RuntimeError("a partition has a slot that the first pass did not see: did "
                           "the data change between passes?")
    slot = pos.to_numpy(dtype=np.int64)[wide.slot]
    spec = plan.spec
    n_proto = len(ctx.design)
    cols = [c for c in ctx.design.columns if c in wide.data.columns]
    both = _with_prototype(ctx.design, wide.data, cols)
    fixed = design_matrix(list(spec.fixed_terms), both, spec.constant, check_rank=False)
    if list(fixed.labels) != list(template.terms):
        raise RuntimeError("internal error: a partition's fixed-effects columns differ from "
                           "the model's")
    z_cols, names = [], []
    for eq in spec.equations:
        d = design_matrix(list(eq.terms), both, eq.constant, check_rank=False)
        names += list(d.re_labels)
        z_cols += list(d.matrix[n_proto:].T)
    if names != list(template.effects["effect"]):
        raise RuntimeError("internal error: a partition's random effects differ from the "
                           "model's")
    Z = np.column_stack(z_cols) if z_cols else np.zeros((wide.n_obs, 0))
    data = replace(wide, slot=slot, slots=ctx.slots)
    return replace(template, data=data, X=fixed.matrix[n_proto:], Z=Z)


@dataclass
class Moments:
    """Additive moments of some partitions: the triangular factor of [Xt, y - offset, y]
    (Xt the coefficient design), per random effect the sum of squares and count of its
    nonzero loadings, and the observation count."""

    R: np.ndarray
    z2: np.ndarray
    nz: np.ndarray
    n_obs: int

    @property
    def k(self) -> int:
        return self.R.shape[1] - 2

    def basis(self) -> CoefficientBasis:
        """The coordinates of the coefficients (the OLS centring of y - offset and the
        orthonormalising basis of the design) from the triangular factor, as the
        in-memory engine derives them from its own (:mod:`semlevel.engine.
        coefficient_basis`): both round them, so both use the same coordinates."""
        return CoefficientBasis.from_triangular(self.R[: self.k + 1, : self.k + 1])

    def rss(self) -> float:
        """Residual sum of squares of y on the coefficient design."""
        k = self.k
        return float(np.sum(self.R[k:, k + 1] ** 2))

    def logdet_xtx(self) -> float:
        """log |Xt'Xt|."""
        d = np.abs(np.diag(self.R)[: self.k])
        return float(2.0 * np.sum(np.log(d))) if self.k else 0.0


def _triangular(W: np.ndarray) -> np.ndarray:
    """R of a QR factorisation of W, padded to square (W = Q R, R'R = W'W)."""
    p = W.shape[1]
    R = np.linalg.qr(W, mode="r") if len(W) else np.zeros((0, p))
    if R.shape[0] < p:
        R = np.vstack([R, np.zeros((p - R.shape[0], p))])
    return R


def partition_moments(df: pd.DataFrame, ctx: Context) -> Moments | None:
    """The :class:`Moments` of one partition (None when no row is complete)."""
    model = partition_model(df, ctx)
    if model is None:
        return None
    Xt, _ = coefficient_design(model)
    y = model.data.y
    W = np.column_stack([Xt, y - fixed_offset(model), y])
    Z = model.Z
    nzm = Z != 0
    return Moments(R=_triangular(W), z2=(Z * Z).sum(axis=0), nz=nzm.sum(axis=0),
                   n_obs=model.data.n_obs)


def combine_moments(parts: list[Moments | None]) -> Moments | None:
    """Moments of the union of disjoint partitions (a stacked QR of the factors)."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    R = _triangular(np.vstack([p.R for p in parts])) if len(parts) > 1 else parts[0].R
    return Moments(R=R, z2=sum(p.z2 for p in parts), nz=sum(p.nz for p in parts),
                   n_obs=sum(p.n_obs for p in parts))


def partition_stats(df: pd.DataFrame, ctx: Context, basis: CoefficientBasis
                    ) -> PoolStats | None:
    """Pooled statistics of one partition, in the global coordinates ``basis``."""
    model = partition_model(df, ctx)
    if model is None:
        return None
    return pool_statistics(model, basis=basis)
