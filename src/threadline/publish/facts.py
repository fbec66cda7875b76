"""The pieces a briefing is made of: facts, each citing numbered references (a source sentence or a
knowledge-base object), and the registry that numbers references in order of first use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from threadline.knowledge.attack import AttackObject, Citation
from threadline.knowledge.galaxies import ThreatActor
from threadline.publish.render import Defanger


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
    refs: tuple[int, ...]              # the sentences naming the software


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
        text = " ".join(str(ev.get("text") or "").split())
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

    def evidence_list(self, items: Any) -> tuple[int, ...]:
        numbers = [self.evidence(ev) for ev in (items or []) if isinstance(ev, dict)]
        return tuple(dict.fromkeys(n for n in numbers if n is not None))

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


def merge(*groups: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """Reference numbers of several groups, in order, without repeats."""
    return tuple(dict.fromkeys(n for group in groups for n in group))


def join_words(words: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"
