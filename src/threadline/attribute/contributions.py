"""What a group's score is made of: its contributions (one per piece of evidence it shares with the case, scaled by
the ranker) and the ranker's features, made only when something reads them.

score_groups scores every profiled group (~170) for each case, ~5,000 contributions a case, while the explanation,
the claim tests and the analysis read those of the ten best groups and of the groups the report names. A
:class:`GroupScore` therefore keeps its terms (plain tuples, before the ranker's scaling) and computes only its
score and the count of positive contributions at once; the contributions and features are made from the terms on
first read, by the same code as before, so every figure is the same to the bit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from threadline.attribute.ranker import EVIDENCE, PROFILE, Ranker

KNOWN_VIA = ("galaxy", "store")    # evidence the group holds through known.py's links, not ATT&CK's relationships


class Contribution(NamedTuple):
    """One observed feature a group shares with the case, and what it added to the score (a named tuple: a frozen
    dataclass took ten times as long to make)."""

    kind: str                     # technique | software | sector | country | time | prior | profile
    key: str
    value: float
    idf: float
    groups: int                   # how many groups have it (document frequency)
    via: str = "direct"           # direct | software (a tool's technique) | description | lineage:S... | parent
    #                               (time: gap | recency; profile: the ranker's feature name)
    level: str = "generic"        # distinctive | moderate | generic (by the share of groups that have it)

    @property
    def distinctive(self) -> bool:
        return self.level == "distinctive" and self.kind in ("technique", "software") and self.via in (
            "direct", "description", *KNOWN_VIA)


# A contribution's fields as a plain tuple (kind, key, value, idf, groups, via, level), before the ranker's scaling.
Term = tuple[str, str, float, float, int, str, str]
# The ranker's coefficients met while scoring a case, by feature name and by a term's (kind, via, level).
Coefficients = dict[str | tuple[str, str, str], float]
_new = tuple.__new__      # a Contribution from a full tuple of its fields, without the named tuple's Python __new__

PROFILE_WORDS = {"rarest_shared": "rarity of the rarest shared observation", "shared_count": "observations shared",
                 "profile_share": "share of the group's profile seen in the case",
                 "case_share": "share of the case in the group's profile", "profile_size": "log size of the profile",
                 "rare_pairs": "rarity of the pairs of observations shared",
                 "rare_tool_pairs": "rarity of the pairs with a tool shared",
                 **{f"{kind}_held_by_{n}": f"{kind} shared that at most {n} group(s) hold"
                    for kind in ("techniques", "software") for n in (1, 3, 10)},
                 "distinctive_covered": "share of the case's distinctive observations the group holds"}


def bucket(kind: str, via: str, level: str) -> str:
    """The ranker's evidence feature a contribution adds to."""
    if kind == "technique":
        if via in ("implied", "software", *KNOWN_VIA):   # a stored report's technique weighs as a tool's does
            return "technique_implied" if via == "implied" else "technique_of_tool"
        return f"technique_{level}"
    if kind == "software":
        if via.startswith("lineage"):
            return "software_lineage"
        if via in ("description", *KNOWN_VIA):           # a link stated outside ATT&CK's "uses"
            return "software_described"
        return "software_distinctive" if level == "distinctive" else "software_other"
    if kind == "time":
        return "time_gap" if via == "gap" else "recency"
    return kind


def coefficient(ranker: Ranker, coefficients: Coefficients, name: str) -> float:
    """The ranker's coefficient of a feature, remembered in ``coefficients`` (shared by the groups of a case)."""
    found = coefficients.get(name)
    if found is None:
        found = coefficients[name] = ranker.coefficient(name)
    return found


