"""MISP event JSON of an analysis, built with ``pymisp`` (loadable by ``MISPEvent().load``).

Decisions (the issue is silent on them):
- Attribute types and categories follow MISP's describeTypes table that ships with pymisp; ``to_ids`` is MISP's
  default for the type, and always false for a flagged indicator (warninglist hit, benign, ...).
- The actor, software and techniques are attached both as ``misp-galaxy:`` tags (threat-actor with the MISP
  galaxy's own spelling when the knowledge base links one, mitre-intrusion-set, mitre-attack-pattern,
  mitre-malware / mitre-tool as "Name - ID") and, with the knowledge base, as ``Galaxy`` objects holding the
  exact clusters (MISP's mitre clusters reuse ATT&CK's STIX uuids), so no instance has to guess by name.
- A galaxy tag names only a cluster the installed ``pymispgalaxies`` galaxy has, with the galaxy's own value
  (found by ATT&CK uuid, else ATT&CK id, else exact value): the ATT&CK snapshot is newer than the pinned galaxy
  and renames techniques ("DLL" was "DLL Search Order Hijacking"), and a tag naming a missing cluster is a dead
  tag in MISP. What the galaxy lacks becomes a free ``threadline:`` tag with the ATT&CK name and id
  (``threadline:attack-pattern="Local Storage Discovery - T1680"``), so the fact is kept and searchable.
- Estimative language: the top attribution candidate's probability becomes an ICD-203 likelihood tag and the
  engine's confidence level a confidence-in-analytic-judgment tag.
- Distribution follows the TLP level (clear: all communities, green: connected communities, amber and
  amber+strict: this community, red: organisation only); uuids are uuid5 and timestamps the analysis time.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pymispgalaxies
from pymisp import MISPEvent, MISPGalaxy, MISPOrganisation
from pymisp.exceptions import PyMISPError

from threadline.errors import InputError
from threadline.export.common import (
    Analysis,
    Defanger,
    analysis_time,
    analytic_confidence,
    evidence_sentences,
    ioc_sentence,
    marking,
    truncate,
)
from threadline.knowledge.aliases import normalise
from threadline.knowledge.attack import Software
from threadline.knowledge.base import KnowledgeBase
from threadline.knowledge.galaxies import ThreatActor
from threadline.model import deterministic_id

# Threadline indicator type -> (MISP attribute type, category or None for MISP's default category).
ATTRIBUTE_TYPES: dict[str, tuple[str, str | None]] = {
    "ipv4": ("ip-dst", None), "ipv6": ("ip-dst", None), "domain": ("domain", None), "url": ("url", None),
    "email": ("email", "Payload delivery"), "md5": ("md5", None), "sha1": ("sha1", None),
    "sha256": ("sha256", None), "sha512": ("sha512", None), "cve": ("vulnerability", None),
    "registry_key": ("regkey", None), "file_name": ("filename", None), "btc_address": ("btc", None),
    "asn": ("AS", None),
}

# ICD-203 likelihood bands (upper bound, MISP estimative-language value).
LIKELIHOOD = ((0.05, "almost-no-chance"), (0.20, "very-unlikely"), (0.45, "unlikely"),
              (0.55, "roughly-even-chance"), (0.80, "likely"), (0.95, "very-likely"), (1.01, "almost-certain"))
DISTRIBUTION: dict[str, int] = {"clear": 3, "green": 2, "amber": 1, "amber+strict": 1, "red": 0}
COMMENT_LIMIT = 250
PRODUCER_UUID = deterministic_id("identity", "threadline").split("--", 1)[1]


def likelihood(probability: float) -> str:
    """The ICD-203 / MISP estimative-language word for a probability."""
    return next(word for bound, word in LIKELIHOOD if probability < bound)


def _uuid(*key: str) -> str:
    return deterministic_id("misp", *key).split("--", 1)[1]


def _linked_misp_actors(actor: dict[str, Any], kb: KnowledgeBase) -> list[ThreatActor]:
    """The MISP threat-actor entries for an actor: of those linked to its group, the ones carrying a name the
    report used (else all of them); a MISP-only actor's name must resolve to exactly one entity."""
    aid = actor.get("attack_id")
    entity = aid if aid and kb.group(aid) is not None else kb.actors.resolve(actor["name"]).unique
    if entity is None:
        return []
    said = {normalise(n) for n in [actor["name"], *(actor.get("mentions") or [])]}
    linked = kb.misp_actors_of(entity)
    return [a for a in linked if said & {normalise(n) for n in (a.value, *a.synonyms)}] or linked


