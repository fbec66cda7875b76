"""What is known of a group beyond ATT&CK's own sets: how a report connects to what we already know (issue 15).

ATT&CK lists, per group, the techniques and software its cited reports show. A real report often rests on
evidence ATT&CK never filed under its actor: a loader the vendor has tied to the group since, a victim country.
Two further sources link evidence to groups, each link with its provenance so that the explanation can say where
a piece of shared evidence came from:

- **galaxy**: the galaxies vendored in ``pymispgalaxies`` (offline): MISP's threat-actor galaxy's ``uses``
  relations to malware and tools, its tool / RAT / backdoor galaxies' ``used-by`` relations to actors, Tidal Cyber's
  software galaxy's ``used-by`` (software only where the cluster is ATT&CK software), and Tidal Cyber's groups
  galaxy, which lists for each ATT&CK group the countries and sectors it has been observed targeting. Only links
  ATT&CK does not make. Measured neutral on both benchmarks, so `analyze` does not use them by default.
- **store**: the reports the user has already analysed: each stored analysis whose claims attribute it to exactly
  one ATT&CK group adds the software (named in two sentences or more, not an operating-system tool), techniques,
  target countries and sectors it shows to that group's profile.
  A stored report is never evidence about itself (``exclude``), and its links weigh below ATT&CK's: one vendor's
  attribution, read by the claim extractor, is not a curated relationship. The links are made once, when the
  analysis is stored (:func:`link_values`, as ``group_links`` rows in the same transaction, replaced with it and
  deleted with it; migration 0007 backfills them), so that `analyze` reads small rows (:func:`stored_known`)
  instead of parsing every stored analysis again (bench/known_links.py: 2,000 analyses, 11.8 s -> 0.22 s).

Profiles (``profiles.build_profiles(..., known=...)``) take each link at a weight below ATT&CK's (``WEIGHTS``),
never above what ATT&CK already holds, and keep its provenance per feature.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from threadline.attribute.profiles import GroupProfile
from threadline.knowledge import KnowledgeBase, derived, normalise
from threadline.tlp import may_read
from threadline.tlp import normalise as tlp_level

if TYPE_CHECKING:
    from threadline.attribute.profiles import ProfileSet, _Static
    from threadline.store import Store

GALAXY, STORE = "galaxy", "store"
# A linked feature's weight in the group's profile (ATT&CK's own "uses" is 1.0, a tool's technique 0.35, a
# description's software link 0.9). A stored analysis's techniques are what the technique model read in one report
# (about 0.7 precision), so they weigh as a tool's capability does.
WEIGHTS: dict[tuple[str, str], float] = {(GALAXY, "software"): 0.9, (STORE, "software"): 0.7,
                                         (STORE, "technique"): 0.35}
CLAIMING = ("attributed", "suspected")
# A stored report's software counts for its group when the report names it in at least this many sentences and it is
# not a tool of the operating system: one passing mention ("a Redline stealer sample was also seen", a mitigation
# list naming PsExec) is not use, and netsh says nothing of who used it.
MIN_SENTENCES = 2
# Relations between a MISP software cluster and an actor that say the actor uses it.
_ACTOR_USES = ("uses", "deploys", "delivers")
_SOFTWARE_USED = ("used-by", "is-deployed-by", "dropped-by")
_SOFTWARE_GALAXIES = ("tool", "rat", "backdoor", "malpedia", "ransomware", "stealer", "mitre-malware", "mitre-tool")


@dataclass(frozen=True, slots=True)
class Link:
    """One piece of evidence tied to a group outside ATT&CK's relationships."""

    group: str       # G-id
    kind: str        # software | technique | country | sector
    key: str         # S-id, T-id, ISO-3166 alpha-2, or the sector as written
    origin: str      # GALAXY | STORE
    source: str      # where it comes from, for the analyst ("MISP tool galaxy: QUASARRAT used-by Kimsuky")
    document: str = ""   # the stored analysis's document SHA-256 (STORE links): never evidence about itself
    tlp: str = "clear"   # the stored analysis's TLP: only a report marked at least as strictly may use it


