"""Fixtures for the ingest tests: the sample documents we wrote and a fresh store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from threadline.store import Store, open_store

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ingest"


@pytest.fixture
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "ingest.db") as opened:
        yield opened
