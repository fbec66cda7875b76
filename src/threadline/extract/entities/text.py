"""Stated things that are not names: campaigns called "Operation X", lures, goals and generic capabilities.

All pattern-based on the wording reports use: lures are "fake"/"decoy"/"spoofed" things, or what the actor
"masquerades as"/"poses as"; goals follow "the purpose/goal/aim of ... is to", "aims to", "in order to"; generic
capabilities ("info stealers", "a backdoor") are what a report says without naming a family, so they are not
software entities but are kept, with evidence, for the analyst.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CAP = r"[A-ZÀ-ÖØ-Þ][\wÀ-ÿĀ-ɏ'’-]*"
# "Operation Diànxùn", "Operation Dream Job": up to three capitalised words after "Operation".
_STOP = r"(?!(?:In|On|Of|The|And|At|To|For|A|An|By|From|With)\b)"
OPERATION = re.compile(rf"\bOperation[^\S\n]+{_STOP}{_CAP}(?:[^\S\n]+{_STOP}{_CAP}){{0,2}}")
# Heading words that follow a name without being part of it ("Operation X Attack Vector").
_TRAILING = frozenset("""Attack Attacks Vector Network Infrastructure Campaign Activity Overview Analysis Summary
Timeline Indicators IOCs Malware Targets Victims Attribution Technical Details Conclusion Introduction Background
Update Report Part""".split())
_DUBBED = re.compile(r"\b(?:campaign|operation|activity|cluster)\s*,?\s+(?:dubbed|named|called|codenamed|tracked as)\s+"
                     r"[\"“']?((?:Operation\s+)?[A-Z][\w'’-]+(?:\s+[A-Z][\w'’-]+){0,2})[\"”']?")

_LURE_PATTERNS = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"\b(?:fake|fraudulent|bogus|spoofed|counterfeit|look-?alike|trojani[sz]ed|impostor)\s+(?:[\w&'’.-]+\s+){0,4}?"
    r"(?:websites?|web\s+sites?|sites?|pages?|portals?|documents?|e-?mails?|messages?|apps?|applications?|"
    r"installers?|updates?|job\s+(?:offers?|postings?|ads?|adverts?)|invoices?|resumes?|CVs?|profiles?|accounts?|"
    r"domains?|login\s+pages?|software|browsers?|extensions?|VPNs?)\b",
    r"\b(?:decoy|lure|bait)\s+(?:documents?|files?|content|PDFs?|e-?mails?|messages?|images?)(?:\s+(?:related\s+to|"
    r"about|themed\s+(?:around|on)|on|regarding|concerning|referencing|mentioning|purporting\s+to\s+be\s+from)\s+"
    r"[^.;]+)?",
    r"\b[\w-]+[- ]themed\s+(?:lures?|decoys?|documents?|e-?mails?|phishing\s+(?:e-?mails?|messages?|lures?))",
    r"\b(?:masquerad\w+|pos(?:ing|ed|es))\s+as\s+(?P<who>(?:an?\s+|the\s+)?[^,.;]+)",
    r"\bimpersonat(?:ing|es|ed)\s+(?P<who>(?:an?\s+|the\s+)?[^,.;]+)",
))
# Who or what a lure pretends to be: a named organisation, or a person, body or message people trust. Not a file,
# process or token ("masquerading as a legitimate file", "impersonating a token" are evasion, not social lures).
_SOCIAL = re.compile(r"^(?:an?\s+|the\s+)?(?:[A-Z0-9][\w&.'’-]*|(?:[\w-]+\s+){0,2}(?:recruiters?|journalists?|"
                     r"employees?|officials?|compan(?:y|ies)|organi[sz]ations?|HR|support|help\s*desk|government|"
                     r"banks?|ministr(?:y|ies)|embass(?:y|ies)|universit(?:y|ies)|researchers?|diplomats?|job|"
                     r"invoices?|resumes?|CVs?|e-?mails?|messages?|websites?|vendors?|partners?|customers?|"
                     r"colleagues?|agenc(?:y|ies)|news|conference|NGO)\b)")
_NOT_SOCIAL = re.compile(r"\b(?:files?|filetypes?|process(?:es)?|services?|tasks?|tokens?|binar(?:y|ies)|executables?|"
                         r"DLLs?|users?|system|directory|folder|drivers?|threads?|privileges?)\b", re.IGNORECASE)
_GOAL_PATTERNS = tuple(re.compile(p, re.IGNORECASE) for p in (
    r"\b(?:purpose|goal|aim|objective|intent|intention|motive|motivation|mission)s?\s+(?:of\s+[^,.;]*?\s+)?"
    r"(?:is|was|are|were|appears\s+to\s+be|seems\s+to\s+be|likely\s+is)\s+(?:to\s+)?(?P<goal>[^.;]+)",
    r"\b(?:aim(?:s|ed|ing)?|seek(?:s|ing)?|sought|intend(?:s|ed)?)\s+to\s+(?P<goal>[^.;]+)",
    r"\bwith\s+the\s+(?:aim|goal|intent|intention|objective|purpose)\s+of\s+(?P<goal>[^.;]+)",
    r"\bin\s+order\s+to\s+(?P<goal>[^.;]+)",
    r"\bfor\s+(?:the\s+)?purposes?\s+of\s+(?P<goal>[^.;]+)",
))
_NEW_CLAUSE = re.compile(r",\s+(?=(?:we|they|it|which|this|these|he|she|our|their|the\s+\w+\s+(?:is|are|was|were|"
                         r"has|have))\b)|(?<!\s)\s+(?:but|however|whereas|while)\s+", re.IGNORECASE)
# (?<!\s) above: a match starts where a whitespace run starts (as the leftmost did), linear in long runs (issue 18)
# Generic capability words -> category. "RAT" only in capitals: "rat" is an animal.
_CAPABILITIES = (
    ("infostealer", re.compile(r"\b(?:info(?:rmation)?[- ]?stealers?|infostealers?|credential[- ]stealers?|"
                               r"password[- ]stealers?|(?:info(?:rmation)?|credential|password|data)[- ]stealing\s+"
                               r"(?:malware|trojans?|tools?|payloads?|implants?))\b", re.IGNORECASE)),
    ("backdoor", re.compile(r"\bbackdoors?\b", re.IGNORECASE)),
    ("remote access trojan", re.compile(r"\bremote[- ]access\s+(?:trojans?|tools?)\b|\bRATs?\b")),
    ("ransomware", re.compile(r"\bransomware\b", re.IGNORECASE)),
    ("wiper", re.compile(r"\bwipers?\b", re.IGNORECASE)),
    ("loader", re.compile(r"\b(?:loaders?|downloaders?|droppers?)\b", re.IGNORECASE)),
    ("keylogger", re.compile(r"\bkeyloggers?\b", re.IGNORECASE)),
    ("web shell", re.compile(r"\bweb\s?shells?\b", re.IGNORECASE)),
    ("rootkit", re.compile(r"\brootkits?\b", re.IGNORECASE)),
    ("botnet", re.compile(r"\bbotnets?\b", re.IGNORECASE)),
    ("cryptominer", re.compile(r"\b(?:crypto|coin)[- ]?miners?\b", re.IGNORECASE)),
    ("spyware", re.compile(r"\bspyware\b", re.IGNORECASE)),
)
# A capability counts where the report says the actor used it, not in advice ("protect against ransomware").
_USE = re.compile(r"\b(?:infect\w*|deploy\w*|deliver\w*|drop\w*|install\w*|us(?:e|ed|es|ing)|leverag\w*|"
                  r"distribut\w*|load\w*|execut\w*|spread\w*|push\w*|implant\w*|serv(?:e|ed|es|ing)|with)\b",
                  re.IGNORECASE)
_ADVICE = re.compile(r"\b(?:protect\w*|defend\w*|mitigat\w*|recommend\w*|should|detect\w*\s+and\s+block)\b",
                     re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TextHit:
    kind: str            # "operation" | "lure" | "goal" | "capability"
    text: str
    start: int           # offsets in the sentence
    end: int
    category: str | None = None


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", text).strip(" ,.;:\"“”'")
    return text[:240]


def _longest(hits: list[TextHit]) -> list[TextHit]:
    hits = sorted(hits, key=lambda h: (h.start, -(h.end - h.start)))
    out: list[TextHit] = []
    for hit in hits:
        if not out or hit.start >= out[-1].end:
            out.append(hit)
    return out


# Words the patterns below need, looked for in ASCII sentences before the patterns are (case-blind patterns then
# match what their lower-case words find in the lower-cased sentence; in other scripts every sentence is searched).
_ANY_DUBBED = ("dubbed", "named", "called", "tracked")
_ANY_ADVICE = ("recommend", "advis", "urg", "encourag", "should")
_ANY_ASSESSMENT = ("result", "consequence", "response", "retaliation", "reaction", "motivated", "driven", "prompted")


def _lacks(sentence: str, words: tuple[str, ...]) -> bool:
    """True when ``sentence`` is ASCII and holds none of ``words`` (lower case) in any case."""
    if not sentence.isascii():
        return False
    low = sentence.lower()
    return not any(word in low for word in words)


def operations(sentence: str) -> list[TextHit]:
    """Operation names: "Operation X" and campaigns introduced as "dubbed X"."""
    if "Operation" not in sentence and _lacks(sentence, _ANY_DUBBED):
        return []
    hits = []
    for m in OPERATION.finditer(sentence):
        words = list(re.finditer(r"\S+", m.group(0)))
        while len(words) > 2 and words[-1].group(0) in _TRAILING:
            words.pop()
        end = m.start() + words[-1].end()
        hits.append(TextHit("operation", " ".join(w.group(0) for w in words), m.start(), end))
    for m in _DUBBED.finditer(sentence):
        if not any(h.start <= m.start(1) < h.end for h in hits):
            hits.append(TextHit("operation", m.group(1), m.start(1), m.end(1)))
    return _longest(hits)


# Words every lure, goal or capability pattern needs: most sentences are skipped after a substring test.
_ANY_LURE = tuple("fake fraudulent bogus spoof counterfeit alike trojani impostor decoy lure bait themed masquerad "
                  "posing posed poses impersonat".split())
_ANY_GOAL = tuple("purpose goal aim objective intent motiv mission seek sought order".split())
_ANY_CAPABILITY = tuple("stealer stealing backdoor rat remote ransomware wiper loader dropper keylogger shell rootkit "
                        "botnet miner spyware".split())


def lures(sentence: str) -> list[TextHit]:
    low = sentence.lower()
    if not any(word in low for word in _ANY_LURE):
        return []
    hits = []
    for pattern in _LURE_PATTERNS:
        for m in pattern.finditer(sentence):
            who = m.groupdict().get("who")
            if who is not None and (not _SOCIAL.match(who) or _NOT_SOCIAL.search(who)):
                continue
            hits.append(TextHit("lure", _clean(m.group(0)), m.start(), m.end()))
    return _longest(hits)


def goals(sentence: str) -> list[TextHit]:
    low = sentence.lower()
    if not any(word in low for word in _ANY_GOAL):
        return []
    hits = []
    for pattern in _GOAL_PATTERNS:
        for m in pattern.finditer(sentence):
            # A goal ends where a new clause with its own subject starts ("..., we anticipate that ...").
            goal = _NEW_CLAUSE.split(m.group("goal"))[0]
            hits.append(TextHit("goal", _clean(goal), m.start("goal"), m.start("goal") + len(goal)))
    return [h for h in _longest(hits) if len(h.text.split()) <= 40 and not re.search(r"\d{6}", h.text)
            and (len(h.text.split()) >= 2 or (h.text.isalpha() and len(h.text) > 4))]


# In ASCII, where the case-blind patterns match what their lower-case words find in the lower-cased sentence:
# "RAT" is the one case-sensitive pattern ("rat" in "operation" let two sentences in five through to the regexes).
_ASCII_CAPABILITY = tuple(word for word in _ANY_CAPABILITY if word != "rat")


def _capability_words(sentence: str) -> bool:
    """Whether the sentence holds a word that every capability pattern needs."""
    low = sentence.lower()
    if sentence.isascii():
        return "RAT" in sentence or any(word in low for word in _ASCII_CAPABILITY)
    return any(word in low for word in _ANY_CAPABILITY)


def capabilities(sentence: str, named: list[tuple[int, int]]) -> list[TextHit]:
    """Generic malware classes the sentence says were used; not those right after a named family."""
    if not _capability_words(sentence) or not _USE.search(sentence) or _ADVICE.search(sentence):
        return []
    hits = []
    for category, pattern in _CAPABILITIES:
        for m in pattern.finditer(sentence):
            if any(0 <= m.start() - b <= 1 for _, b in named):
                continue      # "PlugX backdoor", "Play ransomware": the family is the entity
            hits.append(TextHit("capability", m.group(0), m.start(), m.end(), category))
    return _longest(hits)


# The source's own advice ("McAfee recommended building ...", "organisations should patch ...").
_ADVICE_CLAUSE = re.compile(
    r"\b(?:recommend(?:s|ed)?|advis(?:es|ed)|urg(?:es|ed)|encourag(?:es|ed))\s+(?!by\b|as\b)(?:that\s+)?"
    r"(?P<advice>[^.;!?]{12,})"
    r"|\b(?:organi[sz]ations|users|defenders|companies|administrators|customers)\s+should\s+(?P<should>[^.;!?]{8,})",
    re.IGNORECASE)
# The source's assessments of cause or motive: hedged, causal ("could be the result of the ban of Huawei").
_ASSESSMENT = re.compile(
    r"\b(?:could|may|might)\s+(?:well\s+)?be\s+(?:the\s+|a\s+)?(?:result|consequence|response|retaliation|reaction)"
    r"\s+(?:of|to|for)\b|\b(?:likely|probably|possibly)\s+(?:motivated|driven|prompted)\s+by\b"
    r"|\bis\s+(?:believed|thought|assessed)\s+to\s+be\s+(?:a\s+|the\s+)?(?:result|response|retaliation)\b",
    re.IGNORECASE)


def advice(sentence: str) -> list[TextHit]:
    """What the source recommends defenders do."""
    if _lacks(sentence, _ANY_ADVICE):
        return []
    hits = []
    for m in _ADVICE_CLAUSE.finditer(sentence):
        group = "advice" if m.group("advice") else "should"
        hits.append(TextHit("advice", _clean(m.group(group)), m.start(group), m.end(group)))
    return _longest(hits)


def assessments(sentence: str) -> list[TextHit]:
    """The source's hedged assessments of cause or motive: the whole sentence is the assessment."""
    if _lacks(sentence, _ANY_ASSESSMENT) or not _ASSESSMENT.search(sentence):
        return []
    return [TextHit("assessment", _clean(sentence), 0, len(sentence))]
