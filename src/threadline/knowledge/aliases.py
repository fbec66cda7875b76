"""Aliases as evidence, not identity: every name an actor goes by, with who asserts it.

Look-ups ignore case, spaces, hyphens, punctuation and diacritics ("APT 28" = "apt-28", "Diànxùn" = "Dianxun").
A name several actors share resolves to all of them; nothing is picked silently and nothing is merged.
"""

from __future__ import annotations

import difflib
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

# How an alias is asserted. "relation" aliases come from a MISP overlaps/similar link: they are shown with their
# likelihood but only make a name resolve to an actor when no actor carries the name directly. "derived" names
# are ATT&CK names without their suffix ("Lazarus" for "Lazarus Group"): the same rule, so a bare name that
# MISP gives to other actors too ("Winnti") stays as ambiguous as it was.
DIRECT_KINDS = frozenset({"attack", "misp"})


def normalise(name: str) -> str:
    """The look-up key of a name: no diacritics, case-folded, letters and digits only."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return "".join(ch for ch in stripped.casefold() if ch.isalnum())


@dataclass(frozen=True)
class AliasAssertion:
    """One source saying that ``entity`` is known as ``name``."""

    entity: str            # entity key: an ATT&CK id ("G0129") or "misp:<uuid>" for a MISP-only actor
    name: str
    kind: str              # "attack" | "misp" | "relation" | "derived"
    source: str            # human-readable: "MITRE ATT&CK G0129", "MISP threat-actor galaxy: MUSTANG PANDA", ...
    likelihood: str | None = None   # estimative-language tag of a MISP relation ("likely")
    citations: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"source": self.source, "kind": self.kind}
        if self.likelihood:
            out["likelihood"] = self.likelihood
        if self.citations:
            out["citations"] = list(self.citations)
        return out


@dataclass(frozen=True)
class Resolution:
    """The answer to "who is NAME?": one or more entities, each with the assertions that matched."""

    query: str
    matches: dict[str, tuple[AliasAssertion, ...]]

    @property
    def entities(self) -> list[str]:
        return list(self.matches)

    @property
    def unique(self) -> str | None:
        return next(iter(self.matches)) if len(self.matches) == 1 else None


class AliasIndex:
    """Normalised name -> assertions; built once, then read-only."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[AliasAssertion]] = defaultdict(list)
        self._by_entity: dict[str, list[AliasAssertion]] = defaultdict(list)

    def add(self, assertion: AliasAssertion) -> None:
        key = normalise(assertion.name)
        if not key:
            return
        if assertion not in self._by_key[key]:
            self._by_key[key].append(assertion)
            self._by_entity[assertion.entity].append(assertion)

    def for_entity(self, entity: str) -> list[AliasAssertion]:
        return list(self._by_entity.get(entity, ()))

    def grouped_aliases(self, entity: str) -> list[tuple[str, list[AliasAssertion]]]:
        """The entity's names, each once (first spelling seen), with every assertion of it."""
        groups: dict[str, list[AliasAssertion]] = {}
        spelling: dict[str, str] = {}
        for assertion in self._by_entity.get(entity, ()):
            key = normalise(assertion.name)
            spelling.setdefault(key, assertion.name)
            groups.setdefault(key, []).append(assertion)
        return [(spelling[k], v) for k, v in groups.items()]

    def resolve(self, name: str) -> Resolution:
        """Entities carrying the name; direct assertions win over relation-only ones."""
        found = self._by_key.get(normalise(name), [])
        direct = [a for a in found if a.kind in DIRECT_KINDS]
        chosen = direct or found
        matches: dict[str, list[AliasAssertion]] = defaultdict(list)
        for assertion in chosen:
            matches[assertion.entity].append(assertion)
        return Resolution(name, {k: tuple(v) for k, v in matches.items()})

    def suggest(self, name: str, limit: int = 5) -> list[str]:
        """Close spellings for an unknown name (shown in the error message)."""
        keys = difflib.get_close_matches(normalise(name), self._by_key.keys(), n=limit, cutoff=0.72)
        return [self._by_key[k][0].name for k in keys]

    def __len__(self) -> int:
        return len(self._by_key)

    def all_keys(self) -> list[str]:
        return list(self._by_key)

    def assertions(self, key: str) -> list[AliasAssertion]:
        """Every assertion filed under a normalised key."""
        return list(self._by_key.get(key, ()))
