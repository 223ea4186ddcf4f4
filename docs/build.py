"""Build the documentation: ``python docs/build.py [--out DIR]`` (default ``docs/_build``).

No dependency beyond semlevel itself: the API reference (``api.md``) is generated from
the docstrings of every name in ``semlevel.__all__`` with :mod:`inspect`, and an index
(``index.md``) links it and the hand-written pages (``docs/*.md``, read in place).  The build fails (exit status 1, one line per
problem) when a name of ``semlevel.__all__`` has no docstring, or when a relative link or
image in ``README.md`` or ``docs/*.md`` points to a file that does not exist; public
methods and properties without a docstring are listed as warnings.
"""
from __future__ import annotations

import argparse
import inspect
import pathlib
import re
import shutil
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import semlevel as sl  # noqa: E402  (after the path set-up, for a checkout without install)

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def _doc(obj) -> str:
    return inspect.cleandoc(obj.__doc__ or "").strip()


def _signature(name: str, obj) -> str:
    try:
        return f"{name}{inspect.signature(obj)}"
    except (TypeError, ValueError):
        return name


def _members(cls) -> list[tuple[str, object, str]]:
    """Public methods and properties defined by ``cls`` or its semlevel bases."""
    out = []
    for name, member in inspect.getmembers(cls):
        if name.startswith("_"):
            continue
        owner = next((k for k in cls.__mro__ if name in k.__dict__), None)
        if owner is None or not owner.__module__.startswith("semlevel"):
            continue
        raw = owner.__dict__[name]
        if isinstance(raw, property):
            out.append((name, raw, "property"))
        elif inspect.isfunction(raw) or isinstance(raw, (staticmethod, classmethod)):
            out.append((name, getattr(cls, name), "method"))
    return out


def api_reference(problems: list[str], warnings: list[str]) -> str:
    """Markdown of every public name, its signature and docstring (a name without one is
    a problem; a public method or property without one, a warning)."""
    lines = ["# API reference", "",
             f"Generated from the docstrings of semlevel {sl.__version__} by `python "
             "docs/build.py`. Every name below is in `semlevel.__all__`.", ""]
    for name in sl.__all__:
        obj = getattr(sl, name)
        doc = _doc(obj)
        if not doc:
            problems.append(f"semlevel.{name}: no docstring")
        lines += [f"## `sl.{name}`", ""]
        if inspect.ismodule(obj):
            lines += [doc, ""]
            for sub in getattr(obj, "__all__", []):
                fn = getattr(obj, sub)
                if not _doc(fn):
                    warnings.append(f"semlevel.{name}.{sub}: no docstring")
                lines += [f"### `sl.{name}.{_signature(sub, fn)}`", "", _doc(fn), ""]
            continue
        if inspect.isclass(obj):
            lines += [f"```python\nclass {_signature(name, obj)}\n```", "", doc, ""]
            for mname, member, kind in _members(obj):
                mdoc = _doc(member.fget if kind == "property" else member)
                if not mdoc:
                    warnings.append(f"semlevel.{name}.{mname}: no docstring")
                head = f"{name}.{mname}" if kind == "property" else _signature(f"{name}.{mname}",
                                                                               member)
                lines += [f"### `{head}`" + (" (property)" if kind == "property" else ""), "",
                          mdoc, ""]
            continue
        lines += [f"```python\n{_signature(name, obj)}\n```", "", doc, ""]
    return "\n".join(lines) + "\n"


def check_links(pages: list[pathlib.Path], problems: list[str]) -> None:
    """Every relative link or image target must exist (anchors and URLs are skipped)."""
    for page in pages:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                problems.append(f"{page.relative_to(ROOT)}: broken link {target}")


def _title(page: pathlib.Path) -> str:
    for line in page.read_text().splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return page.stem


def build(out: pathlib.Path, warnings: list[str] | None = None) -> list[str]:
    """Write the docs into ``out``; return the problems found (empty: success)."""
    problems: list[str] = []
    warnings = [] if warnings is None else warnings
    pages = sorted(DOCS.glob("*.md"))
    check_links([ROOT / "README.md", *pages], problems)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "api.md").write_text(api_reference(problems, warnings))
    rel = pathlib.Path(*[".."] * len(out.resolve().relative_to(ROOT).parts)) \
        if out.resolve().is_relative_to(ROOT) else ROOT
    index = ["# semlevel documentation", "", "- [API reference](api.md)",
             f"- [README]({(rel / 'README.md').as_posix()})"]
    index += [f"- [{_title(p)}]({(rel / 'docs' / p.name).as_posix()})" for p in pages]
    (out / "index.md").write_text("\n".join(index) + "\n")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=DOCS / "_build")
    args = parser.parse_args(argv)
    warnings: list[str] = []
    problems = build(args.out, warnings)
    for w in warnings:
        print(f"docs: warning: {w}", file=sys.stderr)
    for p in problems:
        print(f"docs: error: {p}", file=sys.stderr)
    if not problems:
        print(f"docs built in {args.out}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
