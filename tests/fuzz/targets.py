"""One fuzz target per parser of untrusted input, shared by the hypothesis tests and the atheris harnesses.

Each target takes bytes (what atheris gives; hypothesis draws bytes or text) and checks the invariants every
parser owes its caller: it returns a result or raises a :class:`ThreadlineError` (a one-line error naming the
input), never anything else; every offset it reports lies inside the text and points at the text it claims.
An ``AssertionError`` or any other exception escaping a target is a bug.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

from threadline.errors import ThreadlineError
from threadline.model import Document, Evidence, Sentence

_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}Z)?")


def text_of(data: bytes) -> str:
    """The bytes as text, the way a report's decoded text can hold anything (replacement characters included)."""
    return data.decode("utf-8", errors="replace")


def _one_line(exc: ThreadlineError) -> None:
    line = exc.one_line()
    assert "\n" not in line and line.strip(), f"error is not one line: {line!r}"


def _check_document(doc: Document) -> None:
    """A document as a reader returns it, then dated as the pipeline dates it (a front-matter or metadata date is
    kept as written until then: "2021-0-8" is dropped there, not by the reader)."""
    from threadline.ingest.dating import date_document

    assert isinstance(doc.text, str) and doc.text.strip(), "a document must carry text"
    date_document(doc, _NOW)
    previous_end = 0
    for page in doc.pages:
        assert previous_end <= page.start <= page.end <= len(doc.text), f"page outside the text: {page}"
        previous_end = page.end
    if doc.published is not None:
        assert _DAY.fullmatch(doc.published), f"date is not a day: {doc.published!r}"


def _check_span(text: str, start: int, end: int, said: str | None = None) -> None:
    assert 0 <= start <= end <= len(text), f"span {start}..{end} outside a text of {len(text)}"
    if said is not None:
        assert text[start:end] == said, f"span {start}..{end} is {text[start:end]!r}, not {said!r}"


def _check_sentences(text: str, sentences: list[Sentence]) -> None:
    previous = 0
    for s in sentences:
        _check_span(text, s.start, s.end, s.text)
        assert s.start >= previous, "sentences out of order or overlapping"
        assert s.text.strip(), "empty sentence"
        previous = s.end


def _check_evidence(text: str, evidence: list[Evidence]) -> None:
    for ev in evidence:
        _check_span(text, ev.start, ev.end, ev.text)


def guarded(target: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """The target with a ThreadlineError accepted as a result (when it is one clean line)."""
    def run(data: bytes) -> None:
        try:
            target(data)
        except ThreadlineError as exc:
            _one_line(exc)
    run.__name__ = target.__name__
    return run


# --- ingest: bytes as they come from a file, a server or a feed ---------------------------------------------

def text_decoding(data: bytes) -> None:
    from threadline.ingest.text import decode, text_document

    text, encoding = decode(data, "fuzz.txt")
    assert isinstance(text, str) and encoding
    for name in ("fuzz.txt", "fuzz.md"):
        _check_document(text_document(data, name))


def front_matter(data: bytes) -> None:
    from threadline.ingest.dating import apply_front_matter, date_document, read_front_matter

    text = "---\n" + text_of(data)
    front = read_front_matter(text)
    assert text.endswith(front.body), "front matter body is not the rest of the text"
    doc = Document(text=front.body or "x", source="fuzz.md")
    apply_front_matter(doc, front)
    date_document(doc, _NOW)
    assert doc.published is not None and _DAY.fullmatch(doc.published), doc.published
    assert doc.title is None or len(doc.title) <= 200


def html(data: bytes) -> None:
    from threadline.ingest.html import html_document, html_to_text

    assert isinstance(html_to_text(data), str)
    _check_document(html_document(data, "https://fuzz.example/page.html"))


def pdf(data: bytes) -> None:
    from threadline.ingest.pdf import pdf_document

    _check_document(pdf_document(data, "fuzz.pdf"))


def feed(data: bytes) -> None:
    from threadline.ingest.feed import feed_documents

    for doc in feed_documents(data, "fuzz.rss"):
        _check_document(doc)


def stix(data: bytes) -> None:
    from threadline.ingest.stix import load_json, stix_items

    for item in stix_items(load_json(data, "fuzz.json"), "fuzz.json"):
        assert isinstance(item.id, str) and isinstance(item.data, dict)


def misp(data: bytes) -> None:
    from threadline.ingest.misp import misp_items
    from threadline.ingest.stix import load_json

    for item in misp_items(load_json(data, "fuzz.json"), "fuzz.json"):
        assert item.id.startswith("misp-")


def pipeline(data: bytes) -> None:
    """Any bytes through format sniffing and the reader it picks (what `threadline ingest FILE` does)."""
    from threadline.ingest.pipeline import documents_from
    from threadline.ingest.source import MISP, STIX, Raw, sniff

    raw = Raw(data, "fuzz.bin")
    if sniff(raw) in (STIX, MISP):
        return       # knowledge, not documents: the stix and misp targets read those
    for doc in documents_from(raw, now=_NOW):
        _check_document(doc)


def jsonl(data: bytes) -> None:
    """One line of an `analyze --jsonl` batch, up to the document it makes."""
    from threadline.cli.common import _record, record_field, record_text

    record = _record(data)
    if record is None:
        return
    text = record_text(record, "fuzz.jsonl")
    for key in ("source", "title", "published"):
        record_field(record, key, "fuzz.jsonl")
    assert text.strip()


# --- extract: decoded report text -------------------------------------------------------------------------

def sentences(data: bytes) -> None:
    from threadline.extract.sentences import sentence_at, split_sentences

    text = text_of(data)
    found = split_sentences(text)
    _check_sentences(text, found)
    for s in found[:20]:
        assert sentence_at(found, s.start) is s


def iocs(data: bytes) -> None:
    from threadline.extract.iocs import extract_iocs

    text = text_of(data)
    for hit in extract_iocs(text):
        _check_span(text, hit.start, hit.end, hit.defanged)
        assert hit.value, "an indicator without a value"
        if hit.sentence is not None:
            _check_evidence(text, [hit.sentence])


def dates(data: bytes) -> None:
    from threadline.extract.dates import date_lines, find_dates, parse_day
    from threadline.extract.sentences import split_sentences

    text = text_of(data)
    for hit, sentence in find_dates(text, split_sentences(text), title=text[:80]):
        _check_span(text, hit.start, hit.end)
        _check_span(text, sentence.start, sentence.end, sentence.text)
    for line in date_lines(text):
        _check_span(text, line.start, line.end)
        assert _DAY.fullmatch(line.date)
    day = parse_day(text[:200])
    assert day is None or _DAY.fullmatch(day)


@cache
def _kb() -> Any:
    from threadline.knowledge import load_kb

    return load_kb()


def entities(data: bytes) -> None:
    from threadline.extract.entities import extract_entities

    text = text_of(data)
    if not text.strip():
        return
    doc = Document(text=text, source="fuzz.txt")
    found = extract_entities(text, _kb(), document=doc)
    for key in found.KEYS:
        for item in getattr(found, key):
            _check_evidence(text, item.evidence)
    for claim in found.claims:
        _check_evidence(text, claim.evidence)


TARGETS: dict[str, Callable[[bytes], None]] = {
    name: guarded(target) for name, target in (
        ("text", text_decoding), ("front_matter", front_matter), ("html", html), ("pdf", pdf), ("feed", feed),
        ("stix", stix), ("misp", misp), ("jsonl", jsonl), ("pipeline", pipeline), ("sentences", sentences),
        ("iocs", iocs), ("dates", dates), ("entities", entities))
}
