"""STIX 2.1 bundle of an analysis, built with ``stix2``; deterministic, TLP 2.0 marked, and importable back.

Decisions:
- Identifiers are uuid5 (:func:`threadline.model.deterministic_id`) over a canonical key, so re-exporting gives the
  same bundle. stix2-validator warns that they are not UUIDv4; that is a warning, and the price of reproducibility.
- Shared and owned objects (DESIGN: "a shared STIX object changes only with a new ``modified``, and what one report
  says about it lives on objects the report owns"). An intrusion set, campaign, malware or tool, attack pattern,
  sector identity, location or vulnerability is *shared*: keyed by its ATT&CK id (or country code, sector, CVE, or
  exact name), holding only what follows from that key and the ATT&CK snapshot (name, ATT&CK aliases and tactics,
  references), dated by its ATT&CK object's created/modified (else a fixed producer date). Two reports' bundles
  therefore hold the same object under the same id and ``modified``, and importing both keeps both. Everything a
  report says about it (mentions, role, score, evidence) is on a ``note`` the report owns, whose id includes the
  report's; relationships and indicators are the report's too (their ids include the report's), and carry the
  report's time (its published date, see :mod:`threadline.export.common`).
- Public shared objects (those with an ATT&CK id, places, sectors, CVEs) are marked TLP:CLEAR whatever the report's
  level: they say nothing the report does. A name only the report gives carries the report's marking and, unless
  clear, the level in its id, so a red report's actor name never merges into a clear bundle's object.
- Only unflagged indicators become ``indicator`` objects. A flagged one (warninglist hit, benign, ...) becomes a
  ``note`` on the report that says why it was flagged, so it is kept and shown but never fed to detection.
- CVEs become ``vulnerability`` objects targeted by the campaign; Bitcoin addresses use the
  ``cryptocurrency-wallet`` object type that OpenCTI reads (the validator accepts it).
- What STIX has no property for (the analysis items, evidence offsets, scores, flags, dates, lures, claims,
  attribution) travels in ``x_threadline_*`` properties, declared by a top-level-property extension definition, on
  objects the report owns, so an import loses nothing.
"""

from __future__ import annotations

import json
from typing import Any

import stix2

from threadline.errors import InputError
from threadline.export.common import (
    Analysis,
    Defanger,
    analysis_time,
    analytic_confidence,
    attack_url,
    defanged_of,
    evidence_sentences,
    ioc_sentence,
    marking,
    parse_when,
    stix_time,
)
from threadline.knowledge.base import KnowledgeBase
from threadline.model import deterministic_id
from threadline.tlp import LEVELS, Level, label

# Official TLP 2.0 marking definitions (OASIS CTI, 2022-10-01) and the extension they use.
TLP_EXTENSION = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP_IDS: dict[str, str] = {      # by level (threadline.tlp.LEVELS)
    "clear": "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    "red": "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}
TLP_CREATED = "2022-10-01T00:00:00.000Z"

PRODUCER_ID = deterministic_id("identity", "threadline")
EXTENSION_ID = deterministic_id("extension-definition", "threadline", "x_threadline")
PRODUCER_CREATED = "2024-01-01T00:00:00.000Z"   # fixed, so the producer objects never change between exports
EXTENSION_PROPERTIES = ["x_threadline_document", "x_threadline_sections", "x_threadline_section",
                        "x_threadline_item", "x_threadline_ioc"]
EXTENSION_SCHEMA = ("Threadline analysis properties, all on objects the report owns: on a note about a shared "
                    "object, x_threadline_section names the analysis section (actors, techniques, ...) and "
                    "x_threadline_item is the report's item (name, mentions, role, score, evidence sentences "
                    "{text, start, end, page}, ...); x_threadline_ioc is an extracted indicator (type, value, "
                    "defanged, offset, sentence, warninglists, flags); on the report, x_threadline_document and "
                    "x_threadline_sections keep the rest of the analysis, so a bundle imports back without loss.")
_TOPLEVEL = {EXTENSION_ID: {"extension_type": "toplevel-property-extension"}}

