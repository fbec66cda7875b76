"""A briefing in the seed's shape, built from one analysis and the knowledge base: details, the campaign, a pinch
of history, how to stay safe, and all things considered — every fact citing numbered references."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from threadline.errors import InputError
from threadline.export.common import check_analysis, normalise_tlp
from threadline.knowledge.base import KnowledgeBase
from threadline.model import deterministic_id
from threadline.publish.facts import (
    ActorSeen,
    Fact,
    Indicator,
    InferredFrom,
    Reference,
    References,
    TechniqueSeen,
    join_words,
    merge,
)
from threadline.publish.history import actor_history, resolve_entity
from threadline.publish.render import Defanger, html_env, likelihood, md_env, percent
from threadline.publish.staysafe import Remedy, remedies

WEAK_LEAD = 0.45        # below ICD-203 "roughly even chance": the engine's leader is itself unlikely
ATTACK_TECHNIQUE_URL = "https://attack.mitre.org/techniques/{}/"
STRENGTH_WORDS = {"attributed": "attributes the activity to", "suspected": "suspects",
                  "overlaps": "reports overlaps with", "denied": "rejects a link to",
                  "unknown": "mentions, without attributing the activity to it,"}
ROLE_WORDS = {"attributed": "attributes the activity to", "named": "names", "mentioned": "mentions"}


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
    details: list[Fact] = field(default_factory=list)
    campaign: list[Fact] = field(default_factory=list)
    timeline: list[Fact] = field(default_factory=list)
    techniques: list[TechniqueSeen] = field(default_factory=list)        # described in the report's own words
    # Known techniques of the software the report names (ATT&CK), not described by it: kept apart so that
    # "observed", the listing's counts and the site's heatmap never count a tool's whole ATT&CK entry.
    inferred: list[InferredFrom] = field(default_factory=list)
    indicators: list[Indicator] = field(default_factory=list)
    history_source: list[Fact] = field(default_factory=list)
    history_kb: list[Fact] = field(default_factory=list)
    mitigations: list[Remedy] = field(default_factory=list)
    mitigations_more: int = 0
    # Whose techniques "Stay safe" covers: the report's own, or (when it names none) those ATT&CK records for the
    # actor it names, e.g. "Mustang Panda (G0129)".
    remedies_for: str | None = None
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


def _names(items: list[dict[str, Any]], key: str = "name") -> list[str]:
    return list(dict.fromkeys(str(i[key]).strip() for i in items if str(i.get(key) or "").strip()))


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


def _details(a: dict[str, Any], subject: str, refs: References, brief: Brief) -> None:
    campaigns = a.get("campaigns") or []
    camp_refs = merge(*(refs.evidence_list(c.get("evidence")) for c in campaigns))
    # Only sectors stated in the same sentences as the campaign are "its" targets here; the others (often the
    # actor's earlier victims) are listed under the campaign with their own evidence.
    sectors = [s for s in a.get("sectors") or []
               if set(refs.evidence_list(s.get("evidence"))) & set(camp_refs)] if campaigns else []
    names = _names(sectors)
    what = f"{join_words(_names(campaigns))} is a campaign" if campaigns else f"The report {subject} describes activity"
    target = f" targeting the {join_words(names)} sector{'s' if len(names) > 1 else ''}" if names else ""
    brief.details.append(Fact(f"{what}{target}.", camp_refs))
    first = [c for c in campaigns if c.get("first_seen")]
    dates = {str(d.get("date")): d for d in a.get("dates") or [] if d.get("date")}
    for camp in first:
        when = dates.get(str(camp["first_seen"]))
        said = f"{when['text']} ({camp['first_seen']})" if when and when.get("text") else str(camp["first_seen"])
        ev = refs.evidence_list(when.get("evidence")) if when else refs.evidence_list(camp.get("evidence"))
        brief.details.append(Fact(f"The first activity of {camp['name']} was observed in {said}.", ev))
    for actor in a.get("actors") or []:
        role = str(actor.get("role") or "mentioned")
        mentions = [m for m in _names([{"n": m} for m in actor.get("mentions") or []], "n") if m != actor["name"]]
        aka = f", also called {join_words(mentions)} in the source" if mentions else ""
        aid = f" ({actor['attack_id']})" if actor.get("attack_id") else ""
        words = ROLE_WORDS.get(role, "mentions")
        if role == "attributed" and _only_suspected(a, actor):     # "assess with moderate confidence ... linked to"
            words = "tentatively attributes the activity to"
        brief.details.append(Fact(f"The source {words} {actor['name']}{aid}{aka}.",
                                  refs.evidence_list(actor.get("evidence"))))


def _only_suspected(a: dict[str, Any], actor: dict[str, Any]) -> bool:
    """Whether the source's attribution claims about ``actor`` are all hedged (none says "attributed")."""
    key = actor.get("attack_id") or actor.get("name")
    strengths = {c.get("strength") for c in a.get("claims") or []
                 if key and key in (c.get("attack_id"), c.get("actor"))} & {"attributed", "suspected"}
    return strengths == {"suspected"}


def _campaign(a: dict[str, Any], kb: KnowledgeBase | None, refs: References, brief: Brief) -> None:
    for lure in a.get("lures") or []:
        brief.campaign.append(Fact(f"Lure: {lure.get('text')}.", refs.evidence_list(lure.get("evidence"))))
    for goal in a.get("goals") or []:
        brief.campaign.append(Fact(f"Goal: {goal.get('text')}.", refs.evidence_list(goal.get("evidence"))))
    for capability in a.get("capabilities") or []:   # generic malware the source names ("info stealers")
        brief.campaign.append(Fact(f"Malware used: {capability.get('text')}.",
                                   refs.evidence_list(capability.get("evidence"))))
    software = a.get("software") or []
    if software:
        names: list[str] = []
        sw_refs: list[tuple[int, ...]] = []
        for sw in software:
            obj = kb.by_attack_id.get(str(sw.get("attack_id") or "")) if kb is not None else None
            names.append(f"{sw['name']} ({sw['attack_id']})" if sw.get("attack_id") else str(sw["name"]))
            sw_refs.append(merge(refs.evidence_list(sw.get("evidence")), (refs.attack(obj),) if obj else ()))
        brief.campaign.append(Fact(f"Malware and tools: {join_words(names)}.", merge(*sw_refs)))
    for key in ("sectors", "countries", "regions"):
        items = a.get(key) or []
        if items:
            numbers = merge(*(refs.evidence_list(i.get("evidence")) for i in items))
            brief.campaign.append(Fact(f"Targeted {key}: {join_words(_names(items))}.", numbers))
    _timeline(a, refs, brief)
    _observed(a, kb, refs, brief)


def _timeline(a: dict[str, Any], refs: References, brief: Brief) -> None:
    """Dated events, oldest first; those other than the campaign's start are also the source's own history."""
    campaign_start = {str(c.get("first_seen")) for c in a.get("campaigns") or [] if c.get("first_seen")}
    for item in sorted(a.get("dates") or [], key=lambda d: (str(d.get("date") or ""), str(d.get("text") or ""))):
        numbers = refs.evidence_list(item.get("evidence"))
        quote = " ".join(str(e.get("text") or "") for e in item.get("evidence") or [] if isinstance(e, dict))
        event = str(item.get("event") or "activity reported")
        fact = Fact(f"{item.get('text') or item.get('date')}: {event}.", numbers, refs.defang(quote) or None,
                    str(item.get("date") or "") or None)
        brief.timeline.append(fact)
        if str(item.get("date")) not in campaign_start:
            brief.history_source.append(fact)


def _software_label(source: str) -> str:
    """``software S0154 Cobalt Strike`` (a technique's source) as ``Cobalt Strike (S0154)``."""
    parts = source.split(" ", 2)
    if len(parts) == 3 and parts[1][:1] == "S" and parts[1][1:].isdigit():
        return f"{parts[2]} ({parts[1]})"
    return source.removeprefix("software").strip() or "named software"


