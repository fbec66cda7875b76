"""ATT&CK Enterprise from a STIX bundle (2.0 or 2.1): tactics, techniques, groups, campaigns, software,
mitigations, detection strategies and the relationships between them, with their citations."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from threadline.errors import KnowledgeError

_CITATION = re.compile(r"\(Citation: ([^)]+)\)")
_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\(https?://[^)]+\)")


@dataclass(frozen=True)
class Citation:
    """A source ATT&CK cites: its short name, URL and full description (which carries the date)."""

    source_name: str
    url: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class AttackObject:
    """Fields every ATT&CK object has; ``attack_id`` is the external id (T1566.001, G0129, S0154, ...)."""

    stix_id: str
    attack_id: str
    name: str
    description: str
    url: str | None
    created: str | None
    modified: str | None


@dataclass(frozen=True)
class Tactic(AttackObject):
    shortname: str = ""


@dataclass(frozen=True)
class Technique(AttackObject):
    tactics: tuple[str, ...] = ()          # tactic shortnames, e.g. ("initial-access",)
    platforms: tuple[str, ...] = ()
    is_subtechnique: bool = False
    detection: str = ""

    @property
    def parent_id(self) -> str:
        return self.attack_id.split(".")[0]


@dataclass(frozen=True)
class Group(AttackObject):
    aliases: tuple[str, ...] = ()
    alias_citations: tuple[tuple[str, tuple[str, ...]], ...] = ()   # (alias, citation names ATT&CK gives for it)


@dataclass(frozen=True)
class Campaign(AttackObject):
    aliases: tuple[str, ...] = ()
    first_seen: str | None = None
    last_seen: str | None = None


@dataclass(frozen=True)
class Software(AttackObject):
    kind: str = "malware"                  # "malware" or "tool"
    aliases: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mitigation(AttackObject):
    pass


@dataclass(frozen=True)
class DetectionStrategy(AttackObject):
    pass


@dataclass(frozen=True)
class Relationship:
    """A typed link (uses, mitigates, detects, subtechnique-of, attributed-to) with its procedure text."""

    stix_id: str
    type: str
    source: str                            # stix id
    target: str                            # stix id
    description: str = ""
    citations: tuple[Citation, ...] = ()


@dataclass
class AttackData:
    """Everything parsed from one bundle, keyed by STIX id, plus the bundle's citations by name."""

    version: str
    tactics: dict[str, Tactic] = field(default_factory=dict)
    techniques: dict[str, Technique] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    campaigns: dict[str, Campaign] = field(default_factory=dict)
    software: dict[str, Software] = field(default_factory=dict)
    mitigations: dict[str, Mitigation] = field(default_factory=dict)
    detection_strategies: dict[str, DetectionStrategy] = field(default_factory=dict)
    relationships: list[Relationship] = field(default_factory=list)
    citations: dict[str, Citation] = field(default_factory=dict)


def plain_text(description: str) -> str:
    """ATT&CK descriptions without Markdown links and citation markers, for display."""
    text = _MARKDOWN_LINK.sub(r"\1", description)
    return " ".join(_CITATION.sub("", text).split())


