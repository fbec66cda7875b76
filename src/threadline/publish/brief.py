"""A briefing in the seed's shape, built from one analysis and the knowledge base: a summary with who, what, how
sure and what to do, the campaign, a pinch of history, how to stay safe, and all things considered — every fact
citing numbered references, every list capped with a count of what it left out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from threadline.errors import InputError
from threadline.export.common import check_analysis, marking
from threadline.knowledge.base import KnowledgeBase
from threadline.model import deterministic_id
from threadline.publish.considered import at_a_glance, considered
from threadline.publish.facts import (
    ActorSeen,
    Fact,
    Indicator,
    InferredFrom,
    Reference,
    References,
    TechniqueSeen,
    evidence_key,
    join_words,
    merge,
    more_text,
)
from threadline.publish.history import actor_history, dated_events, resolve_entity
from threadline.publish.render import Defanger, html_env, md_env
from threadline.publish.staysafe import Remedy, remedies

ATTACK_TECHNIQUE_URL = "https://attack.mitre.org/techniques/{}/"
ROLE_WORDS = {"attributed": "attributes the activity to", "named": "names", "mentioned": "mentions"}
ROLE_ORDER = {"attributed": 0, "named": 1, "mentioned": 2}
COUNTRY_ROLES = (("targeted", "Targeted countries"), ("origin", "The actor's origin, as the source states it"),
                 ("mentioned", "Countries mentioned, not as targets (impersonated, quoted or a vendor's home)"))
# A briefing is read, not searched: every list is capped and says how many it left out ("+N more"); the full
# lists are in the analysis and its exports.
MAX_NAMES = 10          # names in one sentence (targets, lures, software)
MAX_ACTORS = 5          # actors in "Diving into details"
MAX_INDICATORS = 20
MAX_INFERRED = 12       # technique ids listed per software named
MAX_SOFTWARE = 6        # software whose known techniques are listed


@dataclass
class Brief:
    """Everything a briefing shows, already defanged; rendering only escapes and lays it out."""

    id: str
    title: str
    subject: str
    tlp: str
    published: str | None
    source: str | None
    source_title: str | None
    undated: bool = False        # the report states no date: `published` is the day it was ingested
    details: list[Fact] = field(default_factory=list)          # the summary paragraph
    glance: list[tuple[str, str]] = field(default_factory=list)  # who, what, how sure, what to do
    campaign: list[Fact] = field(default_factory=list)
    timeline: list[Fact] = field(default_factory=list)
    techniques: list[TechniqueSeen] = field(default_factory=list)        # described in the report's own words
    # Known techniques of the software the report names (ATT&CK), not described by it: kept apart so that
    # "observed", the listing's counts and the site's heatmap never count a tool's whole ATT&CK entry.
    inferred: list[InferredFrom] = field(default_factory=list)
    indicators: list[Indicator] = field(default_factory=list)
    history_source: list[Fact] = field(default_factory=list)   # dated events before the campaign began
    history_kb: list[Fact] = field(default_factory=list)
    mitigations: list[Remedy] = field(default_factory=list)
    mitigations_more: int = 0
    # Whose techniques "Stay safe" covers: "observed" (the report's), "software" (ATT&CK's for the software it
    # names, when it describes none) or "actor" (ATT&CK's for the actor it names, when it names neither).
    basis: str = "observed"
    remedies_for: str | None = None      # "Mustang Panda (G0129)" or "the software named (…)"
    source_advice: list[Fact] = field(default_factory=list)   # what the report itself recommends
    detections: list[Remedy] = field(default_factory=list)
    detections_more: int = 0
    considered: list[Fact] = field(default_factory=list)
    hypotheses: list[Fact] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    actors: list[ActorSeen] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    campaigns: list[tuple[str, str | None]] = field(default_factory=list)   # (name, first seen) for timelines
    kb_used: bool = True
    # "+N more …" notes of the lists cut short, by section: timeline, history, indicators, software, hypotheses.
    notes: dict[str, str] = field(default_factory=dict)


def _names(items: list[dict[str, Any]], key: str = "name") -> list[str]:
    """The distinct names of items, first spelling kept ("Government" and "government" are one sector)."""
    out: dict[str, str] = {}
    for item in items:
        name = " ".join(str(item.get(key) or "").split())
        if name:
            out.setdefault(name.casefold(), name)
    return list(out.values())


def country_role(country: dict[str, Any]) -> str:
    """targeted / origin / mentioned; an analysis written before roles existed counts every country as a target."""
    role = str(country.get("role") or "targeted")
    return role if role in ("targeted", "origin", "mentioned") else "targeted"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "unnamed"


def _actor_key(kb: KnowledgeBase | None, actor: dict[str, Any]) -> tuple[str, str | None]:
    entity = resolve_entity(kb, actor) if kb is not None else None
    given = str(actor.get("attack_id") or "").upper()
    if entity is None and re.fullmatch(r"G\d{4}", given):
        entity = given   # no knowledge base to check it against; the id's shape is all that names a file
    if entity is None:
        return f"name-{_slug(str(actor.get('name') or ''))}", None
    return (f"misp-{entity[5:]}" if entity.startswith("misp:") else entity), entity


def _keys(items: Any) -> set[tuple[Any, ...]]:
    return {evidence_key(e) for e in items or [] if isinstance(e, dict)}


def _shown(names: list[str], limit: int = MAX_NAMES, joiner: str = "and") -> str:
    """Names as words, at most ``limit`` of them, the others counted."""
    cut = [*names[:limit], more_text(len(names) - limit)] if len(names) > limit else names
    return join_words(cut) if joiner == "and" else "; ".join(cut)


def _actors(a: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(a.get("actors") or [], key=lambda x: ROLE_ORDER.get(str(x.get("role")), 3))


def _details(a: dict[str, Any], subject: str, refs: References, brief: Brief) -> None:
    """The summary paragraph: what, against whom, since when, and whom the source names."""
    campaigns = a.get("campaigns") or []
    camp_keys = set().union(*(_keys(c.get("evidence")) for c in campaigns)) if campaigns else set()
    # Only sectors stated in the same sentences as the campaign are "its" targets here; the others (often the
    # actor's earlier victims) are listed under the campaign with their own evidence.
    sectors = [s for s in a.get("sectors") or [] if _keys(s.get("evidence")) & camp_keys]
    names = _names(sectors)
    what = f"{join_words(_names(campaigns))} is a campaign" if campaigns else f"The report {subject} describes activity"
    target = f" targeting the {_shown(names)} sector{'s' if len(names) > 1 else ''}" if names else ""
    numbers, more = refs.cite(*(c.get("evidence") for c in campaigns))
    brief.details.append(Fact(f"{what}{target}.", numbers, more=more))
    dates = {str(d.get("date")): d for d in a.get("dates") or [] if d.get("date")}
    for camp in (c for c in campaigns if c.get("first_seen")):
        when = dates.get(str(camp["first_seen"]))
        said = f"{when['text']} ({camp['first_seen']})" if when and when.get("text") else str(camp["first_seen"])
        numbers, more = refs.cite(when.get("evidence") if when else camp.get("evidence"))
        brief.details.append(Fact(f"The first activity of {camp['name']} was observed in {said}.", numbers, more=more))
    actors = _actors(a)
    for actor in actors[:MAX_ACTORS]:
        role = str(actor.get("role") or "mentioned")
        mentions = [m for m in _names([{"n": m} for m in actor.get("mentions") or []], "n") if m != actor["name"]]
        aka = f", also called {_shown(mentions)} in the source" if mentions else ""
        aid = f" ({actor['attack_id']})" if actor.get("attack_id") else ""
        words = ROLE_WORDS.get(role, "mentions")
        if role == "attributed" and _only_suspected(a, actor):     # "assess with moderate confidence ... linked to"
            words = "tentatively attributes the activity to"
        numbers, more = refs.cite(actor.get("evidence"))
        brief.details.append(Fact(f"The source {words} {actor['name']}{aid}{aka}.", numbers, more=more))
    if len(actors) > MAX_ACTORS:
        rest = _names(actors[MAX_ACTORS:])
        brief.details.append(Fact(f"It also mentions {_shown(rest, 3)}.", refs.cite(actors[MAX_ACTORS].get(
            "evidence"), limit=1)[0], more=len(actors) - MAX_ACTORS - 1))


def _only_suspected(a: dict[str, Any], actor: dict[str, Any]) -> bool:
    """Whether the source's attribution claims about ``actor`` are all hedged (none says "attributed")."""
    key = actor.get("attack_id") or actor.get("name")
    strengths = {c.get("strength") for c in a.get("claims") or []
                 if key and key in (c.get("attack_id"), c.get("actor"))} & {"attributed", "suspected"}
    return strengths == {"suspected"}


