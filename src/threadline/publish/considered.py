"""The briefing's judgement. At a glance, as the seed opens: who is behind it, what happened, how sure we are and
what to do, each line summarising cited facts further down. "All things considered": what the source claims (one
line per actor and strength, with its bases and caveats), the attribution engine's leading hypothesis in ICD-203
words, whether the two agree, the engine's caveats, and the competing hypotheses (the strongest few; the rest
counted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from threadline.knowledge.base import KnowledgeBase
from threadline.publish.facts import Fact, References, capped, join_words, merge, more_text
from threadline.publish.render import likelihood, percent

if TYPE_CHECKING:
    from threadline.publish.brief import Brief

THIN_SAID = "the report's evidence is too thin to test its attribution"
WEAK_LEAD = 0.45        # below ICD-203 "roughly even chance": the engine's leader is itself unlikely
MAX_HYPOTHESES = 3      # competing candidates listed; the others are counted with their highest probability
STRENGTH_WORDS = {"attributed": "attributes the activity to", "suspected": "suspects",
                  "overlaps": "reports overlaps with", "denied": "rejects a link to",
                  "unknown": "mentions, without attributing the activity to it,"}


def confidence_words(conf: Any) -> str | None:
    """"low confidence" from the engine's confidence object (or a bare string from older analyses)."""
    if isinstance(conf, str):
        return conf
    if isinstance(conf, dict):
        if conf.get("words"):
            return str(conf["words"])
        level = conf.get("level") or conf.get("analytic_confidence")
        if level:
            return f"{level} confidence"
    return None


def chance(probability: float) -> str:
    """"it is likely (66%)" or "there is a roughly even chance (48%)": ICD-203 words in a sentence."""
    words, pct = likelihood(probability), percent(probability)
    if words == "almost no chance":
        return f"there is almost no chance ({pct})"
    if words.endswith("chance"):
        return f"there is a {words} ({pct})"
    return f"it is {words} ({pct})"