def read_bundle(path: Path) -> dict[str, Any]:
    """Read a STIX bundle (optionally gzipped); a broken file is a one-line error naming it."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        bundle = orjson.loads(raw)
    except (OSError, EOFError, gzip.BadGzipFile, orjson.JSONDecodeError) as exc:
        raise KnowledgeError(f"not a readable STIX bundle ({exc.__class__.__name__})", where=str(path)) from None
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle" or not isinstance(bundle.get("objects"), list):
        raise KnowledgeError("not a STIX bundle (no \"objects\" list)", where=str(path))
    return bundle


def _external(obj: dict[str, Any]) -> tuple[str, str | None]:
    for ref in obj.get("external_references") or []:
        if ref.get("source_name") in ("mitre-attack", "mitre-ics-attack", "mitre-mobile-attack") and ref.get(
            "external_id"
        ):
            return str(ref["external_id"]), ref.get("url")
    return "", None


def _common(obj: dict[str, Any]) -> dict[str, Any]:
    attack_id, url = _external(obj)
    return {
        "stix_id": obj["id"],
        "attack_id": attack_id,
        "name": str(obj.get("name", "")).strip(),
        "description": str(obj.get("description") or ""),
        "url": url,
        "created": obj.get("created"),
        "modified": obj.get("modified"),
    }


def _citations(obj: dict[str, Any]) -> tuple[Citation, ...]:
    return tuple(
        Citation(ref["source_name"], ref.get("url"), ref.get("description"))
        for ref in obj.get("external_references") or []
        if ref.get("source_name") and not ref.get("external_id")
    )


def _live(objects: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for obj in objects:
        if not obj.get("revoked") and not obj.get("x_mitre_deprecated"):
            yield obj


def _bundle_version(objects: list[dict[str, Any]]) -> str:
    for obj in objects:
        if obj.get("type") == "x-mitre-collection" and obj.get("x_mitre_version"):
            return str(obj["x_mitre_version"])
    for obj in objects:
        if obj.get("type") == "x-mitre-matrix":
            return str(obj.get("x_mitre_version") or obj.get("modified") or "unknown")
    return "unknown"


def parse_bundle(bundle: dict[str, Any], *, version: str | None = None) -> AttackData:
    """Turn a bundle into :class:`AttackData`, dropping revoked and deprecated objects."""
    objects: list[dict[str, Any]] = bundle["objects"]
    data = AttackData(version=version or _bundle_version(objects))
    for obj in _live(objects):
        kind = obj.get("type")
        if kind not in {"x-mitre-tactic", "attack-pattern", "intrusion-set", "campaign", "malware", "tool",
                        "course-of-action", "x-mitre-detection-strategy"}:
            continue
        base = _common(obj)
        if not base["attack_id"]:
            continue  # not an ATT&CK object (e.g. a third-party extension): nothing to cite it by
        for cite in _citations(obj):
            data.citations.setdefault(cite.source_name, cite)
        if kind == "x-mitre-tactic":
            data.tactics[base["stix_id"]] = Tactic(**base, shortname=obj.get("x_mitre_shortname", ""))
        elif kind == "attack-pattern":
            data.techniques[base["stix_id"]] = Technique(
                **base,
                tactics=tuple(p["phase_name"] for p in obj.get("kill_chain_phases") or []
                              if p.get("kill_chain_name") == "mitre-attack"),
                platforms=tuple(obj.get("x_mitre_platforms") or ()),
                is_subtechnique=bool(obj.get("x_mitre_is_subtechnique")),
                detection=str(obj.get("x_mitre_detection") or ""),
            )
        elif kind == "intrusion-set":
            aliases = tuple(dict.fromkeys([base["name"], *(obj.get("aliases") or [])]))
            cited = tuple(
                (ref["source_name"], tuple(_CITATION.findall(ref.get("description") or "")))
                for ref in obj.get("external_references") or []
                if ref.get("source_name") in aliases and not ref.get("external_id")
            )
            data.groups[base["stix_id"]] = Group(**base, aliases=aliases, alias_citations=cited)
        elif kind == "campaign":
            data.campaigns[base["stix_id"]] = Campaign(
                **base,
                aliases=tuple(dict.fromkeys([base["name"], *(obj.get("aliases") or [])])),
                first_seen=obj.get("first_seen"),
                last_seen=obj.get("last_seen"),
            )
        elif kind in ("malware", "tool"):
            data.software[base["stix_id"]] = Software(
                **base,
                kind=kind,
                aliases=tuple(dict.fromkeys([base["name"], *(obj.get("x_mitre_aliases") or [])])),
                platforms=tuple(obj.get("x_mitre_platforms") or ()),
            )
        elif kind == "course-of-action":
            data.mitigations[base["stix_id"]] = Mitigation(**base)
        else:
            data.detection_strategies[base["stix_id"]] = DetectionStrategy(**base)
    known = {*data.techniques, *data.groups, *data.campaigns, *data.software, *data.mitigations,
             *data.detection_strategies}
    for obj in _live(objects):
        if obj.get("type") != "relationship":
            continue
        if obj.get("source_ref") not in known or obj.get("target_ref") not in known:
            continue  # a link to something dropped (revoked, deprecated, or not kept)
        # One shared Citation per source name: ~20k relationships cite ~8k sources, and sharing keeps the
        # pickled index small and fast to load.
        cites = tuple(data.citations.setdefault(c.source_name, c) for c in _citations(obj))
        data.relationships.append(Relationship(
            stix_id=obj["id"], type=obj.get("relationship_type", ""), source=obj["source_ref"],
            target=obj["target_ref"], description=str(obj.get("description") or ""), citations=cites,
        ))
    if not data.techniques:
        raise KnowledgeError("the bundle has no ATT&CK techniques")
    return data


def load_attack(path: Path, *, version: str | None = None, where: str | None = None) -> AttackData:
    """Read and parse one bundle file; errors name ``where`` (default: the path) when nothing more precise."""
    try:
        return parse_bundle(read_bundle(path), version=version)
    except KnowledgeError as exc:
        if exc.where is None:
            raise KnowledgeError(exc.message, where=where or str(path)) from None
        raise