def _listed(brief: Brief, refs: References, label: str, items: list[dict[str, Any]], key: str = "text",
            joiner: str = "and") -> None:
    """One fact for a whole list (lures, goals, targets), its names capped, citing the names shown."""
    names = _names(items, key)
    if not names:
        return
    shown = {n.casefold() for n in names[:MAX_NAMES]}
    numbers, more = refs.cite(*(i.get("evidence") for i in items if " ".join(str(i.get(key)).split()).casefold()
                                in shown))
    brief.campaign.append(Fact(f"{label}: {_shown(names, joiner=joiner)}.", numbers, more=more))


def _campaign(a: dict[str, Any], kb: KnowledgeBase | None, refs: References, brief: Brief) -> None:
    _listed(brief, refs, "Lures", a.get("lures") or [], joiner=";")
    _listed(brief, refs, "Goals", a.get("goals") or [], joiner=";")
    _listed(brief, refs, "Malware used", a.get("capabilities") or [])   # generic malware named ("info stealers")
    software = a.get("software") or []
    if software:
        names: list[str] = []
        sw_refs: list[tuple[int, ...]] = []
        for sw in software[:MAX_NAMES]:
            obj = kb.by_attack_id.get(str(sw.get("attack_id") or "")) if kb is not None else None
            names.append(f"{sw['name']} ({sw['attack_id']})" if sw.get("attack_id") else str(sw["name"]))
            sw_refs.append(merge(refs.evidence_list(sw.get("evidence"), limit=1), (refs.attack(obj),) if obj else ()))
        shown = [*dict.fromkeys(names), *([more_text(len(software) - MAX_NAMES)] if len(software) > MAX_NAMES else [])]
        brief.campaign.append(Fact(f"Malware and tools: {join_words(shown)}.", merge(*sw_refs)))
    _listed(brief, refs, "Targeted sectors", a.get("sectors") or [], key="name")
    # Countries by role: only targets are victims; the actor's origin and countries merely mentioned (impersonated,
    # quoted, a vendor's home) are said as such, never as targets.
    for role, label in COUNTRY_ROLES:
        _listed(brief, refs, label, [c for c in a.get("countries") or [] if country_role(c) == role], key="name")
    _listed(brief, refs, "Targeted regions", a.get("regions") or [], key="name")
    dated = dated_events(a, refs)
    brief.timeline, brief.history_source = dated.timeline, dated.earlier
    brief.notes.update({k: v for k, v in (("timeline", dated.timeline_note), ("history", dated.earlier_note)) if v})
    if (not brief.published or brief.undated) and dated.published:
        # the report's own "Date:" line, when nothing else dates it (an older analysis, or only the ingest day)
        brief.published, brief.undated = dated.published, False
    _observed(a, kb, refs, brief)