def _observed(a: dict[str, Any], kb: KnowledgeBase | None, refs: References, brief: Brief) -> None:
    """Techniques (with their ATT&CK objects) and indicators (defanged), each citing its sentence."""
    by_software: dict[str, tuple[list[TechniqueSeen], list[int]]] = {}
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
        naming = refs.evidence_list((tech.get("evidence") or [])[:1])
        for source in tech.get("sources") or ["software"]:
            if str(source).startswith("software"):
                items, numbers_of = by_software.setdefault(_software_label(str(source)), ([], []))
                items.append(seen)
                numbers_of.extend(n for n in naming if n not in numbers_of)
    brief.inferred = [InferredFrom(name, tuple(items), tuple(numbers)) for name, (items, numbers) in
                      sorted(by_software.items(), key=lambda kv: (-len(kv[1][0]), kv[0]))]
    for ioc in a.get("iocs") or []:
        where = {"text": ioc.get("sentence"), "start": ioc.get("start"), "end": ioc.get("end"),
                 "page": ioc.get("page")}
        number = refs.evidence(where, reuse_sentence=True) if ioc.get("sentence") else None
        flags = tuple(str(f) for f in ioc.get("flags") or []) + tuple(
            f"warning list: {w}" for w in ioc.get("warninglists") or [])
        brief.indicators.append(Indicator(str(ioc.get("type")), refs.defang(str(ioc.get("value"))),
                                          tuple(dict.fromkeys(flags)), (number,) if number else ()))


def _confidence_words(conf: Any) -> str | None:
    if isinstance(conf, str):
        return conf
    if isinstance(conf, dict):
        if conf.get("words"):
            return str(conf["words"])
        if conf.get("level"):
            return f"{conf['level']} confidence"
    return None


def _considered(a: dict[str, Any], kb: KnowledgeBase | None, refs: References, brief: Brief) -> None:
    for item in a.get("advice") or []:
        brief.source_advice.append(Fact(f"The source recommends {item.get('text')}.",
                                        refs.evidence_list(item.get("evidence"))))
    for item in a.get("assessments") or []:
        brief.considered.append(Fact(f"The source assesses: {item.get('text')}.",
                                     refs.evidence_list(item.get("evidence"))))
    claimed: set[str] = set()
    for claim in a.get("claims") or []:
        ev = refs.evidence_list(claim.get("evidence"))
        basis = [str(b) for b in claim.get("basis") or []]
        on = f" on the basis of {join_words(basis)}" if basis else ""
        verb = STRENGTH_WORDS.get(str(claim.get("strength")), "mentions")
        said = (f"The source {verb} {claim.get('actor')}{on}." if claim.get("actor")
                else "The source does not attribute the activity to any known actor.")
        brief.considered.append(Fact(said, ev))
        for caveat in claim.get("caveats") or []:
            brief.considered.append(Fact(f"Caveat stated by the source: {caveat}.", ev))
        if claim.get("attack_id"):
            claimed.add(str(claim["attack_id"]).upper())
    attribution = a.get("attribution") or {}
    candidates = sorted(attribution.get("candidates") or [], key=lambda c: -float(c.get("probability") or 0))
    words = _confidence_words(attribution.get("confidence"))
    if candidates:
        top = candidates[0]
        brief.considered.append(_candidate_fact(top, kb, refs, words, lead=True))
        top_id = str(top.get("attack_id") or "").upper()
        if claimed and top_id:
            p = float(top.get("probability") or 0)
            if top_id in claimed:
                said = "The engine's leading hypothesis agrees with the source's attribution."
            elif p < WEAK_LEAD:
                # An "unlikely" leader is no counter-claim: the engine favours nobody, it does not contradict.
                said = (f"The engine favours no actor (its leading candidate is {likelihood(p)}): the evidence it "
                        "could weigh neither supports nor contradicts the source's attribution.")
            else:
                said = "The engine's leading hypothesis differs from the source's attribution; treat both with caution."
            brief.considered.append(Fact(said, brief.considered[-1].refs))
        for other in candidates[1:]:
            brief.hypotheses.append(_candidate_fact(other, kb, refs, None, lead=False))
    elif attribution:
        brief.considered.append(Fact("The attribution engine found no candidate in the knowledge base."))
    unknown = attribution.get("unknown_probability")
    if isinstance(unknown, int | float):
        brief.hypotheses.append(Fact(f"An actor not in the knowledge base: {likelihood(unknown)} "
                                     f"({percent(unknown)})."))
    conf = attribution.get("confidence")
    for reason in (conf.get("reasons") or conf.get("caveats") or []) if isinstance(conf, dict) else []:
        brief.considered.append(Fact(f"Caveat on confidence: {reason}."))
    for item in attribution.get("disagreements") or []:
        text = item if isinstance(item, str) else (item.get("text") or item.get("message") or item.get("reason"))
        if text:
            brief.considered.append(Fact(f"Disagreement: {text}."))


