"""Reading a source's bytes (file, stdin or URL) within the size limits, and telling what format it is."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadline import settings
from threadline.errors import InputError
from threadline.ingest.feed import is_feed
from threadline.ingest.text import looks_binary
from threadline.ingest.url import fetch_document, unsupported_scheme

# Kinds of input, in the order they are recognised.
PDF, HTML, FEED, STIX, MISP, JSON, TEXT, BINARY = "pdf", "html", "feed", "stix", "misp", "json", "text", "binary"
BAD_JSON = "bad-json"
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<meta ", b"<title")
_BINARY_SIGNATURES = (b"PK\x03\x04", b"\x7fELF", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b",
                      b"Rar!", b"7z\xbc\xaf", b"\xd0\xcf\x11\xe0")


@dataclass(frozen=True, slots=True)
class Raw:
    """A source's bytes with what is known about them before parsing."""

    data: bytes
    source: str                # as the user gave it
    content_type: str = ""     # from HTTP, when fetched
    url: str | None = None     # final URL after redirects, when fetched


# Files a folder source expands to: hidden files and editor leftovers are skipped.
_SKIP_SUFFIXES = (".tmp", ".swp", ".part", "~")


def folder_files(folder: Path) -> list[Path]:
    """The regular files under a folder (sorted, hidden ones and editor leftovers skipped)."""
    return [p for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
            and not p.name.endswith(_SKIP_SUFFIXES)]


def is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _read_limited(handle: Any, where: str, limit: int) -> bytes:
    chunk = handle.read(limit + 1)
    data: bytes = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
    if len(data) > limit:
        raise InputError(f"larger than {limit} bytes (setting max_input_bytes)", where=where)
    return data


def read_source(source: str, *, allow_private: bool = False) -> Raw:
    """The bytes of a path, ``-`` (stdin) or http(s) URL; too big, missing or empty inputs are one-line errors."""
    refused = unsupported_scheme(source)
    if refused is not None:
        raise refused
    if is_url(source):
        fetched = fetch_document(source, allow_private=allow_private)
        data = fetched.body
        raw = Raw(data, source, fetched.content_type, fetched.url)
    elif source == "-":
        stream = getattr(sys.stdin, "buffer", None)   # a text-only stdin (tests, embedding) is read as UTF-8
        limit = settings.get_int("max_input_bytes")
        raw = Raw(_read_limited(stream if stream is not None else sys.stdin, "<stdin>", limit), "<stdin>")
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise InputError("no such file", where=source)
        if path.is_dir() and not folder_files(path):    # the commands expand folders; an empty one is left as is
            raise InputError("folder holds no files to read", where=source)
        if not path.is_file():
            raise InputError("not a regular file", where=source)
        limit = settings.get_int("max_input_bytes")
        try:
            size = path.stat().st_size
            if size > limit:   # refuse before reading a byte: a 1 GB file must not fill memory
                raise InputError(f"file of {size} bytes is larger than {limit} (setting max_input_bytes)",
                                 where=source)
            with path.open("rb") as handle:
                raw = Raw(_read_limited(handle, source, limit), source)
        except OSError as exc:
            raise InputError(f"cannot read the file ({exc.strerror})", where=source) from None
    if not raw.data.strip():
        raise InputError("empty input" if not raw.data else "empty input (only whitespace)", where=raw.source)
    return raw


def json_kind(obj: Any) -> str:
    """STIX bundle, MISP event (bare, wrapped in ``Event``, a ``response`` list or a list), or other JSON."""
    if isinstance(obj, list) and obj and all(isinstance(item, dict) and isinstance(item.get("Event"), dict)
                                             for item in obj):
        return MISP
    if isinstance(obj, dict):
        if obj.get("type") == "bundle" and isinstance(obj.get("objects", []), list):
            return STIX
        if isinstance(obj.get("type"), str) and "--" in str(obj.get("id", "")) and "spec_version" in obj:
            return STIX   # a single STIX object, imported as a bundle of one
        if isinstance(obj.get("Event"), dict):
            return MISP
        response = obj.get("response")
        if isinstance(response, list) and response and all(isinstance(r, dict) and "Event" in r
                                                          for r in response):
            return MISP
        if "info" in obj and ("Attribute" in obj or "Object" in obj or "Orgc" in obj):
            return MISP
    return JSON


def sniff(raw: Raw) -> str:
    """What the bytes are, judged by their content first, then by the HTTP type and the file name."""
    data = raw.data
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"%PDF-") or b"%PDF-" in data[:1024]:
        return PDF
    if head.startswith(_BINARY_SIGNATURES) or looks_binary(data):
        return BINARY
    lowered = head[:1024].lower()
    if head.startswith((b"{", b"[")):
        try:
            return json_kind(json.loads(data))
        except (ValueError, RecursionError):
            # A report never starts with "{"; a Markdown one may start with "[a link](...)".
            name = (raw.url or raw.source).lower().split("?", 1)[0]
            if head.startswith(b"{") or name.endswith(".json") or "json" in raw.content_type.lower():
                return BAD_JSON
            return TEXT
    if is_feed(data):
        return FEED
    if any(marker in lowered for marker in _HTML_MARKERS):
        return HTML
    base = raw.content_type.split(";", 1)[0].strip().lower()
    name = (raw.url or raw.source).lower().split("?", 1)[0]
    if base in ("text/html", "application/xhtml+xml") or name.endswith((".html", ".htm", ".xhtml")):
        return HTML if b"<" in head else TEXT
    return TEXT
