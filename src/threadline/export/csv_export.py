"""CSV of an analysis's indicators (one row each, flagged ones included with their flags), via :mod:`csv`.

Columns: type, value (refanged: this file is for machines such as blocklists), defanged (for people), first_seen
(the report's date: when the source first made the indicator public), source (the report's location), warninglists
and flags (``;``-separated; an empty flags cell means the indicator is fit for detection), and the report title.

No cell is one a spreadsheet would run as a formula (CSV injection): a cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return, and is not a plain number such as ``-1``, gets a leading single quote, as the
OWASP CSV-injection guidance says. The titles and sentences of a report are written by someone else, and a CSV of
indicators is opened in a spreadsheet as often as it is fed to a blocklist. Indicator values almost never start so
(no domain, address, hash or URL does); a file name or registry value that does keeps its quote, and a tool that
reads the file should strip a leading ``'`` from such a cell.
"""

from __future__ import annotations

import csv
import io
import re

from threadline.export.common import Analysis, analysis_time, defanged_of
from threadline.knowledge.base import KnowledgeBase
from threadline.tlp import parse_option

COLUMNS = ("type", "value", "defanged", "first_seen", "source", "warninglists", "flags", "report")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d+)*|\d*\.\d+)(?:[eE][+-]?\d+)?$")


def spreadsheet_safe(cell: str) -> str:
    """The cell with a leading ``'`` if a spreadsheet would treat it as a formula (a plain number is left as is)."""
    if cell.startswith(FORMULA_START) and not _NUMBER.match(cell):
        return "'" + cell
    return cell


def export_csv(analysis: Analysis, kb: KnowledgeBase | None = None, *, tlp: str = "clear") -> str:
    """The indicators as CSV text (RFC 4180 quoting, ``\\r\\n`` line ends, a header row)."""
    parse_option(tlp)   # checked for a uniform CLI; a CSV has nowhere to carry the marking
    doc = analysis["document"]
    first_seen = str(doc.get("published") or "") or analysis_time(analysis).date().isoformat()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for ioc in analysis.get("iocs") or []:
        row = [ioc["type"], ioc["value"], defanged_of(ioc), first_seen, doc.get("source") or "",
               "; ".join(map(str, ioc.get("warninglists") or [])), "; ".join(map(str, ioc.get("flags") or [])),
               doc.get("title") or ""]
        writer.writerow([spreadsheet_safe(str(cell)) for cell in row])
    return buffer.getvalue()
