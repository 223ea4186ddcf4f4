"""The iteration log, as Stata's ``mixed`` prints it (``log`` option; quiet by default)::

    Performing gradient-based optimization:
    Iteration 0:  Log likelihood = -1016.4596
    Iteration 1:  Log likelihood = -1014.9283  (Fisher scoring)
    ...
    Computing standard errors ...

The optimiser (:func:`semlevel.engine.optimize.newton`) only calls a callback; this
module turns its :class:`~semlevel.engine.optimize.IterationEvent` s into lines.
Iteration 0 is the starting point (Stata's is the end of its EM iterations, which we do
not run), so the first lines differ from Stata's; the last one is the maximum.
Notes after a line: ``(Fisher scoring)`` for a scoring step, ``(backed up)`` when the
line search shortened the step, ``(not concave)`` when the Hessian was not positive
definite and had to be modified (Stata's words for the last two).
"""
from __future__ import annotations

import sys
from typing import TextIO

from ..engine.optimize import IterationEvent
from .numbers import stata_g

__all__ = ["IterationLog", "wants_log", "log_line"]


def wants_log(spec) -> bool:
    """Whether a parsed ``mixed`` specification asked for the log (``log``, not ``nolog``)."""
    display = set(((getattr(spec, "extra", None) or {}).get("display")) or [])
    return "log" in display and "nolog" not in display


def log_line(event: IterationEvent, reml: bool) -> str:
    """One ``Iteration k:  Log likelihood = ...`` line."""
    name = "Log restricted-likelihood" if reml else "Log likelihood"
    line = f"Iteration {event.iteration}:  {name} = {stata_g(-0.5 * event.deviance, 10):>10}"
    notes = []
    if event.step == "scoring":
        notes.append("(Fisher scoring)")
    if not event.concave:
        notes.append("(not concave)")
    if 0.0 < event.step_length < 1.0:
        notes.append("(backed up)")
    return line + ("  " + " ".join(notes) if notes else "")


class IterationLog:
    """A callback for :func:`~semlevel.engine.fitting.fit_model` that prints the log.

    ``stream`` defaults to the standard output at the time of each line.
    """

    def __init__(self, reml: bool = False, stream: TextIO | None = None) -> None:
        self.reml = bool(reml)
        self.stream = stream
        self.lines: list[str] = []

    def _print(self, text: str) -> None:
        self.lines.append(text)
        out = self.stream if self.stream is not None else sys.stdout
        print(text, file=out, flush=True)

    def __call__(self, event: IterationEvent) -> None:
        if event.step == "start":
            self._print("Performing gradient-based optimization:")
        if event.step == "done":
            self._print("")
            self._print("Computing standard errors ...")
            self._print("")
            return
        self._print(log_line(event, self.reml))
