"""A progress display for long work (score tests over many labels, repeated fits) on
standard error: only when asked (``progress=True``), or, with ``progress=None``, when
standard error is a terminal. On a terminal it redraws one line; elsewhere (a log file,
CI) it prints a plain line per item up to ten items, and beyond that one line per tenth
of the work, so a log shows what was done without a thousand lines or a line joined by
carriage returns. In a Jupyter kernel with tqdm installed, tqdm's notebook bar is used
instead. A leaf module: every layer may use it."""
from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

__all__ = ["progress", "Progress"]

T = TypeVar("T")


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """Counts items done out of ``total`` and shows ``task: k/total item (elapsed)``."""

    def __init__(self, total: int | None, task: str, stream: TextIO | None = None) -> None:
        self.total, self.task = total, task
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream)
        self.done = 0
        self.start = time.monotonic()
        self._width = 0

    def _write(self, text: str, final: bool = False) -> None:
        if self.tty:
            pad = max(self._width - len(text), 0)
            self.stream.write("\r" + text + " " * pad + ("\n" if final else ""))
            self._width = len(text)
        else:
            step = 1 if not self.total or self.total <= 10 else self.total // 10
            if not final and self.done % step and self.done != self.total:
                return
            self.stream.write(text + "\n")
        self.stream.flush()

    def update(self, item: object = "") -> None:
        """One more item done (``item`` names it)."""
        self.done += 1
        of = f"/{self.total}" if self.total is not None else ""
        elapsed = time.monotonic() - self.start
        name = f" {item}" if item != "" else ""
        self._write(f"{self.task}: {self.done}{of}{name} ({elapsed:.1f} s)")

    def close(self) -> None:
        """The last line: how many items in how long."""
        elapsed = time.monotonic() - self.start
        self._write(f"{self.task}: {self.done} done in {elapsed:.1f} s", final=True)


def progress(items: Iterable[T], task: str, enabled: bool | None = False,
             total: int | None = None, stream: TextIO | None = None,
             name=None) -> Iterator[T]:
    """Iterate over ``items``, showing progress when ``enabled`` (``None``: only when the
    stream, standard error by default, is a terminal). ``name(item)`` labels an item."""
    out = stream if stream is not None else sys.stderr
    show = _isatty(out) if enabled is None else bool(enabled)
    if not show:
        yield from items
        return
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    if total == 0:
        return
    notebook = _notebook_bar(stream)
    if notebook is not None:                       # a Jupyter kernel with tqdm: its bar
        yield from notebook(items, desc=task, total=total)
        return
    bar = Progress(total, task, out)
    try:
        for item in items:
            yield item
            bar.update(name(item) if name else "")
    finally:
        bar.close()


def _notebook_bar(stream):
    """tqdm's notebook-aware bar when running in a Jupyter kernel (where standard error
    is no terminal, so the line display would print plain lines) and tqdm is installed;
    else None. Only for the default stream."""
    if stream is not None or "ipykernel" not in sys.modules:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm
