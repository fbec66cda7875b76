"""Group profiles from the knowledge base: what each ATT&CK group uses, whom it targets and when it was seen.

A profile is built once per knowledge base and set of excluded sources (and cached): a relationship whose every
citation is an excluded source is left out, so that a report is never scored against its own claims.
"""

from __future__ import annotations

import math
import re
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from threading import Lock
from typing import TYPE_CHECKING

from threadline.attribute.observations import EXTRA_COUNTRY_NAMES, year_of
from threadline.extract.entities.places import DEMONYMS, SECTORS_OUTSIDE_MISP
from threadline.knowledge import KnowledgeBase, derived
from threadline.knowledge.attack import Citation, Relationship, Software, plain_text

if TYPE_CHECKING:
    from threadline.attribute.known import Known

# A technique known only because one of the group's tools implements it says less than one seen in the group's
# own operations: the tool may be shared, and not every capability of a tool is used.
SOFTWARE_TECHNIQUE_WEIGHT = 0.35
# Software that a description links to a group, without a "uses" relationship behind it, counts this much.
DESCRIBED_WEIGHT = 0.9
_CITATION_RUN = re.compile(r"((?:\s*\(Citation: [^)]+\))+)")
_CITATION_NAME = re.compile(r"\(Citation: ([^)]+)\)")
_YEAR = re.compile(r"\((\d{4})(?:, ([A-Za-z]+))?")
_MONTHS = {m: i for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                        "september", "october", "november", "december"), 1)}
# Sector words that carry no victimology (galaxy placeholders and filler).
_SECTOR_STOP = frozenset({"unknown", "other", "country", "sector", "multi", "private", "public", "organisation",
                          "organization", "organizations", "organisations", "service", "services", "industry",
                          "systems", "actors", "provider", "firm", "science", "entities", "institutions", "activity",
                          "activities", "conducting", "conducted", "since", "least"})
_CACHE_SIZE = 64
# Share of groups above which a technique or software is "generic" evidence (scoring grades by it too), and at or
# below which it is "distinctive".
GENERIC_SHARE = 0.10
DISTINCTIVE_SHARE = 0.04
# How ATT&CK describes a tool that ships with the operating system ("The Net utility is a component of the
# Windows operating system", "ipconfig is a Windows utility", "ftp is a utility commonly available with operating
# systems", "cmd is the Windows command-line interpreter")...
_NATIVE_WORDS = re.compile(r"component of the \w+ operating system|\b(?:windows|unix-based|operating system) "
                           r"(?:command-line )?utility|packaged with (?:the )?\w+ operating system|commonly available "
                           r"with operating systems|command-line interpreter|native (?:microsoft|windows) utility|"
                           r"built into (?:the )?(?:windows|operating system)", re.IGNORECASE)
# ... or by citing, for the description itself, the operating system's own command reference (TechNet/MSDN
# library pages, the Windows commands documentation, Linux manual pages), where a third-party tool cites its
# project page or a vendor's download page (Sysinternals is not matched: it is not installed by default).
_NATIVE_REFERENCE = re.compile(r"(?:technet|msdn)\.microsoft\.com/(?:[a-z]{2}-[a-z]{2}/)?library/|"
                               r"(?:docs|learn)\.microsoft\.com/.*(?:windows-commands|windows/it-pro)|"
                               r"linux\.die\.net/man/|man7\.org/linux/man-pages/|ss64\.com/", re.IGNORECASE)


def os_native_tools(software: Iterable[Software], urls: Mapping[str, str | None]) -> frozenset[str]:
    """ATT&CK ids of the tools that are part of an operating system (Net, netsh, cmd, schtasks, certutil...), read
    from their descriptions and the references those cite (``urls``: citation name -> URL).

    Every intrusion may use them, but ATT&CK records them for few groups (analysts seldom list built-ins), so their
    document frequency says nothing of how distinctive they are: the scoring grades them as generic."""
    out = set()
    for sw in software:
        if sw.kind != "tool":
            continue
        cited = [urls.get(name) or "" for name in _CITATION_NAME.findall(sw.description)]
        if _NATIVE_WORDS.search(plain_text(sw.description)) or any(_NATIVE_REFERENCE.search(u) for u in cited):
            out.add(sw.attack_id)
    return frozenset(out)


