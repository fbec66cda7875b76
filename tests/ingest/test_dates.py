"""A document's date and its basis: front matter (YAML), the format's metadata, a date line near the top, else the
ingest day; never null, never the epoch, and the analysis and exports carry it."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from threadline.analysis import analyze_document
from threadline.ingest import ingest, ingest_into
from threadline.ingest.pipeline import mark_tlp
from threadline.model import Document
from threadline.store import Store

REPORTS = Path(__file__).resolve().parents[1] / "data" / "reports"
NOTE = REPORTS / "vendor-note-front-matter.md"          # front matter: title, published, author, tlp, url
ADVISORY = REPORTS / "cert-advisory-dated.txt"          # plain text, header line "Date: 2024-03-18"
NOW = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)           # the ingest time the tests inject


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_front_matter_published_dates_a_markdown_report() -> None:
    # Only "date:" was read (by a line parser): the example's "published: 2021-03-18" was ignored.
    [doc] = ingest(str(NOTE), now=NOW)
    assert (doc.published, doc.date_basis) == ("2024-05-14", "front_matter")
    assert doc.title == "Kestrel loader returns: new side-loading chain against logistics firms"
    assert doc.author == "Northwind Threat Notes"
    assert doc.metadata["tlp"] == "green"
    assert doc.metadata["source_url"] == "https://notes.northwind.example/2024/05/kestrel-loader-returns"
    assert doc.text.startswith("# Kestrel loader returns")


def test_a_date_line_dates_a_plain_text_advisory() -> None:
    [doc] = ingest(str(ADVISORY), now=NOW)
    assert (doc.media_type, doc.published, doc.date_basis) == ("text/plain", "2024-03-18", "body")


def test_without_any_date_the_ingest_day_is_used_and_said(tmp_path: Path) -> None:
    source = _write(tmp_path, "note.txt", "Weekly note\n\nThe operators reused 203.0.113[.]9 in 2023.\n")
    [doc] = ingest(source, now=NOW)
    assert (doc.published, doc.date_basis) == ("2026-01-15", "ingested")
    assert doc.metadata["ingested"] == "2026-01-15T09:30:00Z"


@pytest.mark.parametrize(("front", "published", "basis"), [
    ("published: 2021-03-18", "2021-03-18", "front_matter"),
    ("date: 2021-03-18", "2021-03-18", "front_matter"),
    ("created: 2021-03-18", "2021-03-18", "front_matter"),
    ("date: 2021-03-18 10:30:00+02:00", "2021-03-18T08:30:00Z", "front_matter"),
    ("date: '2021-03-18T10:30:00Z'", "2021-03-18T10:30:00Z", "front_matter"),
    ('date: "March 18, 2021"', "2021-03-18", "front_matter"),
    ("published: true\ndate: 2020-01-02", "2020-01-02", "front_matter"),     # Jekyll's flag, not a date
    ("published: 2021-03-18\ndate: 2020-01-02", "2021-03-18", "front_matter"),
    ("date: 1970-01-01", "2026-01-15", "ingested"),                           # never the epoch
    ("date: 2021", "2026-01-15", "ingested"),                                 # a year is not a day
    ("date: 2031-01-01", "2026-01-15", "ingested"),                           # years ahead: a typo
])
def test_front_matter_date_values(tmp_path: Path, front: str, published: str, basis: str) -> None:
    source = _write(tmp_path, "r.md", f"---\ntitle: A note\n{front}\n---\n\n# A note\n\nAPT41 used ShadowPad.\n")
    [doc] = ingest(source, now=NOW)
    assert (doc.published, doc.date_basis) == (published, basis)
    assert doc.title == "A note" and doc.text.startswith("# A note")


def test_broken_front_matter_is_kept_as_text_and_its_date_line_still_counts(tmp_path: Path) -> None:
    source = _write(tmp_path, "r.md", "---\ntitle: Kestrel: the return\ndate: 2024-03-18\n---\n\n"
                                      "# Kestrel returns\n\nAPT41 used ShadowPad.\n")
    [doc] = ingest(source, now=NOW)
    assert doc.text.startswith("---\ntitle: Kestrel: the return")     # nothing is lost
    assert doc.metadata["warning"].startswith("front matter is not valid YAML (line 2: ")
    assert (doc.published, doc.date_basis, doc.title) == ("2024-03-18", "body", "Kestrel returns")


def test_rules_around_a_paragraph_are_not_front_matter(tmp_path: Path) -> None:
    # The line parser took any "---" pair at the top for front matter and dropped the paragraph between them.
    source = _write(tmp_path, "r.md", "---\nThis note was shared with members only.\n---\n\n"
                                      "# Kestrel returns\n\nAPT41 used ShadowPad.\n")
    [doc] = ingest(source, now=NOW)
    assert "This note was shared with members only." in doc.text and "warning" not in doc.metadata


def test_front_matter_that_is_not_yaml_safe_is_not_executed(tmp_path: Path) -> None:
    source = _write(tmp_path, "r.md", "---\ntitle: !!python/object/apply:os.system ['echo pwned']\n---\n\n"
                                      "# Kestrel returns\n\nAPT41 used ShadowPad.\n")
    [doc] = ingest(source, now=NOW)
    assert "not valid YAML" in doc.metadata["warning"] and doc.title == "Kestrel returns"


def test_a_plain_text_keeps_a_block_that_says_nothing_we_read(tmp_path: Path) -> None:
    text = "---\nFrom: the SOC\n---\nWeekly note\n\nAPT41 used ShadowPad.\n"
    [doc] = ingest(_write(tmp_path, "r.txt", text), now=NOW)
    assert doc.text.startswith("---\nFrom: the SOC")
    [dated] = ingest(_write(tmp_path, "d.txt", "---\ntitle: Weekly note\npublished: 2024-03-18\n---\n" + text[18:]),
                     now=NOW)
    assert (dated.title, dated.published, dated.date_basis) == ("Weekly note", "2024-03-18", "front_matter")


def test_metadata_dates_html_pdf_and_feed(samples: Path) -> None:
    [html] = ingest(str(samples / "advisory.html"), now=NOW)
    assert (html.published, html.date_basis) == ("2025-08-19", "metadata")
    [pdf] = ingest(str(samples / "lanternfish.pdf"), now=NOW)      # the info dictionary's creation date
    assert pdf.published == pdf.metadata["created"] and pdf.date_basis == "metadata"
    first, *_ = ingest(str(samples / "harbour.atom"), now=NOW)
    assert (first.published, first.date_basis) == ("2025-08-19T09:00:00Z", "metadata")


def test_the_basis_survives_the_store(store: Store) -> None:
    outcome = ingest_into(store, str(ADVISORY), now=NOW)
    back = store.get_document(outcome.documents[0].sha256)
    assert (back.published, back.date_basis) == ("2024-03-18", "body")
    assert outcome.to_dict()["documents"][0]["date_basis"] == "body"


def _document_part(kb: Any, doc: Document) -> dict[str, Any]:
    part: dict[str, Any] = analyze_document(doc, kb)["document"]
    return part


@pytest.mark.parametrize(("path", "published", "basis"), [(NOTE, "2024-05-14", "front_matter"),
                                                          (ADVISORY, "2024-03-18", "body")])
def test_the_analysis_carries_the_date_and_its_basis(kb, path: Path, published: str,  # type: ignore[no-untyped-def]
                                                     basis: str) -> None:
    [doc] = ingest(str(path), now=NOW)
    part = _document_part(kb, doc)
    assert (part["published"], part["date_basis"]) == (published, basis)


def test_a_document_made_in_code_is_dated_by_the_analysis(kb) -> None:  # type: ignore[no-untyped-def]
    dated = Document(text="Advisory\nDate: 2024-03-18\n\nAPT41 used ShadowPad.", source="a.txt")
    assert (_document_part(kb, dated)["published"], _document_part(kb, dated)["date_basis"]) == ("2024-03-18", "body")
    given = Document(text="APT41 used ShadowPad.", source="a.txt", published="2023-10-01")
    assert _document_part(kb, given)["date_basis"] == "metadata"
    undated = _document_part(kb, Document(text="APT41 used ShadowPad.", source="a.txt"))
    assert undated["date_basis"] == "ingested"
    assert undated["published"] == datetime.now(UTC).date().isoformat()      # the day it is read, not 1970


def test_front_matter_tlp_reaches_the_analysis(kb) -> None:  # type: ignore[no-untyped-def]
    [doc] = ingest(str(NOTE), now=NOW)
    assert _document_part(kb, doc)["tlp"] == "green"


def test_cli_analysis_and_csv_export_use_the_reports_date(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # An unknown date became 1970-01-01 in every CSV first_seen; the header's "Date:" line is the report's date.
    code, out, err = run_cli("analyze", str(ADVISORY), "--json", "--no-store")
    assert code == 0, err
    [analysis] = json.loads(out)
    assert (analysis["document"]["published"], analysis["document"]["date_basis"]) == ("2024-03-18", "body")
    saved = tmp_path / "advisory.json"
    saved.write_text(json.dumps(analysis), encoding="utf-8")
    code, out, err = run_cli("export", str(saved), "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and {row["first_seen"] for row in rows} == {"2024-03-18"}


def test_hostile_front_matter_is_bounded(tmp_path: Path) -> None:
    # An alias bomb loads in linear space, but printing it would not end: only scalars are read from front matter.
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    bomb = "---\n" + "\n".join(levels) + "\ntitle: *a8\ndate: *a8\nauthor: *a8\n---\n\n# Kestrel\n\nAPT41 used it.\n"
    started = time.monotonic()
    [doc] = ingest(_write(tmp_path, "bomb.md", bomb), now=NOW)
    assert (doc.title, doc.published, doc.date_basis) == ("Kestrel", "2026-01-15", "ingested")
    deep = "---\ntitle: " + "[" * 10_000 + "]" * 10_000 + "\n---\n\n# Deep\n\nAPT41 used it.\n"
    [nested] = ingest(_write(tmp_path, "deep.md", deep), now=NOW)
    assert nested.title == "Deep" and nested.text.startswith("---")        # kept as text, with a warning
    assert "front matter" in nested.metadata["warning"]
    huge = "---\ntitle: Big\nnotes: " + "x" * 70_000 + "\n---\n\n# Kestrel\n\nAPT41 used it.\n"
    [big] = ingest(_write(tmp_path, "big.md", huge), now=NOW)          # over 64 KiB: not read as front matter
    assert big.text.startswith("---\ntitle: Big") and big.title == "title: Big"   # not the "---" rule
    assert time.monotonic() - started < 10


def test_an_unknown_front_matter_tlp_word_marks_the_report_red(kb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # "tlp: restricted" (a house marking, not TLP 2.0) was kept aside as tlp_ignored and the report stayed clear,
    # readable by anyone: a marking nobody can read is red, as everywhere else (tlp.normalise).
    text = NOTE.read_text(encoding="utf-8").replace("tlp: TLP:GREEN", "tlp: Restricted - partners only")
    [doc] = ingest(_write(tmp_path, "note.md", text), now=NOW)
    assert doc.metadata["tlp"] == "red"
    assert doc.metadata["tlp_unrecognised"] == "Restricted - partners only"
    assert doc.metadata["warning"].count("'Restricted - partners only'") == 1 and "red" in doc.metadata["warning"]
    assert _document_part(kb, doc)["tlp"] == "red"
    mark_tlp([doc], "green")                           # --tlp green, a web form's default: the red is kept
    assert doc.metadata["tlp"] == "red"


def test_cli_says_once_that_an_unknown_tlp_word_marks_a_report_red(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = NOTE.read_text(encoding="utf-8").replace("tlp: TLP:GREEN", "tlp: restricted")
    path = _write(tmp_path, "note.md", text)
    code, out, err = run_cli("analyze", path, "--json", "--no-store", "--tlp", "clear")
    assert code == 0, err
    assert json.loads(out)[0]["document"]["tlp"] == "red"
    [line] = [line for line in err.splitlines() if "restricted" in line]
    assert path in line and "'restricted'" in line and "red" in line
    db = str(tmp_path / "store.db")
    code, out, err = run_cli("ingest", path, "--db", db)
    assert code == 0, err
    assert [line for line in out.splitlines() if "'restricted'" in line and "red" in line]