# Indicator type -> STIX pattern object path; asn is numeric, the rest are quoted strings.
PATTERN_PATHS = {
    "ipv4": "ipv4-addr:value", "ipv6": "ipv6-addr:value", "domain": "domain-name:value", "url": "url:value",
    "email": "email-addr:value", "md5": "file:hashes.'MD5'", "sha1": "file:hashes.'SHA-1'",
    "sha256": "file:hashes.'SHA-256'", "sha512": "file:hashes.'SHA-512'", "file_name": "file:name",
    "registry_key": "windows-registry-key:key", "btc_address": "cryptocurrency-wallet:value",
    "asn": "autonomous-system:number",
}

# STIX industry-sector-ov, plus the few everyday names reports use for them.
SECTORS = {s: s for s in (
    "agriculture aerospace automotive chemical commercial communications construction defense education energy "
    "entertainment financial-services government government-emergency-services government-local "
    "government-national government-public-services government-regional healthcare hospitality-leisure "
    "infrastructure infrastructure-dams infrastructure-nuclear infrastructure-water insurance manufacturing mining "
    "non-profit pharmaceuticals retail technology telecommunications transportation utilities").split()}
SECTORS |= {"telecom": "telecommunications", "telecoms": "telecommunications", "finance": "financial-services",
            "financial": "financial-services", "banking": "financial-services", "academia": "education",
            "health": "healthcare", "ngo": "non-profit", "ngos": "non-profit", "military": "defense",
            "oil-and-gas": "energy", "it": "technology"}

# UN M49 region codes -> STIX region-ov.
REGIONS = {"002": "africa", "014": "eastern-africa", "017": "middle-africa", "015": "northern-africa",
           "018": "southern-africa", "011": "western-africa", "019": "americas", "419": "latin-america-caribbean",
           "005": "south-america", "013": "central-america", "029": "caribbean", "021": "northern-america",
           "142": "asia", "030": "eastern-asia", "143": "central-asia", "035": "south-eastern-asia",
           "034": "southern-asia", "145": "western-asia", "150": "europe", "151": "eastern-europe",
           "154": "northern-europe", "039": "southern-europe", "155": "western-europe", "010": "antarctica",
           "009": "oceania", "053": "australia-new-zealand", "054": "melanesia", "057": "micronesia",
           "061": "polynesia"}

# ICD-203 confidence words -> STIX confidence (the None/Low/Med/High scale of STIX 2.1 appendix A).
CONFIDENCE = {"none": 0, "low": 15, "moderate": 50, "medium": 50, "high": 85}

# Sections carried by objects of their own (notes on shared objects, indicators); every other key of the analysis
# is kept on the report (``x_threadline_sections``).
OBJECT_SECTIONS = ("document", "actors", "campaigns", "software", "techniques", "sectors", "countries", "regions",
                   "iocs")


def slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def pattern_of(ioc_type: str, value: str) -> str | None:
    """The STIX pattern for an indicator, quoted and escaped per the patterning grammar; None if STIX has none."""
    path = PATTERN_PATHS.get(ioc_type)
    if path is None:
        return None
    if ioc_type == "asn":
        digits = value.upper().removeprefix("AS").strip()
        return f"[{path} = {int(digits)}]" if digits.isdigit() else None
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[{path} = '{quoted}']"


def _mitre_ref(attack_id: str | None) -> list[dict[str, str]]:
    if not attack_id:
        return []
    return [{"source_name": "mitre-attack", "external_id": attack_id.upper(), "url": attack_url(attack_id)}]


def tlp_marking(level: Level) -> stix2.v21.MarkingDefinition:
    """The official TLP 2.0 marking-definition object for a level."""
    return stix2.v21.MarkingDefinition(
        id=TLP_IDS[level], created=TLP_CREATED, name=label(level),
        extensions={TLP_EXTENSION: {"extension_type": "property-extension", "tlp_2_0": level}})


