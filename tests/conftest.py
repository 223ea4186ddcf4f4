"""Fixtures shared by the test modules.

Every dataset a test reads comes from the package (``sl.datasets.load``) or from
``tests/data``: nothing outside the repository (a clone at any path has no ``../shared``).
"""
from __future__ import annotations

import os

# one BLAS thread per process: the suite runs on two pytest-xdist workers on two cores,
# and multithreaded BLAS in each would oversubscribe them (set before numpy loads;
# workers and the CLI subprocesses inherit it)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import semlevel as sl  # noqa: E402


@pytest.fixture(scope="session")
def pig() -> pd.DataFrame:
    """The pig weights of the ``mixed`` manual (examples 1-3), long form."""
    return sl.datasets.load("pig")


@pytest.fixture(scope="session")
def endogenous_fits() -> dict:
    """The instrumental-variable data of tests/data/sem_paths (lavaan's models A and B):
    ``{"data": ..., "A": naive fit (x regressed on z), "B": with cov(e.y,e.x)}``, fitted
    once for every module that needs them (a general-SEM fit takes seconds)."""
    import pathlib
    import warnings
    data = pd.read_csv(pathlib.Path(__file__).parent / "data" / "sem_paths" / "endogenous.csv")
    m = sl.mixed_model("y x || id:", data=data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"data": data, "A": m.regress("x", on="z").fit(),
                "B": m.regress("x", on="z", correlated=True).fit()}