def _software_label(source: str) -> str:
    """``software S0154 Cobalt Strike`` (a technique's source) as ``Cobalt Strike (S0154)``."""
    parts = source.split(" ", 2)
    if len(parts) == 3 and parts[1][:1] == "S" and parts[1][1:].isdigit():
        return f"{parts[2]} ({parts[1]})"
    return source.removeprefix("software").strip() or "named software"


def _observed(a: dict[str, Any], kb: KnowledgeBase | None, refs: References, brief: Brief) -> None:
    """Techniques (with their ATT&CK objects) and indicators (defanged), each citing its sentence."""
    by_software: dict[str, tuple[list[TechniqueSeen], list[Any]]] = {}
    for tech in a.get("techniques") or []:
        tid = str(tech.get("id") or "").upper()
        obj = kb.by_attack_id.get(tid) if kb is not None else None
        url = obj.url if obj is not None else ATTACK_TECHNIQUE_URL.format(tid.replace(".", "/"))
        name = str(tech.get("name") or (obj.name if obj else tid))
        if not tech.get("inferred"):
            numbers = refs.evidence_list(tech.get("evidence"))
            kb_ref = (refs.attack(obj),) if obj is not None else ()
            brief.techniques.append(TechniqueSeen(tid, name, tuple(tech.get("tactics") or ()), False, url,
                                                  merge(numbers, kb_ref)))
            continue
        # Known from the software's ATT&CK entry: cited once per software (its naming sentence), each id linked to
        # ATT&CK, so that a tool with 70 techniques does not add 70 references.
        seen = TechniqueSeen(tid, name, tuple(tech.get("tactics") or ()), True, url, ())
        for source in tech.get("sources") or ["software"]:
            if str(source).startswith("software"):
                items, naming = by_software.setdefault(_software_label(str(source)), ([], []))
                items.append(seen)
                naming.extend((tech.get("evidence") or [])[:1])
    ranked = sorted(by_software.items(), key=lambda kv: (-len(kv[1][0]), kv[0]))
    brief.inferred = [InferredFrom(name, tuple(items[:MAX_INFERRED]), refs.evidence_list(naming, limit=1),
                                   max(0, len(items) - MAX_INFERRED))
                      for name, (items, naming) in ranked[:MAX_SOFTWARE]]
    if len(ranked) > MAX_SOFTWARE:
        brief.notes["software"] = f"{more_text(len(ranked) - MAX_SOFTWARE, 'more software')} named, with " \
                                  f"{sum(len(i) for _, (i, _n) in ranked[MAX_SOFTWARE:])} known techniques."
    # Indicators nothing flags first: those are the ones to act on; the probably benign follow.
    iocs = sorted(a.get("iocs") or [], key=lambda i: bool(i.get("flags") or i.get("warninglists")))
    for ioc in iocs[:MAX_INDICATORS]:
        number = refs.evidence(where, reuse_sentence=True) if (where := _ioc_evidence(ioc)) else None
        flags = tuple(str(f) for f in ioc.get("flags") or []) + tuple(
            f"warning list: {w}" for w in ioc.get("warninglists") or [])
        brief.indicators.append(Indicator(str(ioc.get("type")), refs.defang(str(ioc.get("value"))),
                                          tuple(dict.fromkeys(flags)), (number,) if number else ()))
    if len(iocs) > MAX_INDICATORS:
        flagged = sum(1 for i in iocs[MAX_INDICATORS:] if i.get("flags") or i.get("warninglists"))
        brief.notes["indicators"] = (f"{more_text(len(iocs) - MAX_INDICATORS, 'more indicators')} ({flagged} "
                                     "flagged as probably benign): `threadline iocs` or an export lists them all.")


