"""MISP export: loadable by MISPEvent().load, correct types/categories/to_ids, galaxy and estimative tags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pymisp import AbstractMISP, MISPEvent

from tests.export.conftest import ioc, refanged_values
from threadline.export.common import ioc_sentence
from threadline.export.misp import export_misp, galaxy_value, likelihood


def loaded(text: str) -> MISPEvent:
    event = MISPEvent()
    event.load(text)
    return event


def test_loadable_and_deterministic(analysis: dict[str, Any], kb: Any) -> None:
    text = export_misp(analysis, kb)
    assert export_misp(json.loads(json.dumps(analysis)), kb) == text
    event = loaded(text)
    assert event.info == analysis["document"]["title"]
    assert len(event.attributes) >= len(analysis["iocs"])
    assert event.uuid and all(a.uuid for a in event.attributes)


def test_every_type_and_category_pair_is_one_misp_allows(analysis: dict[str, Any], kb: Any,
                                                          tmp_path: Path) -> None:
    """Load the file as MISP would (MISPEvent().load_file) and check each attribute against describeTypes."""
    path = tmp_path / "event.json"
    path.write_text(export_misp(analysis, kb), encoding="utf-8")
    event = MISPEvent()
    event.load_file(str(path))
    table = AbstractMISP().describe_types        # the describeTypes.json pymisp ships
    for attribute in event.attributes:
        assert attribute.type in table["types"], attribute.type
        assert attribute.category in table["categories"], attribute.category
        assert attribute.type in table["category_type_mappings"][attribute.category], \
            (attribute.type, attribute.category)


def test_comments_quote_the_sentence_text(lanternfish: dict[str, Any]) -> None:
    """An indicator's sentence is an evidence object: the comment quotes its text, never the dict."""
    event = loaded(export_misp(lanternfish))
    for item in lanternfish["iocs"]:
        attribute = next(a for a in event.attributes if a.value == item["value"])
        assert "{'text'" not in attribute.comment and "'start'" not in attribute.comment
        said = attribute.comment.split("). ", 1)[1] if item["flags"] else attribute.comment   # after "Flagged (...)"
        assert said.split()[:3] == ioc_sentence(item).split()[:3]


def test_no_epoch_event_date(heron: dict[str, Any]) -> None:
    assert str(loaded(export_misp(heron)).date) == "2024-06-03"
    undated = {**heron, "document": {**heron["document"], "published": None}}
    assert not str(loaded(export_misp(undated)).date).startswith("1970")


def test_types_categories_and_to_ids(heron: dict[str, Any]) -> None:
    event = loaded(export_misp(heron))
    by_value = {a.value: a for a in event.attributes}
    expected = {"payroll-notice@kestrel-hr.biz": "email", "stormrelay.org": "domain",
                "2a0e:97c0:3a0::1f4": "ip-dst", "AS209847": "AS", "wshelper.exe": "filename",
                "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run": "regkey",
                "007ff167bd7b07d992638129c6c02a4d": "md5", "9f3091db6d3526db523779025e60dc081610a9cc": "sha1",
                "6f3a1c9e0b84d27f5e1a9c3b7d60f2e48a15c9b3d7e2f04a6b18c5d9e3f7a201": "sha256",
                "CVE-2023-4966": "vulnerability"}
    for value, kind in expected.items():
        assert by_value[value].type == kind, value
    assert by_value["stormrelay.org"].category == "Network activity" and by_value["stormrelay.org"].to_ids
    assert by_value["wshelper.exe"].category == "Payload delivery"
    assert by_value["CVE-2023-4966"].to_ids is False          # MISP's default for vulnerabilities
    for flagged in ("8.8.8.8", "http://203.0.113.77:8080/dl?id=4471"):   # warninglist hits
        assert ioc(heron, flagged)["flags"]
        assert by_value[flagged].to_ids is False
        assert by_value[flagged].comment.startswith("Flagged (warninglist")


def test_galaxy_tlp_and_estimative_tags(dianxun: dict[str, Any], heron: dict[str, Any], kb: Any) -> None:
    tags = [t.name for t in loaded(export_misp(dianxun, kb, tlp="amber")).tags]
    assert "tlp:amber" in tags
    assert 'misp-galaxy:mitre-intrusion-set="Mustang Panda - G0129"' in tags
    assert 'misp-galaxy:threat-actor="RedDelta"' in tags      # the MISP entry named in the report
    assert 'misp-galaxy:sector="Telecoms"' in tags
    top = max(dianxun["attribution"]["candidates"], key=lambda c: c["probability"])
    assert f'estimative-language:likelihood-probability="{likelihood(top["probability"])}"' in tags
    level = dianxun["attribution"]["confidence"]["analytic_confidence"]
    assert f'estimative-language:confidence-in-analytic-judgment="{level}"' in tags
    tags = [t.name for t in loaded(export_misp(heron, kb)).tags]
    assert 'misp-galaxy:mitre-attack-pattern="Registry Run Keys / Startup Folder - T1547.001"' in tags
    assert 'misp-galaxy:mitre-attack-pattern="Exploit Public-Facing Application - T1190"' in tags


