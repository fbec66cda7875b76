"""MISP galaxies (from the ``pymispgalaxies`` package, offline): threat actors, sectors, countries, regions,
and the malware/tool galaxies for software aliases."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from threadline.errors import KnowledgeError

_ATTACK_GROUP_URL = re.compile(r"attack\.mitre\.org/groups/(G\d{4})")
_ATTACK_ID = re.compile(r"^(G\d{4}|S\d{4})$")
_ESTIMATIVE = re.compile(r'estimative-language:likelihood-probability="([^"]+)"')
# Galaxies whose entries name malware and tools; their synonyms add aliases to ATT&CK software.
SOFTWARE_GALAXIES = ("mitre-malware", "mitre-tool", "malpedia", "tool", "rat", "backdoor", "ransomware", "stealer")


@dataclass(frozen=True)
class Related:
    """A MISP ``related`` entry: the other cluster, the relation type and its estimative-language likelihood."""

    dest_uuid: str
    type: str
    likelihood: str | None


@dataclass
class ThreatActor:
    """One entry of the MISP threat-actor galaxy."""

    uuid: str
    value: str
    description: str
    synonyms: tuple[str, ...]
    country: str | None
    victims: tuple[str, ...]
    target_categories: tuple[str, ...]
    refs: tuple[str, ...]
    related: tuple[Related, ...]
    attack_refs: tuple[str, ...] = ()      # G-ids this entry cites (refs URL or an id among its synonyms)


@dataclass(frozen=True)
class Named:
    """A galaxy entry that is just a name with synonyms (sector, software) and an optional code."""

    uuid: str
    value: str
    synonyms: tuple[str, ...]
    code: str | None = None                # ISO-3166 alpha-2 for countries, S-id for mitre software entries
    galaxy: str = ""


@dataclass
class GalaxyData:
    version: str
    threat_actors: dict[str, ThreatActor] = field(default_factory=dict)
    intrusion_set_ids: dict[str, str] = field(default_factory=dict)   # mitre-intrusion-set uuid -> G-id
    sectors: list[Named] = field(default_factory=list)
    countries: list[Named] = field(default_factory=list)
    regions: list[Named] = field(default_factory=list)
    software: list[Named] = field(default_factory=list)
    # Revoked ATT&CK technique id -> the id that replaced it (T1574.002 -> T1574.001, T1086 -> T1059.001). The
    # vendored bundle, like most cut-down ATT&CK bundles, leaves revoked objects out; the mitre-attack-pattern
    # galaxy keeps them with their revoked-by relations, so older reports and models keep resolving.
    revoked_techniques: dict[str, str] = field(default_factory=dict)
    revoked_technique_names: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name -> revoked ids


def _meta(entry: dict[str, Any]) -> dict[str, Any]:
    meta = entry.get("meta") or {}
    return meta if isinstance(meta, dict) else {}


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value if v)


def _related(entry: dict[str, Any]) -> tuple[Related, ...]:
    out = []
    for rel in entry.get("related") or []:
        tags = " ".join(rel.get("tags") or [])
        match = _ESTIMATIVE.search(tags)
        out.append(Related(rel.get("dest-uuid", ""), rel.get("type", "related-to"), match.group(1) if match else None))
    return tuple(out)


def _threat_actor(entry: dict[str, Any]) -> ThreatActor:
    meta = _meta(entry)
    synonyms = _strings(meta.get("synonyms"))
    refs = _strings(meta.get("refs"))
    attack_refs = {m.group(1) for r in refs for m in [_ATTACK_GROUP_URL.search(r)] if m}
    attack_refs |= {s for s in synonyms if _ATTACK_ID.match(s) and s.startswith("G")}
    return ThreatActor(
        uuid=entry["uuid"],
        value=str(entry["value"]).strip(),
        description=str(entry.get("description") or ""),
        synonyms=tuple(s for s in synonyms if not _ATTACK_ID.match(s)),
        country=(_strings(meta.get("country")) or (None,))[0],
        victims=_strings(meta.get("cfr-suspected-victims")),
        target_categories=tuple(dict.fromkeys([*_strings(meta.get("cfr-target-category")),
                                               *_strings(meta.get("targeted-sector"))])),
        refs=refs,
        related=_related(entry),
        attack_refs=tuple(sorted(attack_refs)),
    )


def _values(clusters: Any, name: str) -> list[dict[str, Any]]:
    cluster = clusters.get(name)
    return [v.to_dict() for v in cluster.values()] if cluster is not None else []


def _revoked_techniques(entries: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """Revoked id -> replacing id, and each revoked technique's name -> the revoked ids that bore it."""
    ids = {e["uuid"]: _meta(e).get("external_id") for e in entries}
    out: dict[str, str] = {}
    names: dict[str, tuple[str, ...]] = {}
    for entry in entries:
        old = ids.get(entry["uuid"])
        for rel in _related(entry):
            new = ids.get(rel.dest_uuid)
            if rel.type == "revoked-by" and isinstance(old, str) and isinstance(new, str) and old != new:
                out[old] = new
                name = re.sub(r" - T\d{4}(\.\d{3})?$", "", str(entry["value"])).strip()
                names[name] = (*names.get(name, ()), old)
    return out, names


def load_galaxies() -> GalaxyData:
    """Load the galaxies shipped inside ``pymispgalaxies`` (no network)."""
    try:
        from importlib.metadata import version

        from pymispgalaxies import Clusters  # type: ignore[attr-defined]

        clusters = Clusters()
        data = GalaxyData(version=version("pymispgalaxies"))
    except Exception as exc:  # the package's data is missing or broken: say so in one line
        raise KnowledgeError(f"cannot load MISP galaxies from pymispgalaxies ({exc})") from None
    for entry in _values(clusters, "threat-actor"):
        actor = _threat_actor(entry)
        data.threat_actors[actor.uuid] = actor
    for entry in _values(clusters, "mitre-intrusion-set"):
        external = _meta(entry).get("external_id")
        if isinstance(external, str):
            data.intrusion_set_ids[entry["uuid"]] = external
    data.revoked_techniques, data.revoked_technique_names = _revoked_techniques(
        _values(clusters, "mitre-attack-pattern"))
    for entry in _values(clusters, "sector"):
        data.sectors.append(Named(entry["uuid"], entry["value"], _strings(_meta(entry).get("synonyms")),
                                  galaxy="sector"))
    for entry in _values(clusters, "country"):
        meta = _meta(entry)
        name = str(entry.get("description") or entry["value"])
        iso = meta.get("ISO")
        data.countries.append(Named(entry["uuid"], name, _strings(meta.get("synonyms")),
                                    str(iso) if iso else None, galaxy="country"))
    for entry in _values(clusters, "region"):
        value = str(entry["value"])
        code, _, label = value.partition(" - ")
        data.regions.append(Named(entry["uuid"], label or value, (), code if label else None, galaxy="region"))
    for galaxy in SOFTWARE_GALAXIES:
        for entry in _values(clusters, galaxy):
            meta = _meta(entry)
            external = meta.get("external_id")
            value = re.sub(r" - S\d{4}$", "", str(entry["value"])).strip()
            data.software.append(Named(entry["uuid"], value, _strings(meta.get("synonyms")),
                                       str(external) if isinstance(external, str) else None, galaxy=galaxy))
    if not data.threat_actors:
        raise KnowledgeError("the MISP threat-actor galaxy is empty")
    return data
