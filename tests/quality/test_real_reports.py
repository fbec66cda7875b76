"""Real reports end to end: every 6th TRAM2 report (vendor blogs and advisories as published, with their tables,
code and broken lines) goes through `analyze` and must give schema-valid output with evidence for every claim.

The reports are the ones the package ships, ``src/threadline/data/tram/tram2-reports.jsonl.gz`` (a byte-for-byte copy
of ``../shared/data/tram/``), so the gate runs for everyone with a clone, not only where the shared data is present.
"""

from __future__ import annotations

import gzip
import json
from importlib.resources import files
from typing import Any

import jsonschema
import pytest

from threadline.analysis import analyze_document
from threadline.ingest.text import text_document

TRAM = files("threadline") / "data" / "tram" / "tram2-reports.jsonl.gz"   # shipped with the package
SCHEMA = json.loads((files("threadline") / "data" / "schema" / "analysis.schema.json").read_text())


def _reports() -> list[dict[str, Any]]:
    with TRAM.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for i, line in enumerate(handle) if i % 6 == 0]


@pytest.mark.parametrize("report", _reports(), ids=lambda r: str(r["id"])[:12])
def test_a_real_report_analyses_to_valid_evidenced_output(report: dict[str, Any], kb: Any) -> None:
    doc = text_document(report["text"].encode("utf-8"), str(report.get("url") or report["id"]))
    result = analyze_document(doc, kb)
    jsonschema.validate(result, SCHEMA)
    for tech in result["techniques"]:
        assert tech.get("inferred") or tech["evidence"], tech["id"]       # no technique without a sentence
        for ev in tech["evidence"]:
            assert doc.text[ev["start"]:ev["end"]] == ev["text"]        # evidence points into the report
    for key in ("actors", "software", "sectors", "countries", "dates", "claims"):
        for item in result[key]:
            assert item["evidence"], (key, item)
    for ioc in result["iocs"]:
        assert ioc["value"] and ioc.get("type")
    attribution = result["attribution"]
    total = sum(c["probability"] for c in attribution["candidates"]) + attribution["unknown_probability"]
    rounding = 0.5e-4 * (len(attribution["candidates"]) + 1)      # each probability is given to 4 decimals
    assert total <= 1.0 + rounding