def _ioc_evidence(ioc: dict[str, Any]) -> dict[str, Any] | None:
    """An indicator's sentence as evidence: an evidence object {text, start, end, page, document} (the analysis
    shape since schema 2), or the sentence as a string with the indicator's own offsets (older analyses)."""
    sentence = ioc.get("sentence")
    if isinstance(sentence, dict):
        return sentence if sentence.get("text") or sentence.get("start") is not None else None
    if isinstance(sentence, str) and sentence.strip():
        return {"text": sentence, "start": ioc.get("start"), "end": ioc.get("end"), "page": ioc.get("page")}
    return None


def _remedies(a: dict[str, Any], kb: KnowledgeBase, entities: list[str], refs: References, brief: Brief) -> None:
    """Mitigations and detections for the techniques the report describes; when it describes none, for those
    ATT&CK records for the software it names, then for the actor it names (each labelled as such)."""
    techniques = a.get("techniques") or []
    observed = [t for t in techniques if not t.get("inferred")]
    if not observed and brief.inferred:
        observed = [t for t in techniques if t.get("inferred")]
        brief.basis = "software"
        brief.remedies_for = f"the software named ({_shown([i.software for i in brief.inferred], 3)})"
    elif not observed and entities and (group := kb.group(entities[0])) is not None:
        observed = [{"id": t.attack_id} for t, _ in kb.techniques_of(group.stix_id)]
        brief.basis = "actor"
        brief.remedies_for = f"{group.name} ({group.attack_id})"
    # Advice for what the report describes comes first and in full; for techniques it only implies, the top few.
    brief.mitigations, brief.mitigations_more, brief.detections, brief.detections_more = remedies(
        kb, observed, refs, limit=5 if brief.basis == "observed" else 3)


