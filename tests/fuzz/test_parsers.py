"""Property-based tests of every parser of untrusted input (see targets.py for the invariants checked).

The examples are drawn from bytes shaped like the real inputs (report text full of defanged indicators, dates and
names; markup; feeds; STIX and MISP JSON; real PDFs with bytes changed). The "ci" profile keeps the whole module
to seconds; ``HYPOTHESIS_PROFILE=long`` searches longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import strategies as s
from tests.fuzz.targets import TARGETS

_DATA = Path(__file__).resolve().parents[1] / "data"
_PDFS = [_DATA / "ingest" / "lanternfish.pdf", _DATA / "e2e" / "vendor-report.pdf",
         _DATA / "ingest" / "owner_password.pdf"]


@given(s.report_bytes)
@example(b"\xff\xfe\x00\xd8")            # a lone surrogate after a UTF-16 byte-order mark
@example(b"\xef\xbb\xbf")                # a byte-order mark and nothing else
def test_text_decoding(data: bytes) -> None:
    TARGETS["text"](data)


@given(s.report_text.map(lambda t: t.encode("utf-8")))
@example(b"a: &a [*a, *a]\n---\n")       # YAML aliases
@example(b"date: 99999-01-01\n---\nx")
@example(b"!!python/object:os.system x\n---\nx")
def test_front_matter(data: bytes) -> None:
    TARGETS["front_matter"](data)


@given(s.html_bytes)
def test_html(data: bytes) -> None:
    TARGETS["html"](data)


@st.composite
def _mutated_pdf(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(_PDFS)).read_bytes())
    for _ in range(draw(st.integers(0, 8))):
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    return bytes(data[:cut] if cut is not None else data)


@given(st.one_of(_mutated_pdf(), st.binary(max_size=300).map(lambda b: b"%PDF-1.7\n" + b)))
def test_pdf(data: bytes) -> None:
    TARGETS["pdf"](data)


@given(s.feed_bytes)
def test_feed(data: bytes) -> None:
    TARGETS["feed"](data)


@given(st.one_of(s.stix_bundles(), st.binary(max_size=100)))
def test_stix(data: bytes) -> None:
    TARGETS["stix"](data)


@given(st.one_of(s.misp_events(), st.binary(max_size=100)))
def test_misp(data: bytes) -> None:
    TARGETS["misp"](data)


@given(s.jsonl_lines)
@example(b'{"id": 1, "text": "\\ud800"}')   # a lone surrogate escaped in JSON
def test_jsonl_line(data: bytes) -> None:
    TARGETS["jsonl"](data)


@given(st.one_of(s.report_bytes, s.html_bytes, s.feed_bytes, s.stix_bundles()))
def test_sniff_and_read_any_input(data: bytes) -> None:
    TARGETS["pipeline"](data)


@pytest.mark.parametrize("name", ["sentences", "iocs", "dates", "entities"])
@given(text=s.report_text)
def test_extractors(name: str, text: str) -> None:
    TARGETS[name](text.encode("utf-8", errors="surrogatepass"))
