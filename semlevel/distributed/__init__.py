"""Fits on Dask DataFrames (``pip install 'semlevel[dask]'``).

The FIML likelihood is a sum over top-level units, so the data are partitioned by the
top-level id (a shuffle, or as they are when indexed by it with known divisions), each
partition's statistics are computed on the worker that holds it, and only small
matrices come to the client::

    import dask.dataframe as dd, semlevel as sl
    ddf = dd.read_parquet("panel/")                   # larger than memory
    fit = sl.mixed("y x || id: x", data=ddf)          # a distributed.Client is used if one
                                                      # exists, else the local scheduler

See docs/dask.md.
"""
from __future__ import annotations

from ..syntax.mixed import parse_mixed
from .backend import get_backend
from .remote import RemoteFit, RemotePathModel
from .skeleton import check_nesting, skeleton_of
from .source import POOL_LIMIT, DaskSource, is_dask_frame
from .plan import make_plan

__all__ = ["mixed_model", "mixed", "is_dask_frame", "RemotePathModel", "RemoteFit",
           "POOL_LIMIT"]


def mixed_model(spec: str, data, *, key_by: str = "value", client=None,
                persist: bool | None = None, npartitions: int | None = None,
                progress: bool | None = False, **options) -> RemotePathModel:
    """Build the path model of a ``mixed`` specification on a Dask DataFrame.

    ``client``: a ``distributed.Client`` (default: the current one, if any, else Dask's
    local scheduler). ``persist``: keep the partitioned columns in the workers' memory
    (spilled to disk beyond their limit) between the passes; default True on a cluster.
    ``npartitions``: partitions of the shuffle by top-level id (default: as the input).
    ``progress``: show each pass over the partitions (:mod:`semlevel.progress`: a line
    on a terminal, tqdm's bar in a notebook, a few plain lines in a log; None: only on a
    terminal).
    """
    parsed = parse_mixed(spec, **options)
    plan = make_plan(parsed, key_by)
    source = DaskSource.open(data, plan, get_backend(client, progress), persist, npartitions)
    check_nesting(plan, source.facts)
    model, design = skeleton_of(plan, source.facts, source.frame.dtypes)
    source.design = design
    remote = RemotePathModel(**{f: getattr(model, f) for f in model.__dataclass_fields__},
                             source=source)
    # the whole data's fixed-effects design must have full rank, as the builder requires
    source.check_rank(remote.template())
    return remote


def mixed(spec: str, data, *, key_by: str = "value", client=None,
          persist: bool | None = None, npartitions: int | None = None,
          progress: bool | None = False, **options) -> RemoteFit:
    """Fit a Stata ``mixed`` model on a Dask DataFrame (see :func:`mixed_model`)."""
    return mixed_model(spec, data, key_by=key_by, client=client, persist=persist,
                       npartitions=npartitions, progress=progress, **options).fit()