def source_key(text: str) -> str:
    """How a citation is compared with an excluded source: case-insensitive, no trailing slash."""
    return text.strip().casefold().rstrip("/")


def sector_stems(text: str) -> frozenset[str]:
    """Crude stems (first six letters) of the sector words in a text: "Telecoms" ~ "telecommunications"."""
    words = re.findall(r"[a-z]{4,}", text.casefold())
    return frozenset(w[:6] for w in words if w not in _SECTOR_STOP)


def citation_year(citation: Citation) -> float | None:
    """Publication date of a citation ("Author. (2020, July 28). Title.") as a fractional year."""
    match = _YEAR.search(citation.description or "")
    if not match:
        return None
    month = _MONTHS.get((match.group(2) or "").casefold())
    return int(match.group(1)) + ((month - 0.5) / 12 if month else 0.5)


@dataclass(slots=True)
class GroupProfile:
    """One group's evidence after exclusion; ``techniques`` maps a T-id to its weight (1 = seen directly)."""

    stix_id: str
    attack_id: str
    name: str
    techniques: dict[str, float] = field(default_factory=dict)
    parents: dict[str, float] = field(default_factory=dict)
    software: dict[str, float] = field(default_factory=dict)
    sectors: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()
    years: tuple[float, ...] = ()
    sources: dict[str, set[str]] = field(default_factory=dict)   # feature -> citation names supporting it
    # feature (T-id, S-id, "country:XX", "sector:stem") -> where it is known from, when not from ATT&CK (known.py)
    known: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """No technique and no software left: nothing to compare a case with."""
        return not self.techniques and not self.software

    @property
    def n_sources(self) -> int:
        """Distinct reports behind the profile: how much has been published about the group."""
        return len(set().union(*self.sources.values())) if self.sources else 0

    @property
    def length(self) -> float:
        return sum(self.techniques.values()) + sum(self.software.values())


