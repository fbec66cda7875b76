"""Indicator-of-compromise extraction: refanged, normalised, typed hits with evidence and false-positive flags.

``extract_iocs(text, source_url=...)`` returns one :class:`Indicator` per distinct (type, value), at its first
occurrence. Hits are never dropped for being benign: they carry ``warninglists`` (MISP warninglists that match)
and ``flags`` (every reason the hit is probably not an indicator of compromise); empty ``flags`` means "treat
as an indicator". Scanning is linear in the size of the text; see :mod:`threadline.extract.iocs.patterns`.
"""

from __future__ import annotations

import ipaddress
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from threadline.errors import InputError
from threadline.extract.iocs import flags as fl
from threadline.extract.iocs.patterns import ipv4_is_special
from threadline.extract.iocs.refang import Refanged, refang
from threadline.extract.iocs.scan import (
    Raw,
    Spans,
    registered_domain,
    scan_dotted,
    scan_hashes,
    scan_ipv6,
    scan_misc,
    scan_registry,
    tlds,
)
from threadline.extract.iocs.urls import scan_emails, scan_urls
from threadline.extract.sentences import sentence_at, split_sentences
from threadline.model import Document, Evidence, Sentence

TYPES = ("ipv4", "ipv6", "domain", "url", "email", "md5", "sha1", "sha256", "sha512", "cve", "registry_key",
         "file_name", "btc_address", "asn")
_BLANK_LINE = re.compile("\n\n")
_EMAIL_LISTS = ("rfc6761",)       # a mailbox at gmail.com can be the attacker's; one at example.com cannot


@dataclass(slots=True)
class Indicator:
    """One indicator: normalised value, the text as written, where it is, and why it may be benign."""

    type: str
    value: str
    defanged: str
    start: int
    end: int
    sentence: Evidence | None = None
    warninglists: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form with the field names of issue 3."""
        return {
            "type": self.type,
            "value": self.value,
            "defanged": self.defanged,
            "offset": self.start,
            "sentence": self.sentence.to_dict() if self.sentence else None,
            "warninglists": list(self.warninglists),
            "flags": list(self.flags),
        }


@dataclass(slots=True)
class _Context:
    """What the flaggers need to know about the whole document."""

    text: str
    publisher_domains: set[str]
    references_from: int           # offset of a "References" heading, or len(text) + 1 when there is none
    paragraphs: dict[int, list[Sentence]] = field(default_factory=dict)
    breaks: list[int] = field(default_factory=list)      # offsets of every blank line ("\n\n"), found once

    def sentence(self, offset: int) -> Sentence | None:
        """The sentence holding an offset; only the paragraph around it is split (blank lines end sentences)."""
        if not self.breaks:
            self.breaks = [-1, *(m.start() for m in _BLANK_LINE.finditer(self.text)), len(self.text)]
        i = bisect_right(self.breaks, offset) - 1
        start = self.breaks[i] + 1
        if start not in self.paragraphs:
            end = self.breaks[i + 1] if i + 1 < len(self.breaks) else len(self.text)
            self.paragraphs[start] = [Sentence(s.text, s.start + start, s.end + start)
                                      for s in split_sentences(self.text[start:end])]
        return sentence_at(self.paragraphs[start], offset)


def extract_iocs(text: str, *, source_url: str | None = None) -> list[Indicator]:
    """Indicators in ``text`` (a report), in order of first occurrence; ``source_url`` marks the publisher's site."""
    if not isinstance(text, str):
        raise InputError(f"expected text, got {type(text).__name__}", where="extract_iocs")
    rf = refang(text, tlds())
    raws = _scan(rf)
    if not raws:
        return []
    context = _Context(text, set(), _references_start(text))
    if source_url:
        host = (_host(source_url if "://" in source_url else "//" + source_url) or "").lower()
        _add_publisher(context, host)
    groups: dict[tuple[str, str], list[Raw]] = {}
    for raw in raws:
        groups.setdefault((raw.type, raw.value), []).append(raw)
    hits = []
    for occurrences in groups.values():
        hit = _indicator(rf, occurrences[0], context)
        # A context flag ("reference", "publisher") stays only if every occurrence has it.
        shared = set.intersection(*(_context_flags(rf, raw, context) for raw in occurrences))
        hit.flags = list(dict.fromkeys(hit.flags + sorted(shared)))
        hits.append((hit, occurrences[0]))
    _propagate_publisher(hits, context)
    return [hit for hit, _ in hits]


def document_iocs(document: Document) -> list[Indicator]:
    """Indicators of an ingested document, with the page of each sentence and the document's hash as evidence."""
    source_url = document.source if "://" in document.source else None
    if document.site and source_url is None:
        source_url = document.site
    hits = extract_iocs(document.text, source_url=source_url)
    for hit in hits:
        if hit.sentence is not None:
            hit.sentence = Evidence(hit.sentence.text, hit.sentence.start, hit.sentence.end,
                                    document.page_at(hit.start), document.sha256)
    return hits


def _scan(rf: Refanged) -> list[Raw]:
    text = rf.text
    claimed = Spans()
    data = text.encode("ascii", "replace")        # one byte per character, for the byte-level run finders
    raws = list(scan_urls(text, claimed))
    raws += scan_emails(text, claimed)
    raws += scan_registry(text, claimed)
    raws += scan_hashes(text, data, claimed)
    raws += scan_dotted(text, data, claimed, rf.was_defanged)
    raws += scan_ipv6(text, claimed)
    raws += scan_misc(text, data, claimed)
    raws.sort(key=lambda r: (r.start, r.end))
    return raws


