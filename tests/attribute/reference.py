"""The per-group reference for score_groups: each group scored on its own by the plain per-group functions
(score_group, profile_features, apply_ranker), as score_groups did before it shared the case's side between groups.
The tests and bench/scale.py compare score_groups with it, float for float."""

from __future__ import annotations

from collections.abc import Callable

from threadline.attribute.observations import Observations
from threadline.attribute.profiles import ProfileSet, sector_stems
from threadline.attribute.ranker import Ranker
from threadline.attribute.scoring import (
    IMPLIED_SPREAD,
    GroupScore,
    Weights,
    apply_ranker,
    level_of,
    pair_rarity,
    profile_features,
    score_group,
)


def reference_scores(obs: Observations, ps: ProfileSet, w: Weights, ranker: Ranker,
                     fresh: Callable[[ProfileSet], ProfileSet] = lambda ps: ps) -> list[GroupScore]:
    """Every group's score for ``obs``, ranked as score_groups ranks; ``fresh`` gives the profile set each
    per-group call sees (a copy with cold memos, to prove the memos change nothing)."""
    implied: dict[str, float] = {}
    for sid in obs.software:
        capabilities = ps.techniques_of_software(sid)
        for t in capabilities:
            implied[t] = max(implied.get(t, 0.0), w.implied * min(1.0, IMPLIED_SPREAD / len(capabilities)))
    query = [(t, 1.0) for t in obs.techniques] + sorted((t, q) for t, q in implied.items() if t not in obs.techniques)
    levels = {t: level_of(ps, "technique", t) for t, _ in query} | {s: level_of(ps, "software", s)
                                                                    for s in obs.software}
    sectors = frozenset().union(*(sector_stems(s) for s in obs.sectors)) if obs.sectors else frozenset()
    pairs = pair_rarity([*obs.techniques, *obs.software], fresh(ps))
    expected = []
    for profile in ps.profiles.values():
        one = score_group(obs, profile, fresh(ps), w, sectors, query, levels)
        values = profile_features(obs, profile, fresh(ps), pairs.get(profile.attack_id, (0.0, 0.0))) \
            if one.contributions else {}
        apply_ranker(one, values, ranker)
        expected.append(one)
    expected.sort(key=lambda s: (not s.empty, s.score, s.matched), reverse=True)
    return expected
