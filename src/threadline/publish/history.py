""""A pinch of history": what the knowledge base knows about an actor before this report — who ATT&CK says it
is, its other names, its earlier campaigns (dated, with their sources) and the sectors and countries MISP
records it targeting — each fact citing the ATT&CK object, citation or MISP entry it comes from."""

from __future__ import annotations

from typing import Any

from threadline.knowledge.base import KnowledgeBase
from threadline.publish.facts import Fact, References, join_words, merge
from threadline.publish.staysafe import first_sentence, observed_techniques

MAX_ALIASES = 10
MAX_SOFTWARE = 8


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
        others = [a for a in group.aliases if a != group.name][:MAX_ALIASES]
        if others:
            more = len(group.aliases) - 1 - len(others)
            tail = f" (and {more} more)" if more > 0 else ""
            facts.append(Fact(f"ATT&CK also tracks {name} as {join_words(others)}{tail}.", (group_ref,)))
        for campaign in kb.campaigns_of(group):
            rels = [r for r in kb.related(campaign.stix_id, "attributed-to") if r.target == group.stix_id]
            campaign_ref = refs.attack(campaign)
            cites = tuple(refs.citation(c) for r in rels for c in r.citations)
            first, last = (campaign.first_seen or "")[:10] or None, (campaign.last_seen or "")[:10] or None
            later = " (after this report)" if day and first and first > day else ""
            facts.append(Fact(f"ATT&CK attributes the campaign {campaign.name} ({campaign.attack_id}) to {name}, "
                              f"active {_span(first, last)}{later}.",
                              merge((campaign_ref,), cites), date=first))
        software = sorted(kb.software_of(group.stix_id), key=lambda p: p[0].name.lower())
        if software:
            shown = [f"{s.name} ({s.attack_id})" for s, _ in software[:MAX_SOFTWARE]]
            more = len(software) - len(shown)
            listed = join_words([*shown, f"{more} more"] if more > 0 else shown)
            facts.append(Fact(f"ATT&CK records {len(software)} malware families and tools used by {name}: "
                              f"{listed}.", (group_ref,)))
        known = {t.attack_id for t, _ in kb.techniques_of(group.stix_id)}
        seen = [t.attack_id for t in observed_techniques(kb, techniques)]
        if seen:
            shared = [t for t in seen if t in known]
            if shared:
                text = (f"{len(shared)} of the {len(seen)} techniques observed here are recorded for {name} in "
                        f"ATT&CK: {join_words(shared)}.")
            else:
                text = f"None of the {len(seen)} techniques observed here is recorded for {name} in ATT&CK."
            facts.append(Fact(text, (group_ref,)))
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
