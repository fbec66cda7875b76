"""A document's date, and what it rests on: front matter, the format's metadata, a date line near the top of the
text, else the day it was ingested. Every document gets a real day (never null, never the epoch), and
``date_basis`` says which of these it came from, so a reader can weigh it.

Front matter is YAML (``yaml.safe_load`` on at most 64 KiB). A block that is not valid YAML, or not a mapping (a
Markdown horizontal rule pair around a paragraph), is left in the text as it was, with a warning in the metadata:
its content is then still read, and a ``date:`` line in it still dates the report as a body line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import yaml

from threadline.extract.dates import parse_day, report_date
from threadline.model import Document
from threadline.tlp import LEVELS, RED, recognise

FRONT_MATTER, METADATA, BODY, INGESTED = "front_matter", "metadata", "body", "ingested"
DATE_BASES = (FRONT_MATTER, METADATA, BODY, INGESTED)
MAX_FRONT_MATTER = 64 * 1024
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
# Keys a date is read from, in order: the publication date first, then a generic date, then creation, update.
_DATE_KEYS = ("published", "publishdate", "publish_date", "pubdate", "date", "created", "updated", "lastmod",
              "modified")
_EARLIEST = date(1980, 1, 1)   # no threat report predates this; an older "date" is a default value or a typo


@dataclass(slots=True)
class FrontMatter:
    """What a front-matter block says (keys lower-cased), the text after it, and why a block was not read."""

    fields: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    warning: str | None = None


def read_front_matter(text: str) -> FrontMatter:
    """Split YAML front matter (``---`` ... ``---`` at the very start) from the text; see the module notes."""
    if not text.startswith("---"):
        return FrontMatter(body=text)
    match = _FRONT_MATTER.match(text[:MAX_FRONT_MATTER + 16])
    if not match:
        return FrontMatter(body=text)
    try:
        loaded = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 2}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        return FrontMatter(body=text, warning=f"front matter is not valid YAML ({where}{problem}); kept as text")
    except RecursionError:
        return FrontMatter(body=text, warning="front matter nests too deeply; kept as text")
    except (ValueError, TypeError, OverflowError) as exc:
        # PyYAML's constructors raise these past its parser: "published: 2021-02-30" is a timestamp by the
        # grammar and no date by the calendar (found by fuzzing: tests/data/fuzz/front_matter-impossible-*)
        return FrontMatter(body=text, warning=f"front matter is not valid YAML ({' '.join(str(exc).split())[:80]}); "
                                              "kept as text")
    if not isinstance(loaded, dict):
        return FrontMatter(body=text)   # "---" rules around a paragraph, not front matter at all
    fields = {str(key).strip().lower(): value for key, value in loaded.items()}
    return FrontMatter(fields=fields, body=text[match.end():])


_KNOWN_KEYS = frozenset({"title", "author", "authors", "site", "url", "source", "source_url", "link", "tlp",
                         *_DATE_KEYS})


def has_known_keys(front: FrontMatter) -> bool:
    """Whether a front-matter block says something Threadline reads (a title, a date, ...)."""
    return not _KNOWN_KEYS.isdisjoint(front.fields)


def iso_date(value: object, now: datetime | None = None) -> str | None:
    """A date as stored: ``YYYY-MM-DD``, or ``YYYY-MM-DDTHH:MM:SSZ`` (UTC) when a time is known; None when the
    value is no single day (``2021``, ``true``, ``soon``), before 1980, or more than a year after ``now``."""
    when: date | datetime | None = None
    if isinstance(value, date):    # datetime too (a subclass of date)
        when = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text or ":" in text \
                else date.fromisoformat(text)
        except ValueError:
            parsed = parse_day(text)
            when = date.fromisoformat(parsed) if parsed else None
    if when is None:
        return None
    day = when.date() if isinstance(when, datetime) else when
    latest = (now or datetime.now(UTC)).date() + timedelta(days=366)
    if not _EARLIEST <= day <= latest:
        return None
    if isinstance(when, datetime):
        utc = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return day.isoformat()


# Only scalars are read from front matter: str() of a YAML alias bomb (a list of lists of the same list...) would be
# exponentially long, though safe_load builds it in linear space.
_SCALAR = (str, int, float, date)


def _text(value: object) -> str | None:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value[:20] if isinstance(v, _SCALAR) and not isinstance(v, bool))
    if not isinstance(value, _SCALAR) or isinstance(value, bool):
        return None
    return " ".join(str(value).split())[:500] or None


def unrecognised_tlp_warning(word: str) -> str:
    """What a document's reader is told when its own front matter carries a TLP word that names no level."""
    return f"front matter TLP {word[:100]!r} is no TLP 2.0 level ({', '.join(LEVELS)}); the report is marked red"


def apply_front_matter(doc: Document, front: FrontMatter) -> None:
    """Title, author, site, date, source URL and TLP from front matter onto a document made from its body."""
    f = front.fields
    if front.warning:
        previous = doc.metadata.get("warning")
        doc.metadata["warning"] = f"{previous}; {front.warning}" if previous else front.warning
    for key in ("title", "author", "site"):
        value = _text(f.get(key))
        if value is not None:
            setattr(doc, key, value[:200] if key == "title" else value)
    if doc.author is None:
        doc.author = _text(f.get("authors"))
    url = _text(f.get("url") or f.get("source") or f.get("source_url") or f.get("link"))
    if url:
        doc.metadata["source_url"] = url
    tlp = _text(f.get("tlp"))
    if tlp:
        level = recognise(tlp)
        if level:
            doc.metadata["tlp"] = level
        else:
            # A marking nobody can read is red (tlp.normalise): never shown to a reader cleared below it.
            doc.metadata["tlp"] = RED
            doc.metadata["tlp_unrecognised"] = tlp[:100]
            note = unrecognised_tlp_warning(tlp)
            previous = doc.metadata.get("warning")
            doc.metadata["warning"] = f"{previous}; {note}" if previous else note
    for key in _DATE_KEYS:
        value = f.get(key)
        if isinstance(value, date):          # YAML's own dates and timestamps
            doc.published, doc.date_basis = value.isoformat(), FRONT_MATTER
            break
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            # As written ("March 18, 2021", 2021); date_document checks that it is a day
            doc.published, doc.date_basis = str(value).strip()[:100], FRONT_MATTER
            break


def document_date(doc: Document, now: datetime | None = None) -> tuple[str, str]:
    """The document's day and its basis: the date it carries (front matter or metadata) when that is a real
    day, else a date line near the top of its text, else the day it was ingested (``now`` when not recorded)."""
    given = iso_date(doc.published, now)
    if given is not None:
        # A date given without its basis (a batch record's "published", a document stored before bases were
        # recorded) came with the document: metadata.
        return given, doc.date_basis if doc.date_basis in DATE_BASES else METADATA
    body = report_date(doc.text)
    if body is not None:
        return body, BODY
    ingested = iso_date(doc.metadata.get("ingested"), now)
    return (ingested or (now or datetime.now(UTC)).date().isoformat())[:10], INGESTED


def date_document(doc: Document, now: datetime) -> None:
    """Give a freshly read document its date and basis, and record when it was ingested (in its metadata, which
    the store keeps, so a stored document keeps its basis too)."""
    doc.metadata["ingested"] = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    published, basis = document_date(doc, now)
    if doc.published is not None and iso_date(doc.published, now) is None:
        doc.metadata["date_ignored"] = str(doc.published)[:100]   # "2021", "TBD": not a day, kept for the record
    doc.published, doc.date_basis = published, basis
    doc.metadata["date_basis"] = basis
