"""Every table the CLI prints is readable at 80 columns: cells wrap, nothing is cropped, no line is wider."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from rich.cells import cell_len

from threadline.cli.common import console

DATA = Path(__file__).resolve().parents[1] / "data"
REPORT = DATA / "ingest" / "lanternfish.md"        # indicators with flags, a technique, a long title


def _box(char: str) -> bool:
    return unicodedata.name(char, "").startswith("BOX DRAWINGS")


def _content(text: str) -> Counter[str]:
    """What a render says, whatever its width: every character but spaces, line breaks and box drawing."""
    return Counter(c for c in text if not c.isspace() and not _box(c))


def _render(run_cli, monkeypatch: pytest.MonkeyPatch, width: int, *args: str) -> str:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(console, "width", width)
    code, out, err = run_cli(*args)
    assert code == 0, err
    return str(out)


@pytest.fixture
def observations(tmp_path: Path) -> Path:
    path = tmp_path / "observations.json"
    path.write_text(json.dumps({"techniques": ["T1566.001", "T1574.001", "T1071.001"], "software": ["PlugX"],
                                "countries": ["VN"], "sectors": ["Telecommunications"]}), encoding="utf-8")
    return path


@pytest.mark.parametrize("args", [
    ("iocs", str(REPORT)), ("techniques", str(REPORT)), ("analyze", str(REPORT), "--no-store"), ("settings",),
    ("technique", "T1566.001"), ("technique", "Spearphishing Attachment"), ("actor", "Mustang Panda"),
    ("actor", "APT38"), ("kb", "stats"), ("attribute", "OBSERVATIONS"),
], ids=lambda a: " ".join(a[:2]).replace(str(DATA) + "/", ""))
def test_nothing_is_cropped_at_80_columns(kb, run_cli, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
                                          observations: Path, args: tuple[str, ...]) -> None:
    # iocs and settings were cropped ("THREADLINE_FETCH_…", cells cut off at the right edge), analyze's id with
    # the title ("(526bf5a…").
    args = tuple(str(observations) if a == "OBSERVATIONS" else a for a in args)
    narrow = _render(run_cli, monkeypatch, 80, *args)
    wide = _render(run_cli, monkeypatch, 2000, *args)
    assert [line for line in narrow.splitlines() if cell_len(line) > 80] == []
    # A table row that starts with a border ends with one: a table wider than the screen loses its right side.
    assert [line for line in narrow.splitlines() if _box(line[:1]) and not _box(line.rstrip()[-1:])] == []
    assert _content(narrow) == _content(wide), "text was cropped at 80 columns"
