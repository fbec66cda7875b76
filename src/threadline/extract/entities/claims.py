"""The report's own attribution statements: who it names as responsible, how strongly, on what basis, with what
caveats.

A claim is a sentence that links activity to an actor with an attribution verb ("attributed to", "operated by",
"believed to be", "linked to"), an overlap ("overlaps with", "shares TTPs with"), a denial ("not to be confused
with", "no evidence linking ... to") or that says attribution failed ("could not attribute"). Strength comes from
the verb and the hedges around it: a hedge ("likely", "believed", "moderate confidence") turns an attribution into
``suspected``; "high confidence" keeps it ``attributed``. Names that the sentence gives as aliases of one another
("RedDelta, also known as TA416 and Mustang Panda") make one claim; the same group named again in a later sentence
under another alias is another claim. A cue is about the first name soon after it (and the names chained to that
one), never a name far off in the sentence; a negation before the cue ("we do not believe ... is linked to") makes
it a denial. One claim per actor and sentence: the most committal cue wins. ``basis`` comes from "based on ...",
"on the strength of ...", "due to ..." and from what an overlap is in ("the infrastructure overlaps with");
``caveats`` from the sentence and from a following "However, ..." sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from threadline.extract.entities.lexicon import Hit, choose_kind, find_names
from threadline.extract.entities.sentences import locate, report_sentences
from threadline.knowledge import KnowledgeBase
from threadline.limits import check
from threadline.model import Document, Evidence, Sentence

# (strength, pattern), tried in this order: where two cues overlap the earlier wins ("could not be attributed to
# any known actor" is unknown, not a denial).
_CUES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((s, re.compile(p, re.IGNORECASE)) for s, p in (
    ("unknown", r"\b(?:could|can|did|do|were|are|was|is)\s*(?:not|n't)\s+(?:be\s+)?(?:\w+\s+)?(?:attribute[ds]?|"
                r"attributable)\b|\bunable\s+to\s+(?:\w+\s+)?attribute\b|\bunattributed\b|\bunknown\s+(?:threat\s+)?"
                r"actors?\b|\bnot\s+(?:yet\s+)?(?:been\s+)?attributed\b"),
    ("denied", r"\bnot\s+to\s+be\s+confused\s+with|\bno\s+(?:\w+\s+){0,3}evidence\s+(?:\w+\s+){0,5}?(?:link|tie|"
               r"connect|point)\w*(?:\s+\w+){0,6}?\s+(?:to|with)\b|\bunrelated\s+to\b|\bnot\s+(?:\w+\s+)?"
               r"(?:related|linked|connected|attributed|tied)\s+to\b(?!\s+any\b)|\bdistinct\s+from\b|\bno\s+(?:known\s+)?"
               r"(?:link|connection|relationship)s?\s+(?:to|with)\b"),
    ("overlaps", r"\boverlap(?:s|ped|ping)?\s+(?:\w+\s+){0,2}with\b|\bshares?\s+(?:\w+\s+){0,4}?(?:TTPs|tactics|"
                 r"techniques|infrastructure|code|tool(?:ing|s|set)?|malware|similarities|characteristics|"
                 r"traits)\s+with\b|\bsimilarit(?:y|ies)\s+(?:\w+\s+){0,3}(?:to|with)\b|\bresembl\w+\b|"
                 r"\bconsistent\s+with\b|\bsimilar\s+to\b"),
    ("attributed", r"\battribut(?:ed|e|es|ing|ion)\b(?:\s+(?!to\b)[\w'’-]+){0,8}?\s+to\b|\b(?:operated|conducted|"
                   r"carried\s+out|orchestrated|perpetrated|launched)\s+by\b|"
                   r"\b(?:believed|thought|assessed|suspected|judged|likely|reported)\s+to\s+be\s+(?:the\s+work\s+"
                   r"of|linked\s+to|associated\s+with|tied\s+to|connected\s+to)?|\b(?:linked|tied|connected|"
                   r"associated)\s+(?:[\w'’-]+\s+){0,4}?(?:to|with)\b|\bthe\s+work\s+of\b|"
                   r"\b(?:is|are|was|were)\s+(?:\w+\s+){0,4}?behind\b"),
))
# Every cue holds one of these words: a sentence without any is skipped after one cheap search.
_ANY_CUE = tuple("""attribut link tie connect associat overlap share similar resembl consistent confus evidence
unrelated distinct relat operated conducted carried orchestrat perpetrat launched believed thought assessed suspected
judged likely reported work behind unknown""".split())
# One claim per actor and sentence: the most committal statement wins.
_RANK = {"attributed": 0, "suspected": 1, "overlaps": 2, "unknown": 3, "denied": 4}
_HEDGES = re.compile(r"\b(?:likely|probabl[ey]|possibl[ey]|may|might|could|believed|believe|thought|suspect\w*|"
                     r"assess\w*|appears?|seems?|potentially|moderate[- ]confidence|low[- ]confidence|tentative\w*|"
                     r"plausibl[ey]|indicat\w*|skeptical|sceptical|doubt\w*)\b", re.IGNORECASE)
_NEGATION = re.compile(r"\b(?:not|never|no\s+longer)\b|n't\b", re.IGNORECASE)
_HIGH = re.compile(r"\bhigh[- ]confidence\b|\bconfirmed\b|\bdefinitive\w*\b", re.IGNORECASE)
_BASIS_CUE = re.compile(r"\b(?:based\s+on|on\s+the\s+(?:basis|strength)\s+of|due\s+to|given|owing\s+to|because\s+of|"
                        r"citing|relying\s+on|rel(?:y|ies)\s+on|rests?\s+(?:solely\s+|only\s+)?on|grounded\s+in|"
                        r"through|by\s+(?:analy[sz]ing|comparing)|thanks\s+to)\b([^;.]*)", re.IGNORECASE)
_BASIS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(p, re.IGNORECASE)) for name, p in (
    ("TTPs", r"\bTTPs?\b|\btactics\b|\btechniques\b|\bprocedures\b|\btradecraft\b|\bmodus\s+operandi\b"),
    ("infrastructure", r"\binfrastructure\b|\bC2\b|\bcommand[- ]and[- ]control\b|\bdomains?\b|\bIP\s+addresses\b|"
                       r"\bservers?\b|\bcertificates?\b|\bregistrant\b"),
    ("code overlap", r"\bcode\s+(?:overlap|similarit|reuse)\w*|\bshared\s+code\b|\bcode\b"),
    ("malware", r"\bmalware\b|\btool(?:s|set|ing|kit)?\b|\bbackdoors?\b|\bimplants?\b|\bloaders?\b|\bpayloads?\b"),
    ("victimology", r"\bvictimology\b|\btargeting\b|\bvictims?\b"),
    ("artefacts", r"\blanguage\b|\btimestamps?\b|\bworking\s+hours\b|\btime\s*zone\b|\bPDB\b|\bstrings?\b"),
))
_CAVEAT = re.compile(r"\bno\s+(?:other|further|additional|hard|direct|conclusive|definitive|strong)?\s*evidence\b|"
                     r"\bcannot\s+be\s+(?:ruled\s+out|confirmed|excluded)|\bnot\s+(?:yet\s+)?(?:been\s+)?"
                     r"(?:confirmed|verified|corroborated)|\blow[- ]confidence\b|\bfalse[- ]flags?\b|\blimited\s+"
                     r"(?:evidence|visibility|data|information)\b|\bit\s+is\s+(?:also\s+)?possible\b|\bunclear\b|"
                     r"\buncertain\w*\b|\bcircumstantial\b|\bcould\s+also\s+be\b|\binconclusive\b|\bnothing\s+(?:else|more)\b|"
                     r"\bno\s+(?:other|further|additional|independent)\s+(?:indicators?|artefacts?|artifacts?|"
                     r"corroboration|data)\b|\bnot\s+enough\b|\binsufficient\b|\bshared\s+(?:with|by|among)\s+(?:other|several|"
                     r"multiple)\b", re.IGNORECASE)
# (?<!\s): matches start where a whitespace run starts, as leftmost matches did anyway; quadratic in a long run
# without it (bench/regex_worst.py, issue 18). Searched from a position: on a slice, so the run may start there.
_CLAUSE_EDGE = re.compile(r"[,;:—]\s*|(?<!\s)\s+(?:but|however|although|though|while|whereas)\s+", re.IGNORECASE)
_FOLLOW_UP = re.compile(r"^[\s•*-]*(?:However|That said|Nevertheless|Still|Note that|It should be noted)\b")


@dataclass(slots=True)
class Claim:
    """One attribution statement of the report."""

    actor: str | None                  # as written; None when the report says it cannot attribute
    attack_id: str | None
    strength: str                      # attributed | suspected | overlaps | denied | unknown
    evidence: list[Evidence]
    basis: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)
    entity: str | None = None          # G-id or "misp:<uuid>" when the name resolves to one actor
    candidates: list[dict[str, str]] = field(default_factory=list)   # when the name is shared by several actors
    cue: str = ""                      # the words that make the claim ("attributed to")
    subject: str | None = None         # what is attributed, as written ("the campaign", "Operation Diànxùn")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"actor": self.actor, "attack_id": self.attack_id, "strength": self.strength,
                               "basis": self.basis, "caveats": self.caveats, "cue": self.cue,
                               "evidence": [e.to_dict() for e in self.evidence]}
        if self.entity:
            out["entity"] = self.entity
        if self.candidates:
            out["candidates"] = self.candidates
        if self.subject:
            out["subject"] = self.subject
        return out


_AUX_TAIL = re.compile(r"(?<!\s)(?:\s+(?:has|have|had|been|was|were|is|are|be|being|also|since|then|now|later|"
                       r"initially|previously|widely|publicly|recently|all|both|likely|probably|possibly|"
                       r"reportedly|firmly|tentatively))+\s*$", re.IGNORECASE)
_INNER_SUBJECT = re.compile(r"^(?:attribut\w*|link\w*|tie\w*|connect\w*|associat\w*|no (?:\w+ ){0,3}evidence "
                            r"(?:link|tie|connect)\w*) (.+?) (?:to|with)$", re.IGNORECASE)
_NOT_SUBJECTS = frozenset("we i they researchers analysts it note".split())
_SUBJECT_LEAD = re.compile(r"^(?:.*\b(?:that|which|who|and|but|although|though|while|whereas|whether)\s+)",
                           re.IGNORECASE)


def _subject(sentence: str, start: int, end: int) -> str | None:
    """What a cue attributes: words inside the cue ("attribute *this activity* to", "no evidence linking *that
    set* to") or the clause before it ("*the campaign* has been attributed to")."""
    cue = re.sub(r"\s+", " ", sentence[start:end])
    inner = _INNER_SUBJECT.match(cue)
    if inner:
        return inner.group(1)
    before = re.split(r"[,;:()]", sentence[:start].replace("\n", " "))[-1]
    before = _SUBJECT_LEAD.sub("", _AUX_TAIL.sub("", before)).strip(" -•*\"“”")
    words = before.split()
    if not words or len(words) > 8 or words[0].lower() in _NOT_SUBJECTS or all(
            w.lower() in ("the", "a", "an", "this", "that", "these", "those") for w in words):
        return None
    return " ".join(words)


def resolve_actor(kb: KnowledgeBase, name: str) -> tuple[str | None, list[str]]:
    """(the entity a name resolves to, or None; every candidate entity).

    A name several entities carry resolves to the one ATT&CK group that ATT&CK itself gives the name to, when
    there is exactly one ("APT36": G0134, though a MISP entry also lists it); otherwise to none. Every candidate
    is kept either way, so nothing is silently merged."""
    matches = kb.actors.resolve(name).matches
    entities = list(matches)
    if len(entities) == 1:
        return entities[0], entities
    by_attack = [e for e, assertions in matches.items() if any(a.kind == "attack" for a in assertions)]
    return (by_attack[0] if len(by_attack) == 1 else None), entities


def _clause_around(sentence: str, start: int, end: int) -> str:
    """The clause holding ``sentence[start:end]`` (between commas, semicolons, "but", "although" ...)."""
    left = 0
    for m in _CLAUSE_EDGE.finditer(sentence, 0, start):
        left = m.end()
    right_match = _CLAUSE_EDGE.search(sentence[end:])
    right = end + right_match.start() if right_match else len(sentence)
    return sentence[left:right].strip(" .;,")


def _basis(sentence: str, cue_text: str) -> list[str]:
    phrases = [m.group(1) for m in _BASIS_CUE.finditer(sentence)]
    if not phrases and not cue_text:
        return []
    scope = " ".join([*phrases, cue_text])
    return [name for name, pattern in _BASIS if pattern.search(scope)]


def _caveats(sentences: list[Sentence], index: int) -> list[str]:
    out = []
    for i in (index, index + 1):
        if i >= len(sentences) or (i > index and not _FOLLOW_UP.match(sentences[i].text)):
            continue
        text = sentences[i].text
        for m in _CAVEAT.finditer(text):
            clause = re.sub(r"^(?:and|but|or|so|yet)\s+", "", _clause_around(text, m.start(), m.end()))
            clause = re.sub(r"\s+", " ", clause)
            if clause and clause not in out:
                out.append(clause)
    return out


def _object_of(actors: list[Hit], start: int, limit: int) -> list[Hit]:
    """The actors a cue is about: the first name soon after it, and the names chained to that one ("X, also
    known as Y and Z"); not a name far away in the same sentence."""
    out: list[Hit] = []
    edge = start
    for hit in actors:
        if hit.start < start or hit.start >= limit:
            continue
        if hit.start - edge > (80 if not out else 40):
            break
        out.append(hit)
        edge = hit.end
    return out


# In ASCII (case-blind patterns then match what their lower-case stems find in the lower-cased text), "tie" and
# "work" are needed only at the start of a word ("tied to", "the work of"): as substrings ("activities",
# "network") they let nine sentences in twenty through to the four cue patterns, for nothing.
_ASCII_CUE = tuple(stem for stem in _ANY_CUE if stem not in ("tie", "work"))
_WORD_START_CUE = re.compile(r"\b(?:tie|work)")


def _cue_words(text: str) -> bool:
    """Whether the text holds a stem that every cue needs."""
    low = text.lower()
    if text.isascii():
        return any(stem in low for stem in _ASCII_CUE) or _WORD_START_CUE.search(low) is not None
    return any(stem in low for stem in _ANY_CUE)


def _cues(text: str) -> list[tuple[int, int, str]]:
    if not _cue_words(text):
        return []
    found: list[tuple[int, int, str]] = []
    for strength, pattern in _CUES:
        for m in pattern.finditer(text):
            if not any(a < m.end() and m.start() < b for a, b, _ in found):
                found.append((m.start(), m.end(), strength))
    return sorted(found)


def _actor_hits(text: str, kb: KnowledgeBase, names: list[Hit] | None) -> list[Hit]:
    hits = names if names is not None else find_names(text, kb)
    return [h for h in hits if choose_kind(text, h, kb) == "actor"]


def extract_claims(text: str, kb: KnowledgeBase, *, sentences: list[Sentence] | None = None,
                   names: list[Hit] | None = None, document: Document | None = None) -> list[Claim]:
    """The report's attribution statements, in text order (``names``: hits already found in this text;
    ``document``: the text's document, to give evidence its page and sha256)."""
    sentences = report_sentences(text, sentences, where=document.source if document else None)
    actors = _actor_hits(text, kb, names)
    claims: list[Claim] = []
    position = 0
    for index, sentence in enumerate(sentences):
        check()      # bounded work per document in any thread (threadline.limits)
        cues = _cues(sentence.text)
        if not cues:
            continue
        while position < len(actors) and actors[position].start < sentence.start:
            position += 1
        # The sentence's names: hits are in text order, so the first one past its end closes the list (filtering
        # every later hit, sentence after sentence, was quadratic in the length of the report).
        here = []
        last = position
        while last < len(actors) and actors[last].start < sentence.end:
            if actors[last].end <= sentence.end:
                here.append(actors[last])
            last += 1
        evidence = locate([Evidence(sentence.text, sentence.start, sentence.end)], document)
        caveats = _caveats(sentences, index)
        best: dict[str, Claim] = {}
        # What an overlap is in ("the infrastructure overlaps with X") is the basis of every claim here.
        overlap_clauses = " ".join(_clause_around(sentence.text, a, b) for a, b, s in cues if s == "overlaps")
        basis = _basis(sentence.text, overlap_clauses)
        for n, (a, b, strength) in enumerate(cues):
            limit = sentence.start + (cues[n + 1][0] if n + 1 < len(cues) else len(sentence.text))
            after = _object_of(here, sentence.start + b, limit)
            cue_text = re.sub(r"\s+", " ", sentence.text[a:b])
            backward = cue_text.lower().endswith("behind")      # "X is believed to be behind ..."
            if backward:
                after = []
            if not after and (backward or cue_text.lower().startswith(("believed", "thought", "assessed",
                                                                       "suspected", "linked", "tied",
                                                                       "connected", "associated"))):
                after = [h for h in here if h.end <= sentence.start + a][-1:]
            clause = _clause_around(sentence.text, a, b)
            hedged = bool(_HEDGES.search(clause)) and not _HIGH.search(clause)
            weak = cue_text.lower().startswith(("believed", "thought", "assessed", "suspected", "likely", "linked",
                                                "tied", "connected", "associated"))
            if strength == "attributed" and (hedged or weak) and not _HIGH.search(clause):
                strength = "suspected"   # "linked to" and "believed to be" commit less than "attributed to"
            lead_in = re.split(r"[,;:]", sentence.text[max(0, a - 60):a])[-1]
            if strength in ("attributed", "suspected", "overlaps") and _NEGATION.search(lead_in):
                strength = "denied"      # "we do not believe the stealer is linked to Iron Tiger"
            if not after:
                if strength == "unknown":
                    claims.append(Claim(None, None, "unknown", evidence, basis, caveats,
                                        cue=cue_text))
                continue
            for hit in after:
                entity, candidates = resolve_actor(kb, hit.text)
                key = entity or hit.text
                if key in best and _RANK[best[key].strength] <= _RANK[strength]:
                    continue      # an alias already claimed ("also known as ..."), or a weaker cue for it
                own = [c for c in caveats if cue_text not in c]     # a denial is not its own caveat
                best[key] = Claim(
                    actor=hit.text,
                    attack_id=entity if entity and entity.startswith("G") else None,
                    strength="unknown" if strength == "unknown" else strength,
                    evidence=evidence,
                    basis=basis,
                    caveats=own,
                    entity=entity,
                    candidates=[{"entity": c, "name": kb.entity_name(c)} for c in candidates]
                    if len(candidates) > 1 else [],
                    cue=cue_text,
                    subject=None if backward else _subject(sentence.text, a, b),
                )
        claims.extend(best.values())
    return claims
