"""The knowledge base: ATT&CK plus MISP galaxies, linked where they name the same thing, with look-up indexes."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from threadline.knowledge.aliases import AliasAssertion, AliasIndex, normalise
from threadline.knowledge.attack import (
    AttackData,
    AttackObject,
    Campaign,
    Group,
    Relationship,
    Software,
    Technique,
)
from threadline.knowledge.galaxies import GalaxyData, Named, ThreatActor

# MISP relation types that say two actors are the same or overlap; others (uses, targets) are not about names.
ALIAS_RELATIONS = frozenset({"similar", "overlaps", "same-as", "linked-to", "related-to", "associated-with",
                             "part-of"})

_SUFFIXED = re.compile(r"([A-Z][A-Za-z]+) (Group|Team|Gang)")     # "Lazarus Group" -> "Lazarus"


@dataclass(frozen=True)
class Link:
    """Why a MISP threat-actor entry is treated as describing an ATT&CK group."""

    misp_uuid: str
    attack_id: str
    basis: str


@dataclass
class KnowledgeBase:
    """Read-only after :meth:`build`; pickled as a whole into the index cache."""

    attack: AttackData
    galaxies: GalaxyData
    by_attack_id: dict[str, AttackObject] = field(default_factory=dict)
    actor_links: dict[str, Link] = field(default_factory=dict)          # MISP uuid -> link to a G-id
    misp_by_group: dict[str, list[str]] = field(default_factory=dict)   # G-id -> linked MISP uuids
    actors: AliasIndex = field(default_factory=AliasIndex)
    software_names: AliasIndex = field(default_factory=AliasIndex)
    outgoing: dict[str, list[Relationship]] = field(default_factory=dict)
    incoming: dict[str, list[Relationship]] = field(default_factory=dict)
    revoked: dict[str, str] = field(default_factory=dict)   # revoked technique id -> live id that replaced it

    # ---- building -------------------------------------------------------------------------------------
    @classmethod
    def build(cls, attack: AttackData, galaxies: GalaxyData) -> KnowledgeBase:
        kb = cls(attack=attack, galaxies=galaxies)
        objects: list[AttackObject] = [*attack.tactics.values(), *attack.techniques.values(),
                                       *attack.groups.values(), *attack.campaigns.values(),
                                       *attack.software.values(), *attack.mitigations.values(),
                                       *attack.detection_strategies.values()]
        kb.by_attack_id = {o.attack_id: o for o in objects}
        outgoing: dict[str, list[Relationship]] = defaultdict(list)
        incoming: dict[str, list[Relationship]] = defaultdict(list)
        for rel in attack.relationships:
            outgoing[rel.source].append(rel)
            incoming[rel.target].append(rel)
        kb.outgoing, kb.incoming = dict(outgoing), dict(incoming)
        kb._resolve_revoked()
        kb._link_actors()
        kb._index_actor_names()
        kb._index_software_names()
        return kb

    def _resolve_revoked(self) -> None:
        """Follow revoked-by chains to a technique this bundle has; ids the bundle still has are not remapped."""
        table = self.galaxies.revoked_techniques
        for old in table:
            if isinstance(self.by_attack_id.get(old), Technique):
                continue
            seen, new = {old}, table[old]
            while new in table and new not in seen and not isinstance(self.by_attack_id.get(new), Technique):
                seen.add(new)
                new = table[new]
            if isinstance(self.by_attack_id.get(new), Technique):
                self.revoked[old] = new

    def current_technique_id(self, attack_id: str) -> str:
        """The live id for a technique id: itself, or what replaced it when ATT&CK revoked it."""
        tid = attack_id.strip().upper()
        return self.revoked.get(tid, tid)

    def _link_actors(self) -> None:
        """Link a MISP actor to an ATT&CK group only on an explicit citation or an exact, unique name."""
        group_by_name: dict[str, set[str]] = defaultdict(set)
        for group in self.attack.groups.values():
            for alias in group.aliases:
                group_by_name[normalise(alias)].add(group.attack_id)
        misp_by_group: dict[str, list[str]] = defaultdict(list)
        for actor in self.galaxies.threat_actors.values():
            cited = [g for g in actor.attack_refs if g in self.by_attack_id]
            named = group_by_name.get(normalise(actor.value), set())
            if len(named) == 1 and (not cited or next(iter(named)) in cited):
                gid = next(iter(named))
                link = Link(actor.uuid, gid, f"ATT&CK lists \"{actor.value}\" as a name of {gid}")
            elif len(cited) == 1 and not named:
                link = Link(actor.uuid, cited[0], f"the MISP entry cites ATT&CK {cited[0]}")
            else:
                continue   # cites several groups, or its name belongs to another group: keep it separate
            self.actor_links[actor.uuid] = link
            misp_by_group[link.attack_id].append(actor.uuid)
        self.misp_by_group = dict(misp_by_group)

    def entity_of_misp(self, misp_uuid: str) -> str | None:
        """Entity key for a MISP threat-actor or mitre-intrusion-set uuid."""
        if misp_uuid in self.actor_links:
            return self.actor_links[misp_uuid].attack_id
        if misp_uuid in self.galaxies.intrusion_set_ids:
            gid = self.galaxies.intrusion_set_ids[misp_uuid]
            return gid if gid in self.by_attack_id else None
        if misp_uuid in self.galaxies.threat_actors:
            return f"misp:{misp_uuid}"
        return None

    def _index_actor_names(self) -> None:
        for group in self.attack.groups.values():
            cited = dict(group.alias_citations)
            for alias in group.aliases:
                self.actors.add(AliasAssertion(group.attack_id, alias, "attack", f"MITRE ATT&CK {group.attack_id}",
                                               citations=cited.get(alias, ())))
            # Analysts drop the suffix ("Lazarus", "Sandworm", "Gamaredon"), though neither ATT&CK nor MISP lists
            # the bare word; the source says where the name comes from.
            bare = _SUFFIXED.fullmatch(group.name)
            if bare:
                self.actors.add(AliasAssertion(group.attack_id, bare.group(1), "derived",
                                               f"MITRE ATT&CK {group.attack_id} (its name without "
                                               f"\"{bare.group(2)}\")"))
        for actor in self.galaxies.threat_actors.values():
            entity = self.entity_of_misp(actor.uuid)
            assert entity is not None
            source = f"MISP threat-actor galaxy: {actor.value}"
            for name in (actor.value, *actor.synonyms):
                self.actors.add(AliasAssertion(entity, name, "misp", source))
        for actor in self.galaxies.threat_actors.values():
            here = self.entity_of_misp(actor.uuid)
            for rel in actor.related:
                there = self.entity_of_misp(rel.dest_uuid)
                if rel.type not in ALIAS_RELATIONS or there is None or there == here or here is None:
                    continue
                # Each side is "also known as" the other's main name, with the relation and its likelihood.
                other = self.galaxies.threat_actors.get(rel.dest_uuid)
                source = f"MISP threat-actor galaxy: {actor.value} {rel.type} {other.value if other else there}"
                self.actors.add(AliasAssertion(there, actor.value, "relation", source, rel.likelihood))
                self.actors.add(AliasAssertion(here, self.entity_name(there), "relation", source, rel.likelihood))

    def _index_software_names(self) -> None:
        by_name: dict[str, set[str]] = defaultdict(set)
        for sw in self.attack.software.values():
            for alias in sw.aliases:
                self.software_names.add(AliasAssertion(sw.attack_id, alias, "attack", f"MITRE ATT&CK {sw.attack_id}"))
                by_name[normalise(alias)].add(sw.attack_id)
        for entry in self.galaxies.software:
            if entry.code and entry.code in self.by_attack_id:
                target = {entry.code}
            else:
                target = by_name.get(normalise(entry.value), set())
            if len(target) != 1:
                continue   # a MISP entry that names no ATT&CK software, or several: not linked
            sid = next(iter(target))
            for name in (entry.value, *entry.synonyms):
                self.software_names.add(AliasAssertion(sid, name, "misp", f"MISP {entry.galaxy} galaxy: {entry.value}"))

    # ---- queries --------------------------------------------------------------------------------------
    def entity_name(self, entity: str) -> str:
        if entity.startswith("misp:"):
            return self.galaxies.threat_actors[entity[5:]].value
        return self.by_attack_id[entity].name

    def group(self, attack_id: str) -> Group | None:
        obj = self.by_attack_id.get(attack_id)
        return obj if isinstance(obj, Group) else None

    def misp_actors_of(self, entity: str) -> list[ThreatActor]:
        if entity.startswith("misp:"):
            return [self.galaxies.threat_actors[entity[5:]]]
        return [self.galaxies.threat_actors[u] for u in self.misp_by_group.get(entity, [])]

    def technique(self, id_or_name: str) -> list[Technique]:
        """Techniques by id (``T1566.001``, case-insensitive; revoked ids give their replacement) or exact name."""
        obj = self.by_attack_id.get(self.current_technique_id(id_or_name))
        if isinstance(obj, Technique):
            return [obj]
        parent_name, _, sub_name = id_or_name.rpartition(":")   # "Phishing: Spearphishing Attachment"
        wanted = normalise(sub_name)
        found = [t for t in self.attack.techniques.values() if normalise(t.name) == wanted]
        if parent_name:
            found = [t for t in found if t.is_subtechnique
                     and normalise(self.by_attack_id[t.parent_id].name) == normalise(parent_name)]
        elif not found:      # a name ATT&CK has revoked ("DLL Side-Loading") gives the technique that replaced it
            old = [i for name, ids in self.galaxies.revoked_technique_names.items() if normalise(name) == wanted
                   for i in ids if i in self.revoked]
            found = [t for t in self.attack.techniques.values() if t.attack_id in {self.revoked[i] for i in old}]
        return sorted(found, key=lambda t: t.attack_id)

    def related(self, stix_id: str, rel_type: str, *, reverse: bool = False) -> list[Relationship]:
        table = self.incoming if reverse else self.outgoing
        return [r for r in table.get(stix_id, []) if r.type == rel_type]

    def obj(self, stix_id: str) -> AttackObject | None:
        for table in (self.attack.techniques, self.attack.groups, self.attack.campaigns, self.attack.software,
                      self.attack.mitigations, self.attack.detection_strategies, self.attack.tactics):
            found = table.get(stix_id)
            if found is not None:
                return found
        return None

    def campaigns_of(self, group: Group) -> list[Campaign]:
        out = []
        for rel in self.related(group.stix_id, "attributed-to", reverse=True):
            camp = self.attack.campaigns.get(rel.source)
            if camp is not None:
                out.append(camp)
        return sorted(out, key=lambda c: c.first_seen or "")

    def software_of(self, stix_id: str) -> list[tuple[Software, Relationship]]:
        return [(self.attack.software[r.target], r) for r in self.related(stix_id, "uses")
                if r.target in self.attack.software]

    def techniques_of(self, stix_id: str) -> list[tuple[Technique, Relationship]]:
        return [(self.attack.techniques[r.target], r) for r in self.related(stix_id, "uses")
                if r.target in self.attack.techniques]

    def countries_by_name(self) -> dict[str, Named]:
        return {normalise(c.value): c for c in self.galaxies.countries}

    def counts(self) -> dict[str, int]:
        techniques = self.attack.techniques.values()
        return {
            "tactics": len(self.attack.tactics),
            "techniques": sum(not t.is_subtechnique for t in techniques),
            "subtechniques": sum(t.is_subtechnique for t in techniques),
            "groups": len(self.attack.groups),
            "campaigns": len(self.attack.campaigns),
            "malware": sum(s.kind == "malware" for s in self.attack.software.values()),
            "tools": sum(s.kind == "tool" for s in self.attack.software.values()),
            "mitigations": len(self.attack.mitigations),
            "detection_strategies": len(self.attack.detection_strategies),
            "relationships": len(self.attack.relationships),
            "misp_threat_actors": len(self.galaxies.threat_actors),
            "misp_actors_linked": len(self.actor_links),
            "misp_sectors": len(self.galaxies.sectors),
            "misp_countries": len(self.galaxies.countries),
            "actor_names": len(self.actors),
            "software_names": len(self.software_names),
        }
