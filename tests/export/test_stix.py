"""STIX 2.1 export: valid under the official validator, deterministic, TLP 2.0, lossless round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from tests.export.conftest import refanged_values
from threadline.errors import InputError
from threadline.export.stix import TLP_IDS, analysis_from_bundle, export_stix, pattern_of
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


def test_parses_with_stix2(analysis: dict[str, Any], kb: Any) -> None:
    bundle = stix2.parse(export_stix(analysis, kb), allow_custom=True)
    assert bundle.type == "bundle"
    assert {o.type for o in bundle.objects} >= {"report", "identity", "marking-definition", "intrusion-set",
                                                "campaign", "attack-pattern", "indicator", "relationship"}


def test_deterministic(analysis: dict[str, Any], kb: Any) -> None:
    first = export_stix(analysis, kb)
    assert export_stix(json.loads(json.dumps(analysis)), kb) == first
    report = objects(first, "report")[0]
    assert report["id"] == deterministic_id("report", analysis["document"]["sha256"])
    assert report["created"] == report["modified"]


def test_timestamps_come_from_the_document(dianxun: dict[str, Any]) -> None:
    text = export_stix(dianxun)
    stamps = {o["created"] for o in objects(text) if o["type"] not in ("identity", "marking-definition",
                                                                        "extension-definition")}
    assert stamps == {"2021-03-12T00:00:00.000Z"}
    assert objects(text, "campaign")[0]["first_seen"].startswith("2020-08-01T00:00:00")


def test_tlp_markings_use_the_official_definitions(heron: dict[str, Any]) -> None:
    text = export_stix(heron, tlp="TLP:AMBER+STRICT")
    marking = objects(text, "marking-definition")
    assert [m["id"] for m in marking] == ["marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"]
    assert marking[0]["extensions"]["extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"]["tlp_2_0"] == \
        "amber+strict"
    for obj in objects(text):
        if obj["type"] not in ("marking-definition", "identity", "extension-definition"):
            assert obj["object_marking_refs"] == [TLP_IDS["amber+strict"]], obj["id"]
    assert objects(export_stix(heron), "marking-definition")[0]["name"] == "TLP:CLEAR"   # the default
    with pytest.raises(InputError, match="unknown TLP"):
        export_stix(heron, tlp="purple")


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
    patterns = {o["pattern"] for o in objects(text, "indicator")}
    unflagged = [i for i in heron["iocs"] if not i["flags"] and i["type"] != "cve"]
    assert patterns == {pattern_of(i["type"], i["value"]) for i in unflagged}
    for ind in objects(text, "indicator"):
        assert ind["id"] == deterministic_id("indicator", ind["pattern"])
        assert ind["valid_from"] == "2024-06-03T09:30:00Z" or ind["valid_from"].startswith("2024-06-03T09:30:00")
    notes = objects(text, "note")
    assert sorted(n["x_threadline_ioc"]["value"] for n in notes) == ["8.8.8.8", "http://203.0.113.77:8080/dl?id=4471&t='x'"]
    assert all("flagged" in n["content"] for n in notes)
    vulns = objects(text, "vulnerability")
    assert [v["name"] for v in vulns] == ["CVE-2023-4966"]
    assert vulns[0]["external_references"] == [{"source_name": "cve", "external_id": "CVE-2023-4966"}]


def test_actors_techniques_and_relationships(dianxun: dict[str, Any], kb: Any) -> None:
    text = export_stix(dianxun, kb)
    actor = objects(text, "intrusion-set")[0]
    assert actor["name"] == "Mustang Panda"
    assert {"RedDelta", "TA416", "BRONZE PRESIDENT"} <= set(actor["aliases"])   # the report's and ATT&CK's
    assert actor["external_references"][0]["external_id"] == "G0129"
    ids = {p["external_references"][0]["external_id"] for p in objects(text, "attack-pattern")}
    assert ids == {"T1583.001", "T1189", "T1204.002"}
    rels = {(r["relationship_type"], r["source_ref"].split("--")[0], r["target_ref"].split("--")[0])
            for r in objects(text, "relationship")}
    assert {("uses", "campaign", "attack-pattern"), ("attributed-to", "campaign", "intrusion-set"),
            ("indicates", "indicator", "campaign"), ("targets", "campaign", "identity"),
            ("targets", "campaign", "location")} <= rels
    attributed = next(r for r in objects(text, "relationship") if r["relationship_type"] == "attributed-to")
    assert attributed["confidence"] == 72 and "no other evidence" in attributed["description"]
    assert objects(text, "report")[0]["confidence"] == 15       # ICD-203 "low"
    sector = next(o for o in objects(text, "identity") if o["identity_class"] == "class")
    assert sector["sectors"] == ["telecommunications"]
    regions = {o.get("region") for o in objects(text, "location")}
    assert {"europe", "south-eastern-asia"} <= regions


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
    for key in ("document", "actors", "campaigns", "software", "sectors", "countries", "regions", "techniques",
                "iocs", "dates", "lures", "goals", "claims", "attribution"):
        assert back[key] == analysis[key], key
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

    minimal = {"document": {"title": "Quarterly note", "source": "notes/q3.txt", "sha256": "ab" * 32}}
    texts = {name: export(minimal, name) for name in FORMATS}
    result = validate_string(texts["stix"], ValidationOptions(version="2.1"))
    assert result.is_valid
    assert objects(texts["stix"], "report")[0]["published"].startswith("1970-01-01")   # no date: the epoch
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