def _actor_tags(actor: dict[str, Any], kb: KnowledgeBase | None) -> list[str]:
    aid = actor.get("attack_id")
    tags: list[str] = []
    linked = _linked_misp_actors(actor, kb) if kb is not None else []
    for misp in linked:
        tags.append(galaxy_tag("threat-actor", misp.value, misp.uuid))
    if not linked:
        tags.append(galaxy_tag("threat-actor", actor["name"]))
    if aid:
        group = kb.group(aid) if kb is not None else None
        uuid = group.stix_id.split("--")[1] if group else None
        tags.append(galaxy_tag("mitre-intrusion-set", f"{group.name if group else actor['name']} - {aid.upper()}",
                               uuid, aid))
    return tags


def _sector_tag(name: str, kb: KnowledgeBase | None) -> str | None:
    if kb is None:
        return None
    wanted = normalise(name)
    for sector in kb.galaxies.sectors:
        if wanted in {normalise(sector.value), *(normalise(s) for s in sector.synonyms)}:
            return galaxy_tag("sector", sector.value)
    return None


@functools.cache
def _galaxy_definition(kind: str) -> dict[str, Any]:
    """A MISP galaxy's definition (uuid, name, namespace...) from the galaxies pymispgalaxies ships."""
    path = Path(pymispgalaxies.__file__).parent / "data" / "misp-galaxy" / "galaxies" / f"{kind}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return {k: data[k] for k in ("uuid", "name", "type", "namespace", "description", "version") if k in data}


@functools.cache
def _galaxy_index(kind: str) -> dict[str, str]:
    """The values of an installed MISP galaxy's clusters, keyed by value, by uuid and by ATT&CK external id."""
    path = Path(pymispgalaxies.__file__).parent / "data" / "misp-galaxy" / "clusters" / f"{kind}.json"
    if not path.is_file():
        return {}
    index: dict[str, str] = {}
    for cluster in json.loads(path.read_text(encoding="utf-8")).get("values") or []:
        value = cluster.get("value")
        if not isinstance(value, str):
            continue
        index.setdefault(f"value:{value}", value)
        if cluster.get("uuid"):
            index.setdefault(f"uuid:{cluster['uuid']}", value)
        external = (cluster.get("meta") or {}).get("external_id")
        if isinstance(external, str):
            index.setdefault(f"id:{external.upper()}", value)
    return index


def galaxy_value(kind: str, value: str, uuid: str | None = None, attack_id: str | None = None) -> str | None:
    """The installed galaxy's value for a cluster (by uuid, ATT&CK id, then exact value); None if it lacks it."""
    index = _galaxy_index(kind)
    for key in (f"uuid:{uuid}" if uuid else "", f"id:{attack_id.upper()}" if attack_id else "", f"value:{value}"):
        if key in index:
            return index[key]
    return None


def galaxy_tag(kind: str, value: str, uuid: str | None = None, attack_id: str | None = None) -> str:
    """A ``misp-galaxy:`` tag when the installed galaxy has the cluster, else a free ``threadline:`` tag."""
    found = galaxy_value(kind, value, uuid, attack_id)
    if found is not None:
        return f'misp-galaxy:{kind}="{found}"'
    return f'threadline:{kind.removeprefix("mitre-")}="{value}"'


