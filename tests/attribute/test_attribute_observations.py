"""Observations: parsing, resolution through the knowledge base, and one-line errors on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.attribute.observations import parse_observations, read_observations_file
from threadline.errors import InputError


def test_resolves_ids_names_and_countries(kb):  # type: ignore[no-untyped-def]
    obs = parse_observations({
        "techniques": ["t1566.002", "T1204.001", "T1566.002"],
        "software": ["PlugX", "S0154"],
        "countries": ["United States", "vn", "Atlantis"],
        "sectors": ["Telecommunications"],
        "first_seen": "2020-08", "last_seen": "2021-03-02",
    }, kb)
    assert obs.techniques == ("T1566.002", "T1204.001")
    assert obs.software == ("S0013", "S0154")
    assert obs.countries == ("US", "VN")
    assert "Atlantis" in obs.unresolved
    years = obs.years()
    assert years is not None and 2020.5 < years[0] < 2020.7 and 2021.1 < years[1] < 2021.3


def test_accepts_the_analysis_json_shapes(kb):  # type: ignore[no-untyped-def]
    obs = parse_observations({
        "techniques": [{"id": "T1071.001", "name": "Web Protocols"}],
        "software": [{"attack_id": None, "name": "PlugX"}],
        "countries": [{"code": "US", "name": "United States"}],
        "claims": [{"actor": "TA416", "attack_id": None, "strength": "attributed", "basis": ["TTPs"],
                    "caveats": ["no other evidence has been found"]}],
    }, kb)
    assert obs.techniques == ("T1071.001",) and obs.software == ("S0013",) and obs.countries == ("US",)
    assert obs.report_claims[0].attack_id == "G0129"
    assert obs.report_claims[0].caveats == ("no other evidence has been found",)


def test_unknown_technique_id_is_not_weighed(kb):  # type: ignore[no-untyped-def]
    obs = parse_observations({"techniques": ["T9999.999", "T1059"]}, kb)
    assert obs.techniques == ("T1059",) and obs.unresolved == ("T9999.999",)


@pytest.mark.parametrize(("data", "fragment"), [
    ([1, 2], "expected a JSON object"),
    ({"techniques": 5}, "must be a list"),
    ({"techniques": ["remote access trojan thing"]}, "not an ATT&CK technique id"),
    ({"first_seen": "last summer"}, "ISO date"),
    ({"tecniques": ["T1059"]}, "unknown field"),
    ({"report_claims": [{"actor": "APT28", "strength": "probably"}]}, "strength must be one of"),
    ({"report_claims": [{"strength": "attributed"}]}, "needs an \"actor\""),
])
def test_bad_input_is_one_line_input_error(kb, data, fragment):  # type: ignore[no-untyped-def]
    with pytest.raises(InputError) as info:
        parse_observations(data, kb, where="case.json")
    message = info.value.one_line()
    assert fragment in message and message.startswith("case.json: ") and "\n" not in message


def test_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "obs.json"
    path.write_text('{"techniques": ["T1059",]', encoding="utf-8")
    with pytest.raises(InputError, match="not JSON"):
        read_observations_file(path)
    with pytest.raises(InputError, match="no such file"):
        read_observations_file(tmp_path / "missing.json")


def test_observations_from_the_analysis_json(kb):  # type: ignore[no-untyped-def]
    from threadline.attribute.observations import observations_from_analysis

    evidence = [{"text": "…", "start": 0, "end": 1}]
    analysis = {
        "document": {"title": "Brief", "source": "brief.txt"},
        "techniques": [{"id": "T1566.002", "name": "Spearphishing Link", "evidence": evidence, "inferred": False},
                       {"id": "T1055", "name": "Process Injection", "evidence": [], "inferred": True}],
        "software": [{"attack_id": None, "name": "PlugX", "kind": "malware", "evidence": evidence}],
        "sectors": [{"name": "Telecommunications", "evidence": evidence}],
        "countries": [{"code": "US", "name": "United States", "evidence": evidence}],
        "dates": [{"date": "2020-08", "text": "August 2020", "event": "first activity observed"},
                  {"date": "2019", "text": "2019", "event": "earlier activity"}],
        "claims": [{"actor": "RedDelta", "attack_id": "G0129", "strength": "attributed", "basis": ["TTPs"],
                    "caveats": [], "evidence": evidence}],
    }
    obs = observations_from_analysis(analysis, kb)
    assert obs.techniques == ("T1566.002",)          # inferred-from-software techniques are not counted twice
    assert obs.software == ("S0013",) and obs.countries == ("US",) and obs.sectors == ("Telecommunications",)
    assert (obs.first_seen, obs.last_seen) == ("2019", "2020-08")
    assert obs.report_claims[0].attack_id == "G0129"


def test_revoked_technique_id_counts_as_its_replacement(kb):  # type: ignore[no-untyped-def]
    obs = parse_observations({"techniques": ["T1574.002", "T1574.001", "T1086"]}, kb)
    assert obs.techniques == ("T1574.001", "T1059.001") and not obs.unresolved


def test_only_an_unknown_claim_may_go_without_an_actor(kb):  # type: ignore[no-untyped-def]
    obs = parse_observations({"report_claims": [{"strength": "unknown"}, {"actor": "TA416", "strength": "suspected"}]},
                             kb)
    assert [(c.actor, c.attack_id, c.strength) for c in obs.report_claims] == [
        (None, None, "unknown"), ("TA416", "G0129", "suspected")]
