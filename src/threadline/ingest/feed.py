"""RSS and Atom feeds (feedparser): each entry with text becomes a Document; linked pages are not fetched."""

from __future__ import annotations

import time
from typing import Any

from threadline.errors import InputError
from threadline.ingest.text import normalise
from threadline.ingest.url import host_of
from threadline.limits import check
from threadline.model import Document


def _iso(parsed: Any) -> str | None:
    if isinstance(parsed, time.struct_time):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed)
    return None


def _entry_text(entry: Any) -> tuple[str, str]:
    """The fullest text an entry carries (content, else summary), as plain text, with its media type."""
    candidates: list[tuple[str, str]] = []
    for content in entry.get("content") or []:
        candidates.append((str(content.get("value") or ""), str(content.get("type") or "text/html")))
    if entry.get("summary"):
        detail = entry.get("summary_detail") or {}
        candidates.append((str(entry["summary"]), str(detail.get("type") or "text/html")))
    from threadline.ingest.html import html_to_text  # trafilatura: loaded only when a feed is read

    best, media_type = "", "text/plain"
    for value, kind in candidates:
        text = html_to_text(value) if "html" in kind else normalise(value)
        if len(text) > len(best):
            best, media_type = text, ("text/html" if "html" in kind else "text/plain")
    return best, media_type


def is_feed(data: bytes) -> bool:
    """RSS (0.9x, 1.0 RDF, 2.0) or Atom, judged by the root element near the start of the bytes."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return any(tag in head for tag in (b"<rss", b"<feed", b"<rdf:rdf")) and b"<html" not in head


def feed_documents(data: bytes, source: str, *, content_type: str = "") -> list[Document]:
    """One Document per entry that has text; the feed's title becomes each entry's site."""
    import feedparser  # here, not at the top: every command sniffs sources with is_feed, few read feeds

    headers = {"content-type": content_type} if content_type else None
    try:
        parsed = feedparser.parse(data, sanitize_html=True, resolve_relative_uris=False, response_headers=headers)
    except Exception as exc:   # feedparser lets some broken inputs through as its own bugs; all mean "unreadable"
        # e.g. UnicodeDecodeError on an XML declaration naming its encoding in bytes that are not UTF-8 (found by
        # fuzzing: tests/data/fuzz/feed-xml-encoding-not-utf8.fuzz)
        raise InputError(f"not a readable RSS or Atom feed ({exc.__class__.__name__})", where=source) from None
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        raise InputError(f"not a readable RSS or Atom feed ({reason or 'unknown format'})".splitlines()[0],
                         where=source)
    feed = parsed.feed
    feed_title = normalise(str(feed.get("title") or "")) or None
    feed_link = str(feed.get("link") or "")
    # host_of: a feed's link can be anything ("http://[", found by fuzzing: tests/data/fuzz/feed-link-*)
    site = feed_title or (host_of(feed_link) if feed_link else None)
    documents: list[Document] = []
    skipped = 0
    for index, entry in enumerate(parsed.entries):
        check()      # bounded work per document in any thread (threadline.limits)
        text, media_type = _entry_text(entry)
        title = normalise(str(entry.get("title") or "")) or None
        if title and not text.startswith(title):
            text = f"{title}\n\n{text}" if text else title
        if not text.strip() or text == title:
            skipped += 1
            continue
        link = str(entry.get("link") or "")
        entry_id = str(entry.get("id") or link or index)
        author = entry.get("author")
        # The entry's own date only: the feed's date is when the feed last changed, not when this entry appeared.
        published = _iso(entry.get("published_parsed")) or _iso(entry.get("updated_parsed"))
        documents.append(Document(
            text=text, source=link or f"{source}#{entry_id}", media_type=media_type, title=title,
            published=published, date_basis="metadata" if published else None,
            author=str(author) if author else None, site=site,
            metadata={"feed": source, "feed_title": feed_title, "feed_format": parsed.get("version") or None,
                      "entry_id": entry_id, "tags": [str(t.get("term")) for t in entry.get("tags") or []
                                                     if t.get("term")]}))
    if not documents:
        raise InputError(f"feed has no entries with text ({skipped} entries without any)", where=source)
    return documents
