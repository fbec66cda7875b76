"""History and time: the report's dated events, each shown once (those before the campaign began are the source's
"pinch of history", the others the campaign's timeline; the report's own date line, "Published 2 July 2025" or
"Date: 2024-03-18", dates the report rather than any activity), and what the knowledge base knows about an actor
before this report — who ATT&CK says it is, its other names, its earlier campaigns (dated, with their sources) and
the sectors and countries MISP records it targeting — each fact citing the ATT&CK object, citation or MISP entry
it comes from."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from threadline.knowledge.base import KnowledgeBase
from threadline.publish.facts import Fact, References, capped, evidence_text, join_words, merge, more_text
from threadline.publish.staysafe import first_sentence, observed_techniques

MAX_ALIASES = 10
MAX_SOFTWARE = 8
MAX_CAMPAIGNS = 5
MAX_EVENTS = 8          # dated events per list; the oldest beyond that are counted with their span
# A line that dates the document itself: a label, then (soon) the date.
_DATE_LINE = re.compile(r"(?i)^\W*(?:date|dated|published|publication date|posted|updated|last updated|"
                        r"first published|release date|released on|written)\b\s*(?:on\b)?\s*[:\-–—]?\s*")
_DATE_LINE_EVENTS = frozenset({"date", "dated", "published", "publication", "publication date", "posted", "updated",
                               "last updated", "release date", "written"})


def resolve_entity(kb: KnowledgeBase, actor: dict[str, Any]) -> str | None:
    """The knowledge-base entity of an analysis actor: its G-id when known, else a name that resolves uniquely."""
    aid = actor.get("attack_id")
    if isinstance(aid, str) and kb.group(aid.upper()) is not None:
        return aid.upper()
    for name in (actor.get("name"), *(actor.get("mentions") or [])):
        if isinstance(name, str) and name.strip():
            unique = kb.actors.resolve(name).unique
            if unique is not None:
                return unique
    return None


def _span(first: str | None, last: str | None) -> str:
    if first and last and first != last:
        return f"from {first} to {last}"
    if first:
        return f"since {first}"
    return f"until {last}" if last else "undated"


def actor_history(kb: KnowledgeBase, entity: str, techniques: list[dict[str, Any]], refs: References,
                  published: str | None = None) -> list[Fact]:
    """Dated, sourced facts about one actor from ATT&CK and the MISP galaxies; ``published`` (the report's date)
    marks campaigns that started after the report, which are context rather than history."""
    day = (published or "")[:10]
    facts: list[Fact] = []
    name = kb.entity_name(entity)
    group = kb.group(entity)
    misp = kb.misp_actors_of(entity)
    if group is not None:
        group_ref = refs.attack(group)
        about = first_sentence(group.description, limit=400)
        if about:
            facts.append(Fact(about, (group_ref,)))
        aliases = [a for a in group.aliases if a != group.name]
        if aliases:
            facts.append(Fact(f"ATT&CK also tracks {name} as {join_words(capped(aliases, MAX_ALIASES))}.",
                              (group_ref,)))
        campaigns = sorted(kb.campaigns_of(group), key=lambda c: ((c.first_seen or "")[:10], c.name))
        for campaign in campaigns[-MAX_CAMPAIGNS:]:      # the most recent ones; the older are counted
            rels = [r for r in kb.related(campaign.stix_id, "attributed-to") if r.target == group.stix_id]
            campaign_ref = refs.attack(campaign)
            cites = tuple(refs.citation(c) for r in rels for c in r.citations)
            first, last = (campaign.first_seen or "")[:10] or None, (campaign.last_seen or "")[:10] or None
            later = " (after this report)" if day and first and first > day else ""
            facts.append(Fact(f"ATT&CK attributes the campaign {campaign.name} ({campaign.attack_id}) to {name}, "
                              f"active {_span(first, last)}{later}.",
                              merge((campaign_ref,), cites), date=first))
        if len(campaigns) > MAX_CAMPAIGNS:
            older = campaigns[:-MAX_CAMPAIGNS]
            facts.append(Fact(f"ATT&CK records {more_text(len(older), 'earlier campaigns')} of {name}: "
                              f"{join_words(capped([c.name for c in older], 3))}.",
                              (group_ref,)))
        software = sorted(kb.software_of(group.stix_id), key=lambda p: p[0].name.lower())
        if software:
            listed = join_words(capped([f"{s.name} ({s.attack_id})" for s, _ in software], MAX_SOFTWARE))
            facts.append(Fact(f"ATT&CK records {len(software)} malware families and tools used by {name}: "
                              f"{listed}.", (group_ref,)))
        known = {t.attack_id for t, _ in kb.techniques_of(group.stix_id)}
        # Techniques the report describes, and apart from them those only known for the software it names: a
        # tool's ATT&CK entry says nothing about what this actor did here.
        seen = [t.attack_id for t in observed_techniques(kb, [t for t in techniques if not t.get("inferred")])]
        inferred = [t.attack_id for t in observed_techniques(kb, [t for t in techniques if t.get("inferred")])]
        if seen:
            shared = [t for t in seen if t in known]
            if shared:
                text = (f"{len(shared)} of the {len(seen)} techniques observed here are recorded for {name} in "
                        f"ATT&CK: {join_words(capped(shared, MAX_SOFTWARE))}.")
            else:
                text = f"None of the {len(seen)} techniques observed here is recorded for {name} in ATT&CK."
            facts.append(Fact(text, (group_ref,)))
        if inferred:
            shared = [t for t in inferred if t in known and t not in seen]
            facts.append(Fact(f"Of the {len(inferred)} techniques ATT&CK records for the software named here (not "
                              f"observed in the report), {len(shared)} are also recorded for {name}.", (group_ref,)))
    for actor in misp:
        if actor.target_categories or actor.victims:
            parts = []
            if actor.target_categories:
                parts.append(f"the {join_words(list(actor.target_categories))} sector"
                             f"{'s' if len(actor.target_categories) > 1 else ''}")
            if actor.victims:
                parts.append(f"victims in {join_words(list(actor.victims))}")
            facts.append(Fact(f"The MISP galaxy entry {actor.value} records {join_words(parts)}.", (refs.misp(actor),)))
        if actor.country:
            facts.append(Fact(f"The MISP galaxy entry {actor.value} gives its suspected origin as {actor.country}.",
                              (refs.misp(actor),)))
    return facts


@dataclass
class Dated:
    """What the dated events of an analysis become in a briefing."""

    timeline: list[Fact] = field(default_factory=list)
    earlier: list[Fact] = field(default_factory=list)
    timeline_note: str = ""
    earlier_note: str = ""
    published: str | None = None        # the report's own date line, when it has one


def is_date_line(item: dict[str, Any]) -> bool:
    """Whether a dated item is the report's own date ("Published …", "Date: …") rather than an event."""
    if str(item.get("event") or "").strip().lower() in _DATE_LINE_EVENTS:
        return True
    said = str(item.get("text") or "").strip()
    for ev in item.get("evidence") or []:
        label = _DATE_LINE.match(evidence_text(ev))
        if label and said and evidence_text(ev)[label.end():].lstrip().startswith(said):
            return True
    return False


def _start(date: str) -> str:
    return date.split("/", 1)[0]


def before(date: str, start: str) -> bool:
    """Whether ``date`` is strictly before ``start`` at the precision both have ("2020-05" < "2020-08"; "2020" is
    not before "2020-08")."""
    a, b = _start(date), _start(start)
    n = min(len(a), len(b))
    return bool(a and b) and a[:n] < b[:n]


def _capped(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The most recent ``MAX_EVENTS`` items (oldest first), and a note counting the older ones left out."""
    if len(items) <= MAX_EVENTS:
        return items, ""
    left = items[:-MAX_EVENTS]
    first, last = _start(str(left[0]["date"])), _start(str(left[-1]["date"]))
    span = f"{first} to {last}" if first != last else first
    return items[-MAX_EVENTS:], f"{more_text(len(left), 'earlier dated events')} ({span}) not shown."


def _fact(item: dict[str, Any], refs: References) -> Fact:
    numbers, more = refs.cite(item.get("evidence"))
    quote = next((evidence_text(e) for e in item.get("evidence") or [] if evidence_text(e).strip()), "")
    event = str(item.get("event") or "activity reported")
    return Fact(f"{item.get('text') or item.get('date')}: {event}.", numbers, " ".join(quote.split()) or None,
                str(item["date"]), more)


def dated_events(a: dict[str, Any], refs: References) -> Dated:
    """The analysis's dates as facts, oldest first, each citing its sentences and quoting the first one. Only
    what is shown is cited, so the reference list holds no sentence of an event left out."""
    out = Dated()
    starts = sorted(str(c["first_seen"]) for c in a.get("campaigns") or [] if c.get("first_seen"))
    start = starts[0] if starts else ""
    timeline: list[dict[str, Any]] = []
    earlier: list[dict[str, Any]] = []
    for item in sorted(a.get("dates") or [], key=lambda d: (str(d.get("date") or ""), str(d.get("text") or ""))):
        if not item.get("date"):
            continue
        if is_date_line(item):
            out.published = out.published or str(item["date"])
            continue
        (earlier if start and before(str(item["date"]), start) else timeline).append(item)
    timeline, out.timeline_note = _capped(timeline)
    earlier, out.earlier_note = _capped(earlier)
    out.timeline = [_fact(i, refs) for i in timeline]
    out.earlier = [_fact(i, refs) for i in earlier]
    return out
