"""The package's layers import downward only (issue 22): import-linter's contract in
pyproject.toml, every exception listed there with its reason; and the one seam
(semlevel.services) is filled for every service it names."""
from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest

import semlevel  # noqa: F401  (fills the services)
from semlevel import services

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_import_contract_is_kept():
    exe = shutil.which("lint-imports") or str(pathlib.Path(sys.executable).parent / "lint-imports")
    # --no-cache: a stale cache of an earlier tree once made a broken contract pass
    run = subprocess.run([exe, "--no-cache", "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "1 kept, 0 broken" in run.stdout


def test_every_service_is_provided():
    for name in services.SERVICES:
        assert callable(services.service(name)), name


def test_unknown_service_is_refused():
    with pytest.raises(KeyError, match="unknown service"):
        services.provide("nosuch", print)


def test_no_import_cycle_among_modules():
    """No module imports another that imports it back (imports in function bodies
    counted; type-checking imports, which never run, excluded)."""
    import grimp                                  # installed with import-linter
    import networkx as nx
    graph = grimp.build_graph("semlevel", include_external_packages=False,
                              exclude_type_checking_imports=True)
    g = nx.DiGraph()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            g.add_edge(module, imported)
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not cycles, cycles