def _clusters(analysis: Analysis, kb: KnowledgeBase) -> dict[str, list[dict[str, Any]]]:
    """Galaxy -> clusters for the actors, software and techniques the knowledge base identifies.

    MISP's mitre-* clusters reuse the ATT&CK STIX uuids, and threat-actor clusters are the MISP galaxy entries
    the knowledge base links, so every cluster here is the exact one a MISP instance already has.
    """
    out: dict[str, list[dict[str, Any]]] = {}

    def add(kind: str, uuid: str, value: str, description: str, attack_id: str | None = None) -> None:
        found = galaxy_value(kind, value, uuid, attack_id)
        if found is None:       # the installed galaxy lacks it: MISP would hold a cluster nobody else has
            return
        cluster = {"uuid": uuid, "type": kind, "value": found, "tag_name": f'misp-galaxy:{kind}="{found}"',
                   "description": truncate(description, 500), "default": True}
        if cluster["uuid"] not in {c["uuid"] for c in out.setdefault(kind, [])}:
            out[kind].append(cluster)

    for actor in analysis.get("actors") or []:
        group = kb.group(actor.get("attack_id") or "")
        if actor.get("role") not in ("named", "attributed") or group is None:
            continue
        add("mitre-intrusion-set", group.stix_id.split("--")[1], f"{group.name} - {group.attack_id}",
            group.description, group.attack_id)
        for misp in _linked_misp_actors(actor, kb):
            add("threat-actor", misp.uuid, misp.value, misp.description or misp.value)
    for sw in analysis.get("software") or []:
        obj = kb.by_attack_id.get(str(sw.get("attack_id") or "").upper())
        if isinstance(obj, Software):
            add(f"mitre-{obj.kind}", obj.stix_id.split("--")[1], f"{obj.name} - {obj.attack_id}", obj.description,
                obj.attack_id)
    for tech in analysis.get("techniques") or []:
        found = kb.technique(tech["id"])
        if found:
            t = found[0]
            add("mitre-attack-pattern", t.stix_id.split("--")[1], f"{t.name} - {t.attack_id}", t.description,
                t.attack_id)
    return out