def test_galaxy_tags_name_only_clusters_the_galaxy_has(heron: dict[str, Any], kb: Any) -> None:
    """ATT&CK 18 is newer than the pinned MISP galaxy: T1680 has no cluster there, so no dead galaxy tag."""
    assert any(t["id"] == "T1680" for t in heron["techniques"])
    assert galaxy_value("mitre-attack-pattern", "Local Storage Discovery - T1680", attack_id="T1680") is None
    tags = [t.name for t in loaded(export_misp(heron, kb)).tags]
    assert 'misp-galaxy:mitre-attack-pattern="Local Storage Discovery - T1680"' not in tags
    assert 'threadline:attack-pattern="Local Storage Discovery - T1680"' in tags     # kept, as a free tag
    for name in tags:
        if name.startswith("misp-galaxy:"):
            kind, _, value = name.removeprefix("misp-galaxy:").partition("=")
            assert galaxy_value(kind, value.strip('"')) == value.strip('"'), name


def test_mentioned_actor_is_not_tagged(heron: dict[str, Any], kb: Any) -> None:
    mentioned = {**heron, "actors": [dict(heron["actors"][0], role="mentioned")]}
    tags = [t.name for t in loaded(export_misp(mentioned, kb)).tags]
    assert not [t for t in tags if "APT41" in t]
    assert 'misp-galaxy:mitre-malware="PlugX - S0013"' in tags


@pytest.mark.parametrize(("p", "word"), [(0.01, "almost-no-chance"), (0.5, "roughly-even-chance"),
                                         (0.72, "likely"), (0.9, "very-likely"), (1.0, "almost-certain")])
def test_likelihood_words(p: float, word: str) -> None:
    assert likelihood(p) == word


def test_comments_are_defanged(analysis: dict[str, Any], kb: Any) -> None:
    bad = refanged_values(analysis)
    for attribute in loaded(export_misp(analysis, kb)).attributes:
        assert not [v for v in bad if v in (attribute.comment or "")], attribute.comment


def test_galaxy_clusters_are_the_ones_misp_ships(dianxun: dict[str, Any], heron: dict[str, Any], kb: Any) -> None:
    """Clusters carry the uuids of MISP's own galaxies (mitre-* reuse ATT&CK's STIX uuids)."""
    event = loaded(export_misp(heron, kb))
    clusters = {g["type"]: {c.value: c.uuid for c in g.clusters} for g in event.galaxies}
    assert clusters["mitre-intrusion-set"] == {"APT41 - G0096": kb.by_attack_id["G0096"].stix_id.split("--")[1]}
    assert clusters["mitre-malware"]["PlugX - S0013"] == "64fa0de0-6240-41f4-8638-f4ca7ed528fd"
    assert clusters["mitre-attack-pattern"]["Registry Run Keys / Startup Folder - T1547.001"] == \
        kb.by_attack_id["T1547.001"].stix_id.split("--")[1]
    assert not [v for v in clusters["mitre-attack-pattern"] if v.endswith("T1680")]    # the galaxy lacks it
    tags = {t.name for t in event.tags}
    for galaxy in event.galaxies:
        assert galaxy.uuid and galaxy.name
        for cluster in galaxy.clusters:
            assert cluster.tag_name in tags             # tag and cluster agree
    mustang = {g["type"]: g for g in loaded(export_misp(dianxun, kb)).galaxies}["threat-actor"]
    assert "RedDelta" in {c.value for c in mustang.clusters}
    assert not loaded(export_misp(heron)).galaxies     # without the knowledge base: tags only


def test_repeated_indicator_is_one_attribute(heron: dict[str, Any]) -> None:
    domain = ioc(heron, "stormrelay.org")
    twice = {**heron, "iocs": heron["iocs"] + [dict(domain, offset=999)]}
    event = loaded(export_misp(twice))
    uuids = [a.uuid for a in event.attributes]
    assert len(uuids) == len(set(uuids))
    assert [a.value for a in event.attributes].count("stormrelay.org") == 1
    names = [t.name for t in event.tags]
    assert len(names) == len(set(names))
