"""The typed objects that travel between the pipeline stages.

Every object that states something about a report carries :class:`Evidence`: the document, the character
offsets of the supporting text, and the page when the source has pages. A claim without evidence is a bug.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

# Namespace for Threadline's deterministic identifiers (uuid5 over a canonical key), so re-running is idempotent.
THREADLINE_NAMESPACE = uuid.UUID("6f1b8a52-3c1e-5d6b-9a57-0c7e2d1f4b90")


def deterministic_id(kind: str, *key: str) -> str:
    """A STIX-style identifier ``kind--uuid5`` over a canonical key."""
    return f"{kind}--{uuid.uuid5(THREADLINE_NAMESPACE, chr(31).join((kind, *key)))}"


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Page:
    """A page of a paginated source: its number (1-based) and where its text starts and ends in the document."""

    number: int
    start: int
    end: int


@dataclass(slots=True)
class Document:
    """One ingested report: normalised text plus what is known about where it came from."""

    text: str
    source: str                       # path, URL or feed entry link, as the user gave it
    media_type: str = "text/plain"
    title: str | None = None
    published: str | None = None      # ISO 8601 date or datetime
    # What ``published`` rests on: "front_matter", "metadata" (HTML meta, PDF info, feed entry, a caller's field),
    # "body" (a "Date:" line near the top) or "ingested" (none of these: the day it was read). Kept in
    # ``metadata["date_basis"]`` too, which every store keeps, and read back from there when not given.
    date_basis: str | None = None
    author: str | None = None
    site: str | None = None
    pages: list[Page] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    sha256: str = ""

    def __post_init__(self) -> None:
        if not self.sha256:
            self.sha256 = sha256_text(self.text)
        if self.date_basis is None and isinstance(self.metadata.get("date_basis"), str):
            self.date_basis = self.metadata["date_basis"]

    def page_at(self, offset: int) -> int | None:
        """The page number that holds a character offset, when the source has pages."""
        for page in self.pages:
            if page.start <= offset < page.end:
                return page.number
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("text")
        return d


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of a document with its character offsets."""

    text: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a claim is supported: the sentence text and its offsets in the document (and page, if known)."""

    text: str
    start: int
    end: int
    page: int | None = None
    document: str | None = None       # document sha256, once stored

    def to_dict(self) -> dict[str, Any]:
        # what {k: v for k, v in asdict(self).items() if v is not None} gives (the fields are str, int, None), in
        # the same order of keys, without asdict's deep copies: ~250 evidence items per report
        out: dict[str, Any] = {"text": self.text, "start": self.start, "end": self.end}
        if self.page is not None:
            out["page"] = self.page
        if self.document is not None:
            out["document"] = self.document
        return out
