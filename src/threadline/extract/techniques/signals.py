"""Precise technique signals: explicit ATT&CK ids, named software (inferred techniques), negation and hypotheticals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate

from threadline.knowledge import derived
from threadline.knowledge.base import KnowledgeBase
from threadline.model import Sentence

_WORD = re.compile(r"\w+")
_WORD_SPLIT = re.compile(r"(\w+)")      # _WORD, kept by re.split
_EXPLICIT_ID = re.compile(r"(?<![\w.])T(1\d{3})(?:[./](\d{3})(?!\w))?(?!\w|[./]\d)")

# A sentence that denies or only imagines a behaviour does not support it: "did not use", "no evidence of",
# "could be used to", "if an attacker were to". Kept deliberately narrow: "can" alone is common in real
# descriptions of what a malware does ("it can take screenshots").
_NEGATION = re.compile(
    r"\b(?:did|does|do|was|were|is|are|has|have|had)\s*(?:not|n['’]t)\b(?!\s+only)"
    r"|\b(?:never|no\s+(?:evidence|indication|sign)s?\s+(?:of|that)|not\s+observed|without\s+(?:using|any))\b"
    r"|\b(?:could|might|may|would)\s+(?:potentially\s+|also\s+)?(?:be\s+used|allow|enable|let)\b"
    r"|\bcan\s+be\s+(?:used|abused|leveraged)\b"
    r"|\b(?:if|should)\s+(?:an?\s+)?(?:attacker|adversary|threat actor)s?\b"
    r"|\b(?:hypothetical(?:ly)?|in theory|theoretically)\b",
    re.IGNORECASE,
)


def is_negated(sentence: str) -> bool:
    """True when the sentence denies, doubts or only imagines what it describes."""
    if sentence.isascii() and not _may_negate(sentence.lower()):
        return False
    return _NEGATION.search(sentence) is not None


def _may_negate(low: str) -> bool:
    """Whether a lower-cased ASCII sentence holds the words some branch of :data:`_NEGATION` needs: a sentence
    without them cannot match, and most sentences have none (the search tried every branch at every position). In
    ASCII text the pattern's letters match only their own two cases, so lower case and substrings decide; other
    text goes straight to the search (a Kelvin sign matches "k" there)."""
    return ("not" in low or "n't" in low or "never" in low or "without" in low                  # first two branches
            or ("no" in low and ("evidence" in low or "indication" in low or "sign" in low))
            or (("could" in low or "might" in low or "may" in low or "would" in low)             # could be used...
                and ("used" in low or "allow" in low or "enable" in low or "let" in low))
            or ("can" in low and ("used" in low or "leveraged" in low))                           # can be (ab)used
            or (("if" in low or "should" in low) and ("attacker" in low or "adversar" in low or "threat actor" in low))
            or "hypothetical" in low or "theor" in low)


# Headings, titles and reference lists name a subject; they never state that something happened. A heading is a
# Markdown heading, a "Title:" line, or a short line with no sentence punctuation that is not a list item; a
# reference entry is a numbered citation or a line that is mostly a URL; a reference section runs from its heading
# to the next Markdown heading (or the end), a section of advice to defenders (Mitigations, Recommendations) to the
# next heading.
_MD_HEADING = re.compile(r"#{1,6}\s")
_TITLE_LINE = re.compile(r"(?:title|subject|tlp|classification)\s*:", re.IGNORECASE)
_LIST_ITEM = re.compile(r"(?:[-*•●▪◦·]|\d{1,2}[.)])\s")
_CITATION = re.compile(r"\[\d{1,3}\]|\(\d{1,3}\)\s|https?://|hxxps?://", re.IGNORECASE)
# (?<!\S): a match starts where a token starts, as the leftmost one did; without it every position of a long token
# (a base64 blob) was tried again, quadratic in its length (bench/regex_worst.py, issue 18)
_URL = re.compile(r"(?<!\S)\S*(?:https?|hxxps?)://\S+", re.IGNORECASE)
# Capitalised: a lower-case "references:" is a YAML key of a detection rule quoted in the report, not a section.
_REFERENCES = re.compile(r"(?:#{1,6}\s*)?(?:References?|Sources?|Further [Rr]eading|Bibliography|External [Ll]inks|"
                         r"End\s?notes|Footnotes|Citations|REFERENCES?|SOURCES?|"
                         r"ENDNOTES|FOOTNOTES)\s*:?\s*$")
# A section of advice to defenders says what they should do, not what the actor did ("Organizations should protect
# against ransomware and web shells by ...").
_ADVICE = re.compile(r"(?:#{1,6}\s*)?(?:Mitigations?|Recommendations?|Recommended [Aa]ctions|Defensive [Aa]dvice|"
                     r"Remediation|Mitigation [Rr]ecommendations|MITIGATIONS?|RECOMMENDATIONS?)\s*:?\s*$")
HEADING_MAX_WORDS = 12


def is_heading(sentence: str) -> bool:
    """True for a heading or title line: Markdown ``#``, "Title: ...", or a short unpunctuated line (not a bullet)."""
    text = sentence.strip()
    if _MD_HEADING.match(text) or _TITLE_LINE.match(text):
        return True
    if "\n" in text or _LIST_ITEM.match(text) or text[-1:] in ".!?;:,)\"'”’":
        return False
    return len(text.split()) <= HEADING_MAX_WORDS


