"""Sentence splitting that survives threat-report text."""

from __future__ import annotations

from threadline.extract.sentences import sentence_at, split_sentences

REPORT = """# Operation Example

The loader beaconed to hxxp://update-check[.]net/a.php. It also used e.g. PlugX v1.2.3 on 10.0.19041.1 hosts.
The U.S. Army was not affected!

## Indicators
- 203.0.113[.]7 (C2).
- invoice.doc
"""


def test_offsets_round_trip() -> None:
    for sentence in split_sentences(REPORT):
        assert REPORT[sentence.start:sentence.end] == sentence.text
        assert sentence.text == sentence.text.strip()


def test_boundaries() -> None:
    texts = [s.text for s in split_sentences(REPORT)]
    assert texts == [
        "# Operation Example",
        "The loader beaconed to hxxp://update-check[.]net/a.php.",
        "It also used e.g. PlugX v1.2.3 on 10.0.19041.1 hosts.",
        "The U.S. Army was not affected!",
        "## Indicators",
        "- 203.0.113[.]7 (C2).",
        "- invoice.doc",
    ]


def test_sentence_at() -> None:
    sentences = split_sentences(REPORT)
    offset = REPORT.index("PlugX")
    found = sentence_at(sentences, offset)
    assert found is not None and "PlugX" in found.text
    assert sentence_at(sentences, len(REPORT) + 5) is None


def test_long_runs_are_cut() -> None:
    blob = "A" * 5000
    parts = split_sentences(blob)
    assert len(parts) == 3 and all(len(p.text) <= 2000 for p in parts)
