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

    def __init__(self, client=None, progress: bool | None = False):
        self.client = client
        #: show the passes over the partitions (semlevel.progress; None: on a terminal)
        self.progress = progress

    @property
    def distributed(self) -> bool:
        return self.client is not None

    def describe(self) -> str:
        if self.client is None:
            return "Dask local scheduler"
        return f"dask.distributed cluster at {self.client.scheduler.address}"

    def compute(self, tasks: Sequence, task: str = "partitions") -> list:
        """Compute delayed tasks and bring their results to the client (with the shared
        progress display when ``progress`` asks for it: one step per partition done)."""
        from ..progress import progress as show_progress
        if not tasks:
            return []
        if self.client is None:
            dask = require_dask()
            if not self.progress:
                return list(dask.compute(*tasks))
            import os
            step = max(os.cpu_count() or 1, 1)
            chunks = [list(tasks[i:i + step]) for i in range(0, len(tasks), step)]
            out: list = []
            for chunk in show_progress(chunks, task, self.progress, total=len(chunks)):
                out.extend(dask.compute(*chunk))
            return out
        futures = self.client.compute(list(tasks))
        if self.progress:
            from distributed import as_completed
            for _ in show_progress(as_completed(futures), task, self.progress,
                                   total=len(futures)):
                pass
        return self.client.gather(futures)

    def persist(self, tasks: Sequence, task: str = "partitions") -> list:
        """Compute delayed tasks and keep their results where they were computed (the
        progress display, when asked for, follows them to completion)."""
        if self.client is None:
            return self.compute(tasks, task)
        futures = list(self.client.compute(list(tasks)))
        if self.progress and futures:
            from distributed import as_completed
            from ..progress import progress as show_progress
            for _ in show_progress(as_completed(futures), task, self.progress,
                                   total=len(futures)):
                pass
        return futures

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


def get_backend(client=None, progress: bool | None = False) -> Backend:
    """The backend of ``client``; ``client=False``: Dask's local scheduler; None: the
    current ``distributed`` client if there is one, else the local scheduler.
    ``progress``: show the passes over the partitions."""
    if client is False:
        return Backend(None, progress)
    if client is not None:
        return Backend(client, progress)
    try:
        from distributed import default_client
    except ImportError:
        return Backend(None, progress)
    try:
        return Backend(default_client(), progress)
    except ValueError:
        return Backend(None, progress)
