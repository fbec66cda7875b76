"""Every package the code imports is a declared dependency.

A package that only arrives with another one (numpy with scikit-learn, lxml_html_clean with a newer tool) works
on the developer's machine and breaks for a user the day the other package stops bringing it. The imports are read
from the source with ``ast`` and mapped to their distributions by ``importlib.metadata``; the package itself must
declare each one: ``src/`` in its main dependencies, ``tests/`` and ``bench/`` in the extras they install.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Imported only by scripts that regenerate sample data (named in their docstrings), never by the tests.
OPTIONAL_SCRIPTS = {"fpdf"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> dict[str, set[str]]:
    """Distribution names declared by the installed package, by extra ('' for the main dependencies)."""
    found: dict[str, set[str]] = {}
    for requirement in requires("threadline") or []:
        name = _canonical(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0])
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)", requirement)
        found.setdefault(extra.group(1) if extra else "", set()).add(name)
    return found


def _imports(folder: Path) -> dict[str, Path]:
    """Top-level module names imported anywhere under the folder (absolute imports), with one file importing each."""
    names: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                names.setdefault(module.split(".")[0], path)
    return names


def _undeclared(folder: str, extras: tuple[str, ...]) -> list[str]:
    declared = _declared()
    allowed = {"threadline"} | set().union(*(declared.get(extra, set()) for extra in ("", *extras)))
    distributions = packages_distributions()
    missing = []
    local = {p.stem for p in (REPO / folder).glob("*.py")}      # a script importing its sibling (bench/*.py)
    for module, path in sorted(_imports(REPO / folder).items()):
        if module in sys.stdlib_module_names or module in {"threadline", "tests", "bench"} | OPTIONAL_SCRIPTS | local:
            continue
        # An extra that is not installed here (bench's anchors) is known by name only: its module's name is its own.
        owners = {_canonical(d) for d in distributions.get(module, [])} or {_canonical(module)}
        if not owners & allowed:
            missing.append(f"{module} (imported by {path.relative_to(REPO)}) comes from {sorted(owners)}, "
                           f"which pyproject.toml does not declare for {folder}")
    return missing


def test_the_package_declares_what_it_imports() -> None:
    assert _undeclared("src", ()) == []


def test_the_tests_import_only_what_the_dev_extra_installs() -> None:
    assert _undeclared("tests", ("dev", "postgres")) == []


def test_the_benchmarks_import_only_declared_packages() -> None:
    if not (REPO / "bench").is_dir():
        pytest.skip("no bench/ folder")
    assert _undeclared("bench", ("dev", "bench")) == []