def build_brief(analysis: dict[str, Any], kb: KnowledgeBase | None, *, tlp: str | None = None,
                withheld: int = 0) -> Brief:
    """The briefing's data for one analysis; ``kb`` None leaves out history and mitigations (noted in the brief);
    ``withheld``: how many pieces of evidence citing reports above the briefing's marking were left out of the
    analysis (:func:`threadline.cli.common.within_marking`), said under "All things considered"."""
    a = check_analysis(analysis)
    doc = a["document"]
    level = marking(a, tlp)
    defang = Defanger(a.get("iocs") or [])
    source_title = str(doc.get("title") or "").strip() or None
    refs = References(defang, document=f"Source: {defang(source_title or str(doc.get('source') or 'the report'))}")
    campaigns = _names(a.get("campaigns") or [])
    subject = defang(join_words(campaigns) if campaigns else (source_title or str(doc.get("source") or "")))
    if not subject:
        raise InputError("the analysis has neither a campaign nor a document title or source", where="analysis")
    title_subject = re.sub(r"^What You Need to Know About\s+", "", subject)
    key = str(doc.get("sha256") or doc.get("source") or subject)
    brief = Brief(id=deterministic_id("briefing", key).split("--", 1)[1], title=f"What You Need to Know About "
                  f"{title_subject}", subject=title_subject, tlp=level, published=doc.get("published"),
                  undated=doc.get("date_basis") == "ingested",
                  source=defang(str(doc.get("source"))) if doc.get("source") else None,
                  source_title=defang(source_title) if source_title else None, kb_used=kb is not None)
    brief.sectors = _names(a.get("sectors") or [])
    brief.countries = _names([c for c in a.get("countries") or [] if country_role(c) == "targeted"]) \
        + _names(a.get("regions") or [])
    brief.campaigns = [(defang(str(c["name"])), str(c["first_seen"]) if c.get("first_seen") else None)
                       for c in a.get("campaigns") or []]
    _details(a, subject, refs, brief)
    _campaign(a, kb, refs, brief)
    actors = a.get("actors") or []
    for actor in actors:
        page_key, entity = _actor_key(kb, actor)
        said = tuple(dict.fromkeys(str(m) for m in [actor["name"], *(actor.get("mentions") or [])] if m))
        brief.actors.append(ActorSeen(page_key, str(actor["name"]), entity if entity and entity[0] == "G" else None,
                                      str(actor.get("role") or "mentioned"), said))
    if kb is not None:
        entities: list[str] = []
        for actor in actors:
            if actor.get("role") in ("attributed", "named"):
                entity = resolve_entity(kb, actor)
                if entity is not None and entity not in entities:
                    entities.append(entity)
        techniques = a.get("techniques") or []
        for entity in entities:
            brief.history_kb.extend(actor_history(kb, entity, techniques, refs, brief.published))
        _remedies(a, kb, entities, refs, brief)
    considered(a, kb, refs, brief)
    if withheld:
        from threadline.store.citations import withheld_line

        brief.notes["withheld"] = withheld_line(withheld, level) + "."
    brief.glance = at_a_glance(a, brief)
    brief.references = refs.items
    _defang_all(brief, defang)
    return brief


def _defang_all(brief: Brief, defang: Defanger) -> None:
    """Every string built from report (or knowledge-base) text shown defanged, whatever section it landed in."""
    for name in ("details", "campaign", "timeline", "history_source", "history_kb", "considered", "hypotheses",
                 "source_advice"):
        facts: list[Fact] = getattr(brief, name)
        facts[:] = [replace(f, text=defang(f.text), quote=defang(f.quote) if f.quote else None) for f in facts]
    brief.glance = [(label, defang(text)) for label, text in brief.glance]
    brief.notes = {k: defang(v) for k, v in brief.notes.items()}
    brief.techniques = [replace(t, name=defang(t.name)) for t in brief.techniques]
    brief.inferred = [replace(i, software=defang(i.software),
                              techniques=tuple(replace(t, name=defang(t.name)) for t in i.techniques))
                      for i in brief.inferred]
    brief.actors = [replace(a, name=defang(a.name), mentions=tuple(defang(m) for m in a.mentions))
                    for a in brief.actors]
    brief.sectors = [defang(s) for s in brief.sectors]
    brief.countries = [defang(c) for c in brief.countries]
    for name in ("mitigations", "detections"):
        remedies_: list[Remedy] = getattr(brief, name)
        remedies_[:] = [replace(r, summary=defang(r.summary), how=tuple((t, defang(h)) for t, h in r.how))
                        for r in remedies_]


def render_brief(brief: Brief, fmt: str = "md", *, site_root: str | None = None) -> str:
    """The briefing as Markdown or a standalone HTML page (``site_root``: relative path to the site's index)."""
    if fmt == "md":
        return md_env().get_template("brief.md.j2").render(brief=brief)
    if fmt == "html":
        return html_env().get_template("brief.html.j2").render(brief=brief, root=site_root)
    raise InputError(f"unknown briefing format {fmt!r} (expected md or html)", where="--format")
