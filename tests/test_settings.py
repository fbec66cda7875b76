"""The settings table is the single source for the CLI, the environment and the docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline import settings


def test_docs_are_generated_from_the_table() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "settings.md"
    assert docs.read_text(encoding="utf-8") == settings.as_markdown(), "run `make docs`"


def test_resolution_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_FETCH_TIMEOUT", "7")
    assert settings.get("fetch_timeout") == "7"
    assert settings.get("fetch_timeout", "3") == "3"
    monkeypatch.delenv("THREADLINE_FETCH_TIMEOUT")
    assert settings.get("fetch_timeout") == "20"


def test_sqlite_paths_become_urls(tmp_path: Path) -> None:
    assert settings.sqlalchemy_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path / 'x.db'}"
    assert settings.sqlalchemy_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