def _indicator(rf: Refanged, raw: Raw, context: _Context) -> Indicator:
    """The hit at its first occurrence, with the flags that depend on its value alone."""
    start, end = rf.start(raw.start), rf.end(raw.end)
    sentence = context.sentence(start)
    evidence = Evidence(sentence.text, sentence.start, sentence.end) if sentence else None
    hit = Indicator(raw.type, raw.value, rf.original[start:end], start, end, evidence)
    hit.warninglists = _warninglists(raw)
    flags = [fl.WARNINGLIST] if hit.warninglists else []
    flags += _value_flags(raw)
    registered = registered_domain(raw.host) if raw.host else ""
    if registered and registered in context.publisher_domains:
        flags.append(fl.PUBLISHER)
    hit.flags = list(dict.fromkeys(flags))
    return hit


def _warninglists(raw: Raw) -> list[str]:
    if raw.type in ("ipv4", "ipv6"):
        return fl.ip_lists(raw.value)
    if raw.type in ("md5", "sha1", "sha256", "sha512"):
        return fl.hash_lists(raw.value)
    if raw.type == "domain":
        return fl.domain_lists(raw.host, registered_domain(raw.host))
    if raw.type == "email":
        names = set(fl.domain_lists(raw.host, registered_domain(raw.host)))
        return [n for n in fl.list_names(_EMAIL_LISTS) if n in names]
    if raw.type == "url":
        if _is_ip(raw.host):
            return fl.ip_lists(raw.host)
        registered = registered_domain(raw.host)
        path = _path(raw.value)
        if path not in ("", "/") and fl.is_open_content_host(raw.host, registered):
            return []        # raw.githubusercontent.com/<actor>/..., a shortened link: the content is the actor's
        return fl.domain_lists(raw.host, registered)
    return []


def _host(url: str) -> str | None:
    """A URL's host; None when urlsplit refuses it: a document's source is a feed entry's link, which can be
    anything ("http://[x", found by fuzzing the feed reader)."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _path(url: str) -> str:
    try:
        return urlsplit(url).path
    except ValueError:
        return ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _value_flags(raw: Raw) -> list[str]:
    if raw.type in ("ipv4", "ipv6") or (raw.type == "url" and _is_ip(raw.host)):
        address = raw.value if raw.type != "url" else raw.host
        return [fl.PRIVATE] if ipv4_is_special(address) else []
    if raw.host in ("localhost",) or raw.host.endswith((".local", ".localhost", ".internal")):
        return [fl.PRIVATE]
    if raw.type == "file_name" and raw.value.lower() in fl.WELL_KNOWN_FILES:
        return [fl.WELL_KNOWN]
    if raw.type == "asn" and raw.value in fl.WELL_KNOWN_ASNS:
        return [fl.WELL_KNOWN]
    if raw.type in ("url", "domain") and (raw.host in fl.REFERENCE_HOSTS
                                         or registered_domain(raw.host) in fl.REFERENCE_HOSTS):
        return [fl.REFERENCE]
    return []


def _context_flags(rf: Refanged, raw: Raw, context: _Context) -> set[str]:
    """Flags from the words around one occurrence of a URL, domain or e-mail address."""
    if raw.type not in ("url", "domain", "email") or rf.was_defanged(raw.start, raw.end):
        return set()       # the analyst defanged it: meant as an indicator, not as a link to follow
    start = rf.start(raw.start)
    before = context.text[max(0, start - 120):start]
    cut = max(before.rfind(". "), before.rfind("\n\n"), before.rfind("! "), before.rfind("? "))
    before = before[cut + 1:]
    flags = set()
    if fl.PUBLISHER_CUE.search(before):
        flags.add(fl.PUBLISHER)
        _add_publisher(context, raw.host)
    if raw.type == "url" and (start > context.references_from or fl.REFERENCE_CUE.search(before)
                              or _on_footnote_line(context.text, start)):
        flags.add(fl.REFERENCE)
    return flags


def _on_footnote_line(text: str, offset: int) -> bool:
    line_start = text.rfind("\n", 0, offset) + 1
    return bool(fl.FOOTNOTE_LINE.match(text, line_start)) and offset - line_start < 8


def _references_start(text: str) -> int:
    # Only a heading in the last third of the report opens a references section (not a "Notes" box up front).
    last = None
    for match in fl.REFERENCES_HEADING.finditer(text, len(text) * 2 // 3):
        last = match
    return last.start() if last is not None else len(text) + 1


def _add_publisher(context: _Context, host: str) -> None:
    """Remember the publisher's registered domain, unless anyone can publish there (GitHub, Medium, drives)."""
    if host and not _is_ip(host):
        registered = registered_domain(host)
        if not fl.is_open_content_host(host, registered):
            context.publisher_domains.add(registered)


def _propagate_publisher(hits: list[tuple[Indicator, Raw]], context: _Context) -> None:
    """A domain the report calls its own ("our blog at ...") is the publisher's wherever else it appears."""
    if not context.publisher_domains:
        return
    for hit, raw in hits:
        if raw.host and fl.PUBLISHER not in hit.flags and registered_domain(raw.host) in context.publisher_domains:
            hit.flags.append(fl.PUBLISHER)
