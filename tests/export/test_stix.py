"""STIX 2.1 export: valid under the official validator, deterministic, TLP 2.0, lossless round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from tests.export.conftest import refanged_values
from threadline.errors import InputError
from threadline.export.common import ioc_sentence, parse_when
from threadline.export.stix import (
    CONFIDENCE,
    PRODUCER_ID,
    TLP_IDS,
    analysis_from_bundle,
    export_stix,
    pattern_of,
)
from threadline.model import deterministic_id

HUMAN_FIELDS = ("name", "description", "abstract", "content", "objective")


def objects(text: str, kind: str | None = None) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = json.loads(text)["objects"]
    return [o for o in objs if kind is None or o["type"] == kind]


@pytest.mark.parametrize("tlp", ["clear", "amber+strict", "red"])
def test_valid_under_stix2_validator(analysis: dict[str, Any], kb: Any, tlp: str) -> None:
    result = validate_string(export_stix(analysis, kb, tlp=tlp), ValidationOptions(version="2.1"))
    assert result.is_valid, [e.message for e in result.errors]
    assert not result.errors
    # What is left are warnings we accept on purpose: uuid5 ids (determinism) and URLs without hashes.
    assert all("UUIDv4" in w or "{302}" in w for w in result.warnings), result.warnings


def expected_types(analysis: dict[str, Any]) -> set[str]:
    """The STIX types a bundle of this analysis must hold, from what the analysis found."""
    types = {"report", "identity", "marking-definition", "extension-definition"}
    for section, kind in (("actors", "intrusion-set"), ("campaigns", "campaign"), ("techniques", "attack-pattern"),
                          ("countries", "location"), ("regions", "location")):
        if analysis.get(section):
            types |= {kind, "note"}
    if any(not i["flags"] and pattern_of(i["type"], i["value"]) for i in analysis["iocs"]):
        types.add("indicator")
    if analysis["campaigns"] or any(a["role"] in ("named", "attributed") for a in analysis["actors"]):
        types.add("relationship")
    return types


def test_parses_with_stix2(analysis: dict[str, Any], kb: Any) -> None:
    bundle = stix2.parse(export_stix(analysis, kb), allow_custom=True)
    assert bundle.type == "bundle"
    assert {o.type for o in bundle.objects} >= expected_types(analysis)


def test_an_indicator_sentence_is_an_evidence_object(lanternfish: dict[str, Any]) -> None:
    """The extractor gives each indicator its sentence as {text, start, end, ...}; the export quotes its text."""
    assert all(isinstance(i["sentence"], dict) for i in lanternfish["iocs"])
    text = export_stix(lanternfish)
    for ind in objects(text, "indicator"):
        sentence = ioc_sentence(ind["x_threadline_ioc"])
        assert sentence and "“" in ind["description"] and "'text'" not in ind["description"]
        assert ind["x_threadline_ioc"]["sentence"]["start"] >= 0      # the offsets travel with it


def test_deterministic(analysis: dict[str, Any], kb: Any) -> None:
    first = export_stix(analysis, kb)
    assert export_stix(json.loads(json.dumps(analysis)), kb) == first
    report = objects(first, "report")[0]
    assert report["id"] == deterministic_id("report", analysis["document"]["sha256"])
    assert report["created"] == report["modified"]


def stamp(text: str) -> datetime:
    """A STIX timestamp as a datetime (stix2 drops a zero millisecond part: compare instants, not spellings)."""
    when = parse_when(text)
    assert when is not None, text
    return when


def owned(obj: dict[str, Any]) -> bool:
    """Whether an object is the report's own (the rest are shared objects: ATT&CK's, places, sectors, CVEs)."""
    return obj["type"] in ("note", "relationship", "indicator", "report")


def test_timestamps_come_from_the_document(heron: dict[str, Any], kb: Any) -> None:
    text = export_stix(heron, kb)
    report = objects(text, "report")[0]
    assert stamp(report["published"]) == datetime(2024, 6, 3, tzinfo=UTC)      # the article's published_time
    mine = [o for o in objects(text) if owned(o)]
    assert {stamp(o["created"]) for o in mine} == {stamp(o["modified"]) for o in mine} == {stamp(report["published"])}
    # Shared objects carry the time of what they say: their ATT&CK object's, never the report's.
    apt41 = objects(text, "intrusion-set")[0]
    assert (stamp(apt41["created"]), stamp(apt41["modified"])) == \
        (stamp(kb.group("G0096").created), stamp(kb.group("G0096").modified))


def test_campaign_dates_and_goals_are_the_reports(dianxun: dict[str, Any]) -> None:
    text = export_stix(dianxun)
    campaign = objects(text, "campaign")[0]
    note = next(n for n in objects(text, "note") if campaign["id"] in n["object_refs"])
    assert "first_seen" not in campaign and "First seen: 2020-08." in note["content"]
    assert note["x_threadline_item"]["first_seen"] == "2020-08"


def test_no_epoch_when_the_document_has_no_date() -> None:
    """An analysis stored before every document got a date: the ingested time if known, else now; never 1970."""
    minimal = {"document": {"title": "Quarterly note", "source": "notes/q3.txt", "sha256": "ab" * 32}}
    before = datetime.now(UTC).replace(microsecond=0)
    published = objects(export_stix(minimal), "report")[0]["published"]
    assert before <= stamp(published) <= datetime.now(UTC)
    ingested = {"document": {**minimal["document"], "ingested": "2024-02-29T10:11:12Z"}}
    assert stamp(objects(export_stix(ingested), "report")[0]["published"]) == datetime(2024, 2, 29, 10, 11, 12,
                                                                                        tzinfo=UTC)


def test_tlp_markings_use_the_official_definitions(heron: dict[str, Any], kb: Any) -> None:
    text = export_stix(heron, kb, tlp="TLP:AMBER+STRICT")
    marking = {m["id"]: m for m in objects(text, "marking-definition")}
    assert set(marking) == {TLP_IDS["amber+strict"], TLP_IDS["clear"]}
    assert marking[TLP_IDS["amber+strict"]]["extensions"][
        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"]["tlp_2_0"] == "amber+strict"
    for obj in objects(text):
        if obj["type"] in ("marking-definition", "extension-definition") or obj["id"] == PRODUCER_ID:
            continue
        # What the report says is amber+strict; a shared ATT&CK object, place or sector says nothing of the report's.
        expected = "amber+strict" if owned(obj) else "clear"
        assert obj["object_marking_refs"] == [TLP_IDS[expected]], obj["id"]
    assert [m["name"] for m in objects(export_stix(heron), "marking-definition")] == ["TLP:CLEAR"]   # the default
    with pytest.raises(InputError, match="unknown TLP"):
        export_stix(heron, tlp="purple")


def test_a_name_only_the_report_gives_keeps_its_marking(heron: dict[str, Any]) -> None:
    """An actor ATT&CK does not know: its name is the report's, so it is marked and keyed by the report's level."""
    unknown = {**heron, "actors": [{"attack_id": None, "name": "Kestrel Spider", "mentions": ["Kestrel Spider"],
                                    "role": "named", "evidence": []}]}
    red = objects(export_stix(unknown, tlp="red"), "intrusion-set")[0]
    clear = objects(export_stix(unknown), "intrusion-set")[0]
    assert red["object_marking_refs"] == [TLP_IDS["red"]] and clear["object_marking_refs"] == [TLP_IDS["clear"]]
    assert red["id"] != clear["id"]


def test_patterns_quote_and_escape_per_type() -> None:
    assert pattern_of("ipv4", "45.134.26.119") == "[ipv4-addr:value = '45.134.26.119']"
    assert pattern_of("sha1", "ab" * 20) == f"[file:hashes.'SHA-1' = '{'ab' * 20}']"
    assert pattern_of("md5", "0" * 32) == f"[file:hashes.'MD5' = '{'0' * 32}']"
    assert pattern_of("asn", "AS209847") == "[autonomous-system:number = 209847]"
    assert pattern_of("file_name", "O'Brien Updater") == "[file:name = 'O\\'Brien Updater']"
    assert pattern_of("registry_key", "HKEY_CURRENT_USER\\Software\\Run") == \
        "[windows-registry-key:key = 'HKEY_CURRENT_USER\\\\Software\\\\Run']"
    assert pattern_of("cve", "CVE-2023-4966") is None


def test_indicators_only_for_unflagged_iocs(heron: dict[str, Any]) -> None:
    text = export_stix(heron)
    report_id = objects(text, "report")[0]["id"]
    patterns = {o["pattern"] for o in objects(text, "indicator")}
    unflagged = [i for i in heron["iocs"] if not i["flags"] and i["type"] != "cve"]
    assert {i["type"] for i in unflagged} >= {"email", "domain", "url", "ipv6", "asn", "registry_key", "file_name",
                                              "md5", "sha1", "sha256"}
    assert patterns == {pattern_of(i["type"], i["value"]) for i in unflagged}
    for ind in objects(text, "indicator"):
        assert ind["id"] == deterministic_id("indicator", report_id, ind["pattern"])   # the report's own
        assert stamp(ind["valid_from"]) == datetime(2024, 6, 3, tzinfo=UTC)
    flagged = [n for n in objects(text, "note") if (n.get("x_threadline_ioc") or {}).get("flags")]
    assert sorted(n["x_threadline_ioc"]["value"] for n in flagged) == \
        sorted(i["value"] for i in heron["iocs"] if i["flags"])
    assert {"8.8.8.8", "http://203.0.113.77:8080/dl?id=4471"} <= {n["x_threadline_ioc"]["value"] for n in flagged}
    assert all("flagged" in n["content"] for n in flagged)
    vulns = objects(text, "vulnerability")
    assert [v["name"] for v in vulns] == ["CVE-2023-4966"]
    assert vulns[0]["external_references"] == [{"source_name": "cve", "external_id": "CVE-2023-4966"}]
    assert "description" not in vulns[0]          # shared: what the report says is on its note
    cve_note = next(n for n in objects(text, "note") if vulns[0]["id"] in n["object_refs"])
    assert "CVE-2023-4966" in cve_note["content"] and "Citrix NetScaler" in cve_note["content"]


def test_actors_techniques_and_relationships(dianxun: dict[str, Any], heron: dict[str, Any], kb: Any) -> None:
    text = export_stix(dianxun, kb)
    actor = objects(text, "intrusion-set")[0]
    assert actor["name"] == "Mustang Panda"
    assert {"RedDelta", "TA416", "BRONZE PRESIDENT"} <= set(actor["aliases"])   # ATT&CK's aliases
    assert actor["external_references"][0]["external_id"] == "G0129"
    note = next(n for n in objects(text, "note") if actor["id"] in n["object_refs"])
    assert {"RedDelta", "TA416"} <= set(note["x_threadline_item"]["mentions"])   # the report's names, on its note
    rels = {(r["relationship_type"], r["source_ref"].split("--")[0], r["target_ref"].split("--")[0])
            for r in objects(text, "relationship")}
    assert {("attributed-to", "campaign", "intrusion-set"), ("targets", "campaign", "identity"),
            ("targets", "campaign", "location")} <= rels
    attributed = next(r for r in objects(text, "relationship") if r["relationship_type"] == "attributed-to")
    probability = next(c["probability"] for c in dianxun["attribution"]["candidates"] if c["attack_id"] == "G0129")
    assert attributed["confidence"] == round(100 * probability) and "no other evidence" in attributed["description"]
    level = dianxun["attribution"]["confidence"]["analytic_confidence"]
    assert objects(text, "report")[0]["confidence"] == CONFIDENCE[level]       # ICD-203 word -> STIX scale
    sector = next(o for o in objects(text, "identity") if o["name"] == "Telecommunications")
    assert sector["sectors"] == ["telecommunications"]
    regions = {o.get("region") for o in objects(text, "location")}
    assert {"europe", "south-eastern-asia"} <= regions
    # With no campaign, the attributed actor is who uses the techniques and software and whom indicators point to.
    text = export_stix(heron, kb)
    ids = {p["external_references"][0]["external_id"] for p in objects(text, "attack-pattern")}
    assert ids == {t["id"] for t in heron["techniques"]}
    rels = {(r["relationship_type"], r["source_ref"].split("--")[0], r["target_ref"].split("--")[0])
            for r in objects(text, "relationship")}
    assert {("uses", "intrusion-set", "attack-pattern"), ("uses", "intrusion-set", "malware"),
            ("indicates", "indicator", "intrusion-set"), ("targets", "intrusion-set", "vulnerability"),
            ("targets", "intrusion-set", "location"), ("targets", "intrusion-set", "identity")} <= rels
    report_id = objects(text, "report")[0]["id"]
    for rel in objects(text, "relationship"):        # the report's: another report's never shares its id
        assert rel["id"] == deterministic_id("relationship", report_id, rel["relationship_type"], rel["source_ref"],
                                             rel["target_ref"])


def test_no_refanged_indicator_in_human_text(analysis: dict[str, Any], kb: Any) -> None:
    text = export_stix(analysis, kb)
    bad = refanged_values(analysis)
    for obj in objects(text):
        for field in HUMAN_FIELDS:
            value = str(obj.get(field) or "")
            assert not [v for v in bad if v in value], (obj["id"], field, value)


def test_round_trip_is_lossless(analysis: dict[str, Any], kb: Any) -> None:
    first = export_stix(analysis, kb, tlp="green")
    back = analysis_from_bundle(first)
    assert back == analysis                           # every section, every key, every evidence offset
    assert export_stix(back, kb, tlp="green") == first
    assert analysis_from_bundle(json.loads(first)) == back


def test_import_of_a_foreign_bundle() -> None:
    """A bundle another tool wrote is read from its standard properties."""
    bundle = {"type": "bundle", "id": "bundle--0b0f3cfe-6f43-4e0f-9d42-1f8a0a1b2c3d", "objects": [
        {"type": "report", "spec_version": "2.1", "id": "report--5a2f0d7e-4b8e-4c1e-9f2a-7d6c5b4a3e21",
         "created": "2023-05-02T00:00:00Z", "modified": "2023-05-02T00:00:00Z", "name": "Partner note",
         "published": "2023-05-02T00:00:00Z", "object_refs": ["indicator--6c1c1c1c-1c1c-4c1c-8c1c-1c1c1c1c1c1c"],
         "external_references": [{"source_name": "partner", "url": "https://partner.example/note"}]},
        {"type": "intrusion-set", "spec_version": "2.1", "id": "intrusion-set--1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6",
         "created": "2023-05-02T00:00:00Z", "modified": "2023-05-02T00:00:00Z", "name": "APT41",
         "aliases": ["Wicked Panda"],
         "external_references": [{"source_name": "mitre-attack", "external_id": "G0096"}]},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--6c1c1c1c-1c1c-4c1c-8c1c-1c1c1c1c1c1c",
         "created": "2023-05-02T00:00:00Z", "modified": "2023-05-02T00:00:00Z", "pattern_type": "stix",
         "valid_from": "2023-05-02T00:00:00Z", "pattern": "[url:value = 'http://relay.example.net/a?b=1']"},
        {"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--0c7a1b2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
         "created": "2023-05-02T00:00:00Z", "modified": "2023-05-02T00:00:00Z", "name": "Phishing",
         "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}],
         "external_references": [{"source_name": "mitre-attack", "external_id": "T1566"}]}]}
    back = analysis_from_bundle(bundle)
    assert back["document"]["title"] == "Partner note"
    assert back["document"]["source"] == "https://partner.example/note"
    assert back["actors"] == [{"attack_id": "G0096", "name": "APT41", "mentions": ["Wicked Panda"],
                               "role": "mentioned", "evidence": []}]
    assert back["iocs"][0]["value"] == "http://relay.example.net/a?b=1"
    assert back["iocs"][0]["defanged"] == "hxxp://relay[.]example[.]net/a?b=1"
    assert back["techniques"][0]["id"] == "T1566" and back["techniques"][0]["tactics"] == ["initial-access"]
    result = validate_string(export_stix(back), ValidationOptions(version="2.1"))
    assert result.is_valid


@pytest.mark.parametrize("bad", ["{", "[]", '{"type": "report"}', '{"type": "bundle"}'])
def test_import_rejects_what_is_not_a_bundle(bad: str) -> None:
    with pytest.raises(InputError, match="STIX bundle"):
        analysis_from_bundle(bad)


def test_minimal_analysis_exports_in_every_format() -> None:
    """A document with nothing found still gives valid, well-formed files (an empty report, an empty layer)."""
    from threadline.export import FORMATS, export

    minimal = {"document": {"title": "Quarterly note", "source": "notes/q3.txt", "sha256": "ab" * 32,
                            "published": "2023-10-02"}}
    texts = {name: export(minimal, name) for name in FORMATS}
    result = validate_string(texts["stix"], ValidationOptions(version="2.1"))
    assert result.is_valid
    assert stamp(objects(texts["stix"], "report")[0]["published"]) == datetime(2023, 10, 2, tzinfo=UTC)
    assert json.loads(texts["navigator"])["techniques"] == []
    assert texts["csv"].count("\n") == 1
    assert analysis_from_bundle(texts["stix"])["document"] == minimal["document"]


def test_a_hostile_value_stays_one_quoted_comparison() -> None:
    """Quotes and brackets in an indicator cannot close the pattern and smuggle in another comparison."""
    hostile = "203.0.113.9'] OR [file:name = 'x"
    pattern = pattern_of("ipv4", hostile)
    assert pattern == "[ipv4-addr:value = '203.0.113.9\\'] OR [file:name = \\'x']"
    from stix2patterns.v21.pattern import Pattern

    comparisons = Pattern(pattern).inspect().comparisons
    assert list(comparisons) == ["ipv4-addr"] and len(comparisons["ipv4-addr"]) == 1
