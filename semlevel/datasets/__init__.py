"""Shipped example datasets that reproduce the examples of Stata's `mixed` manual.

Provenance of each file is in ``PROVENANCE.md`` beside this module.
"""
from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["names", "load", "path"]

_FILES = {"pig": "pig.csv", "productivity": "productivity.csv", "ovary": "ovary.csv", "t43": "t43.csv"}


def names() -> list[str]:
    """Names of the shipped datasets."""
    return sorted(_FILES)


def path(name: str) -> str:
    """Filesystem path of a shipped dataset's CSV file."""
    if name not in _FILES:
        raise ValueError(f"unknown dataset {name!r}; shipped datasets are {', '.join(names())}")
    return str(resources.files(__name__).joinpath(_FILES[name]))


def load(name: str) -> pd.DataFrame:
    """Load a shipped dataset as a long-form DataFrame."""
    return pd.read_csv(path(name))
