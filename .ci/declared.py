"""Every third-party package Threadline's code imports is declared, and installed by a plain `pip install .`.

Run by .ci/run with the Python of a fresh virtual environment that holds the runtime dependencies only: in the dev
environment a test tool can pull in a package the code imports but never declares, and the code then works for us
and fails for a user. Reads every ``import`` in ``src/threadline`` (including the ones inside functions, which an
import of each module would miss) and checks, for each third-party module:

- it is installed here (``pip install .`` brought it), and
- the distribution that provides it is one Threadline requires directly, outside any extra (a package that only
  arrives as another package's dependency can disappear when that package changes its own).

Prints one line per problem and exits 1 if there is any. Usage: ``VENV/bin/python .ci/declared.py``.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "threadline"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules() -> dict[str, str]:
    """Top-level module -> the first file (and line) that imports it."""
    found: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], f"{path.relative_to(SRC.parents[1])}:{node.lineno}")
    return found


def declared() -> set[str]:
    """The distributions Threadline requires outside its extras."""
    out = set()
    for requirement in importlib.metadata.requires("threadline") or []:
        if "extra ==" in requirement.replace('"', "").replace("'", ""):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        if match:
            out.add(canonical(match.group(0)))
    return out


def main() -> int:
    requires = declared()
    providers = importlib.metadata.packages_distributions()
    problems = []
    for module, where in sorted(imported_modules().items()):
        if module == "threadline" or module in sys.stdlib_module_names:
            continue
        if importlib.util.find_spec(module) is None:
            problems.append(f"{where}: imports {module}, which `pip install .` does not install")
            continue
        dists = {canonical(d) for d in providers.get(module, [])}
        if not dists & requires:
            via = ", ".join(sorted(dists)) or "an unknown distribution"
            problems.append(f"{where}: imports {module} ({via}), not declared in pyproject.toml's dependencies")
    for line in problems:
        print(f"declared.py: {line}")
    print(f"declared.py: {len(problems)} undeclared imports" if problems else "declared.py: every import is declared")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