def is_reference(sentence: str) -> bool:
    """True for a reference-list entry: it starts with a citation mark or is mostly a URL."""
    text = sentence.strip()
    if _CITATION.match(text):
        return True
    if "://" not in text:
        return False              # no address for _URL to take out (most sentences: not searched)
    rest = _URL.sub(" ", text)
    return rest != text and len(rest.split()) <= 6


_LEAD_IN_MAX_WORDS = 40
LEAD_IN_ITEM_WORDS = 6     # longer items state their action themselves; the lead-in's words would only repeat


def with_lead_ins(sentences: list[str]) -> list[str]:
    """The sentences as the models judge them: a list item after a lead-in ("The malware can:" / "- take
    screenshots") is read with its lead-in ("The malware can: take screenshots"); an item alone names no actor and
    no action context. Every other sentence is itself. Evidence stays the item's own sentence (same rows)."""
    out, lead = list(sentences), ""
    for i, text in enumerate(sentences):
        stripped = text.strip()
        if _LIST_ITEM.match(stripped):
            if lead and len(stripped.split()) <= LEAD_IN_ITEM_WORDS:
                out[i] = f"{lead} {_LIST_ITEM.sub('', stripped, count=1)}"
        else:
            words = stripped.split()
            lead = stripped if stripped.endswith(":") and len(words) <= _LEAD_IN_MAX_WORDS else ""
    return out


def never_evidence(sentences: list[str]) -> list[bool]:
    """Per sentence: a heading, a title, a reference entry or any line of a reference section. A text of one
    sentence is what the user wrote about a behaviour, punctuated or not: only a Markdown heading is one there."""
    if len(sentences) == 1:
        return [_MD_HEADING.match(sentences[0].strip()) is not None]
    out, in_references, in_advice = [], False, False
    for text in sentences:
        heading = is_heading(text)
        if _REFERENCES.fullmatch(text.strip()):
            in_references = True
        elif in_references and _MD_HEADING.match(text.strip()):
            in_references = False       # entries are often short unpunctuated lines: only a real heading ends it
        if heading:                     # advice runs to the next heading of any kind (its lines are sentences)
            in_advice = _ADVICE.fullmatch(text.strip()) is not None
        out.append(heading or in_references or in_advice or is_reference(text))
    return out


@dataclass(frozen=True, slots=True)
class IdMention:
    attack_id: str
    start: int
    end: int


def explicit_ids(text: str) -> Iterator[IdMention]:
    """ATT&CK technique ids written in the text ("T1566.001", "T1059/003"), normalised to dotted form."""
    for match in _EXPLICIT_ID.finditer(text):
        tid = f"T{match.group(1)}" + (f".{match.group(2)}" if match.group(2) else "")
        yield IdMention(tid, match.start(), match.end())


@dataclass(frozen=True, slots=True)
class SoftwareMention:
    attack_id: str                 # S-id
    name: str                      # as written in the text
    start: int
    end: int