@dataclass(frozen=True, slots=True)
class Known:
    """A set of links; hashable, so that profiles built with it are cached per set."""

    links: frozenset[Link] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.links)

    def __or__(self, other: Known) -> Known:
        return Known(self.links | other.links)

    def of(self, origin: str) -> Known:
        return Known(frozenset(link for link in self.links if link.origin == origin))

    def for_document(self, document: str, tlp: str | None = None) -> Known:
        """The links a document may be attributed with: never those from its own stored analysis (a report is not
        its own corroboration), nor those from a stored analysis marked more strictly than it (``tlp``, default
        clear: a TLP:RED report's title and evidence must not surface in a TLP:CLEAR briefing)."""
        level = tlp_level(tlp)

        def usable(link: Link) -> bool:
            return link.document != document and may_read(level, tlp_level(link.tlp))

        if all(usable(link) for link in self.links):
            return self
        return Known(frozenset(link for link in self.links if usable(link)))

    def only(self, *kinds: str) -> Known:
        return Known(frozenset(link for link in self.links if link.kind in kinds))


def _software_ids(kb: KnowledgeBase) -> dict[str, str]:
    """Normalised software name -> S-id, for names that belong to exactly one ATT&CK software."""
    owners: dict[str, set[str]] = {}
    for sw in kb.attack.software.values():
        for name in {sw.name, *sw.aliases}:
            owners.setdefault(normalise(name), set()).add(sw.attack_id)
    return {name: next(iter(ids)) for name, ids in owners.items() if len(ids) == 1}


def _clusters() -> Any:
    from pymispgalaxies import Clusters  # type: ignore[attr-defined]

    return Clusters()


def _galaxy_links(kb: KnowledgeBase, clusters: Any) -> frozenset[Link]:
    names = _software_ids(kb)
    software: dict[str, tuple[str, str, str]] = {}        # cluster uuid -> (S-id, galaxy, value)
    entries: dict[str, list[dict[str, Any]]] = {}
    for galaxy in _SOFTWARE_GALAXIES:
        cluster = clusters.get(galaxy)
        entries[galaxy] = [v.to_dict() for v in cluster.values()] if cluster is not None else []
        for entry in entries[galaxy]:
            external = (entry.get("meta") or {}).get("external_id")
            value = re.sub(r" - S\d{4}$", "", str(entry["value"])).strip()
            sid = external if isinstance(external, str) and external in kb.by_attack_id else names.get(normalise(value))
            if sid:
                software[entry["uuid"]] = (sid, galaxy, value)
    out: set[Link] = set()
    for actor in kb.galaxies.threat_actors.values():
        gid = kb.entity_of_misp(actor.uuid)
        for rel in actor.related:
            if gid and gid.startswith("G") and rel.type in _ACTOR_USES and rel.dest_uuid in software:
                sid, galaxy, value = software[rel.dest_uuid]
                out.add(Link(gid, "software", sid, GALAXY,
                             f"MISP threat-actor galaxy: {actor.value} {rel.type} {value}"))
    for galaxy, listed in entries.items():
        for entry in listed:
            if entry["uuid"] not in software:
                continue
            sid, _, value = software[entry["uuid"]]
            for rel in entry.get("related") or []:
                gid = kb.entity_of_misp(str(rel.get("dest-uuid", ""))) if rel.get("type") in _SOFTWARE_USED else None
                if gid and gid.startswith("G"):
                    user = kb.galaxies.threat_actors.get(str(rel["dest-uuid"]))
                    out.add(Link(gid, "software", sid, GALAXY, f"MISP {galaxy} galaxy: {value} {rel['type']} "
                                 f"{user.value if user else gid}"))
    out |= _tidal_links(kb, clusters, names)
    return _beyond_attack(kb, out)


def _tidal_links(kb: KnowledgeBase, clusters: Any, names: dict[str, str]) -> set[Link]:
    """Tidal Cyber's group galaxy (countries observed targeted, target categories per ATT&CK group) and software
    galaxy (``used-by`` a group), in pymispgalaxies under the cluster names "groups" and "software"."""
    out: set[Link] = set()
    groups = clusters.get("tidal-groups") or clusters.get("groups")
    by_uuid: dict[str, tuple[str, str]] = {}
    for entry in (v.to_dict() for v in groups.values()) if groups is not None else ():
        meta = entry.get("meta") or {}
        gid = meta.get("group_attack_id")
        if not isinstance(gid, str) or gid not in kb.by_attack_id:
            continue
        by_uuid[entry["uuid"]] = (gid, str(entry["value"]))
        where = f"Tidal Cyber groups galaxy: {entry['value']}"
        for code in meta.get("observed_countries") or ():
            out.add(Link(gid, "country", str(code).upper(), GALAXY, f"{where} (countries observed targeted)"))
        for sector in meta.get("target_categories") or ():
            out.add(Link(gid, "sector", str(sector), GALAXY, f"{where} (target categories)"))
    software = clusters.get("tidal-software") or clusters.get("software")
    for entry in (v.to_dict() for v in software.values()) if software is not None else ():
        external = (entry.get("meta") or {}).get("software_attack_id")
        sid = external if isinstance(external, str) and external in kb.by_attack_id else \
            names.get(normalise(str(entry["value"])))
        for rel in entry.get("related") or [] if sid else ():
            found = by_uuid.get(str(rel.get("dest-uuid", ""))) if rel.get("type") == "used-by" else None
            if found:
                out.add(Link(found[0], "software", str(sid), GALAXY,
                             f"Tidal Cyber software galaxy: {entry['value']} used-by {found[1]}"))
    return out