class _Builder:
    """Accumulates the objects of one bundle without duplicate ids.

    Two kinds of object: *shared* ones (an ATT&CK group, technique or software, a country, a sector, a CVE) whose
    content is a function of their key and the ATT&CK snapshot only, so every report's bundle holds the same
    object under the same id and ``modified``; and objects *owned* by the report (its notes, relationships and
    indicators, whose ids include the report's), which carry everything the report says.
    """

    def __init__(self, analysis: Analysis, kb: KnowledgeBase | None, tlp: Level, report_id: str) -> None:
        self.analysis = analysis
        self.kb = kb
        self.tlp = tlp
        self.report_id = report_id
        self.when = stix_time(analysis_time(analysis))
        self.iocs: list[dict[str, Any]] = analysis.get("iocs") or []
        self.defang = Defanger(self.iocs)
        self.objects: dict[str, Any] = {}
        self.levels: set[Level] = {tlp}

    def owned(self, kind: str, *key: str, custom: bool = True) -> dict[str, Any]:
        """Properties of an object the report owns: its id includes the report's, its time is the report's."""
        props: dict[str, Any] = {"id": deterministic_id(kind, self.report_id, *key), "created": self.when,
                                 "modified": self.when, "created_by_ref": PRODUCER_ID,
                                 "object_marking_refs": [TLP_IDS[self.tlp]]}
        if custom:
            props |= {"extensions": _TOPLEVEL, "allow_custom": True}
        return props

    def shared(self, kind: str, key: str, attack_id: str | None = None, public: bool = True) -> dict[str, Any]:
        """Properties of a shared object. A public one (ATT&CK, a place, a sector, a CVE) is TLP:CLEAR whatever the
        report's level, and dated by its ATT&CK object when the knowledge base has one (that is the version of what
        it says), else by the producer's fixed date. A name only this report gives (an actor ATT&CK does not know)
        carries the report's marking, and its id the level, so a red report's name never reaches a clear bundle."""
        created = modified = PRODUCER_CREATED
        source = self.kb.by_attack_id.get(attack_id.upper()) if (self.kb is not None and attack_id) else None
        if source is not None:
            first, last = parse_when(source.created), parse_when(source.modified)
            if first is not None and last is not None and first <= last:
                created, modified = stix_time(first), stix_time(last)
        level: Level = "clear" if public else self.tlp
        self.levels.add(level)
        key_parts = (key,) if level == "clear" else (key, f"tlp:{level}")
        return {"id": deterministic_id(kind, *key_parts), "created": created, "modified": modified,
                "created_by_ref": PRODUCER_ID, "object_marking_refs": [TLP_IDS[level]]}

    def add(self, obj: Any) -> str:
        self.objects.setdefault(obj.id, obj)
        return str(obj.id)

    def text(self, value: str) -> str:
        return self.defang(value)

    def evidence_note(self, item: dict[str, Any], lead: str) -> str:
        quotes = " ".join(f"“{self.text(s)}”" for s in evidence_sentences(item))
        return f"{lead} Evidence: {quotes}" if quotes else lead

    def note(self, section: str, n: int, target: str, item: dict[str, Any], abstract: str, lead: str) -> None:
        """What the report says about a shared object: a note the report owns, with the analysis item itself."""
        self.add(stix2.v21.Note(
            abstract=self.text(abstract), content=self.evidence_note(item, self.text(lead)),
            object_refs=[target, self.report_id], x_threadline_section=section, x_threadline_item=item,
            **self.owned("note", section, str(n))))

    def relate(self, rel_type: str, source: str, target: str, description: str | None = None,
               confidence: int | None = None) -> None:
        extra: dict[str, Any] = {}
        if description:
            extra["description"] = description
        if confidence is not None:
            extra["confidence"] = confidence
        self.add(stix2.v21.Relationship(relationship_type=rel_type, source_ref=source, target_ref=target,
                                        **self.owned("relationship", rel_type, source, target, custom=False),
                                        **extra))


def _name_key(name: str) -> str:
    return "name:" + " ".join(name.split())


def _actor(b: _Builder, actor: dict[str, Any], n: int) -> str:
    aid = actor.get("attack_id")
    group = b.kb.group(aid) if (b.kb is not None and aid) else None
    name = group.name if group is not None else actor["name"]
    extra = {"aliases": [a for a in group.aliases if a != name]} if group is not None and group.aliases else {}
    obj_id = b.add(stix2.v21.IntrusionSet(
        name=name, external_references=_mitre_ref(aid) or None, **extra,
        **b.shared("intrusion-set", aid.upper() if aid else _name_key(name), aid, public=bool(aid))))
    mentions = [m for m in actor.get("mentions") or [] if isinstance(m, str)]
    role = actor.get("role") or "mentioned"
    lead = f"Threat actor {role} in the report" + (f" as {', '.join(mentions)}." if mentions else ".")
    b.note("actors", n, obj_id, actor, f"Actor: {name}", lead)
    return obj_id


