"""The settings table is the single source for the CLI, the environment and the docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from threadline import settings
from threadline.errors import InputError


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


@pytest.mark.parametrize(("value", "message"), [
    ("abc", "expected a number, got 'abc'"), ("-5", "must be a number above zero"),
    ("0", "must be a number above zero, got '0'")])
def test_a_bad_number_is_a_one_line_error_naming_its_variable(monkeypatch: pytest.MonkeyPatch, value: str,
                                                               message: str) -> None:
    # It used to end in a ValueError traceback (and a negative timeout was accepted).
    monkeypatch.setenv("THREADLINE_MAX_INPUT_BYTES", value)
    with pytest.raises(InputError, match=f"^THREADLINE_MAX_INPUT_BYTES: {message}"):
        settings.get_int("max_input_bytes")
    assert set(settings.problems()) == {"max_input_bytes"}
    monkeypatch.setenv("THREADLINE_MAX_INPUT_BYTES", "1e6")
    assert settings.get_int("max_input_bytes") == 1_000_000 and not settings.problems()


def test_a_tlp_level_setting_reads_as_an_option_does(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings.get_level("publish_clearance") == "red" and not settings.is_set("publish_clearance")
    assert settings.get_level("publish_clearance", "TLP:AMBER") == "amber"
    assert settings.is_set("publish_clearance", "amber")
    monkeypatch.setenv("THREADLINE_PUBLISH_CLEARANCE", "white")
    assert settings.get_level("publish_clearance") == "clear" and settings.is_set("publish_clearance")
    monkeypatch.setenv("THREADLINE_PUBLISH_CLEARANCE", "secret")
    with pytest.raises(InputError, match=r"^THREADLINE_PUBLISH_CLEARANCE: unknown TLP level 'secret'"):
        settings.get_level("publish_clearance")
    assert set(settings.problems()) == {"publish_clearance"}


def test_settings_command_reports_unusable_values(monkeypatch: pytest.MonkeyPatch, run_cli) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("THREADLINE_FETCH_TIMEOUT", "soon")
    code, out, err = run_cli("settings", "--json")
    assert code == 2 and "THREADLINE_FETCH_TIMEOUT: expected a number" in err
    assert [r["name"] for r in json.loads(out) if r["problem"]] == ["fetch_timeout"]