def _claims(a: dict[str, Any], refs: References, brief: Brief) -> set[str]:
    """One line per (actor, strength) the source states, bases and caveats merged; the ids it claims."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for claim in a.get("claims") or []:
        key = (str(claim.get("actor") or ""), str(claim.get("strength") or ""))
        into = merged.setdefault(key, {"basis": [], "caveats": [], "evidence": [], "attack_id": None})
        into["basis"] += [str(b) for b in claim.get("basis") or [] if str(b) not in into["basis"]]
        into["caveats"] += [str(c) for c in claim.get("caveats") or [] if str(c) not in into["caveats"]]
        into["evidence"] += list(claim.get("evidence") or [])
        into["attack_id"] = into["attack_id"] or claim.get("attack_id")
    claimed: set[str] = set()
    for (actor, strength), claim in merged.items():
        numbers, more = refs.cite(claim["evidence"])
        on = f" on the basis of {join_words(claim['basis'])}" if claim["basis"] else ""
        verb = STRENGTH_WORDS.get(strength, "mentions")
        said = (f"The source {verb} {actor}{on}." if actor
                else "The source does not attribute the activity to any known actor.")
        brief.considered.append(Fact(said, numbers, more=more))
        for caveat in claim["caveats"]:
            brief.considered.append(Fact(f"Caveat stated by the source: {caveat}.", numbers))
        if claim["attack_id"] and strength in ("attributed", "suspected"):
            claimed.add(str(claim["attack_id"]).upper())
    return claimed


def considered(a: dict[str, Any], kb: KnowledgeBase | None, refs: References, brief: Brief) -> None:
    for item in a.get("advice") or []:
        numbers, more = refs.cite(item.get("evidence"))
        brief.source_advice.append(Fact(f"The source recommends {item.get('text')}.", numbers, more=more))
    for item in a.get("assessments") or []:
        numbers, more = refs.cite(item.get("evidence"))
        brief.considered.append(Fact(f"The source assesses: {item.get('text')}.", numbers, more=more))
    claimed = _claims(a, refs, brief)
    attribution = a.get("attribution") or {}
    candidates = sorted(attribution.get("candidates") or [], key=lambda c: -float(c.get("probability") or 0))
    words = confidence_words(attribution.get("confidence"))
    thin = attribution.get("outcome") == "insufficient_evidence"
    if thin:
        # Too thin to tell: no rival is named, in the lead or among the hypotheses; the claim stays untested.
        reason = str(attribution.get("outcome_reason") or "").rstrip(".")
        brief.considered.append(Fact(f"{THIN_SAID[:1].upper()}{THIN_SAID[1:]}" + (f": {reason}." if reason else ".")))
        if candidates:
            top_p = percent(float(candidates[0].get("probability") or 0))
            brief.notes["hypotheses"] = (f"{len(candidates)} group{'s' if len(candidates) != 1 else ''} share some "
                                         f"of that evidence, none above {top_p}; none is named, as the evidence is "
                                         "too thin to tell them apart.")
        candidates = []
    for test in attribution.get("claim_tests") or []:
        if isinstance(test, dict):
            brief.considered.append(_claim_test_fact(test, kb, refs, places_of(a)))
    if candidates:
        top = candidates[0]
        brief.considered.append(_candidate_fact(a, top, kb, refs, words, lead=True))
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
        others = candidates[1:]
        for other in others[:MAX_HYPOTHESES]:
            brief.hypotheses.append(_candidate_fact(a, other, kb, refs, None, lead=False))
        rest = others[MAX_HYPOTHESES:]
        if rest:
            brief.notes["hypotheses"] = (f"{more_text(len(rest), 'more candidates')}, none above "
                                         f"{percent(max(float(c.get('probability') or 0) for c in rest))}.")
    elif attribution and not thin:
        brief.considered.append(Fact("The attribution engine found no candidate in the knowledge base."))
    unknown = attribution.get("unknown_probability")
    if isinstance(unknown, int | float):
        brief.hypotheses.append(Fact(f"An actor not in the knowledge base: {likelihood(unknown)} "
                                     f"({percent(unknown)})."))
    conf = attribution.get("confidence")
    for reason in (conf.get("reasons") or conf.get("caveats") or []) if isinstance(conf, dict) and not thin else []:
        brief.considered.append(Fact(f"Caveat on confidence: {reason}."))
    for item in attribution.get("disagreements") or []:
        text = item if isinstance(item, str) else (item.get("text") or item.get("message") or item.get("reason"))
        if text:
            brief.considered.append(Fact(f"Disagreement: {text}."))


def places_of(a: dict[str, Any]) -> dict[str, str]:
    return {str(c.get("code") or "").upper(): str(c.get("name")) for c in a.get("countries") or [] if c.get("name")}


def _claim_test_fact(test: dict[str, Any], kb: KnowledgeBase | None, refs: References,
                     places: dict[str, str]) -> Fact:
    """"Test of the source's claim (RedDelta / TA416, Mustang Panda G0129): untestable from this text ...": the
    verdict, what is shared and distinctive (and why), the hallmarks missing, the ratio against the best rival."""
    aid = str(test.get("attack_id") or "")
    obj = kb.by_attack_id.get(aid) if kb is not None and aid else None
    actor = str(test.get("actor") or "")
    said = actor if obj is None or obj.name not in actor.split(" / ") else ""
    who = ", ".join(x for x in (said, f"{obj.name} ({aid})" if obj is not None else aid) if x)
    verdict, reason = str(test.get("verdict") or ""), str(test.get("reason") or "")
    parts = [f"Test of the source's claim ({who}): " + (reason if reason.startswith(verdict) else
                                                         f"{verdict}: {reason}")]
    distinctive = [f"{_shared_label(d, places)} ({d.get('why')}){_linked_by(d)}"
                   for d in test.get("distinctive") or [] if isinstance(d, dict)]
    shared = [_shared_label(d, places) + _linked_by(d) for d in test.get("shared") or [] if isinstance(d, dict)]
    if distinctive:
        parts.append(f"distinctive evidence shared: {join_words(capped(distinctive, 4))}")
    elif shared:
        parts.append(f"shared, none of it distinctive: {join_words(capped(shared, 5))}")
    missing = [_shared_label(m, places) for m in test.get("missing") or [] if isinstance(m, dict)]
    if missing:
        parts.append(f"expected from its profile but not in the report: {join_words(capped(missing, 4))}")
    if test.get("comparison"):
        parts.append(str(test["comparison"]))
    return Fact("; ".join(parts) + ".", (refs.attack(obj),) if obj is not None else ())


def _shared_label(item: Any, places: dict[str, str]) -> str:
    """"T1070.003 Clear Command History", "Myanmar", "sector Higher education" for one shared observation."""
    if not isinstance(item, dict):
        return str(item)
    kind, ident, name = str(item.get("kind") or ""), str(item.get("id") or ""), str(item.get("name") or "")
    if kind in ("technique", "software"):
        return f"{ident} {name}".strip() if name and name != ident else ident
    if kind == "country":
        return places.get(ident.upper()) or name or ident
    return f"{kind} {name or ident}".strip()


def _why(item: Any) -> str:
    """" (distinctive: 1 of 172 groups use it)" after a distinctive shared item: what made it distinctive; and
    where the group's side of it comes from when not from ATT&CK (a galaxy, a stored analysis: attribute/known.py)."""
    out = ""
    if isinstance(item, dict) and item.get("level") == "distinctive" and item.get("why"):
        out = f" (distinctive: {item['why']})"
    return out + _linked_by(item)


