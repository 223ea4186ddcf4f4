"""The Python code blocks of README.md and docs/getting-started.md run, and the numbers
their comments state are what the code gives.

Each document's ``python`` blocks run in order in one namespace (in a temporary folder).
A statement whose comment states decimal numbers (``fit2.loglik  # -869.03825...``,
``print(a.lrtest(b))  # LR chi2(1) = 291.78``) is evaluated and each of those numbers must
appear in its value (its text, or the text it prints) to the digits written.
"""
from __future__ import annotations

import ast
import contextlib
import io
import os
import pathlib
import re
import warnings

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCUMENTS = ["README.md", "docs/getting-started.md"]
_NUMBER = re.compile(r"-?\d+\.\d+")


def _blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _stated(comment: str) -> list[str]:
    return _NUMBER.findall(comment)


def _appears(number: str, text: str) -> bool:
    decimals = len(number.split(".")[1])
    want = float(number)
    tol = 0.5 * 10.0 ** -decimals * (1 + 1e-9)
    return any(abs(float(x) - want) <= tol for x in re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", text))


def _run(source: str, namespace: dict) -> list[tuple[str, str, str]]:
    """Run the block; return (statement, stated number, value text) for each check."""
    lines = source.splitlines()
    checks = []
    for node in ast.parse(source).body:
        code = ast.get_source_segment(source, node)
        comment = lines[node.end_lineno - 1].split("#", 1)[1] if "#" in lines[
            node.end_lineno - 1] else ""
        numbers = _stated(comment)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            if isinstance(node, ast.Expr):
                value = eval(compile(ast.Expression(node.value), "<doc>", "eval"), namespace)
            else:
                exec(compile(ast.Module([node], []), "<doc>", "exec"), namespace)
                value = None
        shown = out.getvalue() + ("" if value is None else f"\n{value}\n{value!r}")
        checks += [(code, n, shown) for n in numbers]
    return checks


@pytest.mark.parametrize("document", DOCUMENTS)
def test_code_blocks_run_and_state_true_numbers(document, tmp_path):
    blocks = _blocks((ROOT / document).read_text())
    assert blocks, f"{document} has no python block"
    namespace: dict = {}
    here = os.getcwd()
    os.chdir(tmp_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            checks = [c for b in blocks for c in _run(b, namespace)]
    finally:
        os.chdir(here)
    assert checks, f"{document}: no number to check"
    wrong = [f"{code!r}: states {n}, gives {shown.strip()[:300]!r}"
             for code, n, shown in checks if not _appears(n, shown)]
    assert not wrong, "\n".join(wrong)