def _campaign(b: _Builder, camp: dict[str, Any], n: int) -> str:
    aid = camp.get("attack_id")
    name = camp["name"]
    obj_id = b.add(stix2.v21.Campaign(
        name=name, external_references=_mitre_ref(aid) or None,
        **b.shared("campaign", aid.upper() if aid else _name_key(name), aid, public=bool(aid))))
    goals = [g["text"] for g in b.analysis.get("goals") or [] if isinstance(g.get("text"), str)]
    lead = "Campaign described in the report." + (f" First seen: {camp['first_seen']}." if camp.get("first_seen")
                                                   else "") + (f" Objective: {'; '.join(goals)}." if goals else "")
    b.note("campaigns", n, obj_id, camp, f"Campaign: {name}", lead)
    return obj_id


def _software(b: _Builder, sw: dict[str, Any], n: int) -> str:
    aid = sw.get("attack_id")
    kind = sw.get("kind")
    known = b.kb.by_attack_id.get(str(aid).upper()) if (b.kb is not None and aid) else None
    name = known.name if known is not None else sw["name"]
    cls = stix2.v21.Tool if kind == "tool" else stix2.v21.Malware
    stix_type = "tool" if kind == "tool" else "malware"
    extra: dict[str, Any] = {"is_family": True} if stix_type == "malware" else {}
    obj_id = b.add(cls(name=name, external_references=_mitre_ref(aid) or None, **extra,
                       **b.shared(stix_type, aid.upper() if aid else _name_key(name), aid, public=bool(aid))))
    b.note("software", n, obj_id, sw, f"Software: {name}", f"Software ({kind or 'kind not stated'}) named in the "
           "report.")
    return obj_id


def _technique(b: _Builder, tech: dict[str, Any], n: int) -> str:
    tid = tech["id"].upper()
    found = b.kb.technique(tid) if b.kb is not None else []
    name = found[0].name if found else (tech.get("name") or tid)
    tactics = list(found[0].tactics) if found else [t for t in tech.get("tactics") or [] if isinstance(t, str)]
    phases = [{"kill_chain_name": "mitre-attack", "phase_name": t} for t in tactics]
    obj_id = b.add(stix2.v21.AttackPattern(
        name=name, external_references=_mitre_ref(tid), kill_chain_phases=phases or None,
        **b.shared("attack-pattern", tid, tid)))
    lead = f"ATT&CK {tid} observed in the report" + (" (inferred)." if tech.get("inferred") else ".")
    b.note("techniques", n, obj_id, tech, f"Technique: {tid} {name}", lead)
    return obj_id


def _ioc(b: _Builder, ioc: dict[str, Any], n: int) -> tuple[str, str]:
    """One indicator, vulnerability or flagged note; returns (object id, kind)."""
    kind, value = ioc["type"], ioc["value"]
    defanged = defanged_of(ioc)
    sentence = b.text(ioc_sentence(ioc))
    said = f" The report says: “{sentence}”" if sentence else ""
    record = dict(ioc)
    pattern = pattern_of(kind, value)
    report_id = b.report_id
    if ioc.get("flags"):
        why = ", ".join(map(str, ioc["flags"]))
        lists = "; ".join(map(str, ioc.get("warninglists") or []))
        content = f"{kind} {defanged} is flagged ({why}{': ' + lists if lists else ''}) and is not an indicator."
        return b.add(stix2.v21.Note(abstract=f"Flagged {kind}: {defanged}", content=content + said,
                                    object_refs=[report_id], x_threadline_ioc=record,
                                    **b.owned("note", "ioc", str(n)))), "note"
    if kind == "cve":
        cve = value.upper()
        vuln = b.add(stix2.v21.Vulnerability(
            name=cve, external_references=[{"source_name": "cve", "external_id": cve}],
            **b.shared("vulnerability", cve)))
        b.add(stix2.v21.Note(abstract=f"{cve} in the report", content=f"{cve} named in the report.{said}",
                             object_refs=[vuln, report_id], x_threadline_ioc=record,
                             **b.owned("note", "ioc", str(n))))
        return vuln, "vulnerability"
    if pattern is None:
        return b.add(stix2.v21.Note(abstract=f"{kind}: {defanged}",
                                    content=f"{kind} {defanged} has no STIX pattern type.{said}",
                                    object_refs=[report_id], x_threadline_ioc=record,
                                    **b.owned("note", "ioc", str(n)))), "note"
    return b.add(stix2.v21.Indicator(
        name=defanged, description=f"{kind} {defanged} listed in the report.{said}", pattern=pattern,
        pattern_type="stix", valid_from=b.when, indicator_types=["malicious-activity"], x_threadline_ioc=record,
        **b.owned("indicator", pattern))), "indicator"


