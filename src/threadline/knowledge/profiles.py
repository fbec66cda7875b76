"""Profiles of actors and techniques as plain dicts: what `threadline actor` and `technique` print, and what the
briefings and the web app show."""

from __future__ import annotations

from typing import Any

from threadline.errors import NotFoundError
from threadline.knowledge.aliases import AliasAssertion
from threadline.knowledge.attack import Technique, plain_text
from threadline.knowledge.base import KnowledgeBase


def _sources(assertions: list[AliasAssertion]) -> list[dict[str, object]]:
    seen: dict[str, dict[str, object]] = {}
    for assertion in assertions:
        seen.setdefault(assertion.source, assertion.describe())
    return list(seen.values())


def _iso_day(stamp: str | None) -> str | None:
    return stamp[:10] if stamp else None


def actor_profile(kb: KnowledgeBase, entity: str) -> dict[str, Any]:
    """Everything the knowledge base knows about one actor entity (a G-id or ``misp:<uuid>``)."""
    misp = kb.misp_actors_of(entity)
    group = kb.group(entity)
    aliases = [{"name": name, "sources": _sources(assertions)}
               for name, assertions in kb.actors.grouped_aliases(entity)
               if any(a.kind != "relation" for a in assertions)]
    related = [{"name": name, "sources": _sources(assertions)}
               for name, assertions in kb.actors.grouped_aliases(entity)
               if all(a.kind == "relation" for a in assertions)]
    countries = list(dict.fromkeys(a.country for a in misp if a.country))
    profile: dict[str, Any] = {
        "attack_id": group.attack_id if group else None,
        "name": kb.entity_name(entity),
        "entity": entity,
        "url": group.url if group else None,
        "description": plain_text(group.description if group else (misp[0].description if misp else "")),
        "aliases": aliases,
        "related_actors": related,
        "country": countries[0] if countries else None,
        "country_sources": [f"MISP threat-actor galaxy: {a.value}" for a in misp if a.country],
        "targeted_sectors": list(dict.fromkeys(s for a in misp for s in a.target_categories)),
        "targeted_countries": list(dict.fromkeys(v for a in misp for v in a.victims)),
        "misp_entries": [{"uuid": a.uuid, "value": a.value,
                          "link": kb.actor_links[a.uuid].basis if a.uuid in kb.actor_links else None}
                         for a in misp],
        "campaigns": [],
        "software": [],
        "techniques": [],
    }
    if group is None:
        return profile
    for campaign in kb.campaigns_of(group):
        rels = kb.related(campaign.stix_id, "attributed-to")
        cites = [c.source_name for r in rels if r.target == group.stix_id for c in r.citations]
        profile["campaigns"].append({
            "attack_id": campaign.attack_id, "name": campaign.name,
            "first_seen": _iso_day(campaign.first_seen), "last_seen": _iso_day(campaign.last_seen),
            "sources": cites,
        })
    for software, rel in sorted(kb.software_of(group.stix_id), key=lambda p: p[0].name.lower()):
        profile["software"].append({"attack_id": software.attack_id, "name": software.name, "kind": software.kind,
                                    "sources": [c.source_name for c in rel.citations]})
    for technique, rel in sorted(kb.techniques_of(group.stix_id), key=lambda p: p[0].attack_id):
        profile["techniques"].append({"id": technique.attack_id, "name": technique_name(kb, technique),
                                      "tactics": list(technique.tactics),
                                      "procedure": plain_text(rel.description),
                                      "sources": [c.source_name for c in rel.citations]})
    return profile


def technique_name(kb: KnowledgeBase, technique: Technique) -> str:
    """"Phishing: Spearphishing Attachment" for a sub-technique, the plain name otherwise."""
    if not technique.is_subtechnique:
        return technique.name
    parent = kb.by_attack_id.get(technique.parent_id)
    return f"{parent.name}: {technique.name}" if parent else technique.name


def candidates(kb: KnowledgeBase, query: str, matches: dict[str, tuple[AliasAssertion, ...]]) -> dict[str, Any]:
    """The answer for a name several actors share: every candidate, with who asserts the name for it."""
    return {
        "query": query,
        "ambiguous": True,
        "candidates": [
            {"attack_id": kb.group(e).attack_id if kb.group(e) else None,   # type: ignore[union-attr]
             "name": kb.entity_name(e), "entity": e, "matched_by": _sources(list(a))}
            for e, a in matches.items()
        ],
    }


def lookup_actor(kb: KnowledgeBase, name: str) -> dict[str, Any]:
    """Profile for a unique name, candidates for a shared one; an unknown name raises with suggestions."""
    query = name.strip()
    entity = query.upper() if kb.group(query.upper()) else None
    if entity is None:
        resolution = kb.actors.resolve(query)
        if not resolution.matches:
            hints = kb.actors.suggest(query)
            tail = f"; did you mean: {', '.join(hints)}?" if hints else ""
            raise NotFoundError(f"no actor is known by the name \"{query}\"{tail}")
        if resolution.unique is None:
            return candidates(kb, query, resolution.matches)
        entity = resolution.unique
    return actor_profile(kb, entity)


def technique_profile(kb: KnowledgeBase, technique: Technique) -> dict[str, Any]:
    """A technique with its tactics, sub-techniques, mitigations, detection strategies and the groups that use it."""
    subs = [t for t in kb.attack.techniques.values() if t.is_subtechnique and t.parent_id == technique.attack_id]
    mitigations = [kb.attack.mitigations[r.source] for r in kb.related(technique.stix_id, "mitigates", reverse=True)
                   if r.source in kb.attack.mitigations]
    detections = [kb.attack.detection_strategies[r.source]
                  for r in kb.related(technique.stix_id, "detects", reverse=True)
                  if r.source in kb.attack.detection_strategies]
    users = [kb.attack.groups[r.source] for r in kb.related(technique.stix_id, "uses", reverse=True)
             if r.source in kb.attack.groups]
    return {
        "id": technique.attack_id,
        "name": technique_name(kb, technique),
        "url": technique.url,
        "tactics": list(technique.tactics),
        "platforms": list(technique.platforms),
        "is_subtechnique": technique.is_subtechnique,
        "description": plain_text(technique.description),
        "subtechniques": [{"id": t.attack_id, "name": t.name} for t in sorted(subs, key=lambda t: t.attack_id)],
        "mitigations": [{"id": m.attack_id, "name": m.name} for m in sorted(mitigations, key=lambda m: m.attack_id)],
        "detection_strategies": [{"id": d.attack_id, "name": d.name}
                                 for d in sorted(detections, key=lambda d: d.attack_id)],
        "groups": [{"id": g.attack_id, "name": g.name} for g in sorted(users, key=lambda g: g.attack_id)],
    }


def lookup_technique(kb: KnowledgeBase, id_or_name: str) -> dict[str, Any]:
    found = kb.technique(id_or_name)
    if not found:
        raise NotFoundError(f"no ATT&CK technique has the id or name \"{id_or_name.strip()}\"")
    if len(found) > 1:
        return {"query": id_or_name, "ambiguous": True,
                "candidates": [{"id": t.attack_id, "name": technique_name(kb, t)} for t in found]}
    profile = technique_profile(kb, found[0])
    asked = id_or_name.strip().upper()
    if kb.revoked.get(asked) == profile["id"]:
        profile["revoked_id"] = asked       # ATT&CK revoked the id asked for; this technique replaced it
    return profile
