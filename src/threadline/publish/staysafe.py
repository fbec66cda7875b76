""""Stay safe": ATT&CK mitigations and detection strategies for the techniques a report observed, ranked by how
many of those techniques each covers, with how it applies to each one; and the plain, readable form of ATT&CK
prose that every page shows (no markup, no citation markers, sentences cut where a sentence really ends)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from threadline.knowledge.attack import AttackObject, Technique, plain_text
from threadline.knowledge.base import KnowledgeBase
from threadline.publish.facts import References

SUMMARY_CHARS = 240
MAX_HOW = 3             # "For T…: how" lines per remedy; the techniques left out are counted
# ATT&CK prose carries a little HTML (<code>wmic.exe</code>, <b>, <br>): shown as plain text, its content kept.
# Placeholders such as <username> are not markup and stay, escaped like any text.
_MARKUP = re.compile(r"</?(?:code|b|i|em|strong|p|br|span|pre|ul|ol|li|sup|sub)\s*/?>", re.I)
# A candidate sentence end: terminal punctuation (and any closing quote/bracket) followed by space and a capital.
_CANDIDATE_END = re.compile(r"[.!?][\"')\]]*(?=\s+[\"'(\[]?[A-Z0-9])")
# Words ending in a full stop that do not end a sentence ("e.g. Windows", "U.S. agencies", "Fig. 2").
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|approx|incl|esp|viz|al|Inc|Ltd|Corp|Co|No|Nos|Fig|Figs|"
                           r"Mr|Mrs|Ms|Dr|St|Jr|Sr)|\b[A-Za-z](?:\.[A-Za-z])*|\.{3})\.?$")


def attack_prose(text: str) -> str:
    """ATT&CK prose as plain text: no Markdown links, citation markers or HTML tags, one line."""
    return " ".join(html.unescape(_MARKUP.sub(" ", plain_text(text or ""))).split())


def _sentence_end(text: str) -> int:
    """Where the first sentence of ``text`` ends: at a full stop outside parentheses that does not close an
    abbreviation or an initial; the whole text when there is none."""
    depth = 0
    last = 0
    for match in _CANDIDATE_END.finditer(text):
        segment = text[last:match.start()]
        depth = max(0, depth + segment.count("(") + segment.count("[") - segment.count(")") - segment.count("]"))
        closing = match.group(0)[1:]
        after = max(0, depth - closing.count(")") - closing.count("]"))
        last = match.end()
        word = text[:match.start() + 1].rsplit(None, 1)[-1].lstrip("([\"'")
        if after == 0 and not _ABBREVIATION.search(word):
            return match.end()
        depth = after
    return len(text)


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a word before ``limit`` characters with an ellipsis, never inside an open parenthesis."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1].rsplit(" ", 1)[0]
    opened = head.rfind("(")
    if opened > head.rfind(")"):                 # "…such as (e.g" reads as broken: stop before the bracket
        head = head[:opened]
    return head.rstrip(" ,;:-–—") + "…"


def first_sentence(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first sentence of ATT&CK prose as plain text, cut at ``limit`` characters at a word (with "…")."""
    plain = attack_prose(text)
    return shorten(plain[:_sentence_end(plain)], limit) if plain else ""


@dataclass(frozen=True)
class Remedy:
    """A mitigation or detection strategy, the observed techniques it covers and how it applies to them
    (techniques with the same advice grouped; ``how_more`` techniques' advice left out for length)."""

    attack_id: str
    name: str
    url: str | None
    covers: tuple[str, ...]
    how: tuple[tuple[tuple[str, ...], str], ...]
    summary: str
    ref: int
    how_more: int = 0


def observed_techniques(kb: KnowledgeBase, techniques: Iterable[dict[str, Any]]) -> list[Technique]:
    """The ATT&CK techniques an analysis names, in its order, unknown ids skipped (they have nothing to map)."""
    out: dict[str, Technique] = {}
    for item in techniques:
        found = kb.technique(str(item.get("id") or ""))
        if len(found) == 1:
            out.setdefault(found[0].attack_id, found[0])
    return list(out.values())


def _grouped(per_technique: dict[str, str]) -> tuple[tuple[tuple[tuple[str, ...], str], ...], int]:
    """The advice per technique, techniques with the same advice together, the largest groups first."""
    by_text: dict[str, list[str]] = {}
    for tid, how in sorted(per_technique.items()):
        if how:
            by_text.setdefault(how, []).append(tid)
    groups = sorted(((tuple(tids), how) for how, tids in by_text.items()), key=lambda g: (-len(g[0]), g[0]))
    return tuple(groups[:MAX_HOW]), sum(len(tids) for tids, _ in groups[MAX_HOW:])


def _rank(kb: KnowledgeBase, observed: list[Technique], rel_type: str, table: dict[str, Any],
          refs: References, limit: int) -> tuple[list[Remedy], int]:
    covers: dict[str, dict[str, str]] = {}
    for technique in observed:
        for rel in kb.related(technique.stix_id, rel_type, reverse=True):
            if rel.source in table:
                covers.setdefault(rel.source, {}).setdefault(technique.attack_id, first_sentence(rel.description))
    ranked = sorted(covers.items(), key=lambda kv: (-len(kv[1]), table[kv[0]].attack_id))
    out = []
    for stix_id, per_technique in ranked[:limit]:
        obj: AttackObject = table[stix_id]
        how, how_more = _grouped(per_technique)
        out.append(Remedy(obj.attack_id, obj.name, obj.url, tuple(sorted(per_technique)), how,
                          first_sentence(obj.description), refs.attack(obj), how_more))
    return out, max(0, len(ranked) - limit)


def remedies(kb: KnowledgeBase, techniques: Iterable[dict[str, Any]], refs: References, *,
             limit: int = 5) -> tuple[list[Remedy], int, list[Remedy], int]:
    """(mitigations, how many more, detection strategies, how many more) for the observed techniques."""
    observed = observed_techniques(kb, techniques)
    mitigations, more_m = _rank(kb, observed, "mitigates", kb.attack.mitigations, refs, limit)
    detections, more_d = _rank(kb, observed, "detects", kb.attack.detection_strategies, refs, limit)
    return mitigations, more_m, detections, more_d
