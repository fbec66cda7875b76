"""Human output: report text is shown as written (never read as Rich markup) and indicators are defanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.cli.common import console

HOSTILE = ("Harbour operators used [bold red]T1566.001[/] spearphishing attachments that beaconed to "
           "http://cdn.harbour-updates.net/gate.php and 91.215.85.17 [link=http://harbour-updates.net]now[/link].\n")


@pytest.fixture
def report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(console, "width", 400)      # one table row per line, so the assertions see whole cells
    monkeypatch.setenv("THREADLINE_DB", str(tmp_path / "h.db"))
    path = tmp_path / "harbour.txt"
    path.write_text(HOSTILE, encoding="utf-8")
    return path


@pytest.mark.parametrize(("command", "shown"), [
    ("iocs", ["[bold red]T1566.001[/]", "hxxp://cdn[.]harbour-updates[.]net/gate.php", "91.215.85[.]17"]),
    ("techniques", ["[bold red]T1566.001[/]", "[link=hxxp://harbour-updates[.]net]now[/link]", "91.215.85[.]17"]),
    ("analyze", ["[bold red]T1566.001[/]", "Spearphishing Attachment"]),
])
def test_markup_in_a_report_is_shown_literally_and_indicators_defanged(  # type: ignore[no-untyped-def]
        command: str, shown: list[str], report: Path, run_cli, kb) -> None:
    code, out, err = run_cli(command, str(report))
    assert code == 0, err
    for text in shown:
        assert text in out, text
    assert "http://" not in out and "91.215.85.17" not in out