class GroupScore:
    """One group's score for a case, with its contributions and the ranker's features (read them through the
    properties: made on first read when the score was :meth:`deferred <defer>`)."""

    __slots__ = ("_contributions", "_features", "_matched", "_pending", "attack_id", "empty", "name", "score")

    def __init__(self, attack_id: str, name: str, score: float, empty: bool,
                 contributions: list[Contribution] | None = None, features: dict[str, float] | None = None) -> None:
        self.attack_id, self.name, self.score, self.empty = attack_id, name, score, empty
        self._contributions: list[Contribution] = contributions if contributions is not None else []
        self._features: dict[str, float] = features if features is not None else {}
        # the terms (or what makes them, when first read), the profile features, the ranker, its coefficients
        self._pending: tuple[list[Term] | Callable[[], list[Term]], dict[str, float], Ranker, Coefficients] | None = \
            None
        self._matched = 0

    def __repr__(self) -> str:
        return f"GroupScore({self.attack_id!r}, {self.name!r}, score={self.score!r}, empty={self.empty!r})"

    @property
    def contributions(self) -> list[Contribution]:
        self._make()
        return self._contributions

    @contributions.setter
    def contributions(self, value: list[Contribution]) -> None:
        self._pending = None
        self._contributions = value

    @property
    def features(self) -> dict[str, float]:
        """The ranker's inputs (hand-weighted sums by kind of evidence, and the profile features)."""
        self._make()
        return self._features

    @features.setter
    def features(self, value: dict[str, float]) -> None:
        self._make()
        self._features = value

    @property
    def matched(self) -> int:
        """How many contributions add to the score."""
        if self._pending is not None:
            return self._matched
        return sum(c.value > 0 for c in self._contributions)

    def evidence_labels(self) -> Iterator[tuple[str, str, str, str]]:
        """(kind, key, via, level) of each contribution but the ranker's profile ones, without making them: the
        engine's sufficiency check reads every group's."""
        if self._pending is not None:
            return ((t[0], t[1], t[5], t[6]) for t in self._terms())
        return ((c.kind, c.key, c.via, c.level) for c in self._contributions if c.kind != "profile")

    def rank(self, terms: list[Term], profile_values: dict[str, float], ranker: Ranker,
             coefficients: Coefficients | None = None) -> None:
        """Set the contributions (the terms scaled by the ranker, plus one per non-zero profile feature), the
        features and the score, now."""
        coefficients = {} if coefficients is None else coefficients
        features = dict.fromkeys(EVIDENCE, 0.0)
        scaled = []
        for kind, key, value, idf, groups, via, level in terms:
            name = bucket(kind, via, level)
            features[name] += value
            scaled.append(_new(Contribution, (kind, key, value * coefficient(ranker, coefficients, name), idf, groups,
                                              via, level)))
        features.update(profile_values)
        for name in PROFILE:
            value = profile_values.get(name, 0.0) * coefficient(ranker, coefficients, name)
            if value:
                scaled.append(_new(Contribution, ("profile", f"{PROFILE_WORDS[name]}: {profile_values[name]:.2f}",
                                                  value, 0.0, 0, name, "generic")))
        self._pending = None
        self._contributions, self._features = scaled, features
        self.score = sum(c.value for c in scaled)

    def defer(self, terms: list[Term], profile_values: dict[str, float], ranker: Ranker,
              coefficients: Coefficients) -> None:
        """:meth:`rank`, but only the score and the count of positive contributions now (the same sum, in the same
        order); the contributions and features when first read."""
        self.defer_rest(0, 0, terms, terms, profile_values, ranker, coefficients)   # sum() starts at 0 too

    def defer_rest(self, total: float, matched: int, rest: list[Term], make: list[Term] | Callable[[], list[Term]],
                   profile_values: dict[str, float], ranker: Ranker, coefficients: Coefficients) -> None:
        """:meth:`defer` of terms whose first ones were already scaled and added (``total``, ``matched``: their
        sum, from 0 in the same order, and how many were positive; ``total`` an int 0 when there were none, as
        sum() and :meth:`defer` leave it): each term of ``rest`` scaled and added in order, then the profile features.
        ``make``: all the terms, or what gives them when first read."""
        for kind, _, value, _, _, via, level in rest:
            # the coefficient by (kind, via, level), remembered beside the buckets': one look-up per term
            label = (kind, via, level)
            factor = coefficients.get(label)
            if factor is None:
                factor = coefficients[label] = coefficient(ranker, coefficients, bucket(kind, via, level))
            scaled = value * factor
            total += scaled
            matched += scaled > 0
        for name in PROFILE:
            value = profile_values.get(name, 0.0) * coefficient(ranker, coefficients, name)
            if value:
                total += value
                matched += value > 0
        self.score, self._matched = total, matched
        self._pending = (make, profile_values, ranker, coefficients)

    def _terms(self) -> list[Term]:
        """The pending terms, made now if they were left to be made."""
        assert self._pending is not None
        terms = self._pending[0]
        if callable(terms):
            terms = terms()
            _, values, ranker, coefficients = self._pending
            self._pending = (terms, values, ranker, coefficients)
        return terms

    def _make(self) -> None:
        if self._pending is not None:
            _, values, ranker, coefficients = self._pending
            terms = self._terms()
            score = self.score    # the deferred sum, plus what a channel outside the terms added (engine._fuse)
            self.rank(terms, values, ranker, coefficients)
            self.score = score
