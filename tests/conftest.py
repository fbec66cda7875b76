"""Shared fixtures: an isolated cache, data folder and database for the whole session, and the knowledge base."""

from __future__ import annotations

import copy
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = REPO / "tests" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Keep tests away from the user's own cache, data and database."""
    root = Path(tempfile.mkdtemp(prefix="threadline-test-"))
    for name, sub in (("THREADLINE_CACHE", "cache"), ("THREADLINE_DATA", "data")):
        os.environ[name] = str(root / sub)
    os.environ["THREADLINE_DB"] = str(root / "data" / "test.db")
    os.environ.pop("THREADLINE_ATTACK", None)


@pytest.fixture(scope="session")
def kb():  # type: ignore[no-untyped-def]
    from threadline.knowledge import load_kb

    return load_kb(progress=False)


@pytest.fixture(scope="session")
def analyse(kb) -> Callable[..., dict[str, Any]]:  # type: ignore[no-untyped-def]
    """``analyse(path)``: the current code's analysis of a document (the first one, for a feed), as ``analyze``
    would store it. Fixtures that stand for Threadline's own output are produced here, never written by hand, so
    a change of the analysis shape reaches every consumer's test at once. Cached per session; each call gets a
    deep copy it may change."""
    from threadline.analysis import analyze_document
    from threadline.ingest import ingest

    cache: dict[str, dict[str, Any]] = {}

    def run(path: str | Path) -> dict[str, Any]:
        key = str(path)
        if key not in cache:
            cache[key] = analyze_document(ingest(key)[0], kb)
        return copy.deepcopy(cache[key])

    return run


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run ``threadline ARGS...`` in-process; returns (exit code, stdout, stderr)."""
    from threadline.cli import main

    def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["threadline", *args])
        if stdin is not None:
            import io

            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


@pytest.fixture
def seed_text() -> Iterator[str]:
    files = sorted(shared_path("seed").glob("*.txt"))
    if not files:
        pytest.skip("no seed brief in ../shared/seed")
    yield files[0].read_text(encoding="utf-8")
