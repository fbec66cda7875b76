"""CSV of indicators: header, one row per indicator (flagged ones kept, with their flags), RFC 4180 quoting."""

from __future__ import annotations

import csv
import io
from typing import Any

from threadline.export.csv_export import COLUMNS, export_csv


def test_rows(heron: dict[str, Any]) -> None:
    text = export_csv(heron)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == len(heron["iocs"])
    by_value = {r["value"]: r for r in rows}
    url = by_value["http://203.0.113.77:8080/dl?id=4471&t='x'"]
    assert url["defanged"] == "hxxp://203.0.113[.]77:8080/dl?id=4471&t='x'"
    assert url["flags"] == "warninglist" and url["warninglists"] == "RFC 5737 documentation addresses"
    assert by_value["stormrelay.org"]["flags"] == ""
    assert by_value["stormrelay.org"]["first_seen"] == "2024-06-03T09:30:00Z"
    assert by_value["stormrelay.org"]["source"] == "https://kestrelwood-labs.example/blog/silent-heron"
    assert export_csv(heron) == text


def test_empty_analysis_gives_the_header_only(dianxun: dict[str, Any]) -> None:
    assert export_csv({**dianxun, "iocs": []}).splitlines() == [",".join(COLUMNS)]