def event_of(analysis: Analysis, kb: KnowledgeBase | None = None, *, tlp: str = "clear") -> MISPEvent:
    """The MISP event of an analysis."""
    level = marking(analysis, tlp)
    doc = analysis["document"]
    when = analysis_time(analysis)
    stamp = int(when.timestamp())
    iocs: list[dict[str, Any]] = analysis.get("iocs") or []
    key = doc.get("sha256") or doc.get("source") or doc.get("title") or ""
    defang = Defanger(iocs)

    event = MISPEvent()
    event.uuid = _uuid("event", key)
    event.info = defang(doc.get("title") or doc.get("source") or "Threadline analysis")
    event.date = when.date()
    event.timestamp = stamp
    event.published = False
    event.analysis = 0                 # initial: machine output an analyst has yet to review
    event.threat_level_id = 4          # undefined: a report does not tell us the threat to the reader
    event.distribution = DISTRIBUTION[level]
    org = MISPOrganisation()
    org.from_dict(name="Threadline", uuid=PRODUCER_UUID)
    event.Orgc = org

    seen: set[str] = set()      # MISP refuses a second attribute with the same uuid, or a repeated tag

    def tag(name: str) -> None:
        if name not in seen:
            seen.add(name)
            event.add_tag(name)

    def add(kind: str, value: str, category: str | None, to_ids: bool | None, comment: str) -> None:
        uuid = _uuid("attribute", key, kind, value)
        if uuid in seen:
            return
        seen.add(uuid)
        kwargs: dict[str, Any] = {"uuid": uuid, "comment": comment, "timestamp": stamp,
                                  "disable_correlation": False}
        if category:
            kwargs["category"] = category
        if to_ids is not None:
            kwargs["to_ids"] = to_ids
        event.add_attribute(kind, value, **kwargs)

    tag(f"tlp:{level}")
    for actor in analysis.get("actors") or []:
        if actor.get("role") in ("named", "attributed"):   # an actor merely mentioned is not tagged
            for name in _actor_tags(actor, kb):
                tag(name)
            said = " ".join(evidence_sentences(actor))
            add("threat-actor", actor["name"], "Attribution", False,
                truncate(defang(f"{actor.get('role')} in the report. {said}"), COMMENT_LIMIT))
    for camp in analysis.get("campaigns") or []:
        said = " ".join(evidence_sentences(camp))
        add("campaign-name", camp["name"], "Attribution", False, truncate(defang(said), COMMENT_LIMIT))
    # Galaxy tags use ATT&CK's own names and kinds when the knowledge base knows the id, so they match clusters.
    for sw in analysis.get("software") or []:
        if sw.get("attack_id"):
            sid = str(sw["attack_id"]).upper()
            obj = kb.by_attack_id.get(sid) if kb is not None else None
            kind = obj.kind if isinstance(obj, Software) else sw.get("kind")
            name = obj.name if isinstance(obj, Software) else sw["name"]
            uuid = obj.stix_id.split("--")[1] if isinstance(obj, Software) else None
            tag(galaxy_tag(f"mitre-{'tool' if kind == 'tool' else 'malware'}", f"{name} - {sid}", uuid, sid))
    for tech in analysis.get("techniques") or []:
        found = kb.technique(tech["id"]) if kb is not None else []
        name = found[0].name if found else (tech.get("name") or tech["id"])
        uuid = found[0].stix_id.split("--")[1] if found else None
        tid = found[0].attack_id if found else tech["id"].upper()
        tag(galaxy_tag("mitre-attack-pattern", f"{name} - {tid}", uuid, tid))
    for sector in analysis.get("sectors") or []:
        sector_tag = _sector_tag(sector["name"], kb)
        if sector_tag:
            tag(sector_tag)
    for place in [*(analysis.get("countries") or []), *(analysis.get("regions") or [])]:
        if place.get("name"):
            said = " ".join(evidence_sentences(place))
            role = str(place.get("role") or "targeted")
            if role == "targeted":
                add("target-location", place["name"], "Targeting data", False, truncate(defang(said), COMMENT_LIMIT))
            else:     # the actor's origin or a country merely mentioned: a note, never a target
                what = "Actor's origin, as the report states it" if role == "origin" else \
                    "Country merely mentioned (impersonated, quoted or a vendor's home), not a target"
                add("text", place["name"], "Other", False, truncate(defang(f"{what}. {said}"), COMMENT_LIMIT))
    for ioc in iocs:
        kind, category = ATTRIBUTE_TYPES.get(ioc["type"], ("text", "Other"))   # no MISP type: kept as text
        flags = [str(f) for f in ioc.get("flags") or []]
        lists = [str(w) for w in ioc.get("warninglists") or []]
        note = defang(ioc_sentence(ioc))
        if flags:
            note = f"Flagged ({', '.join(flags)}{': ' + '; '.join(lists) if lists else ''}). {note}"
        to_ids = False if flags or kind == "text" else None
        add(kind, ioc["value"], category, to_ids, truncate(note, COMMENT_LIMIT))
    attribution = analysis.get("attribution") or {}
    candidates = [c for c in attribution.get("candidates") or [] if isinstance(c.get("probability"), int | float)]
    if candidates:
        top = max(candidates, key=lambda c: c["probability"])
        tag(f'estimative-language:likelihood-probability="{likelihood(float(top["probability"]))}"')
    if kb is not None:
        for kind, clusters in _clusters(analysis, kb).items():
            misp_galaxy = MISPGalaxy()
            misp_galaxy.from_dict(**_galaxy_definition(kind), GalaxyCluster=clusters)
            event.add_galaxy(misp_galaxy)
    confidence = attribution.get("confidence")
    level_word = analytic_confidence(confidence)
    if level_word in ("low", "moderate", "high"):
        tag(f'estimative-language:confidence-in-analytic-judgment="{level_word}"')
    return event


def export_misp(analysis: Analysis, kb: KnowledgeBase | None = None, *, tlp: str = "clear") -> str:
    """The event as MISP JSON (``{"Event": {...}}``), byte-identical for the same analysis and options."""
    try:
        event = event_of(analysis, kb, tlp=tlp)
    except PyMISPError as exc:   # e.g. a value MISP's attribute rules refuse: one line, naming it
        raise InputError(f"cannot be expressed as a MISP event: {exc}", where="analysis") from None
    data = json.loads(event.to_json())
    return json.dumps({"Event": data}, ensure_ascii=False, indent=2) + "\n"
