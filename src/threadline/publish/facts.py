"""The pieces a briefing is made of: facts, each citing numbered references (a source sentence or a
knowledge-base object), and the registry that numbers references in order of first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from threadline.knowledge.attack import AttackObject, Citation
from threadline.knowledge.galaxies import ThreatActor
from threadline.publish.render import Defanger

MAX_CITES = 3       # source sentences cited for one fact; a report repeating a sentence 150 times is cited 3 times

@dataclass(frozen=True)
class Reference:
    """One numbered piece of evidence: ``kind`` is source, attack, misp or citation."""

    number: int
    kind: str
    label: str
    quote: str | None = None        # the source sentence, defanged (untrusted: escaped when rendered)
    location: str | None = None     # "characters 129–281, page 2"
    url: str | None = None


@dataclass(frozen=True)
class Fact:
    """A sentence the briefing states, with the references that support it; ``quote`` is shown inline."""

    text: str
    refs: tuple[int, ...] = ()
    quote: str | None = None
    date: str | None = None
    more: int = 0           # further supporting sentences, counted rather than cited ("+N more")


@dataclass(frozen=True)
class Indicator:
    type: str
    defanged: str
    flags: tuple[str, ...]
    refs: tuple[int, ...]


@dataclass(frozen=True)
class TechniqueSeen:
    id: str
    name: str
    tactics: tuple[str, ...]
    inferred: bool
    url: str | None
    refs: tuple[int, ...]


@dataclass(frozen=True)
class InferredFrom:
    """Techniques ATT&CK records for one piece of software the report names, which the report does not describe."""

    software: str                      # "Cobalt Strike (S0154)"
    techniques: tuple[TechniqueSeen, ...]
    refs: tuple[int, ...]              # the sentence naming the software
    more: int = 0                      # its further known techniques, counted rather than listed


@dataclass(frozen=True)
class ActorSeen:
    """An actor the briefing is about: ``key`` names its site page (G-id, ``misp-<uuid>`` or ``name-<slug>``)."""

    key: str
    name: str
    attack_id: str | None
    role: str
    mentions: tuple[str, ...] = ()         # the names the source used for it


@dataclass
class References:
    """Numbers references by first use, so the same evidence always gets the same number in one briefing."""

    defang: Defanger
    document: str = "the source"
    items: list[Reference] = field(default_factory=list)
    _index: dict[tuple[str, ...], int] = field(default_factory=dict)
    _by_text: dict[str, int] = field(default_factory=dict)

    def _add(self, key: tuple[str, ...], make: Any) -> int:
        number = self._index.get(key)
        if number is None:
            number = len(self.items) + 1
            self.items.append(make(number))
            self._index[key] = number
        return number

    def evidence(self, ev: dict[str, Any], *, reuse_sentence: bool = False) -> int | None:
        """A source sentence (Evidence.to_dict()); None when the evidence has neither text nor offsets.

        ``reuse_sentence``: an indicator's sentence already cited (with the sentence's own offsets) keeps its number.
        """
        text = " ".join(evidence_text(ev).split())
        if reuse_sentence and text in self._by_text:
            return self._by_text[text]
        start, end, page = ev.get("start"), ev.get("end"), ev.get("page")
        if not text and start is None:
            return None
        where = [f"characters {start}–{end}"] if isinstance(start, int) and isinstance(end, int) else []
        if isinstance(page, int):
            where.append(f"page {page}")
        location = ", ".join(where) or None
        key = ("source", str(start), str(end), text)
        number = self._add(key, lambda n: Reference(n, "source", self.document, self.defang(text) or None, location))
        self._by_text.setdefault(text, number)
        return number

    def cite(self, *groups: Any, limit: int = MAX_CITES) -> tuple[tuple[int, ...], int]:
        """(reference numbers of the first ``limit`` distinct sentences of these evidence lists, how many more).

        Only the sentences cited get a reference, so the list at the end stays as long as what the briefing
        shows."""
        distinct: dict[tuple[Any, ...], dict[str, Any]] = {}
        for items in groups:
            for ev in items or []:
                if isinstance(ev, dict):
                    distinct.setdefault(evidence_key(ev), ev)
        found = list(distinct.values())
        numbers = [self.evidence(ev) for ev in found[:limit]]
        return tuple(dict.fromkeys(n for n in numbers if n is not None)), max(0, len(found) - limit)

    def evidence_list(self, items: Any, limit: int = MAX_CITES) -> tuple[int, ...]:
        return self.cite(items, limit=limit)[0]

    def attack(self, obj: AttackObject) -> int:
        label = f"MITRE ATT&CK {obj.attack_id}: {obj.name}"
        return self._add(("attack", obj.attack_id), lambda n: Reference(n, "attack", label, url=obj.url))

    def misp(self, actor: ThreatActor) -> int:
        label = f"MISP threat-actor galaxy: {actor.value} ({actor.uuid})"
        return self._add(("misp", actor.uuid), lambda n: Reference(n, "misp", label))

    def citation(self, cite: Citation) -> int:
        label = cite.source_name
        if cite.description and cite.description != cite.source_name:
            label = f"{cite.source_name}: {' '.join(cite.description.split())}"
        return self._add(("citation", cite.source_name), lambda n: Reference(n, "citation", label, url=cite.url))


def evidence_key(ev: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two pieces of evidence the same sentence: its offsets and its text."""
    return ev.get("start"), ev.get("end"), " ".join(evidence_text(ev).split())


def more_text(count: int, what: str = "more") -> str:
    """"+3 more" for a list cut short; "" when nothing was left out."""
    return f"+{count} {what}" if count > 0 else ""


def capped(words: list[str], limit: int) -> list[str]:
    """The first ``limit`` words and, when some are left out, "+N more" as the last word."""
    return [*words[:limit], more_text(len(words) - limit)] if len(words) > limit else list(words)


def evidence_text(value: Any) -> str:
    """The text of evidence, whatever shape it came in: an evidence object (its ``text``, itself possibly an
    evidence object), a plain string, or nothing. Never the object's repr, which would put offsets and hashes in
    front of a reader."""
    for _ in range(3):             # an evidence object wrapped in another one, at most a few levels deep
        if not isinstance(value, dict):
            break
        value = value.get("text")
    return value if isinstance(value, str) else ""


def merge(*groups: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """Reference numbers of several groups, in order, without repeats."""
    return tuple(dict.fromkeys(n for group in groups for n in group))


def join_words(words: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"