def _beyond_attack(kb: KnowledgeBase, links: set[Link]) -> frozenset[Link]:
    """The links ATT&CK does not already make (before any exclusion): a galaxy repeating ATT&CK's own "uses" would
    bring back the relationships a report's exclusion removes (Tidal mirrors ATT&CK), so ATT&CK's stays the only
    copy of it."""
    from threadline.attribute.profiles import build_profiles

    base = build_profiles(kb).profiles
    out = set()
    for link in links:
        profile = base.get(link.group)
        if profile is None:
            continue
        held = {"software": link.key in profile.software, "technique": profile.techniques.get(link.key, 0) >= 1.0,
                "country": link.key in profile.countries}.get(link.kind)
        if link.kind == "sector":
            from threadline.attribute.profiles import sector_stems

            held = bool(sector_stems(link.key)) and sector_stems(link.key) <= profile.sectors
        if not held:
            out.add(link)
    return frozenset(out)


def galaxy_known(kb: KnowledgeBase) -> Known:
    """The MISP galaxies' links (built once per knowledge base, cached beside the index)."""
    return derived.cached(kb, "known-galaxy", Known, lambda: Known(_galaxy_links(kb, _clusters())))


def claimed_group(analysis: Mapping[str, Any]) -> str | None:
    """The one ATT&CK group a stored analysis's claims attribute it to ("attributed" or "suspected"), if one."""
    groups = {str(c["attack_id"]) for c in analysis.get("claims") or []
              if isinstance(c, dict) and c.get("attack_id") and c.get("strength") in CLAIMING}
    return next(iter(groups)) if len(groups) == 1 else None


def analysis_links(analysis: Mapping[str, Any], kb: KnowledgeBase) -> list[Link]:
    """The links one stored analysis makes (none unless its claims name exactly one known group): what
    ``save_analysis`` / ``save_batch`` file as ``group_links`` rows beside it, so that :func:`known_links` reads
    small rows instead of every stored analysis. ``document`` and ``tlp`` are the analysis's own."""
    from threadline.attribute.observations import observations_from_analysis
    from threadline.attribute.profiles import static_of

    document = analysis.get("document") or {}
    group = claimed_group(analysis)
    if group is None or group not in kb.by_attack_id:
        return []
    title = str(document.get("title") or document.get("source") or "untitled")[:80]
    where = f"stored analysis: {title} ({str(document.get('sha256') or '')[:12]})"
    try:
        obs = observations_from_analysis(analysis, kb)
    except Exception:     # an analysis from an older schema that no longer parses adds nothing
        return []
    native = static_of(kb).native
    described = {str(s.get("attack_id")): len(s.get("evidence") or ()) for s in analysis.get("software") or ()
                 if isinstance(s, dict) and s.get("attack_id")}
    sha, tlp = str(document.get("sha256") or ""), tlp_level(document.get("tlp"))
    software = [sid for sid in obs.software if sid not in native and described.get(sid, 0) >= MIN_SENTENCES]
    return list(dict.fromkeys(
        Link(group, kind, key, STORE, where, sha, tlp)
        for kind, keys in (("software", software), ("technique", obs.techniques), ("country", obs.countries),
                           ("sector", obs.sectors)) for key in keys))


def store_known(analyses: Iterable[Mapping[str, Any]], kb: KnowledgeBase, *,
                exclude: Iterable[str] = ()) -> Known:
    """Links from stored analyses (``threadline analyze`` output) whose claims name exactly one group; the
    documents whose SHA-256 is in ``exclude`` (the report being attributed) are left out. Made from the analyses'
    JSON: what the ``group_links`` rows hold, for analyses in hand (tests, benchmarks, the bench's cases)."""
    skip = set(exclude)
    return Known(frozenset(link for analysis in analyses
                           if (analysis.get("document") or {}).get("sha256") not in skip
                           for link in analysis_links(analysis, kb)))