def _linked_by(item: Any) -> str:
    """" (linked to the group by MISP tool galaxy: ..., and 2 more)" for evidence held outside ATT&CK."""
    sources = item.get("source") if isinstance(item, dict) else None
    if not isinstance(sources, list) or not sources:
        return ""
    more = f", and {len(sources) - 1} more" if len(sources) > 1 else ""
    return f" (linked to the group by {sources[0]}{more}, not by ATT&CK)"


def _candidate_fact(a: dict[str, Any], cand: dict[str, Any], kb: KnowledgeBase | None, refs: References,
                    words: str | None, *, lead: bool) -> Fact:
    aid = str(cand.get("attack_id") or "").upper()
    obj = kb.by_attack_id.get(aid) if kb is not None and aid else None
    numbers = [refs.attack(obj)] if obj is not None else []
    ev = cand.get("evidence") or {}
    items = ev.get("shared") or [] if isinstance(ev, dict) else []
    places = places_of(a)
    # The engine gives each shared item as {kind, id, name}; older analyses give bare ids or names. The same item
    # can come twice (a sector named by two words): listed once.
    shared = list(dict.fromkeys(_shared_label(s, places) + (_why(s) if lead else _linked_by(s)) for s in items))
    for sid in dict.fromkeys(str(s.get("id") if isinstance(s, dict) else s) for s in items):
        other = kb.by_attack_id.get(sid.upper()) if kb is not None else None
        if other is not None:
            numbers.append(refs.attack(other))
    p = float(cand.get("probability") or 0.0)
    who = f"{cand.get('name')} ({aid})" if aid else str(cand.get("name"))
    basis = f", on shared {join_words(shared)}" if shared else ""
    words_match = ev.get("text") if isinstance(ev, dict) else None
    if isinstance(words_match, dict) and words_match.get("terms"):
        # the opt-in text channel (attribute/textual.py): terms come defanged from the engine
        terms = join_words([str(t) for t in list(words_match["terms"])[:4]])
        basis += f"{';' if basis else ','} the report's words closer to its ATT&CK dossier than to most groups' " \
                 f"({terms})"
    if lead:
        conf = f" with {words}" if words else ""
        text = f"Threadline's attribution engine assesses{conf} that {chance(p)} that the activity is the work " \
               f"of {who}{basis}."
    else:
        text = f"{who}: {likelihood(p)} ({percent(p)}){basis}."
    return Fact(text, merge(numbers))


# ---- at a glance ----------------------------------------------------------------------------------------
VERBS = {"attributed": "attributes it to", "named": "names", "mentioned": "mentions"}