@dataclass(slots=True)
class ProfileSet:
    """All groups' profiles plus the document frequencies that make evidence weights (IDF)."""

    profiles: dict[str, GroupProfile]
    excluded_sources: frozenset[str]
    dropped_relationships: int
    df: dict[str, Counter[str]] = field(default_factory=dict)     # feature kind -> key -> groups having it
    n_groups: int = 0
    avg_length: float = 1.0
    lineage: dict[str, list[tuple[str, frozenset[str]]]] = field(default_factory=dict)
    capabilities: dict[str, list[tuple[str, frozenset[str]]]] = field(default_factory=dict)
    native: frozenset[str] = frozenset()      # operating-system tools (os_native_tools): generic whatever their count
    parent_ids: frozenset[str] = frozenset()  # techniques that have sub-techniques ("T1566", "T1574")
    idf_memo: dict[tuple[str, str], float] = field(default_factory=dict, repr=False, compare=False)
    shape_memo: dict[str, tuple[float, int, int]] = field(default_factory=dict, repr=False, compare=False)
    column_memo: dict[str, list[float]] = field(default_factory=dict, repr=False, compare=False)

    def shape(self, profile: GroupProfile) -> tuple[float, int, int]:
        """(length, n_sources, techniques seen directly + software) of a profile of this set, memoised: scoring
        needs them for every group and every case."""
        found = self.shape_memo.get(profile.attack_id)
        if found is None or self.profiles.get(profile.attack_id) is not profile:
            found = (profile.length, profile.n_sources,
                     sum(1 for v in profile.techniques.values() if v >= 1.0) + len(profile.software))
            if self.profiles.get(profile.attack_id) is profile:
                self.shape_memo[profile.attack_id] = found
        return found

    def held_directly(self, key: str) -> list[float]:
        """1.0 for each live group (in ``profiles`` order, empty profiles left out) that has the technique directly
        or the software, else 0.0, memoised (the columns of scoring.pair_rarity's matrix)."""
        found = self.column_memo.get(key)
        if found is None:
            live = [p for p in self.profiles.values() if not p.empty]
            if key.startswith("S"):
                found = [1.0 if key in p.software else 0.0 for p in live]
            else:
                found = [1.0 if p.techniques.get(key, 0.0) >= 1.0 else 0.0 for p in live]
            self.column_memo[key] = found
        return found

    def techniques_of_software(self, sid: str) -> list[str]:
        """What ATT&CK says a software can do, where that survives the exclusion."""
        return [t for t, keys in self.capabilities.get(sid, ()) if not keys or keys - self.excluded_sources]

    def relatives(self, sid: str) -> list[str]:
        """Software related to ``sid`` by lineage, where the link survives the exclusion."""
        return [other for other, cites in self.lineage.get(sid, ()) if not cites or cites - self.excluded_sources]

    def idf(self, kind: str, key: str) -> float:
        """BM25's IDF: a feature few groups have weighs much more than one most groups have (memoised: scoring asks
        for the same few features once per group; a ProfileSet is read-only once built_profiles returns it)."""
        found = self.idf_memo.get((kind, key))
        if found is None:
            df = self.grading_frequency(kind, key)
            n = max(self.n_groups, 1)
            found = self.idf_memo[(kind, key)] = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return found

    def frequency(self, kind: str, key: str) -> int:
        """How many groups have the feature (what the explanation shows)."""
        counts = self.df.get(kind)
        return counts.get(key, 0) if counts is not None else 0

    def grading_frequency(self, kind: str, key: str) -> int:
        """The frequency that grades the feature (IDF, level, rarity counts): an operating-system tool counts as
        held by more than the generic share of groups, however few ATT&CK lists it for."""
        df = self.frequency(kind, key)
        if kind == "software" and key in self.native:
            return max(df, int(GENERIC_SHARE * self.n_groups) + 1)
        if kind == "technique" and key in self.parent_ids:
            # A report saying "phishing" (T1566) or "hijack execution flow" (T1574) names a family: ATT&CK files
            # groups under its sub-techniques, so the parent alone is held by few groups while the family is held
            # by many. The family's count grades it, and never below "moderate": a family is not a fingerprint.
            return max(df, self.frequency("parent", key), int(DISTINCTIVE_SHARE * self.n_groups) + 1)
        return df

    def grading_reason(self, kind: str, key: str) -> str:
        """Why a feature is graded as it is: what the analyst reads beside "distinctive" or "generic"."""
        n = max(self.n_groups, 1)
        df = self.frequency(kind, key)
        if kind == "software" and key in self.native:
            return "a tool of the operating system: any intrusion may use it"
        if kind == "technique" and key in self.parent_ids:
            family = self.frequency("parent", key)
            return f"a parent technique: {family} of {n} groups use it or one of its sub-techniques"
        return f"{df} of {n} groups use it"


