"""Report text is untrusted: it never becomes markup in HTML or Markdown, and indicators are never shown live."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from markdown_it import MarkdownIt

from threadline.publish.brief import build_brief, render_brief
from threadline.publish.render import Defanger, defang_generic, defang_value, md_escape

from .conftest import HOSTILE


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def assert_inert(html: str) -> None:
    tags = tags_of(html)
    assert not any(t in ("script", "img", "iframe", "svg", "object", "embed") for t, _ in tags)
    for _, attrs in tags:
        assert not any(k.startswith("on") for k in attrs), attrs
        assert not any((v or "").strip().lower().startswith("javascript:") for v in attrs.values()), attrs


def test_html_escapes_report_text(hostile: dict[str, Any], kb: Any) -> None:
    html = render_brief(build_brief(hostile, kb), "html")
    assert_inert(html)
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert sum(1 for t, _ in tags_of(html) if t == "h1") == 1
    assert "&lt;/li&gt;&lt;/ol&gt;&lt;script&gt;" in html


def test_markdown_escapes_report_text(hostile: dict[str, Any], kb: Any) -> None:
    md = render_brief(build_brief(hostile, kb), "md")
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    assert_inert(html)
    tags = tags_of(html)
    assert [t for t, _ in tags].count("h1") == 1                # "# Heading injection" stays text
    assert not any(t == "a" and "javascript" in (a.get("href") or "") for t, a in tags)
    assert "<strong>bold</strong>" not in html and "<em>Group</em>" not in html
    assert "**bold**" in html                                   # shown literally
    assert not any(t == "b" for t, _ in tags)
    # Every hostile string is still readable as text.
    assert "&lt;script&gt;alert('title')&lt;/script&gt;" in html or "&lt;script&gt;alert(&#x27;title" in html


def test_markdown_tables_are_not_broken_by_pipes(hostile: dict[str, Any], kb: Any) -> None:
    hostile["iocs"][0]["value"] = "http://a.example.com/x|y"
    md = render_brief(build_brief(hostile, kb), "md")
    rows = [line for line in md.splitlines() if line.startswith("| url |")]
    assert rows and all(len(re.findall(r"(?<!\\)\|", row)) == 5 for row in rows)


def test_indicators_always_defanged(analysis: dict[str, Any], kb: Any) -> None:
    analysis["iocs"].append({"type": "url", "value": "https://cdn.example.org/a.js", "defanged": "",
                             "start": 0, "end": 1, "sentence": "", "warninglists": [], "flags": []})
    analysis["lures"][0]["text"] += " (see http://mirror.example.org/jobs and 198.51.100.7, mail hr@jobs.example.org)"
    brief = build_brief(analysis, kb)
    for fmt in ("md", "html"):
        text = render_brief(brief, fmt)
        for ref in brief.references:   # knowledge-base links (ATT&CK, its citations) are meant to be links
            if ref.url:
                text = text.replace(ref.url.replace("&", "&amp;") if fmt == "html" else ref.url, "")
        for live in ("huawei-jobs-portal.com", "203.0.113.45", "http://", "https://", "cdn.example.org",
                     "mirror.example.org", "198.51.100.7", "hr@jobs"):
            assert live not in text, f"{live} shown live in {fmt}"
        assert "hxxp://huawei-jobs-portal[.]com/apply" in text.replace("\\[", "[").replace("\\]", "]")
    html = render_brief(build_brief(analysis, kb), "html")
    hrefs = [a.get("href") or "" for t, a in tags_of(html) if t == "a"]
    assert all(h.startswith("#") or not re.search(r"example\.(org|com)", h) for h in hrefs)


@pytest.mark.parametrize(("kind", "value", "shown"), [
    ("url", "http://evil.example.com/a.php?q=1", "hxxp://evil[.]example[.]com/a.php?q=1"),
    ("url", "https://1.2.3.4:8443/x", "hxxps://1[.]2[.]3[.]4:8443/x"),
    ("domain", "evil.example.com", "evil[.]example[.]com"),
    ("ipv4", "203.0.113.45", "203.0.113[.]45"),
    ("email", "hr@jobs.example.org", "hr[@]jobs[.]example[.]org"),
    ("sha256", "a" * 64, "a" * 64),
])
def test_defang_value(kind: str, value: str, shown: str) -> None:
    assert defang_value(kind, value) == shown
    assert defang_generic(shown) == shown if kind != "email" else True   # idempotent


def test_defanger_recomputes_live_defanged_forms() -> None:
    defang = Defanger([{"type": "domain", "value": "bad.example.net", "defanged": "bad.example.net"}])
    assert defang("we saw bad.example.net twice") == "we saw bad[.]example[.]net twice"


def test_md_escape() -> None:
    assert md_escape("1. not a list") == "1\\. not a list"
    assert md_escape("- not a bullet") == "\\- not a bullet"
    assert md_escape("a\n\n# b") == "a \\# b"
    assert md_escape("<b>&amp;</b>") == "\\<b\\>\\&amp;\\</b\\>"
    assert HOSTILE  # the hostile strings are shared with the site tests