def _shared_label(item: Any) -> str:
    """"T1070.003 Clear Command History", "country MM", "sector Higher education" for one shared observation."""
    if not isinstance(item, dict):
        return str(item)
    kind, ident, name = str(item.get("kind") or ""), str(item.get("id") or ""), str(item.get("name") or "")
    if kind in ("technique", "software"):
        return f"{ident} {name}".strip() if name and name != ident else ident
    return f"{kind} {name or ident}".strip()


def _candidate_fact(cand: dict[str, Any], kb: KnowledgeBase | None, refs: References, words: str | None,
                    *, lead: bool) -> Fact:
    aid = str(cand.get("attack_id") or "").upper()
    obj = kb.by_attack_id.get(aid) if kb is not None and aid else None
    numbers = [refs.attack(obj)] if obj is not None else []
    ev = cand.get("evidence") or {}
    items = ev.get("shared") or [] if isinstance(ev, dict) else []
    # The engine gives each shared item as {kind, id, name}; older analyses give bare ids or names.
    ids = [str(s.get("id") if isinstance(s, dict) else s) for s in items]
    shared = [_shared_label(s) for s in items]
    for sid in ids:
        other = kb.by_attack_id.get(sid.upper()) if kb is not None else None
        if other is not None:
            numbers.append(refs.attack(other))
    p = float(cand.get("probability") or 0.0)
    who = f"{cand.get('name')} ({aid})" if aid else str(cand.get("name"))
    basis = f", on shared {join_words(shared)}" if shared else ""
    if lead:
        conf = f" with {words}" if words else ""
        text = f"Threadline's attribution engine assesses{conf} that the activity is {likelihood(p)} " \
               f"({percent(p)}) to be the work of {who}{basis}."
    else:
        text = f"{who}: {likelihood(p)} ({percent(p)}){basis}."
    return Fact(text, tuple(dict.fromkeys(numbers)))


def build_brief(analysis: dict[str, Any], kb: KnowledgeBase | None, *, tlp: str | None = None) -> Brief:
    """The briefing's data for one analysis; ``kb`` None leaves out history and mitigations (noted in the brief)."""
    a = check_analysis(analysis)
    doc = a["document"]
    level = normalise_tlp(tlp or a.get("tlp") or (doc.get("tlp") if isinstance(doc.get("tlp"), str) else None))
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
                  source=defang(str(doc.get("source"))) if doc.get("source") else None,
                  source_title=defang(source_title) if source_title else None, kb_used=kb is not None)
    brief.sectors = _names(a.get("sectors") or [])
    brief.countries = _names(a.get("countries") or []) + _names(a.get("regions") or [])
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
        entities = []
        for actor in actors:
            if actor.get("role") in ("attributed", "named"):
                entity = resolve_entity(kb, actor)
                if entity is not None and entity not in entities:
                    entities.append(entity)
        for entity in entities:
            brief.history_kb.extend(actor_history(kb, entity, a.get("techniques") or [], refs, doc.get("published")))
        observed = [t for t in a.get("techniques") or [] if not t.get("inferred")] or a.get("techniques") or []
        if not observed and entities and kb.group(entities[0]) is not None:
            group = kb.group(entities[0])
            assert group is not None
            observed = [{"id": t.attack_id} for t, _ in kb.techniques_of(group.stix_id)]
            brief.remedies_for = f"{group.name} ({group.attack_id})"
        brief.mitigations, brief.mitigations_more, brief.detections, brief.detections_more = remedies(
            kb, observed, refs)
    _considered(a, kb, refs, brief)
    brief.references = refs.items
    _defang_all(brief, defang)
    return brief


def _defang_all(brief: Brief, defang: Defanger) -> None:
    """Every string built from report (or knowledge-base) text shown defanged, whatever section it landed in."""
    for name in ("details", "campaign", "timeline", "history_source", "history_kb", "considered", "hypotheses",
                 "source_advice"):
        facts: list[Fact] = getattr(brief, name)
        facts[:] = [replace(f, text=defang(f.text), quote=defang(f.quote) if f.quote else None) for f in facts]
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
