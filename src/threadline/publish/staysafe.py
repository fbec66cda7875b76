""""Stay safe": ATT&CK mitigations and detection strategies for the techniques a report observed, ranked by how
many of those techniques each covers, with how it applies to each one."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from threadline.knowledge.attack import AttackObject, Technique, plain_text
from threadline.knowledge.base import KnowledgeBase
from threadline.publish.facts import References

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
SUMMARY_CHARS = 240


def first_sentence(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first sentence of ATT&CK prose, without citation markers, cut at ``limit`` characters."""
    plain = plain_text(text)
    head = _SENTENCE_END.split(plain, maxsplit=1)[0] if plain else ""
    return head if len(head) <= limit else head[: limit - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class Remedy:
    """A mitigation or detection strategy, the observed techniques it covers and how it applies to each."""

    attack_id: str
    name: str
    url: str | None
    covers: tuple[str, ...]
    how: tuple[tuple[str, str], ...]
    summary: str
    ref: int


def observed_techniques(kb: KnowledgeBase, techniques: Iterable[dict[str, Any]]) -> list[Technique]:
    """The ATT&CK techniques an analysis names, in its order, unknown ids skipped (they have nothing to map)."""
    out: dict[str, Technique] = {}
    for item in techniques:
        found = kb.technique(str(item.get("id") or ""))
        if len(found) == 1:
            out.setdefault(found[0].attack_id, found[0])
    return list(out.values())


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
        out.append(Remedy(obj.attack_id, obj.name, obj.url, tuple(sorted(per_technique)),
                          tuple((t, how) for t, how in sorted(per_technique.items()) if how),
                          first_sentence(obj.description), refs.attack(obj)))
    return out, max(0, len(ranked) - limit)


def remedies(kb: KnowledgeBase, techniques: Iterable[dict[str, Any]], refs: References, *,
             limit: int = 12) -> tuple[list[Remedy], int, list[Remedy], int]:
    """(mitigations, how many more, detection strategies, how many more) for the observed techniques."""
    observed = observed_techniques(kb, techniques)
    mitigations, more_m = _rank(kb, observed, "mitigates", kb.attack.mitigations, refs, limit)
    detections, more_d = _rank(kb, observed, "detects", kb.attack.detection_strategies, refs, limit)
    return mitigations, more_m, detections, more_d
