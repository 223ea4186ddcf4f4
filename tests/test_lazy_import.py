"""``import semlevel`` and ``semlevel --help``/``--version`` import no heavy module
(issue 17): the public names are loaded on first use (PEP 562). Checked by what is in
``sys.modules`` in a fresh interpreter, not by timing (machines are shared and noisy)."""
from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pandas", "scipy", "numpy", "graphviz", "dask", "matplotlib", "pyarrow")


def _modules_after(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _heavy(mods: list[str]) -> list[str]:
    return [m for m in mods if m.split(".")[0] in HEAVY]


def test_import_semlevel_loads_no_heavy_module():
    mods = _modules_after("import semlevel")
    assert _heavy(mods) == []
    assert "semlevel.api" not in mods and "semlevel.engine" not in mods


def test_cli_parser_loads_no_heavy_module():
    mods = _modules_after("from semlevel.cli import build_parser\nbuild_parser()")
    assert _heavy(mods) == []


def test_public_names_load_on_first_use():
    import semlevel as sl
    assert set(sl.__all__) <= set(dir(sl))
    namespace: dict = {}
    exec("from semlevel import *", namespace)            # noqa: S102 - fixed test code
    assert {n for n in sl.__all__} <= set(namespace)
    assert callable(sl.mixed) and sl.datasets.load("pig") is not None
    try:
        sl.no_such_name
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_a_model_from_a_submodule_fits_without_the_api():
    """The services (model.fit(), model.diagram()) are registered with the package, so a
    model built from the layers below the API, with nothing else imported first, fits
    in a fresh interpreter (the manual's pig random intercept)."""
    code = ("from semlevel.datasets import load\n"
            "from semlevel.syntax.mixed import parse_mixed\n"
            "from semlevel.model.builder import build_mixed_model\n"
            "m = build_mixed_model(parse_mixed('weight week || id:'), load('pig'))\n"
            "print(round(m.fit().loglik, 4))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "-1014.9268"


def test_a_pooled_fit_from_the_shell_loads_no_scipy():
    """``semlevel fit pig "..."`` (the pooled path, its table and p-values) needs numpy
    and pandas only: scipy's import (0.1-0.3 s, more with its vendored array API
    shims) is paid where the sparse, tree or dense paths or scipy.stats are used."""
    code = ("from semlevel.cli import main\n"
            "assert main(['fit', 'pig', 'weight week || id:']) == 0\n")
    mods = _modules_after(code)
    assert {"semlevel.engine.fitting", "semlevel.engine.stats"} <= set(mods)
    assert [m for m in mods if m.split(".")[0] == "scipy"] == []
