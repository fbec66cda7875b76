"""Sentences for entities and claims: paragraphs and headings never join, and evidence knows its page."""

from __future__ import annotations

import pytest

from threadline.errors import InputError
from threadline.extract.entities import extract_entities
from threadline.extract.entities.claims import extract_claims
from threadline.extract.entities.sentences import report_sentences
from threadline.knowledge import KnowledgeBase, load_kb
from threadline.model import Document, Page


def test_blank_lines_and_headings_end_a_sentence() -> None:
    text = ("We track this affiliate separately.\n\n## Cluster three: Turla\n\nIn June 2023 a ministry found an "
            "implant.\n---\ntitle: x\npublished: 2021-03-18\n---")
    pieces = report_sentences(text)
    assert [s.text for s in pieces] == ["We track this affiliate separately.", "## Cluster three: Turla",
                                        "In June 2023 a ministry found an implant.", "---", "title: x",
                                        "published: 2021-03-18", "---"]
    for s in pieces:
        assert text[s.start:s.end] == s.text


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_kb(progress=False)


def test_evidence_carries_page_and_document(kb: KnowledgeBase) -> None:
    first = "An introduction page with nothing to find.\n\n"
    second = "The campaign has been attributed to Turla with high confidence."
    text = first + second
    document = Document(text=text, source="report.pdf", media_type="application/pdf",
                        pages=[Page(1, 0, len(first)), Page(2, len(first), len(text))])
    found = extract_entities(text, kb, document=document)
    (actor,) = found.to_dict()["actors"]
    assert actor["evidence"] == [{"text": second, "start": len(first), "end": len(text), "page": 2,
                                  "document": document.sha256}]
    (claim,) = found.claims
    assert claim.evidence[0].page == 2 and claim.evidence[0].document == document.sha256


def test_empty_text_has_no_entities(kb: KnowledgeBase) -> None:
    found = extract_entities("", kb)
    assert all(items == [] for items in found.to_dict().values()) and found.claims == []


def test_bad_input_is_one_clear_error(kb: KnowledgeBase) -> None:
    with pytest.raises(InputError, match="needs text, not bytes"):
        extract_entities(b"APT28", kb)  # type: ignore[arg-type]
    other = report_sentences("Another text entirely.")
    with pytest.raises(InputError, match="does not match the text"):
        extract_claims("APT28 was here.", kb, sentences=other)
