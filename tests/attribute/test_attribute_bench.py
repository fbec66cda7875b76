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
