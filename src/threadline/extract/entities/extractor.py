"""Entities a report names, each with the sentences that support it: actors, campaigns, software, targeted
sectors, countries and regions, dates, lures, goals (and generic capabilities such as "info stealers").

Actor roles (the issue left them to us):
- ``attributed``: a claim of the report (:mod:`threadline.extract.entities.claims`) attributes activity to the actor,
  firmly or with hedges (strength attributed or suspected);
- ``mentioned``: every sentence naming it is a passing mention: a comparison, history, a denial ("not to be
  confused with"), a list of examples ("groups such as ...");
- ``named``: anything else (the report talks about the actor without attributing to it; an overlap alone is
  not an attribution).
A name several actors carry keeps every one in ``candidates``; ``attack_id`` is the group ATT&CK itself gives the
name to when there is exactly one such group, else null. Nothing is merged.

Beyond the agreed analysis keys, items carry ``mentions`` (the spellings used), ``entity`` (G-id or
``misp:<uuid>``), sectors their MISP value (``misp_sector``), countries a ``role`` (targeted/origin/mentioned),
campaigns ``first_seen_source`` (report or attack), dates ``qualifier`` ("early May 2020") and ``relative_to``
("This was followed by ..." dated after the previous date), and ``capabilities`` lists generic malware classes.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from threadline.extract.dates import DateHit, find_dates
from threadline.extract.entities import text as stated
from threadline.extract.entities.claims import Claim, extract_claims, resolve_actor
from threadline.extract.entities.lexicon import Hit, choose_kind, find_names
from threadline.extract.entities.places import find_places, find_sectors
from threadline.extract.entities.sentences import locate, report_sentences
from threadline.extract.sentences import sentence_at
from threadline.knowledge import KnowledgeBase, normalise
from threadline.limits import check
from threadline.model import Document, Evidence, Sentence

_PASSING = re.compile(r"\bnot\s+to\s+be\s+confused\s+with\b|\bunlike\b|\bin\s+contrast\b|\bcompared?\b|"
                      r"\bsuch\s+as\b|\bsimilar\s+to\b|\bpreviously\b|\bin\s+the\s+past\b|\bhistorically\b|"
                      r"\bformerly\b|\bother\s+(?:groups|actors)\b|\bdistinct\s+from\b|\bunrelated\s+to\b",
                      re.IGNORECASE)
_FIRST = re.compile(r"\b(?:first|earliest|initial\w*|began|begun|started|since)\b", re.IGNORECASE)
_ROLE_ORDER = {"targeted": 0, "origin": 1, "mentioned": 2}


@dataclass(slots=True)
class Item:
    """One extracted entity: its fields (as in the analysis JSON) plus the evidence for it."""

    fields: dict[str, Any]
    evidence: list[Evidence] = field(default_factory=list)
    # Spans already in ``evidence``: looking each new sentence up in the list was quadratic in the mentions of
    # one entity (a long report naming its actor thousands of times).
    spans: set[tuple[int, int]] = field(default_factory=set, repr=False, compare=False)

    def add(self, sentence: Sentence) -> None:
        span = (sentence.start, sentence.end)
        if span not in self.spans:
            self.spans.add(span)
            self.evidence.append(Evidence(sentence.text, sentence.start, sentence.end))

    def to_dict(self) -> dict[str, Any]:
        return {**self.fields, "evidence": [e.to_dict() for e in self.evidence]}


@dataclass(slots=True)
class Entities:
    actors: list[Item] = field(default_factory=list)
    campaigns: list[Item] = field(default_factory=list)
    software: list[Item] = field(default_factory=list)
    sectors: list[Item] = field(default_factory=list)
    countries: list[Item] = field(default_factory=list)
    regions: list[Item] = field(default_factory=list)
    dates: list[Item] = field(default_factory=list)
    lures: list[Item] = field(default_factory=list)
    goals: list[Item] = field(default_factory=list)
    capabilities: list[Item] = field(default_factory=list)
    advice: list[Item] = field(default_factory=list)          # what the source recommends defenders do
    assessments: list[Item] = field(default_factory=list)     # the source's hedged views of cause or motive
    claims: list[Claim] = field(default_factory=list)     # computed on the way (actor roles); not in to_dict

    KEYS = ("actors", "campaigns", "software", "sectors", "countries", "regions", "dates", "lures", "goals",
            "capabilities", "advice", "assessments")

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {key: [item.to_dict() for item in getattr(self, key)] for key in self.KEYS}


class _Collector:
    """Items keyed by identity, in order of first mention."""

    def __init__(self) -> None:
        self.items: dict[str, Item] = {}

    def get(self, key: str, fields: dict[str, Any]) -> Item:
        if key not in self.items:
            self.items[key] = Item(fields)
        return self.items[key]

    def values(self) -> list[Item]:
        return list(self.items.values())


def _actors(text: str, kb: KnowledgeBase, hits: Iterable[Hit], sentences: list[Sentence],
            claims: list[Claim]) -> list[Item]:
    out = _Collector()
    passing: dict[str, bool] = {}
    for hit in hits:
        sentence = sentence_at(sentences, hit.start)
        if sentence is None:
            continue
        entity, candidates = resolve_actor(kb, hit.text)
        if not candidates:
            continue
        key = entity or "|".join(sorted(candidates))
        fields: dict[str, Any] = {
            "attack_id": entity if entity and entity.startswith("G") else None,
            "name": kb.entity_name(entity) if entity else hit.text,
            "entity": entity, "mentions": [], "role": "named",
        }
        if len(candidates) > 1:
            fields["candidates"] = [{"entity": c, "attack_id": c if c.startswith("G") else None,
                                     "name": kb.entity_name(c)} for c in candidates]
        item = out.get(key, fields)
        if hit.text not in item.fields["mentions"]:
            item.fields["mentions"].append(hit.text)
        item.add(sentence)
        passing[key] = passing.get(key, True) and bool(_PASSING.search(sentence.text))
    attributed = {c.entity for c in claims if c.entity and c.strength in ("attributed", "suspected")}
    denied = {c.entity for c in claims if c.entity and c.strength == "denied"}
    for key, item in out.items.items():
        if key in attributed:
            item.fields["role"] = "attributed"
        elif passing[key] or key in denied:
            item.fields["role"] = "mentioned"
    return out.values()


def _software(kb: KnowledgeBase, hits: Iterable[Hit], sentences: list[Sentence]) -> list[Item]:
    out = _Collector()
    for hit in hits:
        sentence = sentence_at(sentences, hit.start)
        if sentence is None:
            continue
        found = kb.software_names.resolve(hit.text).entities
        entries = [e for e in hit.entries if e.kind == "software"]
        if len(found) == 1:
            key, attack_id, name = found[0], found[0], kb.entity_name(found[0])
            kind = getattr(kb.by_attack_id.get(found[0]), "kind", None)
        elif entries:
            key, attack_id, name, kind = entries[0].key, None, entries[0].name, entries[0].software_kind
            if key in kb.by_attack_id:
                attack_id, name = key, kb.entity_name(key)
        else:
            continue
        item = out.get(key, {"attack_id": attack_id, "name": name, "kind": kind, "mentions": []})
        if len(found) > 1:
            item.fields["candidates"] = [{"attack_id": s, "name": kb.entity_name(s)} for s in found]
        if hit.text not in item.fields["mentions"]:
            item.fields["mentions"].append(hit.text)
        item.add(sentence)
    return out.values()


def _campaigns(kb: KnowledgeBase, hits: Iterable[Hit], sentences: list[Sentence],
               dates: list[tuple[DateHit, Sentence]]) -> list[Item]:
    by_name = {normalise(a): c for c in kb.attack.campaigns.values() for a in c.aliases}
    out = _Collector()
    found: list[tuple[str, Sentence]] = [(h.text, s) for h in hits
                                         for s in [sentence_at(sentences, h.start)] if s is not None]
    for sentence in sentences:
        check()      # bounded work per document in any thread (threadline.limits)
        found.extend((op.text, sentence) for op in stated.operations(sentence.text))
    for name, sentence in sorted(found, key=lambda x: x[1].start):
        campaign = by_name.get(normalise(name))
        key = campaign.attack_id if campaign else normalise(name)
        first = campaign.first_seen[:7] if campaign and campaign.first_seen else None
        item = out.get(key, {"attack_id": campaign.attack_id if campaign else None,
                             "name": campaign.name if campaign else name, "first_seen": first,
                             "first_seen_source": "attack" if first else None})
        item.add(sentence)
    items = out.values()
    firsts = [(d, s) for d, s in dates if _FIRST.search(d.event) and d.relative_to is None]
    for item in items:
        spans = {(e.start, e.end) for e in item.evidence}
        own = [d for d, s in firsts if (s.start, s.end) in spans]
        chosen = own[0] if own else (firsts[0][0] if firsts and len(items) == 1 else None)
        if chosen is not None:     # the report's own date beats ATT&CK's
            item.fields["first_seen"] = chosen.date.split("/")[0]
            item.fields["first_seen_source"] = "report"
    return items


def _places(text: str, kb: KnowledgeBase, sentences: list[Sentence],
            names: list[tuple[int, int]]) -> tuple[list[Item], list[Item], list[Item]]:
    sectors, countries, regions = _Collector(), _Collector(), _Collector()
    found = [*find_sectors(text, sentences), *find_places(text, kb, sentences)]
    starts = [a for a, _ in names]
    for place, sentence in sorted(found, key=lambda x: x[0].start):
        i = bisect_right(starts, place.start) - 1
        if i >= 0 and place.start < names[i][1]:
            continue     # part of an actor or software name
        if place.kind == "sector":
            item = sectors.get(place.name, {"name": place.name, "misp_sector": place.code, "mentions": []})
        elif place.kind == "country":
            item = countries.get(place.code or place.name, {"code": place.code, "name": place.name,
                                                            "role": place.role, "mentions": []})
            if _ROLE_ORDER[place.role] < _ROLE_ORDER[item.fields["role"]]:
                item.fields["role"] = place.role
        else:
            item = regions.get(place.name, {"name": place.name, "code": place.code, "mentions": []})
        mention = text[place.start:place.end]
        if mention not in item.fields["mentions"]:
            item.fields["mentions"].append(mention)
        item.add(sentence)
    return sectors.values(), countries.values(), regions.values()


def _stated(sentences: list[Sentence], names: list[tuple[int, int]]) -> tuple[list[Item], ...]:
    lures, goals, caps, advice, views = _Collector(), _Collector(), _Collector(), _Collector(), _Collector()
    starts = [a for a, _ in names]
    for sentence in sentences:
        check()      # bounded work per document in any thread (threadline.limits)
        first, last = bisect_left(starts, sentence.start), bisect_left(starts, sentence.end)
        local = [(a - sentence.start, b - sentence.start) for a, b in names[first:last]]
        for hit in stated.lures(sentence.text):
            lures.get(hit.text.lower(), {"text": hit.text}).add(sentence)
        for hit in stated.goals(sentence.text):
            goals.get(hit.text.lower(), {"text": hit.text}).add(sentence)
        for hit in stated.capabilities(sentence.text, local):
            caps.get(hit.category or hit.text, {"text": hit.text, "category": hit.category}).add(sentence)
        for hit in stated.advice(sentence.text):
            advice.get(hit.text.lower(), {"text": hit.text}).add(sentence)
        for hit in stated.assessments(sentence.text):
            views.get(hit.text.lower(), {"text": hit.text}).add(sentence)
    return lures.values(), goals.values(), caps.values(), advice.values(), views.values()


def _dates(dates: list[tuple[DateHit, Sentence]]) -> list[Item]:
    out = _Collector()
    for hit, sentence in dates:
        fields: dict[str, Any] = {"date": hit.date, "text": hit.text, "event": hit.event}
        if hit.qualifier:
            fields["qualifier"] = hit.qualifier
        if hit.relative_to:
            fields["relative_to"] = hit.relative_to
        out.get(f"{hit.date}|{hit.event}", fields).add(sentence)
    return out.values()


def extract_entities(text: str, kb: KnowledgeBase, *, sentences: list[Sentence] | None = None,
                     document: Document | None = None) -> Entities:
    """Everything the report names or states, with evidence; the report's claims ride along in ``.claims``.
    With ``document`` (whose text is ``text``), evidence carries its page and the document's sha256."""
    sentences = report_sentences(text, sentences, where=document.source if document else None)
    hits = find_names(text, kb)
    kinds = [(h, choose_kind(text, h, kb)) for h in hits]
    actor_hits = [h for h, k in kinds if k == "actor"]
    claims = extract_claims(text, kb, sentences=sentences, names=hits, document=document)
    dates = find_dates(text, sentences, title=document.title if document else None)
    spans = [(h.start, h.end) for h in hits]
    sectors, countries, regions = _places(text, kb, sentences, spans)
    lures, goals, caps, advice, assessments = _stated(sentences, spans)
    found = Entities(
        actors=_actors(text, kb, actor_hits, sentences, claims),
        campaigns=_campaigns(kb, [h for h, k in kinds if k == "campaign"], sentences, dates),
        software=_software(kb, [h for h, k in kinds if k == "software"], sentences),
        sectors=sectors, countries=countries, regions=regions, dates=_dates(dates),
        lures=lures, goals=goals, capabilities=caps, advice=advice, assessments=assessments, claims=claims,
    )
    if document is not None:
        for key in Entities.KEYS:
            for item in getattr(found, key):
                item.evidence = locate(item.evidence, document)
    return found
