"""SECURITY.md names, for every defended row, the tests that prove it: each named test must exist, so a renamed or
deleted test cannot leave a defence unproved while the document still claims it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
_NAMED = re.compile(r"`((?:[\w/]+/)?test_\w+\.py)(?:::(\w+))?`")


def _rows() -> list[str]:
    return [line for line in TEXT.splitlines() if line.startswith("| ") and not line.startswith(("| threat", "|---"))]


def test_every_defended_row_names_a_test() -> None:
    rows = _rows()
    assert len(rows) >= 20
    for row in rows:
        assert _NAMED.search(row.split(" | ")[-1]), f"no test named in: {row[:100]}"


def test_every_named_test_exists() -> None:
    named = _NAMED.findall(TEXT)
    assert named
    for path, test in named:
        source = ROOT / "tests" / path
        assert source.is_file(), f"SECURITY.md names {path}, which does not exist"
        if test:
            assert re.search(rf"^def {test}\(", source.read_text(encoding="utf-8"), re.MULTILINE), \
                f"SECURITY.md names {path}::{test}, which does not exist"