def link_values(analysis: Mapping[str, Any], kb: KnowledgeBase | None = None) -> list[dict[str, str]]:
    """:func:`analysis_links` as ``group_links`` column values (without the marking, which the writer files as
    the analysis's, after a stricter stored one may have raised it). The knowledge base is loaded only when the
    analysis claims one group: most reports make no link and cost nothing."""
    if claimed_group(analysis) is None:
        return []
    if kb is None:
        from threadline.knowledge import load_kb

        kb = load_kb(progress=False)
    return [{"group_id": link.group, "kind": link.kind, "key": link.key, "source": link.source}
            for link in analysis_links(analysis, kb)]


def enrich(base: ProfileSet, known: Known, kb: KnowledgeBase, static: _Static) -> ProfileSet:
    """``base`` with the links added: a linked feature the group lacks (or holds at a lower weight) gets the link's
    weight and its provenance; a linked software brings its ATT&CK capabilities as a tool's techniques do; the
    document frequencies (what grades evidence as distinctive) are counted again over the enriched profiles."""
    from threadline.attribute.profiles import SOFTWARE_TECHNIQUE_WEIGHT, _finish, _with_frequencies, sector_stems

    by_group: dict[str, list[Link]] = {}
    for link in known.links:
        if link.group in base.profiles:
            by_group.setdefault(link.group, []).append(link)
    profiles = dict(base.profiles)
    for gid, links in by_group.items():
        old = profiles[gid]
        p = GroupProfile(old.stix_id, old.attack_id, old.name, dict(old.techniques), dict(old.parents),
                         dict(old.software), old.sectors, old.countries, old.years, old.sources, dict(old.known))
        provenance: dict[str, list[str]] = {}
        sectors, countries = set(p.sectors), set(p.countries)
        for link in sorted(links, key=lambda x: (x.kind, x.key, x.source)):
            if link.kind in ("software", "technique"):
                table = p.software if link.kind == "software" else p.techniques
                weight = WEIGHTS.get((link.origin, link.kind), 0.0)
                if weight and table.get(link.key, 0.0) < weight and link.key in kb.by_attack_id:
                    table[link.key] = weight
                    provenance.setdefault(link.key, []).append(link.source)
            elif link.kind == "country" and link.key not in old.countries:
                countries.add(link.key)
                provenance.setdefault(f"country:{link.key}", []).append(link.source)
            elif link.kind == "sector":
                for stem in (sector_stems(link.key) & static.sector_vocabulary) - old.sectors:
                    sectors.add(stem)
                    provenance.setdefault(f"sector:{stem}", []).append(link.source)
        for sid in [k for k in provenance if k.startswith("S")]:
            for tid in base.techniques_of_software(sid):
                if tid not in p.techniques:
                    p.techniques[tid] = SOFTWARE_TECHNIQUE_WEIGHT
        for tid, weight in p.techniques.items():
            parent = tid.split(".")[0]
            p.parents[parent] = max(p.parents.get(parent, 0.0), weight)
        p.sectors, p.countries = frozenset(sectors), frozenset(countries)
        p.known.update({k: tuple(dict.fromkeys(v)) for k, v in provenance.items()})
        profiles[gid] = p
    return _finish(_with_frequencies(profiles, base.excluded_sources, base.dropped_relationships), static)


def stored_known(store: Store) -> Known:
    """The links of the analyses in the store: their ``group_links`` rows, one SELECT of small rows (no knowledge
    base needed: a batch's client reads them and ships them to its workers)."""
    from threadline.store.analyses import group_links

    return Known(frozenset(Link(row["group_id"], row["kind"], row["key"], STORE, row["source"], row["document_id"],
                                row["tlp"]) for row in group_links(store)))


def known_links(kb: KnowledgeBase, store: Store | None, *, galaxy: bool = False) -> Known:
    """What `threadline analyze` attributes with beyond ATT&CK: the links of the analyses already in the store
    (:func:`stored_known`, read once per run; each document then drops its own and stricter-marked ones), and the
    galaxies' links when ``galaxy`` (off by default: neutral on the real-report benchmark, -0.004 top-1 on ATT&CK's
    leave-one-out cases; BENCHMARKS.md)."""
    links = galaxy_known(kb) if galaxy else Known()
    return links | stored_known(store) if store is not None else links
