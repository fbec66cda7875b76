"""ATT&CK Navigator layer 4.5: required fields of the layer format, scores, comments and evidence links."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from tests.export.conftest import refanged_values
from threadline.export.navigator import COMMENT_LIMIT, export_navigator

# The required fields and types of the layer format 4.5 (attack-navigator/layers/spec/v4.5/layerformat.md).
_META = {"oneOf": [
    {"type": "object", "required": ["name", "value"],
     "properties": {"name": {"type": "string"}, "value": {"type": "string"}}},
    {"type": "object", "required": ["divider"], "properties": {"divider": {"type": "boolean"}}}]}
_LINK = {"oneOf": [
    {"type": "object", "required": ["label", "url"],
     "properties": {"label": {"type": "string"}, "url": {"type": "string"}}},
    {"type": "object", "required": ["divider"], "properties": {"divider": {"type": "boolean"}}}]}
LAYER_SCHEMA = {
    "type": "object",
    "required": ["name", "domain", "versions"],
    "properties": {
        "name": {"type": "string"},
        "domain": {"enum": ["enterprise-attack", "mobile-attack", "ics-attack"]},
        "versions": {"type": "object", "required": ["layer"],
                     "properties": {"layer": {"const": "4.5"}, "attack": {"type": "string"},
                                    "navigator": {"type": "string"}}},
        "description": {"type": "string"},
        "sorting": {"enum": [0, 1, 2, 3]},
        "layout": {"type": "object", "properties": {
            "layout": {"enum": ["side", "flat", "mini"]},
            "aggregateFunction": {"enum": ["average", "min", "max", "sum"]},
            "expandedSubtechniques": {"enum": ["none", "annotated", "all"]}}},
        "techniques": {"type": "array", "items": {
            "type": "object", "required": ["techniqueID"],
            "properties": {"techniqueID": {"type": "string", "pattern": r"^T\d{4}(\.\d{3})?$"},
                           "tactic": {"type": "string"}, "score": {"type": "number"},
                           "color": {"type": "string"}, "comment": {"type": "string"},
                           "enabled": {"type": "boolean"}, "showSubtechniques": {"type": "boolean"},
                           "metadata": {"type": "array", "items": _META},
                           "links": {"type": "array", "items": _LINK}}}},
        "gradient": {"type": "object", "required": ["colors", "minValue", "maxValue"]},
        "legendItems": {"type": "array", "items": {"type": "object", "required": ["label", "color"]}},
        "metadata": {"type": "array", "items": _META},
        "links": {"type": "array", "items": _LINK},
    },
}


def test_layer_matches_the_format(analysis: dict[str, Any], kb: Any) -> None:
    layer = json.loads(export_navigator(analysis, kb))
    jsonschema.validate(layer, LAYER_SCHEMA)
    assert layer["versions"] == {"attack": "18", "navigator": "5.1.0", "layer": "4.5"}
    assert layer["domain"] == "enterprise-attack"
    assert export_navigator(analysis, kb) == export_navigator(json.loads(json.dumps(analysis)), kb)


def test_one_entry_per_technique_and_tactic(heron: dict[str, Any]) -> None:
    entries = json.loads(export_navigator(heron))["techniques"]
    pairs = {(e["techniqueID"], e["tactic"]) for e in entries}
    assert ("T1547.001", "persistence") in pairs and ("T1547.001", "privilege-escalation") in pairs
    by_id = {e["techniqueID"]: e for e in entries}
    assert by_id["T1566.002"]["score"] == 90
    assert by_id["T1190"]["metadata"][-1]["name"] == "inferred"
    assert by_id["T1566.002"]["comment"].startswith("Initial access came through spearphishing")


def test_comments_are_evidence_defanged_and_truncated(analysis: dict[str, Any]) -> None:
    bad = refanged_values(analysis)
    for entry in json.loads(export_navigator(analysis))["techniques"]:
        assert 0 < len(entry["comment"]) <= COMMENT_LIMIT
        texts = [entry["comment"]] + [m.get("value", "") for m in entry["metadata"]]
        assert not [v for t in texts for v in bad if v in t], texts


def test_links_lead_to_attack_and_to_the_evidence(heron: dict[str, Any], dianxun: dict[str, Any]) -> None:
    entry = json.loads(export_navigator(heron))["techniques"][0]
    assert entry["links"][0] == {"label": "ATT&CK T1566.002", "url": "https://attack.mitre.org/techniques/T1566/002"}
    assert entry["links"][1]["url"].startswith("https://kestrelwood-labs.example/blog/silent-heron#:~:text=Initial")
    # A local file has no URL to point into: the evidence stays in the metadata with its offsets.
    local = json.loads(export_navigator(dianxun))["techniques"][0]
    assert len(local["links"]) == 1
    assert local["metadata"][1]["value"].startswith("characters ")
