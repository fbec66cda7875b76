"""A fast leave-one-out on a small pinned subset of ATT&CK (the full run is bench/attribution.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "attribution.py"


@pytest.fixture(scope="module")
def bench():  # type: ignore[no-untyped-def]
    if not BENCH.is_file():
        pytest.skip(f"benchmark script not present: {BENCH}")
    spec = importlib.util.spec_from_file_location("bench_attribution", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_attribution"] = module
    spec.loader.exec_module(module)
    return module


def test_leave_one_out_subset(kb, bench):  # type: ignore[no-untyped-def]
    campaigns = bench.campaign_cases(kb)
    reports = bench.report_cases(kb)
    assert len(campaigns) >= 20 and len(reports) >= 500
    # Pinned: the campaigns and every 25th report by name (deterministic order).
    subset = campaigns + reports[::25]
    for case in subset:            # the held-out case's own evidence is really gone from its group's profile
        assert case.exclude_sources
    results = bench.run_cases(kb, subset, bench.scoring.Weights())
    engine = bench.metrics([r.rank for r in results])
    cosine = bench.metrics([r.baseline_ranks["tfidf-cosine"] for r in results])
    jaccard = bench.metrics([r.baseline_ranks["jaccard"] for r in results])
    assert engine["mrr"] > cosine["mrr"] > jaccard["mrr"]
    assert engine["top1"] >= 0.4 and engine["top10"] >= 0.6
    calibrated = bench.crossfit(results)
    assert all(0.0 <= c.top <= 1.0 and 0.0 <= c.unknown <= 1.0 for c in calibrated)
    # With its group removed a case should look more like an unknown actor than as it is.
    assert sum(c.removed_unknown for c in calibrated) > sum(c.unknown for c in calibrated)
    # The hand coefficients reproduce the hand ranking; a ranker fitted on the other folds keeps every case.
    assert [bench.rescored(r, bench.Ranker()).rank for r in results] == [r.rank for r in results]
    learned, calibrated = bench.crossfitted(results, learn=True)
    assert [r.case for r in learned] == [r.case for r in results] and len(calibrated) == len(results)
    assert bench.metrics([r.rank for r in learned])["top1"] >= 0.4
    assert all(0.0 <= c.conditional <= 1.0 for c in calibrated)


def test_campaign_case_leaves_itself_out(kb, bench):  # type: ignore[no-untyped-def]
    case = next(c for c in bench.campaign_cases(kb) if c.name.startswith("C0024"))   # SolarWinds
    ps = bench.build_profiles(kb, case.exclude_sources, case.exclude_objects)
    base = bench.build_profiles(kb)
    assert ps.profiles[case.answer].n_sources < base.profiles[case.answer].n_sources
    excluded = {s.casefold() for s in case.exclude_sources}
    for feature, sources in ps.profiles[case.answer].sources.items():
        assert not sources or {s.casefold() for s in sources} - excluded, feature   # some other report backs it


def test_thinned_cases_keep_victims_exclusions_and_fold(kb, bench):  # type: ignore[no-untyped-def]
    cases = bench.campaign_cases(kb)[:6]
    thin = bench.thinned_cases(cases, 1, seed=3)
    assert thin == bench.thinned_cases(cases, 1, seed=3)          # a fixed seed draws the same subsets
    by_name = {c.name: c for c in cases}
    for copy in thin:
        case = by_name[copy.name]
        size = int(copy.kind.split("-")[1])
        kept = [*copy.observations.techniques, *copy.observations.software]
        assert len(kept) == size < len(case.observations.techniques) + len(case.observations.software)
        assert set(kept) <= set(case.observations.techniques) | set(case.observations.software)
        assert (copy.observations.countries, copy.observations.sectors, copy.observations.first_seen) == (
            case.observations.countries, case.observations.sectors, case.observations.first_seen)
        assert copy.exclude_sources == case.exclude_sources and bench._fold(copy) == bench._fold(case)
    # thin copies are evaluated, or join the calibration's fit, without changing the full cases' ranks
    results = bench.run_cases(kb, cases, bench.scoring.Weights())
    rows = bench.run_cases(kb, thin, bench.scoring.Weights())
    plain, _ = bench.crossfitted(results, learn=False)
    ranked, calibrated = bench.crossfitted(results, learn=False, extra=rows[:3], augment=rows[3:])
    assert [r.rank for r in ranked[:len(results)]] == [r.rank for r in plain] and len(calibrated) == len(cases) + 3
