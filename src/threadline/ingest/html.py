"""HTML pages: main text via trafilatura (tables kept), plus title, date, author and site; scripts never kept."""

from __future__ import annotations

import contextlib
import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urlsplit

import trafilatura
from trafilatura.settings import set_date_params

from threadline import settings
from threadline.errors import InputError
from threadline.ingest.text import codec_name, normalise
from threadline.model import Document

_OPEN_ACTIVE = re.compile(rb"<(script|style|noscript|template)\b", re.IGNORECASE)


def strip_active(data: bytes) -> bytes:
    """Cut script, style, noscript and template blocks before parsing (linear time, even when unclosed).

    Scripts then never reach the text, and multi-megabyte inline bundles cost nothing; JSON-LD is kept because
    it carries the author and the publication date.
    """
    lower = data.lower()
    out: list[bytes] = []
    pos = 0
    while (match := _OPEN_ACTIVE.search(data, pos)) is not None:
        out.append(data[pos:match.start()])
        tag_end = lower.find(b">", match.end())
        end = lower.find(b"</" + match.group(1).lower(), tag_end) if tag_end >= 0 else -1
        if end < 0:
            return b"".join(out)   # an unclosed script swallows the rest of the page, as in a browser
        close = lower.find(b">", end)
        pos = len(data) if close < 0 else close + 1
        if b"application/ld+json" in lower[match.end():tag_end]:
            out.append(data[match.start():pos])
    out.append(data[pos:])
    return b"".join(out)


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>?")
# The fallback's script and style blocks: a lazy match up to the first closing tag (one pass, no nesting)
_ACTIVE_BLOCK = re.compile(r"<(script|style|noscript|template)\b[^>]*>.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL)


class _FragmentText(HTMLParser):
    """Text of an HTML fragment with a line per block (paragraph, list item, table row); scripts never kept."""

    SKIP = frozenset({"script", "style", "noscript", "template", "iframe", "object", "svg", "head"})
    BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
                       "blockquote", "pre", "section", "article", "header", "footer", "dd", "dt", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(fragment: str | bytes) -> str:
    """Plain text of an HTML fragment (feed entry content): markup, scripts and styles dropped, blocks kept."""
    if isinstance(fragment, bytes):
        fragment = fragment.decode("utf-8", errors="replace")
    if "<" not in fragment:
        return normalise(unescape(fragment))
    parser = _FragmentText()
    try:
        parser.feed(fragment)
        parser.close()
        flat = "".join(parser.parts)
    except AssertionError:
        # Python 3.11's html.parser asserts on a marked section it does not know ("<![CDX[", found by fuzzing:
        # tests/data/fuzz/feed-entry-html-unknown-marked-section.fuzz): drop the tags instead, in one linear pass
        blocks = re.sub(rf"</?(?:{'|'.join(sorted(_FragmentText.BLOCK))})\b[^>]*>", "\n",
                        _ACTIVE_BLOCK.sub(" ", fragment), flags=re.IGNORECASE)
        flat = unescape(_TAG.sub(" ", blocks))
    lines = (" ".join(line.split()) for line in flat.split("\n"))
    return normalise(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)))


def _site(source: str, sitename: str | None, hostname: str | None) -> str | None:
    if sitename:
        return sitename
    if hostname:
        return hostname
    host = urlsplit(source).hostname if "://" in source else None
    return host.removeprefix("www.") if host else None


def html_document(data: bytes, source: str, *, charset: str | None = None) -> Document:
    """A Document from an HTML page; ``source`` is its URL or path (the URL helps trafilatura with metadata);
    ``charset`` is the one an HTTP server declared, which wins over trafilatura's guess when it fits the bytes."""
    url = source if source.startswith(("http://", "https://")) else None
    data = strip_active(data)
    page: bytes | str = data
    codec = codec_name(charset)
    if codec is not None and codec != "utf-8":
        try:
            data.decode("utf-8")   # valid UTF-8 stays UTF-8, whatever the server declares
        except UnicodeDecodeError:
            with contextlib.suppress(UnicodeDecodeError):
                page = data.decode(codec)
    limit = settings.get_int("max_html_bytes")
    if len(data) > limit:
        raise InputError(f"HTML page of {len(data)} bytes without scripts is larger than {limit} "
                         "(setting max_html_bytes)", where=source)
    try:
        # The date comes from the page's metadata, URL and <time> elements only: a date found anywhere in the
        # body of a threat report is usually an incident date, not the publication date.
        extracted = trafilatura.bare_extraction(page, url=url, include_tables=True, include_comments=False,
                                                with_metadata=True, deduplicate=False,
                                                date_extraction_params=set_date_params(extensive=False))
    except Exception as exc:   # trafilatura and lxml raise many kinds on broken markup; all mean "unreadable"
        raise InputError(f"unreadable HTML ({exc.__class__.__name__})", where=source) from None
    text = ""
    title = author = date = sitename = hostname = None
    if extracted is not None and not isinstance(extracted, dict):
        text = normalise(extracted.text or "")
        title, author, date = extracted.title, extracted.author, extracted.date
        sitename, hostname = extracted.sitename, extracted.hostname
    method = "trafilatura"
    if len(text) < 40:
        # Short pages fall under trafilatura's main-content threshold: take the whole cleaned body instead
        # (scripts, styles and forms are still removed), and say so in the metadata.
        fallback = html_to_text(data)
        if len(fallback) > len(text):
            text, method = fallback, "html2txt"
    if not text.strip():
        raise InputError("no readable text in the HTML page (only scripts, styles or boilerplate)", where=source)
    if title is None:
        match = _TITLE.search(data[:200_000])
        title = html_to_text(match.group(1)) if match else None
    return Document(text=text, source=source, media_type="text/html", title=title or None, published=date,
                    date_basis="metadata" if date else None, author=author, site=_site(source, sitename, hostname),
                    metadata={"extraction": method})