class SoftwareMatcher:
    """Finds ATT&CK software names in text (case-sensitive, whole words) and resolves them through the KB.

    Only names that look like proper names are matched: at least 4 characters with a capital letter or a digit,
    naming exactly one ATT&CK software and no threat actor.
    Lower-case names ("at", "net", "cmd") and short ones are system utilities or English words whose mention
    says little on its own; the text model sees those sentences anyway.
    """

    def __init__(self, kb: KnowledgeBase) -> None:
        self._kb = kb
        self._alternatives: dict[str, str] = derived.cached(kb, "software-names", dict, lambda: _alternatives(kb))
        self._patterns: dict[str, re.Pattern[str]] = {}

    def _pattern(self, word: str) -> re.Pattern[str] | None:
        # Compiled when a report first uses the word: compiling all ~1,500 at start took a third of a second.
        pattern = self._patterns.get(word)
        if pattern is None:
            alternatives = self._alternatives.get(word)
            if alternatives is None:
                return None
            pattern = self._patterns[word] = re.compile(alternatives)
        return pattern

    def find(self, text: str) -> Iterator[SoftwareMention]:
        # The words split once in C (re.split, a running sum of the pieces' lengths for where each starts); only
        # those that start a name are looked at (a dictionary look-up per word was most of the time here).
        pieces = _WORD_SPLIT.split(text)          # separator, word, separator, word, ..., separator
        words = pieces[1::2]
        hits = self._alternatives.keys() & set(words)
        if not hits:
            return
        bounds = list(accumulate(map(len, pieces)))
        for k in [k for k, word in enumerate(words) if word in hits]:
            pattern = self._pattern(words[k])
            start = bounds[2 * k]
            if pattern is None or (start > 0 and text[start - 1] in "-_"):
                continue
            match = pattern.match(text, start)
            if match is None:
                continue
            sid = self._kb.software_names.resolve(match.group(0)).unique
            if sid is not None:
                yield SoftwareMention(sid, match.group(0), match.start(), match.end())


def _alternatives(kb: KnowledgeBase) -> dict[str, str]:
    """First word of a software name -> the regular expression of the names it starts (longest first)."""
    names: set[str] = set()
    for sw in kb.attack.software.values():
        for assertion in kb.software_names.for_entity(sw.attack_id):
            name = assertion.name.strip()
            if (_looks_like_proper_name(name) and kb.software_names.resolve(name).unique == sw.attack_id
                    and not kb.actors.resolve(name).entities):
                names.add(name)   # a name that is also an actor's ("RedDelta") says nothing sure of software
    # One big alternation is slow on long reports; index the names by their first word instead and try the
    # (longest-first) alternatives only where a word starts one of them.
    by_first: dict[str, list[str]] = {}
    for name in sorted(names, key=lambda n: (-len(n), n)):   # longest first: "Cobalt Strike" before "Cobalt"
        first = _WORD.match(name)
        if first is not None:
            by_first.setdefault(first.group(0), []).append(name)
    return {w: "(?:" + "|".join(re.escape(n) for n in ns) + r")(?![\w-])" for w, ns in by_first.items()}


def _looks_like_proper_name(name: str) -> bool:
    if len(name) < 4 or not any(ch.isupper() or ch.isdigit() for ch in name):
        return False
    # An all-capitals short word is usually an acronym of something else (e.g. "HTTP", "SMB"), not software.
    return not (name.isupper() and name.isalpha() and len(name) <= 4)


def sentence_index(sentences: list[Sentence], offset: int) -> int | None:
    """Index of the sentence containing ``offset`` (binary search)."""
    lo, hi = 0, len(sentences) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        s = sentences[mid]
        if offset < s.start:
            hi = mid - 1
        elif offset >= s.end:
            lo = mid + 1
        else:
            return mid
    return None


def negated_at(sentence: Sentence, offset: int) -> bool:
    """Whether the text around ``offset`` denies or imagines: the sentence, or for a block the splitter kept whole
    (a table, a list without end punctuation) only the line holding ``offset``; a "doesn't" three rows down a
    table of ATT&CK ids silenced every id in it."""
    if "\n" not in sentence.text:
        return is_negated(sentence.text)
    at = offset - sentence.start
    start = sentence.text.rfind("\n", 0, at) + 1
    end = sentence.text.find("\n", at)
    return is_negated(sentence.text[start:end if end >= 0 else len(sentence.text)])
