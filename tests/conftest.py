"""Fixtures shared by the test modules.

Every dataset a test reads comes from the package (``sl.datasets.load``) or from
``tests/data``: nothing outside the repository (a clone at any path has no ``../shared``).
"""
from __future__ import annotations

import pandas as pd
import pytest

import semlevel as sl


@pytest.fixture(scope="session")
def pig() -> pd.DataFrame:
    """The pig weights of the ``mixed`` manual (examples 1-3), long form."""
    return sl.datasets.load("pig")
