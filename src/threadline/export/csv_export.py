"""CSV of an analysis's indicators (one row each, flagged ones included with their flags), via :mod:`csv`.

Columns: type, value (refanged: this file is for machines such as blocklists), defanged (for people), first_seen
(the report's date: when the source first made the indicator public), source (the report's location), warninglists
and flags (``;``-separated; an empty flags cell means the indicator is fit for detection), and the report title.
Values are written as extracted, never prefixed against spreadsheet formulas: that would corrupt the blocklist.
"""

from __future__ import annotations

import csv
import io

from threadline.export.common import Analysis, analysis_time, defanged_of, normalise_tlp
from threadline.knowledge.base import KnowledgeBase

COLUMNS = ("type", "value", "defanged", "first_seen", "source", "warninglists", "flags", "report")


def export_csv(analysis: Analysis, kb: KnowledgeBase | None = None, *, tlp: str = "clear") -> str:
    """The indicators as CSV text (RFC 4180 quoting, ``\\r\\n`` line ends, a header row)."""
    normalise_tlp(tlp)   # checked for a uniform CLI; a CSV has nowhere to carry the marking
    doc = analysis["document"]
    first_seen = str(doc.get("published") or "") or analysis_time(analysis).date().isoformat()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for ioc in analysis.get("iocs") or []:
        writer.writerow([ioc["type"], ioc["value"], defanged_of(ioc), first_seen,
                         doc.get("source") or "", "; ".join(map(str, ioc.get("warninglists") or [])),
                         "; ".join(map(str, ioc.get("flags") or [])), doc.get("title") or ""])
    return buffer.getvalue()
