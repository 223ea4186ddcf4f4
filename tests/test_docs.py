"""The documentation builds and says what the code does.

* ``python docs/build.py`` runs and documents every name of ``semlevel.__all__`` with
  its docstring;
* every example in docs/options.md behaves as its status says (fits, or is refused with
  an error);
* every lme4 formula in docs/syntax-maps.md translates to the Stata line shown beside it;
* the README's first command works in a fresh virtual environment on a clean checkout.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import warnings

import pytest

import semlevel as sl
from semlevel.syntax.formula_map import formula_to_stata

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


# --------------------------------------------------------------------------- build


def test_docs_build_documents_every_public_name(tmp_path):
    out = tmp_path / "site"
    run = subprocess.run([sys.executable, str(DOCS / "build.py"), "--out", str(out)],
                         capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
    assert run.returncode == 0, run.stderr
    assert "docs: error" not in run.stderr
    api = (out / "api.md").read_text()
    for name in sl.__all__:
        obj = getattr(sl, name)
        assert f"## `sl.{name}`" in api, name
        doc = (obj.__doc__ or "").strip()
        assert doc, f"semlevel.{name} has no docstring"
        assert doc.splitlines()[0].strip() in api, name
    index = (out / "index.md").read_text()
    for page in DOCS.glob("*.md"):
        assert page.name in index
    for name in ("getting-started.md", "syntax-maps.md", "options.md", "sem-view.md"):
        assert (DOCS / name).exists(), name


# --------------------------------------------------------------------------- options.md


def _cells(line: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [p.strip().replace("\\|", "|") for p in parts]


def _option_rows() -> list[tuple[str, str, str]]:
    rows = []
    for line in (DOCS / "options.md").read_text().splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = _cells(line)
        if len(cells) < 3 or cells[1] == "status":
            continue
        example = re.fullmatch(r"`(.+)`", cells[2])
        assert example, line
        rows.append((cells[0], cells[1], example.group(1)))
    return rows


OPTION_ROWS = _option_rows()


def test_options_table_is_complete():
    """Every option the parser knows is in the table (by name), and the table is long."""
    from semlevel.syntax.mixed import OPTION_NAMES
    text = (DOCS / "options.md").read_text()
    missing = [o for o in OPTION_NAMES if o not in text]
    assert not missing, missing
    assert len(OPTION_ROWS) >= 50


@pytest.fixture(scope="module")
def pig_w():
    pig = sl.datasets.load("pig")
    return pig.assign(w1=1.0, w2=1.0, pen=(pig["id"] + 1) // 2)


@pytest.mark.parametrize("option, status, example", OPTION_ROWS,
                         ids=[r[0] for r in OPTION_ROWS])
def test_options_table_says_what_the_code_does(pig_w, option, status, example):
    assert status.split()[0] in ("supported", "accepted", "refused"), status
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if status.startswith("refused"):
            with pytest.raises(ValueError) as info:
                sl.mixed(example, data=pig_w)
            assert str(info.value)
        else:
            fit = sl.mixed(example, data=pig_w)
            assert fit.converged and fit.summary()


# --------------------------------------------------------------------------- syntax maps


def _lme4_rows() -> list[tuple[str, str]]:
    rows = []
    text = (DOCS / "syntax-maps.md").read_text()
    section = text.split("<!-- lme4-map -->")[1].split("<!-- /lme4-map -->")[0]
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        cells = _cells(line)
        a, b = (re.fullmatch(r"`(.+)`", c) for c in cells[:2])
        if a and b:
            rows.append((a.group(1), b.group(1)))
    return rows


LME4_ROWS = _lme4_rows()


def test_lme4_map_is_long_enough():
    assert len(LME4_ROWS) >= 12


@pytest.mark.parametrize("formula, stata", LME4_ROWS)
def test_lme4_map_is_what_lmer_does(formula, stata):
    assert formula_to_stata(formula) == stata


# --------------------------------------------------------------------------- README


def test_readme_first_command_in_a_fresh_venv(tmp_path):
    """The README's install-and-demo command on a clean checkout in a new virtual
    environment (``--system-site-packages`` so that the dependencies need no download;
    ``--no-deps --no-build-isolation`` for the same reason)."""
    readme = (ROOT / "README.md").read_text()
    assert "python -m pip install -e . && semlevel demo" in readme
    assert 'python -m pip install -e ".[test]" && python -m pytest -q' in readme
    checkout = tmp_path / "checkout"
    if (ROOT / ".git").exists() and shutil.which("git"):
        subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(checkout)],
                       check=True, timeout=120)
    else:   # not a git checkout: copy the tracked-looking files
        shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
            ".git", "*.egg-info", "__pycache__", ".pytest_cache", "_build"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = str(bindir) + os.pathsep + env.get("PATH", "")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "-e", "."], cwd=str(checkout), env=env, capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    where = subprocess.run([str(python), "-c", "import semlevel; print(semlevel.__file__)"],
                           cwd=str(tmp_path), env=env, capture_output=True, text=True,
                           timeout=120)
    assert pathlib.Path(where.stdout.strip()).is_relative_to(checkout), where.stdout
    demo = subprocess.run("semlevel demo", shell=True, cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "Log likelihood = -869.03825" in demo.stdout
