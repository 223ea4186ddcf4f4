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


def _checkout(tmp_path) -> pathlib.Path:
    """A clean copy of the repository in a folder with no ``../shared`` beside it."""
    checkout = tmp_path / "clone" / "semlevel"
    checkout.parent.mkdir()
    if (ROOT / ".git").exists() and shutil.which("git"):
        # the working tree as committed plus what is staged or changed (tests run on it)
        subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(checkout)],
                       check=True, timeout=120)
        changed = subprocess.run(["git", "ls-files", "-m", "-o", "--exclude-standard"],
                                 cwd=ROOT, capture_output=True, text=True, check=True)
        for rel in changed.stdout.split():
            src = ROOT / rel
            if src.is_file():
                (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, checkout / rel)
    else:   # not a git checkout: copy the tracked-looking files
        shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
            ".git", "*.egg-info", "__pycache__", ".pytest_cache", "_build"))
    assert [p.name for p in checkout.parent.iterdir()] == ["semlevel"]   # nothing beside it
    return checkout


def _venv(tmp_path, system_site: bool) -> tuple[pathlib.Path, dict]:
    venv = tmp_path / "venv"
    args = [sys.executable, "-m", "venv", str(venv)]
    if system_site:
        args[3:3] = ["--system-site-packages", "--without-pip"]
    subprocess.run(args, check=True, timeout=300)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = str(bindir) + os.pathsep + env.get("PATH", "")
    return bindir / "python", env


def _demo_runs(python, env, checkout, tmp_path) -> None:
    where = subprocess.run([str(python), "-c", "import semlevel; print(semlevel.__file__)"],
                           cwd=str(tmp_path), env=env, capture_output=True, text=True,
                           timeout=120)
    assert pathlib.Path(where.stdout.strip()).is_relative_to(checkout), where.stdout
    demo = subprocess.run("semlevel demo", shell=True, cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "Log likelihood = -869.03825" in demo.stdout


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert "python -m pip install -e . && semlevel demo" in readme
    assert 'python -m pip install -e ".[test]" && python -m pytest -q' in readme
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith("set ")
          and not line.startswith("cd ")]
    assert ci == ['python -m pip install -e ".[test]" && python -m pytest -q'], ci


def test_readme_first_command_in_a_fresh_venv(tmp_path):
    """The README's install-and-demo command on a clean clone in a new virtual environment.
    The dependencies come from the base interpreter (``--system-site-packages``: no large
    downloads), but the build does not: pip builds in isolation, with setuptools from the
    package index, so nothing the base interpreter happens to have (``wheel``) is needed.
    ``test_readme_commands_from_scratch`` (slow) runs the two commands with nothing shared."""
    checkout = _checkout(tmp_path)
    python, env = _venv(tmp_path, system_site=True)
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", "."],
                             cwd=str(checkout), env=env, capture_output=True, text=True,
                             timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    _demo_runs(python, env, checkout, tmp_path)


@pytest.mark.slow
def test_readme_commands_from_scratch(tmp_path):
    """Both README commands, as written, in a bare venv on a clone with no ``../shared``:
    the first prints the manual's log likelihood, the second's collection finds every
    test (running them all again here would double the suite)."""
    checkout = _checkout(tmp_path)
    python, env = _venv(tmp_path, system_site=False)
    first = subprocess.run("python -m pip install -q -e . && semlevel demo", shell=True,
                           cwd=str(checkout), env=env, capture_output=True, text=True,
                           timeout=1800)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Log likelihood = -869.03825" in first.stdout
    second = subprocess.run('python -m pip install -q -e ".[test]" && '
                            "python -m pytest -q --collect-only -m 'slow or not slow'",
                            shell=True, cwd=str(checkout), env=env, capture_output=True,
                            text=True, timeout=1800)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert re.search(r"\d+ tests? collected", second.stdout), second.stdout[-2000:]


def test_collection_in_a_clone_without_shared(tmp_path):
    """The README's test command collects every test in a clone with no ``../shared``
    beside it (no test module reads outside the repository at import)."""
    checkout = _checkout(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["PYTHONPATH"] = str(checkout)           # the clone's package, not this checkout's
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only",
                          "-p", "no:cacheprovider", "-m", "slow or not slow"],
                         cwd=str(checkout), env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "error" not in run.stdout.lower().split("collected")[-1], run.stdout[-2000:]


def test_no_test_reads_outside_the_repository():
    """No test names a path above the repository (``../shared``, three ``.parent`` up)."""
    bad = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"""['"]\.\./shared|/ *['"]shared['"]|parent\.parent\.parent""", code):
                bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, bad


def test_readme_refused_options_agree_with_options_md():
    """The README's list of refused options is docs/options.md's, by status."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- refused-options: generated from docs/options.md -->")[1] \
        .split("<!-- /refused-options -->")[0]
    planned_text, other_text = block.split("- not applicable")
    want = {"planned": [], "not applicable": []}
    for name, status, _ in OPTION_ROWS:
        m = re.fullmatch(r"refused \((planned|not applicable)\)", status)
        if m:
            want[m.group(1)].append(name)
    assert want["planned"] and want["not applicable"]
    flat = lambda t: " ".join(t.split())                       # noqa: E731
    for name in want["planned"]:
        assert flat(name) in flat(planned_text), name
    for name in want["not applicable"]:
        assert flat(name) in flat(other_text), name
    listed = set(re.findall(r"`([^`]+)`", block))
    documented = {x for n in want["planned"] + want["not applicable"]
                  for x in re.findall(r"`([^`]+)`", n)}
    assert listed == documented, listed ^ documented
    assert "not yet implemented" not in readme.lower()


def test_readme_links_every_doc_page():
    readme = (ROOT / "README.md").read_text()
    for page in sorted(DOCS.glob("*.md")):
        assert f"docs/{page.name}" in readme, page.name


def test_results_map_rows_run():
    """Every semlevel expression of the results map in docs/syntax-maps.md works on a fit."""
    text = (DOCS / "syntax-maps.md").read_text()
    section = text.split("<!-- results-map -->")[1].split("<!-- /results-map -->")[0]
    pig = sl.datasets.load("pig")
    namespace = {"fit": sl.mixed("weight week || id: week", data=pig),
                 "fit0": sl.mixed("weight week || id:", data=pig)}
    rows = 0
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("|---") or "semlevel" in line:
            continue
        cell = _cells(line)[3]
        for expr in re.findall(r"`([^`]+)`", cell):
            value = eval(expr, {}, namespace)           # the documentation's own text
            assert value is not None, expr
            rows += 1
    assert rows >= 15