COUNTRY_NOTES = {"targeted": "Country targeted in the report.",
                 "origin": "The actor's country of origin, as the report states it (not a target).",
                 "mentioned": "Country merely mentioned in the report (impersonated, quoted or a vendor's home), "
                              "not a target."}


def _targets(b: _Builder) -> list[str]:
    ids: list[str] = []
    for n, sector in enumerate(b.analysis.get("sectors") or []):
        name = " ".join(sector["name"].split())
        vocab = SECTORS.get(slug(name))
        extra = {"sectors": [vocab]} if vocab else {}
        obj_id = b.add(stix2.v21.Identity(name=name, identity_class="class", **extra,
                                          **b.shared("identity", f"sector:{name}")))
        b.note("sectors", n, obj_id, sector, f"Sector: {name}", "Sector targeted in the report.")
        ids.append(obj_id)
    for n, country in enumerate(b.analysis.get("countries") or []):
        code = str(country.get("code") or "").upper()
        if not code:
            continue
        obj_id = b.add(stix2.v21.Location(name=country.get("name") or code, country=code,
                                          **b.shared("location", f"country:{code}")))
        role = str(country.get("role") or "targeted")
        b.note("countries", n, obj_id, country, f"Country: {country.get('name') or code}", COUNTRY_NOTES.get(
            role, f"Country {role} in the report."))
        if role == "targeted":     # the actor's origin or a country merely mentioned is no target
            ids.append(obj_id)
    for n, region in enumerate(b.analysis.get("regions") or []):
        name = str(region.get("name") or "")
        code = region.get("code")
        value = REGIONS.get(str(code)) if code else None
        obj_id = b.add(stix2.v21.Location(name=name, region=value or slug(name),
                                          **b.shared("location", f"region:{value or slug(name)}")))
        b.note("regions", n, obj_id, region, f"Region: {name}", "Region targeted in the report.")
        ids.append(obj_id)
    return ids


def _confidence(analysis: Analysis) -> int | None:
    conf = (analysis.get("attribution") or {}).get("confidence")
    if isinstance(conf, dict):
        if isinstance(conf.get("score"), int):
            return max(0, min(100, int(conf["score"])))
        return CONFIDENCE.get(analytic_confidence(conf))
    return None


def _attribution_rels(b: _Builder, campaigns: list[str], actors: list[tuple[dict[str, Any], str]]) -> None:
    """``attributed-to`` from each campaign to each actor the report attributes it to, with the claim as text."""
    attribution = b.analysis.get("attribution") or {}
    probability = {c.get("attack_id") or c.get("name"): c.get("probability")
                   for c in attribution.get("candidates") or [] if isinstance(c, dict)}
    for actor, actor_id in actors:
        if actor.get("role") != "attributed":
            continue
        names = {actor["name"].casefold(), *(m.casefold() for m in actor.get("mentions") or [])}
        claims = [c for c in b.analysis.get("claims") or []
                  if (actor.get("attack_id") and c.get("attack_id") == actor.get("attack_id"))
                  or str(c.get("actor", "")).casefold() in names]
        parts = [f"The report states the attribution ({c.get('strength', 'unknown')}"
                 + (f"; basis: {', '.join(c.get('basis') or [])}" if c.get("basis") else "") + ")"
                 + (f"; caveats: {'; '.join(c.get('caveats') or [])}" if c.get("caveats") else "") + "."
                 for c in claims]
        prob = probability.get(actor.get("attack_id") or actor["name"])
        confidence = max(0, min(100, round(100 * prob))) if isinstance(prob, int | float) else None
        for campaign_id in campaigns:
            b.relate("attributed-to", campaign_id, actor_id, b.text(" ".join(parts)) or None, confidence)


