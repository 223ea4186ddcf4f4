"""The one seam through which a lower layer offers a service of a higher one.

The package's layers import downward only (``pyproject.toml``'s import-linter contract):
``syntax -> data -> model -> engine -> results -> inference -> output/diagram -> api ->
cli``. Some conveniences users rely on sit on lower objects but are done by higher
layers: ``model.fit()`` (the engine), ``model.diagram()`` (the diagram layer). The lower
object asks for the service by name here; the package's ``__init__`` registers each
provider as a (module, attribute) pair, imported when first asked for. Nothing else is
registered, and nothing here imports semlevel.
"""
from __future__ import annotations

from collections.abc import Callable

__all__ = ["provide", "service", "SERVICES"]

#: every service, and the layer that provides it (documentation and a check of names)
SERVICES = {
    "fit": "engine: fit a PathModel (engine.fitting.fit_model)",
    "fit_at": "engine: evaluate a PathModel at given values (engine.fitting.fit_at)",
    "fit_sem": "engine: fit a general SEM model (engine.sem_fiml.fit_sem)",
    "diagram": "diagram: the path diagram of a model or fit (diagram.diagram)",
    "iteration_log": "output: the iteration log callback (output.iterlog.IterationLog)",
    "fit_result": "results: the engine's estimates as a Fit, vce(robust) applied",
    "sem_result": "results: the general-SEM route's estimates as a SEMFit",
}

_providers: dict[str, Callable | tuple[str, str]] = {}


def provide(name: str, provider: Callable | tuple[str, str]) -> None:
    """Register ``provider`` as the service ``name`` (one of :data:`SERVICES`): a
    callable, or ``(module, attribute)`` imported when the service is first asked for
    (so that importing semlevel does not import every layer)."""
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; services are {', '.join(SERVICES)}")
    _providers[name] = provider


def service(name: str) -> Callable:
    """The provider of service ``name``; a clear error if nothing provides it (only
    possible when a submodule is used without ``import semlevel``)."""
    try:
        provider = _providers[name]
    except KeyError:
        raise RuntimeError(f"no provider for {name!r} ({SERVICES.get(name, '?')})") \
            from None
    if isinstance(provider, tuple):
        import importlib
        module, attr = provider
        provider = _providers[name] = getattr(importlib.import_module(module), attr)
    return provider
