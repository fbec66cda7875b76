"""MISP export: loadable by MISPEvent().load, correct types/categories/to_ids, galaxy and estimative tags."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pymisp import MISPEvent

from tests.export.conftest import refanged_values
from threadline.export.misp import export_misp, likelihood


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
    # Every attribute type/category pair is one MISP's own table allows.
    mapping = event.describe_types["category_type_mappings"]
    for attribute in event.attributes:
        assert attribute.type in mapping[attribute.category], (attribute.type, attribute.category)


def test_types_categories_and_to_ids(heron: dict[str, Any]) -> None:
    event = loaded(export_misp(heron))
    by_value = {a.value: a for a in event.attributes}
    expected = {"payroll-notice@kestrel-hr.biz": "email", "stormrelay.org": "domain",
                "2a0e:97c0:3a0::1f4": "ip-dst", "AS209847": "AS", "wshelper.exe": "filename",
                "HKEY_CURRENT_USER\\Software\\Microsoft\\Windows\\CurrentVersion\\Run": "regkey",
                "5d41402abc4b2a76b9719d911017c592": "md5", "CVE-2023-4966": "vulnerability",
                "1BoatSLRHtKNngkdXEeobR76b53LETtpyT": "btc", "ab" * 64: "sha512"}
    for value, kind in expected.items():
        assert by_value[value].type == kind, value
    assert by_value["stormrelay.org"].category == "Network activity" and by_value["stormrelay.org"].to_ids
    assert by_value["wshelper.exe"].category == "Payload delivery"
    assert by_value["CVE-2023-4966"].to_ids is False          # MISP's default for vulnerabilities
    for flagged in ("8.8.8.8", "http://203.0.113.77:8080/dl?id=4471&t='x'"):   # warninglist hits
        assert by_value[flagged].to_ids is False
        assert by_value[flagged].comment.startswith("Flagged (warninglist")


def test_galaxy_tlp_and_estimative_tags(dianxun: dict[str, Any], kb: Any) -> None:
    tags = [t.name for t in loaded(export_misp(dianxun, kb, tlp="amber")).tags]
    assert "tlp:amber" in tags
    assert 'misp-galaxy:mitre-intrusion-set="Mustang Panda - G0129"' in tags
    assert 'misp-galaxy:threat-actor="RedDelta"' in tags      # the MISP entry named in the report
    assert 'misp-galaxy:mitre-attack-pattern="Drive-by Compromise - T1189"' in tags
    assert 'misp-galaxy:mitre-attack-pattern="Malicious File - T1204.002"' in tags
    assert 'misp-galaxy:sector="Telecoms"' in tags
    assert 'estimative-language:likelihood-probability="likely"' in tags            # p = 0.72
    assert 'estimative-language:confidence-in-analytic-judgment="low"' in tags


def test_mentioned_actor_is_not_tagged(heron: dict[str, Any], kb: Any) -> None:
    tags = [t.name for t in loaded(export_misp(heron, kb)).tags]
    assert not [t for t in tags if "Kestrel Spider" in t]
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
    assert clusters["mitre-attack-pattern"]["Spearphishing Link - T1566.002"] == \
        kb.by_attack_id["T1566.002"].stix_id.split("--")[1]
    tags = {t.name for t in event.tags}
    for galaxy in event.galaxies:
        assert galaxy.uuid and galaxy.name
        for cluster in galaxy.clusters:
            assert cluster.tag_name in tags             # tag and cluster agree
    mustang = {g["type"]: g for g in loaded(export_misp(dianxun, kb)).galaxies}["threat-actor"]
    assert "RedDelta" in {c.value for c in mustang.clusters}
    assert not loaded(export_misp(heron)).galaxies     # without the knowledge base: tags only


def test_repeated_indicator_is_one_attribute(heron: dict[str, Any]) -> None:
    twice = {**heron, "iocs": heron["iocs"] + [dict(heron["iocs"][2], start=999, end=1015)]}
    event = loaded(export_misp(twice))
    uuids = [a.uuid for a in event.attributes]
    assert len(uuids) == len(set(uuids))
    assert [a.value for a in event.attributes].count("stormrelay.org") == 1
    names = [t.name for t in event.tags]
    assert len(names) == len(set(names))
