"""Where the work on the partitions runs: a ``dask.distributed`` cluster, or Dask's local
scheduler in this process.

Only small objects come back to the client: each pass maps a function over the
partitions and either gathers its (small) results or keeps them on the workers
(futures) for later passes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["Backend", "get_backend", "require_dask"]


def require_dask():
    """Import dask, with a clear error when the optional dependency is missing."""
    try:
        import dask
    except ImportError as exc:  # pragma: no cover - exercised without dask only
        raise ImportError("fitting on Dask DataFrames needs Dask: pip install "
                          "'semlevel[dask]'") from exc
    return dask


class Backend:
    """Runs delayed tasks and maps functions over kept results.

    With a ``distributed.Client`` the results of :meth:`persist` stay on the workers
    (futures) and :meth:`map` runs there; without one, Dask's local scheduler computes
    the tasks in this process and :meth:`map` is a loop.
    """

    def __init__(self, client=None):
        self.client = client

    @property
    def distributed(self) -> bool:
        return self.client is not None

    def describe(self) -> str:
        if self.client is None:
            return "Dask local scheduler"
        return f"dask.distributed cluster at {self.client.scheduler.address}"

    def compute(self, tasks: Sequence) -> list:
        """Compute delayed tasks and bring their results to the client."""
        if not tasks:
            return []
        if self.client is None:
            dask = require_dask()
            return list(dask.compute(*tasks))
        return self.client.gather(self.client.compute(list(tasks)))

    def persist(self, tasks: Sequence) -> list:
        """Compute delayed tasks and keep their results where they were computed."""
        if self.client is None:
            return self.compute(tasks)
        return list(self.client.compute(list(tasks)))

    def map(self, fn: Callable, handles: Sequence, *args: Any) -> list:
        """``[fn(h, *args) for h in handles]``, on the workers when distributed; results
        are gathered to the client in the order of ``handles``."""
        if self.client is None:
            return [fn(h, *args) for h in handles]
        futures = self.client.map(fn, list(handles), *[[a] * len(handles) for a in args])
        return self.client.gather(futures)

    def reduce(self, fn: Callable[[list], Any], handles: Sequence, fan_in: int = 8):
        """Tree reduction ``fn([a, b, ...])`` of kept results; only the final one is
        brought to the client."""
        level = list(handles)
        if not level:
            raise ValueError("nothing to reduce")
        if self.client is None:
            while len(level) > 1:
                level = [fn(level[i:i + fan_in]) for i in range(0, len(level), fan_in)]
            return level[0]
        while len(level) > 1:
            level = [self.client.submit(fn, level[i:i + fan_in], pure=False)
                     for i in range(0, len(level), fan_in)]
        return self.client.gather(level[0])

    def release(self, handles: Sequence) -> None:
        """Free kept results on the workers."""
        if self.client is not None:
            self.client.cancel([h for h in handles if hasattr(h, "key")])


def get_backend(client=None) -> Backend:
    """The backend of ``client``; ``client=False``: Dask's local scheduler; None: the
    current ``distributed`` client if there is one, else the local scheduler."""
    if client is False:
        return Backend(None)
    if client is not None:
        return Backend(client)
    try:
        from distributed import default_client
    except ImportError:
        return Backend(None)
    try:
        return Backend(default_client())
    except ValueError:
        return Backend(None)