def _who(a: dict[str, Any], brief: Brief) -> str:
    parts = []
    for role in ("attributed", "named"):
        names = [f"{x.name} ({x.attack_id})" if x.attack_id else x.name for x in brief.actors if x.role == role]
        if names:
            parts.append(f"the source {VERBS[role]} {join_words(capped(names, 3))}")
            break
    if not parts:
        parts.append("the source names no actor")
    candidates = sorted((a.get("attribution") or {}).get("candidates") or [],
                        key=lambda c: -float(c.get("probability") or 0))
    if (a.get("attribution") or {}).get("outcome") == "insufficient_evidence":
        parts.append("Threadline's engine finds the report's evidence too thin to test its attribution (no group "
                     "above \"very unlikely\")")
    elif candidates:
        top = candidates[0]
        who = f"{top.get('name')} ({top.get('attack_id')})" if top.get("attack_id") else str(top.get("name"))
        p = float(top.get("probability") or 0)
        unknown = (a.get("attribution") or {}).get("unknown_probability")
        if isinstance(unknown, int | float) and unknown > p:
            # The engine's best known candidate is not its best hypothesis: saying only the former would mislead.
            parts.append(f"Threadline's engine finds an actor not in its knowledge base more probable "
                         f"({likelihood(unknown)}, {percent(unknown)}) than its best candidate, {who} "
                         f"({likelihood(p)}, {percent(p)})")
        else:
            parts.append(f"Threadline's engine leads with {who} ({likelihood(p)}, {percent(p)})")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def _what(brief: Brief) -> str:
    what = f"the campaign {join_words([n for n, _ in brief.campaigns])}" if brief.campaigns else "activity"
    against = f" against {join_words(capped(brief.sectors, 3))}" if brief.sectors else ""
    n = len(brief.techniques)
    counts = [f"{n} technique{'s' if n != 1 else ''} observed" if n else "no technique described"]
    if brief.inferred:
        counts.append(f"{len(brief.inferred)} known tool{'s' if len(brief.inferred) != 1 else ''} named")
    total = len(brief.indicators) + _count(brief.notes.get("indicators"))
    if total:
        counts.append(f"{total} indicator{'s' if total != 1 else ''}")
    return f"{what[:1].upper()}{what[1:]}{against}: {join_words(counts)}."


def _count(note: str | None) -> int:
    """The N of a "+N more …" note."""
    head = (note or "").split(" ", 1)[0]
    return int(head[1:]) if head[:1] == "+" and head[1:].isdigit() else 0


def _how_sure(a: dict[str, Any], brief: Brief) -> str:
    conf = confidence_words((a.get("attribution") or {}).get("confidence"))
    parts = [f"the engine's analytic confidence is {conf.removesuffix(' confidence')}" if conf else
             "the engine gives no confidence"]
    agreement = next((f.text for f in brief.considered if f.text.startswith("The engine")), "")
    if "agrees" in agreement:
        parts.append("it agrees with the source")
    elif "differs" in agreement:
        parts.append("it differs from the source")
    elif "favours no actor" in agreement:
        parts.append("it favours no actor")
    caveats = sum(1 for f in brief.considered if f.text.startswith("Caveat stated by the source"))
    if caveats:
        parts.append(f"the source states {caveats} caveat{'s' if caveats != 1 else ''}")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def _to_do(brief: Brief) -> str:
    steps = []
    if brief.source_advice:
        steps.append("follow the source's advice")
    if brief.mitigations:
        steps.append("apply " + join_words(capped([f"{m.attack_id} {m.name}" for m in brief.mitigations], 2)))
    if brief.detections:
        detections = join_words(capped([d.attack_id for d in brief.detections], 2))
        steps.append(f"watch with detection strategies {detections}")
    live = sum(1 for i in brief.indicators if not i.flags)
    if live:
        steps.append(f"hunt for the {live} indicator{'s' if live != 1 else ''} nothing flags as benign")
    text = "; ".join(steps) or "nothing specific: the report names no technique, indicator or advice"
    return text[:1].upper() + text[1:] + "."


def at_a_glance(a: dict[str, Any], brief: Brief) -> list[tuple[str, str]]:
    return [("Who", _who(a, brief)), ("What", _what(brief)), ("How sure", _how_sure(a, brief)),
            ("What to do", _to_do(brief))]
