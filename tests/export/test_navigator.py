"""ATT&CK Navigator layer 4.5: required fields of the layer format, scores, comments and evidence links."""

from __future__ import annotations

import gzip
import json
import shutil
import socket
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.export.conftest import REPO, refanged_values
from threadline.export.navigator import COMMENT_LIMIT, NAME_LIMIT, export_navigator, layer_name

ATTACK = REPO / "src" / "threadline" / "data" / "attack" / "enterprise-attack-18.1.json.gz"

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
    run_key = next(t for t in heron["techniques"] if t["id"] == "T1547.001")
    assert by_id["T1547.001"]["score"] == round(run_key["score"] * 100)
    assert by_id["T1547.001"]["comment"].startswith("HeronDrop copies itself as wshelper.exe")
    inferred = next(t["id"] for t in heron["techniques"] if t["inferred"])
    assert by_id[inferred]["metadata"][-1]["name"] == "inferred"
    assert by_id["T1547.001"]["metadata"][:2] == [
        {"name": "evidence 1", "value": run_key["evidence"][0]["text"]},
        {"name": "location 1", "value": f"characters {run_key['evidence'][0]['start']}-"
                                        f"{run_key['evidence'][0]['end']}"}]


def test_comments_are_evidence_defanged_and_truncated(analysis: dict[str, Any]) -> None:
    bad = refanged_values(analysis)
    found = {t["id"] for t in analysis["techniques"]}
    for entry in json.loads(export_navigator(analysis))["techniques"]:
        if entry["techniqueID"] not in found:   # a parent opened to show its sub-techniques: says nothing itself
            assert entry["showSubtechniques"] and "score" not in entry and not entry["comment"], entry
            assert any(t.startswith(entry["techniqueID"] + ".") for t in found)
            continue
        assert 0 < len(entry["comment"]) <= COMMENT_LIMIT
        texts = [entry["comment"]] + [m.get("value", "") for m in entry["metadata"]]
        assert not [v for t in texts for v in bad if v in t], texts


def test_links_lead_to_attack_and_to_the_evidence(heron: dict[str, Any]) -> None:
    # The report as fetched from its web address: each evidence sentence gets a text-fragment link.
    web = {**heron, "document": {**heron["document"],
                                 "source": "https://kestrelwood-labs.example/blog/silent-heron"}}
    entry = next(e for e in json.loads(export_navigator(web))["techniques"] if e["techniqueID"] == "T1547.001")
    assert entry["links"][0] == {"label": "ATT&CK T1547.001",
                                 "url": "https://attack.mitre.org/techniques/T1547/001"}
    assert entry["links"][1]["url"].startswith(
        "https://kestrelwood-labs.example/blog/silent-heron#:~:text=HeronDrop%20copies")
    # A local file has no URL to point into: the evidence stays in the metadata with its offsets.
    local = next(e for e in json.loads(export_navigator(heron))["techniques"] if e["techniqueID"] == "T1547.001")
    assert len(local["links"]) == 1
    assert local["metadata"][1]["value"].startswith("characters ")


@pytest.fixture(scope="module")
def attack_store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The vendored ATT&CK snapshot as a stix2 MemoryStore, for mitreattack-python's exporters (offline)."""
    from stix2 import MemoryStore

    plain = tmp_path_factory.mktemp("attack") / "enterprise-attack.json"
    with gzip.open(ATTACK, "rb") as src, plain.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    store = MemoryStore()
    store.load_from_file(str(plain))
    return store


class NetworkRefused(Exception):
    """Raised by the test's socket guard: the library tried to reach the network."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """mitreattack-python can fetch ATT&CK from the web: refuse any connection (the test then skips, naming it)."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise NetworkRefused(f"network access attempted: {args[1:]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_loads_in_mitreattack_python(analysis: dict[str, Any], kb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from mitreattack.navlayers import Layer  # type: ignore[import-untyped]

    data = json.loads(export_navigator(analysis, kb))
    layer = Layer()
    layer.from_dict(data)                       # raised on "filters": {"platforms": []}
    assert len(layer.layer.techniques or []) == len(data["techniques"])
    assert layer.layer.name == data["name"]
    said = capsys.readouterr()
    assert "Skipping" not in said.out + said.err and "missing" not in said.out + said.err


def test_renders_to_svg_and_excel(heron: dict[str, Any], kb: Any, attack_store: Any, tmp_path: Path,
                                  no_network: None) -> None:
    """mitreattack-python's own exporters draw the layer (the ":" of a layer name broke the Excel sheet)."""
    import openpyxl  # type: ignore[import-untyped]
    from mitreattack.navlayers import Layer, ToExcel, ToSvg

    assert ":" in heron["document"]["title"]
    layer = Layer()
    layer.from_dict(json.loads(export_navigator(heron, kb)))
    svg, xlsx = tmp_path / "layer.svg", tmp_path / "layer.xlsx"
    try:
        ToSvg(domain="enterprise", source="memorystore", resource=attack_store).to_svg(layer, filepath=str(svg))
        ToExcel(domain="enterprise", source="memorystore", resource=attack_store).to_xlsx(layer, filepath=str(xlsx))
    except NetworkRefused as exc:    # tests stay offline: a library that insists on the web is not tested here
        pytest.skip(f"mitreattack-python's exporters wanted the network with a local ATT&CK store ({exc})")
    assert "<svg" in svg.read_text(encoding="utf-8")
    for tech in ("T1547.001", "T1190"):
        name = kb.technique(tech)[0].name
        assert name.split()[0] in svg.read_text(encoding="utf-8")
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames[0] == layer.layer.name and len(layer.layer.name) <= 31
    cells = {str(c.value) for row in book.worksheets[0].iter_rows() for c in row if c.value}
    assert any("Registry Run Keys" in c for c in cells)


@pytest.mark.parametrize("title", ["Q2: [APT41] a/b\\c? *d*", "SILENT HERON: a PlugX loader aimed at European energy"])
def test_layer_name_is_a_valid_sheet_name(title: str) -> None:
    name = layer_name(title)
    assert 0 < len(name) <= NAME_LIMIT and not set(name) & set(":\\/?*[]") and not name.startswith("'")
