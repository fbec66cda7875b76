"""The learned ranker: hand scoring by default, a conditional logit fit, the shipped coefficients."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from threadline.attribute.observations import Observations
from threadline.attribute.profiles import build_profiles
from threadline.attribute.ranker import EVIDENCE, FEATURES, PROFILE, RankCase, Ranker, fit_ranker, load_ranker
from threadline.attribute.scoring import DISTINCTIVE_SHARE, Weights, bucket_of, profile_features, score_groups
from threadline.errors import KnowledgeError

CASE = Observations(techniques=("T1566.002", "T1204.001", "T1053.005", "T1071.001", "T1583.001"),
                    software=("S0154", "S1239"), countries=("US",), first_seen="2022-06", last_seen="2022-06")


def test_default_ranker_is_the_hand_scoring(kb):  # type: ignore[no-untyped-def]
    ps = build_profiles(kb)
    for group in score_groups(CASE, ps, Weights())[:20]:
        assert not any(c.kind == "profile" for c in group.contributions)
        by_bucket = {k: 0.0 for k in EVIDENCE}
        for c in group.contributions:
            by_bucket[bucket_of(c)] += c.value
        assert group.score == pytest.approx(sum(by_bucket.values()))
        assert all(group.features[k] == pytest.approx(v) for k, v in by_bucket.items())
        assert set(group.features) <= set(FEATURES)


def test_contributions_add_up_to_the_ranked_score(kb):  # type: ignore[no-untyped-def]
    ranker = Ranker({**dict.fromkeys(EVIDENCE, 0.5), "case_share": 2.0, "profile_size": -0.3, "rare_pairs": 0.4})
    ranked = score_groups(CASE, build_profiles(kb), Weights(), ranker)
    assert [g.score for g in ranked if not g.empty] == sorted((g.score for g in ranked if not g.empty),
                                                              reverse=True)
    top = ranked[0]
    assert top.attack_id == "G0129"          # TONESHELL (S1239) is Mustang Panda's own
    assert top.score == pytest.approx(sum(c.value for c in top.contributions))
    assert any(c.kind == "profile" and c.via == "case_share" for c in top.contributions)
    assert top.score == pytest.approx(ranker.score(top.features))
    rare = score_groups(Observations(techniques=("T1583.001",)), build_profiles(kb), Weights(), ranker)
    silent = [g for g in rare if not g.contributions]
    assert silent and all(g.score == 0.0 and not any(g.features.get(k) for k in PROFILE) for g in silent)


def test_rarity_counts_follow_how_many_groups_hold_each_shared_observation(kb):  # type: ignore[no-untyped-def]
    ps = build_profiles(kb)
    profile = ps.profiles["G0129"]
    values = profile_features(CASE, profile, ps, (0.0, 0.0))
    keys = [*CASE.techniques, *CASE.software]
    held = {k: ps.grading_frequency("software" if k.startswith("S") else "technique", k) for k in keys}
    shared = [k for k in keys if (k in profile.software if k.startswith("S") else profile.techniques.get(k) == 1.0)]
    for prefix, kind in (("T", "techniques"), ("S", "software")):
        counts = [values[f"{kind}_held_by_{n}"] for n in (1, 3, 10)]
        assert counts == sorted(counts)                   # nested thresholds
        assert counts[-1] == sum(1 for k in shared if k.startswith(prefix) and held[k] <= 10)
    assert values["software_held_by_1"] >= 1              # TONESHELL is Mustang Panda's alone
    distinctive = [k for k in keys if held[k] <= DISTINCTIVE_SHARE * ps.n_groups]
    assert values["distinctive_covered"] == pytest.approx(sum(k in shared for k in distinctive) / len(distinctive))


def test_fit_recovers_the_informative_feature() -> None:
    rng = random.Random(3)
    useful, noise = FEATURES.index("case_share"), FEATURES.index("sector")
    cases = []
    for _ in range(150):
        rows = [[0.0] * len(FEATURES) for _ in range(8)]
        for row in rows:
            row[useful], row[noise] = rng.random(), rng.random()
        weights = [math.exp(4 * r[useful]) for r in rows]
        answer = rng.choices(range(8), weights)[0]
        cases.append(RankCase(tuple(map(tuple, rows)), answer))
    ranker = fit_ranker(cases, "synthetic", l2=0.01)
    assert ranker.coefficient("case_share") > 2.5 > abs(ranker.coefficient("sector"))   # sector is noise here
    assert ranker.fitted_on == "synthetic"
    # the screened alternatives (a pairwise ranking loss, ridge towards zero) find the same signal
    pairwise = fit_ranker(cases, l2=0.01, objective="pairwise", toward_hand=False)
    assert pairwise.coefficient("case_share") > 1.0 > abs(pairwise.coefficient("sector"))
    assert abs(pairwise.coefficient("technique_distinctive")) < 0.5   # no signal and no pull towards 1
    with pytest.raises(ValueError, match="objective"):
        fit_ranker(cases, objective="hinge")


def test_shipped_ranker_loads_and_bad_files_fail_clearly(tmp_path: Path) -> None:
    shipped = load_ranker()
    assert set(shipped.coefficients) <= set(FEATURES)
    data = shipped.to_dict()
    coefficients = data["coefficients"]
    assert isinstance(coefficients, dict) and set(coefficients) == set(FEATURES)
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_ranker(path).coefficients == pytest.approx(
        {k: round(shipped.coefficient(k), 5) for k in FEATURES})
    path.write_text(json.dumps({"coefficients": {"made_up": 1.0}}), encoding="utf-8")
    with pytest.raises(KnowledgeError):
        load_ranker(path)
    path.write_text("[1, 2", encoding="utf-8")
    with pytest.raises(KnowledgeError):
        load_ranker(path)
    assert load_ranker(tmp_path / "absent.json") == Ranker()
