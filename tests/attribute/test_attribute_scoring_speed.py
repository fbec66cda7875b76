"""The memoised scoring helpers (ProfileSet.idf, shape, held_directly; scoring.held_by) give what their plain
definitions give, and score_groups gives the same scores with cold or warm memos and through the per-group
functions, on real cases (the analyses of real reports)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.attribute.reference import reference_scores
from threadline.attribute.observations import Observations, observations_from_analysis
from threadline.attribute.profiles import ProfileSet, build_profiles
from threadline.attribute.ranker import Ranker
from threadline.attribute.scoring import (
    GroupScore,
    Weights,
    _near,
    _time_penalty,
    held_by,
    score_groups,
)
from threadline.attribute.scoring import _direct as direct
from threadline.knowledge import KnowledgeBase

REPO = Path(__file__).resolve().parents[2]
REPORTS = [REPO / "examples" / "operation-dianxun.md", *sorted((REPO / "tests" / "data" / "reports").glob("*.md"))]


@pytest.fixture(scope="module")
def cases(analyse: Callable[..., dict[str, Any]], kb: KnowledgeBase) -> list[Observations]:
    found = [observations_from_analysis(analyse(path), kb) for path in REPORTS]
    assert sum(bool(o.techniques or o.software) for o in found) >= 4
    return found


def _cold(ps: ProfileSet) -> ProfileSet:
    """The same profiles with empty memos."""
    return replace(ps, idf_memo={}, shape_memo={}, column_memo={})


def _plain_idf(ps: ProfileSet, kind: str, key: str) -> float:
    df, n = ps.grading_frequency(kind, key), max(ps.n_groups, 1)
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _view(scores: list[GroupScore]) -> list[tuple[Any, ...]]:
    return [(s.attack_id, s.score, s.empty, sorted((c.kind, c.key, c.value, c.via, c.level) for c in s.contributions),
             s.features) for s in scores]


def _close(a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> None:
    assert [x[0] for x in a] == [y[0] for y in b]
    for x, y in zip(a, b, strict=True):
        assert x[1] == pytest.approx(y[1], rel=1e-12, abs=1e-12) and x[2] == y[2]
        assert [c[:2] + c[3:] for c in x[3]] == [c[:2] + c[3:] for c in y[3]]
        assert [c[2] for c in x[3]] == pytest.approx([c[2] for c in y[3]], rel=1e-12, abs=1e-12)
        assert x[4] == pytest.approx(y[4], rel=1e-12, abs=1e-12)


def test_memoised_helpers_equal_their_definitions(kb: KnowledgeBase, cases: list[Observations]) -> None:
    ps = build_profiles(kb)
    for obs in cases:
        score_groups(obs, ps)           # fills the memos
    assert ps.idf_memo and ps.shape_memo and ps.column_memo
    for (kind, key), value in ps.idf_memo.items():
        assert value == _plain_idf(ps, kind, key)
    live = [p for p in ps.profiles.values() if not p.empty]
    for key, column in ps.column_memo.items():
        assert column == [1.0 if direct(p, key) else 0.0 for p in live]
    for gid, (length, n_sources, size) in ps.shape_memo.items():
        profile = ps.profiles[gid]
        assert (length, n_sources) == (profile.length, profile.n_sources)
        assert size == sum(1 for v in profile.techniques.values() if v >= 1.0) + len(profile.software)
    obs = max(cases, key=lambda o: len(o.techniques) + len(o.software))
    assert held_by(obs, ps) == {k: ps.grading_frequency("software" if k.startswith("S") else "technique", k)
                                for k in (*obs.techniques, *obs.software)}


def test_scores_are_the_same_with_cold_and_warm_memos(kb: KnowledgeBase, cases: list[Observations]) -> None:
    warm = build_profiles(kb)
    for obs in cases:
        first = _view(score_groups(obs, _cold(warm)))
        _close(_view(score_groups(obs, warm)), first)
        _close(_view(score_groups(obs, warm)), first)     # memos filled by the call before


def test_score_groups_equals_the_per_group_functions(kb: KnowledgeBase, cases: list[Observations]) -> None:
    """score_groups shares the case-level work (held_by, one memo) between groups: the per-group path, each
    group scored on its own with the plain helpers, gives the same ranking and scores."""
    ps = build_profiles(kb, ["https://example.org/not-a-cited-source"])
    w, ranker = Weights(), Ranker()
    for obs in cases:
        if not (obs.techniques or obs.software):
            continue
        expected = reference_scores(obs, ps, w, ranker, _cold)
        got = score_groups(obs, ps, w, ranker)
        assert [(s.attack_id, s.score, s.matched) for s in got] == [(s.attack_id, s.score, s.matched)
                                                                    for s in expected]   # before anything is made
        assert _exact(got) == _exact(expected)    # the same floats, not merely close ones


def _exact(scores: list[GroupScore]) -> list[tuple[Any, ...]]:
    return [(s.attack_id, s.score, s.empty, s.matched, [tuple(c) for c in s.contributions], s.features,
             sorted(s.evidence_labels())) for s in scores]


def test_the_time_terms_equal_their_definitions(kb: KnowledgeBase) -> None:
    """The nearest dated source and the count near the case are found by bisection of the sorted years: the same
    floats as the scans they replace, for every group and periods around and between its years."""
    w = Weights()
    profiles = [p for p in build_profiles(kb).profiles.values() if p.years]
    assert len(profiles) > 50
    for profile in profiles:
        years = profile.years
        assert list(years) == sorted(years)
        points = sorted({*years, years[0] - 3.3, years[-1] + 2.7, *(y + 0.25 for y in years), 2001.5, 2019.0})
        for lo in points[::3]:
            for hi in (lo, lo + 0.4, lo + 3.0):
                plain = min(0.0 if lo <= y <= hi else min(abs(y - lo), abs(y - hi)) for y in years)
                assert _time_penalty(years, (lo, hi), w) == min(max(plain - w.time_slack, 0.0), w.time_cap)
                assert _near(years, lo, hi) == sum(lo <= y <= hi for y in years)


def test_weights_outside_the_fast_path_score_as_the_per_group_functions(kb: KnowledgeBase,
                                                                        cases: list[Observations]) -> None:
    """Support and parent credit take the general per-group terms: still the per-group functions' scores."""
    ps = build_profiles(kb)
    w, ranker = Weights(parent=0.3, support=0.2), Ranker()
    obs = max(cases, key=lambda o: len(o.techniques) + len(o.software))
    expected = reference_scores(obs, ps, w, ranker)
    assert _exact(score_groups(obs, ps, w, ranker)) == _exact(expected)