def bundle_of(analysis: Analysis, kb: KnowledgeBase | None = None, *, tlp: str = "clear") -> stix2.v21.Bundle:
    """The STIX 2.1 bundle of an analysis (see the module docstring for the mapping)."""
    level = marking(analysis, tlp)
    doc = analysis["document"]
    report_id = deterministic_id("report", doc.get("sha256") or doc.get("source") or doc.get("title") or "")
    b = _Builder(analysis, kb, level, report_id)
    actors = [(a, _actor(b, a, n)) for n, a in enumerate(analysis.get("actors") or [])]
    campaigns = [_campaign(b, c, n) for n, c in enumerate(analysis.get("campaigns") or [])]
    software = [_software(b, s, n) for n, s in enumerate(analysis.get("software") or [])]
    techniques = [(t, _technique(b, t, n)) for n, t in enumerate(analysis.get("techniques") or [])]
    targets = _targets(b)
    iocs = [_ioc(b, i, n) for n, i in enumerate(analysis.get("iocs") or [])]
    # Who "uses" and "targets": the campaigns when the report names one, else the actors it names or attributes.
    subjects = campaigns or [aid for a, aid in actors if a.get("role") in ("named", "attributed")]
    for subject in subjects:
        for sw_id in software:
            b.relate("uses", subject, sw_id)
        for tech, tech_id in techniques:
            b.relate("uses", subject, tech_id, b.text(" ".join(evidence_sentences(tech))) or None)
        for target in targets + [i for i, kind in iocs if kind == "vulnerability"]:
            b.relate("targets", subject, target)
        for ind_id in [i for i, kind in iocs if kind == "indicator"]:
            b.relate("indicates", ind_id, subject)
    _attribution_rels(b, campaigns, actors)
    extra: dict[str, Any] = {}
    confidence = _confidence(analysis)
    if confidence is not None:
        extra["confidence"] = confidence
    source = str(doc.get("source") or "")
    ref: dict[str, str] = {"source_name": "threadline-source", "description": source or "unknown source"}
    if source.startswith(("http://", "https://")):
        ref["url"] = source
    if doc.get("sha256"):
        ref["external_id"] = f"sha256:{doc['sha256']}"
    # Everything no object above carries travels on the report, in key order, so an import loses nothing.
    sections = {k: analysis[k] for k in sorted(analysis) if k not in OBJECT_SECTIONS}
    report_props = b.owned("report")
    report_props["id"] = report_id
    report = stix2.v21.Report(
        name=b.text(doc.get("title") or source or "Untitled report"), report_types=["threat-report"],
        published=b.when, object_refs=list(b.objects) or [PRODUCER_ID],
        description=b.text(f"Threadline analysis of {doc.get('title') or source}."), external_references=[ref],
        x_threadline_document=doc, x_threadline_sections=sections, **extra, **report_props)
    producer = stix2.v21.Identity(id=PRODUCER_ID, name="Threadline", identity_class="system",
                                  description="Threadline, offline cyber-threat-intelligence analysis.",
                                  created=PRODUCER_CREATED, modified=PRODUCER_CREATED)
    extension = stix2.v21.ExtensionDefinition(
        id=EXTENSION_ID, created=PRODUCER_CREATED, modified=PRODUCER_CREATED, created_by_ref=PRODUCER_ID,
        name="Threadline analysis properties", description="Evidence and analysis fields Threadline attaches.",
        schema=EXTENSION_SCHEMA, version="1.0.0", extension_types=["toplevel-property-extension"],
        extension_properties=EXTENSION_PROPERTIES)
    markings = [tlp_marking(m) for m in LEVELS if m in b.levels]
    objects = [producer, extension, *markings, report, *b.objects.values()]
    return stix2.v21.Bundle(objects=objects, id=deterministic_id("bundle", report_id, level), allow_custom=True)


def export_stix(analysis: Analysis, kb: KnowledgeBase | None = None, *, tlp: str = "clear") -> str:
    """The bundle as pretty JSON text; byte-identical for the same analysis and options."""
    try:
        bundle = bundle_of(analysis, kb, tlp=tlp)
    except stix2.exceptions.STIXError as exc:   # a value STIX cannot carry: say which, in one line
        raise InputError(f"cannot be expressed in STIX 2.1: {exc}", where="analysis") from None
    data = json.loads(bundle.serialize())
    # stix2 writes custom properties in set order, which changes with the hash seed: sort them after the rest.
    data["objects"] = [{**{k: v for k, v in o.items() if not k.startswith("x_")},
                        **{k: o[k] for k in sorted(o) if k.startswith("x_")}} for o in data["objects"]]
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


from threadline.export.stix_import import analysis_from_bundle  # noqa: E402  (re-exported: the import half)

__all__ = ["analysis_from_bundle", "bundle_of", "export_stix", "pattern_of", "tlp_marking"]
