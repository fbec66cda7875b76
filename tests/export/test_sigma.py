"""Sigma export: pySigma parses and validates every rule; literal matching; deterministic ids."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.collection import SigmaCollection
from sigma.rule import SigmaDetectionItem, SigmaRule
from sigma.types import SigmaString

from tests.export.conftest import REPO, SHARED
from threadline.export.sigma import export_sigma, sigma_escape, validate_sigma

ATTACK = REPO / "src" / "threadline" / "data" / "attack" / "enterprise-attack-18.1.json.gz"


@pytest.fixture(scope="module")
def offline_attack(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Point pySigma's ATT&CK tag validator at the local snapshot (it would download it otherwise)."""
    if not ATTACK.is_file():
        pytest.skip(f"ATT&CK snapshot not found at {ATTACK}")
    from sigma.data import mitre_attack

    folder = tmp_path_factory.mktemp("attack")
    plain = folder / "enterprise-attack.json"
    with gzip.open(ATTACK, "rb") as src, plain.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    mitre_attack.set_cache_dir(str(folder / "cache"))
    mitre_attack.set_url(str(plain))
    yield mitre_attack
    mitre_attack.clear_cache()


def rules(text: str) -> list[SigmaRule]:
    return [r for r in SigmaCollection.from_yaml(text) if isinstance(r, SigmaRule)]


def test_every_validator_passes(analysis: dict[str, Any], offline_attack: Any) -> None:
    text = export_sigma(analysis)
    assert validate_sigma(text, exclude=("tlpv1_tag", "d3_fendtag")) == []   # ATT&CK tags checked too


def test_rules_by_logsource(heron: dict[str, Any]) -> None:
    parsed = rules(export_sigma(heron, tlp="amber+strict"))
    categories = [r.logsource.category for r in parsed]
    assert categories == ["dns_query", "proxy", "firewall", "process_creation", "file_event"]
    assert all("tlp.amber-strict" in {str(t) for t in r.tags} for r in parsed)
    files = next(r for r in parsed if r.logsource.category == "file_event")
    assert {"attack.t1547.001", "attack.persistence"} <= {str(t) for t in files.tags}   # wshelper.exe's sentence
    docs = list(yaml.safe_load_all(export_sigma(heron)))
    firewall = next(d for d in docs if d["logsource"]["category"] == "firewall")
    assert firewall["detection"]["selection"]["dst_ip"] == ["2a0e:97c0:3a0::1f4"]   # 8.8.8.8 is flagged
    hashes = next(d for d in docs if d["logsource"]["category"] == "process_creation")
    assert hashes["detection"]["selection"]["Hashes|contains"] == [
        "MD5=007ff167bd7b07d992638129c6c02a4d", "SHA1=9f3091db6d3526db523779025e60dc081610a9cc",
        "SHA256=6f3a1c9e0b84d27f5e1a9c3b7d60f2e48a15c9b3d7e2f04a6b18c5d9e3f7a201"]
    names = next(d for d in docs if d["logsource"]["category"] == "file_event")
    assert "\\svchost.exe" not in names["detection"]["selection"]["TargetFilename|endswith"]   # flagged well-known


def test_the_rule_date_is_the_reports(heron: dict[str, Any]) -> None:
    assert {str(r.date) for r in rules(export_sigma(heron))} == {"2024-06-03"}
    undated = {**heron, "document": {**heron["document"], "published": None}}
    assert not [r for r in rules(export_sigma(undated)) if str(r.date).startswith("1970")]


@pytest.mark.parametrize("backend", ["splunk", "lucene"])
def test_converts_with_siem_backends(analysis: dict[str, Any], backend: str) -> None:
    """Every rule converts to a query of two real backends (Splunk SPL, Elasticsearch Lucene)."""
    from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend
    from sigma.backends.splunk.splunk import SplunkBackend

    converter = {"splunk": SplunkBackend, "lucene": LuceneBackend}[backend]()
    parsed = rules(export_sigma(analysis))
    unflagged = {i["value"] for i in analysis["iocs"] if not i["flags"]
                 and i["type"] in ("domain", "ipv4", "ipv6", "md5", "sha1", "sha256")}
    queries = []
    for rule in parsed:
        converted = converter.convert_rule(rule)
        assert converted and all(isinstance(q, str) and q for q in converted), rule.title
        queries += converted
    text = " ".join(queries).replace("\\", "")     # Lucene escapes - and : in values
    for value in unflagged:
        assert value in text, value


def test_deterministic_ids(analysis: dict[str, Any]) -> None:
    first = export_sigma(analysis)
    assert export_sigma(json.loads(json.dumps(analysis))) == first
    ids = [str(r.id) for r in rules(first)]
    assert len(set(ids)) == len(ids) and all(ids)


def test_wildcards_in_indicators_match_literally(heron: dict[str, Any]) -> None:
    url = "https://careers-hua-wei.net/apply?id=7*"
    base = next(i for i in heron["iocs"] if i["type"] == "url" and not i["flags"])
    changed = {**heron, "iocs": [dict(base, value=url, defanged=url)]}
    proxy = rules(export_sigma(changed))[0]
    item = proxy.detection.detections["selection_url_1"].detection_items[1]
    assert isinstance(item, SigmaDetectionItem)
    value = item.value[0]
    assert isinstance(value, SigmaString)
    # |contains wraps the value in two wildcards; inside, ? and * are plain characters, not wildcards.
    assert len(value.s) == 3 and value.s[1] == "/apply?id=7*"
    assert [type(p).__name__ for p in (value.s[0], value.s[2])] == ["SpecialChars", "SpecialChars"]
    assert sigma_escape("a\\b*c?") == "a\\\\b\\*c\\?"


def test_nothing_to_match_gives_no_rules(dianxun: dict[str, Any]) -> None:
    assert dianxun["iocs"] == []
    text = export_sigma(dianxun)
    assert list(SigmaCollection.from_yaml(text)) == []
    assert text.startswith("#")


def test_shared_path_is_relative_to_the_repo() -> None:
    assert Path(SHARED).name == "shared"
