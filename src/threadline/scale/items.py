"""The inputs of a distributed batch and the key that names each one across runs (what a rerun skips)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline import settings
from threadline.errors import InputError

PATH, URL, BYTES, RECORD = "path", "url", "bytes", "record"


@dataclass(frozen=True, slots=True)
class Item:
    """One input: ``kind`` says how the worker gets it; ``key`` (SHA-256) is the same for the same input in a
    later run: a file's absolute path, size and modification time, a URL, a record's content."""

    key: str
    source: str                                 # as the user gave it (a record: ``FILE:LINE``)
    kind: str
    data: bytes | None = None                   # BYTES: the content, read by the client
    record: dict[str, Any] = field(default_factory=dict)   # RECORD: id, text, title, source, published
    exclude: tuple[str, ...] = ()               # a record's own exclude_sources
    tlp: str | None = None                      # a web submission's marking (stricter front matter is kept)
    title: str | None = None                    # a web submission's title for a single document

    @property
    def label(self) -> str:
        """How messages name the input."""
        return self.source


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def source_item(source: str, *, ship: bool) -> Item:
    """A path, URL or ``-`` (stdin, always shipped). With ``ship`` a file's bytes are read here and shipped (a
    cluster whose workers do not share this file system); otherwise workers read the path where it is."""
    if source.lower().startswith(("http://", "https://")):
        return Item(_key(URL, source), source, URL)
    if source == "-":
        import sys

        data = sys.stdin.buffer.read(settings.get_int("max_input_bytes") + 1)
        if len(data) > settings.get_int("max_input_bytes"):
            raise InputError("input larger than max_input_bytes", where="<stdin>")
        return Item(_key(BYTES, hashlib.sha256(data).hexdigest()), "-", BYTES, data=data)
    path = Path(source).expanduser()
    try:
        info = path.resolve().stat()
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", where=source) from None
    key = _key(PATH, str(path.resolve()), str(info.st_size), str(info.st_mtime_ns))
    if not ship:
        return Item(key, source, PATH)
    if info.st_size > settings.get_int("max_input_bytes"):
        raise InputError("file larger than max_input_bytes", where=source)
    try:
        return Item(key, source, BYTES, data=path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror})", where=source) from None


def record_item(record: dict[str, Any], fields: dict[str, Any], where: str, exclude: tuple[str, ...]) -> Item:
    """A JSONL record already checked by the command (``fields``: id, text, title, source, published)."""
    canonical = json.dumps({**fields, "exclude": list(exclude)}, sort_keys=True, ensure_ascii=False)
    return Item(_key(RECORD, canonical), where, RECORD, record=dict(fields), exclude=exclude)


def submitted_item(source: str, data: bytes | None, tlp: str, title: str | None) -> Item:
    """A report submitted on the web (`threadline serve` with a scheduler): its bytes (upload, paste), shipped, or
    its URL, read by the worker (under the same URL safety rules); with the marking and title it was given."""
    if data is None:
        return Item(_key(URL, source, tlp, title or ""), source, URL, tlp=tlp, title=title)
    return Item(_key(BYTES, hashlib.sha256(data).hexdigest(), tlp, title or ""), source, BYTES, data=data, tlp=tlp,
                title=title)
