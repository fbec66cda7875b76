"""Every input a fuzzer found a crash with, kept in tests/data/fuzz/ and run through its target again.

A file is named ``<target>-<what it does>.fuzz`` (``pdf-unsupported-stream-filter-method.fuzz``); the target is
one of tests/fuzz/targets.py, which accepts a result or a one-line ThreadlineError and nothing else. The suffix
is ``.fuzz`` whatever the format, so that the end-to-end tests, which analyse every report in tests/data, do not
take these broken inputs for reports.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.targets import TARGETS

FOUND = Path(__file__).resolve().parents[1] / "data" / "fuzz"
_FILES = sorted(p for p in FOUND.iterdir() if p.is_file() and not p.name.startswith((".", "README")))


def target_of(path: Path) -> str:
    return path.name.split("-", 1)[0]


def test_every_regression_input_names_a_target() -> None:
    assert _FILES, "tests/data/fuzz/ holds no regression inputs"
    assert {target_of(p) for p in _FILES} <= TARGETS.keys()


@pytest.mark.parametrize("path", _FILES, ids=[p.name for p in _FILES])
def test_regression_input(path: Path) -> None:
    TARGETS[target_of(path)](path.read_bytes())


def test_a_feed_entry_whose_link_is_no_url_is_analysed(kb) -> None:  # type: ignore[no-untyped-def]
    """The entry's link becomes the document's source, which the indicator extractor parsed as a URL and which
    raised ValueError("Invalid IPv6 URL") out of `analyze`."""
    from threadline.analysis import analyze_document
    from threadline.ingest.pipeline import documents_from
    from threadline.ingest.source import Raw

    feed = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour</title><link>http://[oops</link>'
            b"<item><title>ShadowPad again</title><link>http://[x/entry</link><description>The actor beaconed to "
            b"evil[.]com from 45.137.21.9.</description></item></channel></rss>")
    [doc] = documents_from(Raw(feed, "harbour.rss"))
    assert doc.source == "http://[x/entry"
    result = analyze_document(doc, kb)
    assert {i["value"] for i in result["iocs"]} >= {"evil.com", "45.137.21.9"}


def test_a_fragment_python_cannot_parse_still_gives_its_text_without_scripts() -> None:
    """Python 3.11's html.parser raised AssertionError on "<![CDX[" (an unknown marked section) out of the feed
    reader; the fallback drops tags, and script and style blocks with their content."""
    from threadline.ingest.html import html_to_text

    broken = html_to_text("<p>ShadowPad <![CDX[ x ]]> beaconed</p><script>alert(1)</script><p>home</p>")
    assert broken == html_to_text("<p>ShadowPad beaconed</p><script>alert(1)</script><p>home</p>")
    assert "alert" not in broken and "ShadowPad beaconed" in broken