class _Static:
    """What does not depend on exclusion: vocabularies, description-derived victimology, and which groups
    each citation touches (so that excluding a source rebuilds only those groups)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        names: dict[str, str] = dict(EXTRA_COUNTRY_NAMES)
        for country in kb.galaxies.countries:
            if country.code and len(country.code) == 2:
                for name in (country.value, *country.synonyms):
                    if len(name) > 3:
                        names[name] = country.code.upper()
        self.country_names = names
        ordered = sorted(names, key=len, reverse=True)
        # "China-based" names where an actor is from, not whom it targets.
        self.country_pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(n) for n in ordered)
                                          + r")(?![\w-])")
        # A nationality says whom an operation targets, unless it says who the actor is ("Iranian threat group").
        self.demonym_pattern = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(n) for n in sorted(DEMONYMS, key=len,
                                          reverse=True)) + r")(?![\w-])(?!\s+(?i:state|threat|actors?|groups?|apt|"
                                          r"hackers?|cyber|espionage|intelligence|military|operators?|nexus|"
                                          r"government-sponsored|state-sponsored|language|speaking))")
        vocabulary: set[str] = set()
        for sector in kb.galaxies.sectors:
            for name in (sector.value, *sector.synonyms):
                vocabulary |= sector_stems(name)
        for name in SECTORS_OUTSIDE_MISP:     # "Religious organisations": reported by the extractor, not in MISP
            vocabulary |= sector_stems(name)
        self.sector_vocabulary = frozenset(vocabulary)
        self.group_sectors: dict[str, frozenset[str]] = {}
        self.group_countries: dict[str, frozenset[str]] = {}
        for group in kb.attack.groups.values():
            sectors, countries = self.victimology(plain_text(group.description))
            for actor in kb.misp_actors_of(group.attack_id):
                for category in actor.target_categories:
                    sectors |= sector_stems(category) & self.sector_vocabulary
                for victim in actor.victims:
                    sectors_v, countries_v = self.victimology(victim)
                    countries |= countries_v
                    sectors |= sectors_v
            self.group_sectors[group.attack_id] = frozenset(sectors)
            self.group_countries[group.attack_id] = frozenset(countries)
        self.touches: dict[str, set[str]] = defaultdict(set)     # source key / STIX id -> group STIX ids
        self.described = _described_links(kb)
        self.lineage = _lineage(kb)
        self.parent_ids = frozenset(t.attack_id.split(".")[0] for t in kb.attack.techniques.values()
                                    if "." in t.attack_id)
        self.native = os_native_tools(kb.attack.software.values(),
                                      {name: c.url for name, c in kb.attack.citations.items()})
        self.capabilities: dict[str, list[tuple[str, frozenset[str]]]] = {
            sw.attack_id: [(kb.attack.techniques[r.target].attack_id,
                            frozenset(k for c in r.citations for k in (source_key(c.source_name),
                                                                       source_key(c.url or c.source_name))))
                           for r in kb.related(sw.stix_id, "uses") if r.target in kb.attack.techniques]
            for sw in kb.attack.software.values()}
        for gid, links in self.described.items():
            for _, keys in links:
                for key in keys:
                    self.touches[key].add(kb.by_attack_id[gid].stix_id)
        for group in kb.attack.groups.values():
            rels = list(kb.related(group.stix_id, "uses"))
            for sid, _ in self.described.get(group.attack_id, ()):
                rels.extend(kb.related(kb.by_attack_id[sid].stix_id, "uses"))
            for rel in kb.related(group.stix_id, "attributed-to", reverse=True):
                rels.append(rel)
                self.touches[rel.source].add(group.stix_id)
                rels.extend(kb.related(rel.source, "uses"))
            for rel in list(rels):
                if rel.target in kb.attack.software:
                    rels.extend(kb.related(rel.target, "uses"))
            for rel in rels:
                for cite in rel.citations:
                    self.touches[source_key(cite.source_name)].add(group.stix_id)
                    if cite.url:
                        self.touches[source_key(cite.url)].add(group.stix_id)

    def victimology(self, text: str) -> tuple[set[str], set[str]]:
        """Sector stems and ISO country codes named in a text (a description, a MISP victim entry)."""
        countries = {self.country_names[m] for m in self.country_pattern.findall(text)}
        countries |= {DEMONYMS[m] for m in self.demonym_pattern.findall(text)}
        return set(sector_stems(text) & self.sector_vocabulary), countries


_static: dict[int, _Derived] = {}
_cache: OrderedDict[tuple[int, frozenset[str], frozenset[str], Known | None], ProfileSet] = OrderedDict()
_lock = Lock()


@dataclass(slots=True)
class _Derived:
    """What the derived cache holds for a knowledge base: the static part and the profiles without exclusion
    (pickled together so that the profiles share the static part's tables)."""

    static: _Static
    base: ProfileSet


def _derive(kb: KnowledgeBase) -> _Derived:
    static = _Static(kb)
    built = [_build_group(kb, static, g, frozenset(), frozenset()) for g in kb.attack.groups]
    return _Derived(static, _finish(_with_frequencies({p.attack_id: p for p, _ in built}, frozenset(), 0), static))


def _derived(kb: KnowledgeBase) -> _Derived:
    """Built once per knowledge base and process, and cached on disk beside the index (knowledge.derived)."""
    with _lock:
        found = _static.get(id(kb))
        if found is None:
            found = _static[id(kb)] = derived.cached(kb, "profiles", _Derived, lambda: _derive(kb))
        return found


def static_of(kb: KnowledgeBase) -> _Static:
    return _derived(kb).static


def _finish(result: ProfileSet, static: _Static) -> ProfileSet:
    result.lineage, result.capabilities, result.native = static.lineage, static.capabilities, static.native
    result.parent_ids = static.parent_ids
    return result


def _described_links(kb: KnowledgeBase) -> dict[str, list[tuple[str, frozenset[str]]]]:
    """Group <-> software links stated in ATT&CK descriptions ("X is a backdoor used by [G]"), each with the
    citations of its passage: a software's lineage that the ``uses`` relationships do not always carry."""
    out: dict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
    owners = [(s.attack_id, s.description, "groups") for s in kb.attack.software.values()]
    owners += [(g.attack_id, g.description, "software") for g in kb.attack.groups.values()]
    for owner, description, linked in owners:
        for target, cites in _passages(description, linked):
            group, software = (target, owner) if linked == "groups" else (owner, target)
            if group in kb.by_attack_id and software in kb.by_attack_id:
                out[group].append((software, cites))
    return dict(out)


def _passages(description: str, linked: str) -> Iterator[tuple[str, frozenset[str]]]:
    """(linked ATT&CK id, citation keys of the passage) for every link to ``linked`` objects in a description."""
    parts = _CITATION_RUN.split(description)
    for text, run in zip(parts[::2], [*parts[1::2], ""], strict=True):
        cites = frozenset(source_key(c) for c in _CITATION_NAME.findall(run))
        for target in re.findall(rf"attack\.mitre\.org/{linked}/([GS]\d{{4}})", text):
            yield target, cites


def _lineage(kb: KnowledgeBase) -> dict[str, list[tuple[str, frozenset[str]]]]:
    """Software <-> software links in software descriptions (variants, successors, shared code), both ways."""
    out: dict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
    for software in kb.attack.software.values():
        for other, cites in _passages(software.description, "software"):
            if other != software.attack_id and other in kb.by_attack_id:
                out[software.attack_id].append((other, cites))
                out[other].append((software.attack_id, cites))
    return dict(out)


def _cite_kept(citation: Citation, excluded: frozenset[str]) -> bool:
    return not excluded or (source_key(citation.source_name) not in excluded
                            and (not citation.url or source_key(citation.url) not in excluded))


def _kept(rel: Relationship, excluded: frozenset[str]) -> bool:
    """False when every citation of the relationship is an excluded source (uncited ones are kept)."""
    return not rel.citations or any(_cite_kept(c, excluded) for c in rel.citations)


def build_profiles(kb: KnowledgeBase, exclude_sources: Iterable[str] = (),
                   exclude_objects: Iterable[str] = (), known: Known | None = None) -> ProfileSet:
    """Profiles of every ATT&CK group, cached per (knowledge base, excluded sources, excluded objects, known).

    ``exclude_objects`` are STIX ids (e.g. a held-out campaign) left out entirely. ``known``: links from outside
    ATT&CK (MISP galaxies, stored analyses: known.py) added to the profiles after the exclusion, below ATT&CK's weight.
    """
    excluded = frozenset(source_key(s) for s in exclude_sources if s.strip())
    objects = frozenset(exclude_objects)
    key = (id(kb), excluded, objects, known or None)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    if known:
        from threadline.attribute.known import enrich

        result = enrich(build_profiles(kb, exclude_sources, exclude_objects), known, kb, static_of(kb))
    elif not excluded and not objects:
        result = _derived(kb).base
    else:
        static = static_of(kb)
        base = build_profiles(kb)
        touched = set().union(*(static.touches.get(k, set()) for k in excluded | objects)) | objects
        profiles = dict(base.profiles)
        dropped = 0
        for stix_id in touched:
            group = kb.attack.groups.get(stix_id)
            if group is None:
                continue
            profiles.pop(group.attack_id, None)
            if stix_id not in objects:
                profiles[group.attack_id], lost = _build_group(kb, static, stix_id, excluded, objects)
                dropped += lost
        result = _finish(_with_frequencies(profiles, excluded, dropped), static)
    with _lock:
        _cache[key] = result
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def _build_group(kb: KnowledgeBase, static: _Static, stix_id: str, excluded: frozenset[str],
                 objects: frozenset[str]) -> tuple[GroupProfile, int]:
    """One group's profile and the number of its relationships the exclusion dropped."""
    attack = kb.attack
    group = attack.groups[stix_id]
    dropped = 0
    profile = GroupProfile(group.stix_id, group.attack_id, group.name)
    years: list[float] = []
    uses: list[Relationship] = list(kb.related(group.stix_id, "uses"))
    for rel in kb.related(group.stix_id, "attributed-to", reverse=True):
        campaign = attack.campaigns.get(rel.source)
        if campaign is None or campaign.stix_id in objects:
            continue
        if not _kept(rel, excluded):
            dropped += 1
            continue
        uses.extend(kb.related(campaign.stix_id, "uses"))
        for seen in (campaign.first_seen, campaign.last_seen):
            if seen and (year := year_of(seen)) is not None:
                years.append(year)
    tool_ids: list[str] = []
    for rel in uses:
        if not _kept(rel, excluded):
            dropped += 1
            continue
        # The excluded sources neither count as support nor date the group: they are not evidence here.
        kept = [c for c in rel.citations if _cite_kept(c, excluded)]
        cited = {c.source_name for c in kept}
        years.extend(y for c in kept if (y := citation_year(c)) is not None)
        if rel.target in attack.techniques:
            tid = attack.techniques[rel.target].attack_id
            profile.techniques[tid] = 1.0
            profile.sources.setdefault(tid, set()).update(cited)
        elif rel.target in attack.software:
            sid = attack.software[rel.target].attack_id
            profile.software[sid] = 1.0
            profile.sources.setdefault(sid, set()).update(cited)
            tool_ids.append(rel.target)
    for sid, cites in static.described.get(group.attack_id, ()):
        # Uncited passages are kept, like uncited relationships; cited ones need a source not excluded.
        if sid not in profile.software and (not cites or cites - excluded):
            profile.software[sid] = DESCRIBED_WEIGHT
            tool_ids.append(kb.by_attack_id[sid].stix_id)
    for tool in dict.fromkeys(tool_ids):
        for rel in kb.related(tool, "uses"):
            technique = attack.techniques.get(rel.target)
            if technique is None:
                continue
            if not _kept(rel, excluded):
                dropped += 1
            elif technique.attack_id not in profile.techniques:
                profile.techniques[technique.attack_id] = SOFTWARE_TECHNIQUE_WEIGHT
    for tid, weight in profile.techniques.items():
        parent = tid.split(".")[0]
        profile.parents[parent] = max(profile.parents.get(parent, 0.0), weight)
    profile.sectors = static.group_sectors.get(group.attack_id, frozenset())
    profile.countries = static.group_countries.get(group.attack_id, frozenset())
    profile.years = tuple(sorted(years))
    return profile, dropped


def _with_frequencies(profiles: dict[str, GroupProfile], excluded: frozenset[str], dropped: int) -> ProfileSet:
    df: dict[str, Counter[str]] = defaultdict(Counter)
    live = [p for p in profiles.values() if not p.empty]
    for p in live:
        # A technique's rarity is counted over groups seen using it directly: tool capabilities would make
        # every technique of Cobalt Strike look common.
        df["technique"].update(t for t, w in p.techniques.items() if w >= 1.0)
        df["parent"].update({t.split(".")[0] for t, w in p.techniques.items() if w >= 1.0})
        df["software"].update(p.software.keys())
        df["sector"].update(p.sectors)
        df["country"].update(p.countries)
    lengths = [p.length for p in live]
    return ProfileSet(profiles=profiles, excluded_sources=excluded, dropped_relationships=dropped, df=dict(df),
                      n_groups=len(live), avg_length=sum(lengths) / len(lengths) if lengths else 1.0)
