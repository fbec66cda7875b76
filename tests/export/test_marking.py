"""An output never lowers a report's TLP marking: every export and the briefing carry the stricter of the level
asked for and the analysis's own (``export ID`` of a TLP:RED analysis came out TLP:CLEAR by the option's default)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from threadline.errors import InputError
from threadline.export.common import marking
from threadline.export.misp import event_of
from threadline.export.navigator import export_navigator, layer_of
from threadline.export.sigma import rules_of
from threadline.export.stix import bundle_of
from threadline.publish.brief import build_brief

RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"      # TLP 2.0 RED in STIX
CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"


def marked(analysis: dict[str, Any], level: str | None) -> dict[str, Any]:
    out = copy.deepcopy(analysis)
    out["document"]["tlp"] = level
    return out


def test_the_stricter_marking_wins() -> None:
    assert marking({"document": {"tlp": "red"}}, "clear") == "red"
    assert marking({"document": {"tlp": "green"}}, "amber") == "amber"
    assert marking({"document": {"tlp": "TLP:AMBER+STRICT"}}) == "amber+strict"
    assert marking({"document": {}}) == "clear"
    assert marking({"document": {"tlp": "purple"}}, "clear") == "red"       # unknown: filed as red, never leaked
    assert marking({"tlp": "amber", "document": {"tlp": "green"}}) == "amber"
    with pytest.raises(InputError):
        marking({"document": {}}, "orange")


def test_every_export_of_a_red_report_stays_red(heron: dict[str, Any]) -> None:
    red = marked(heron, "red")
    bundle = json.loads(bundle_of(red, None, tlp="clear").serialize())
    owned = [o for o in bundle["objects"] if o["type"] in ("report", "indicator", "note", "opinion")]
    assert owned and all(o.get("object_marking_refs") == [RED] for o in owned)   # shared ATT&CK objects stay clear
    tags = {t.name for t in event_of(red, None, tlp="clear").tags}
    assert "tlp:red" in tags and "tlp:clear" not in tags
    assert "TLP:RED" in export_navigator(red, None, tlp="clear") and "TLP:CLEAR" not in json.dumps(
        layer_of(red, None, tlp="red"))
    for rule in rules_of(red, tlp="clear"):
        assert "tlp.red" in rule["tags"] and "tlp.clear" not in rule["tags"]
    assert build_brief(red, None, tlp="clear").tlp == "red"


def test_a_stricter_request_raises_the_marking(heron: dict[str, Any]) -> None:
    green = marked(heron, "green")
    assert build_brief(green, None, tlp="amber").tlp == "amber"
    assert build_brief(green, None).tlp == "green"
    assert any(t.name == "tlp:amber" for t in event_of(green, None, tlp="amber").tags)


# Every spelling of every level, and what each output says of it: the official TLP 2.0 STIX marking definitions
# (OASIS CTI, 2022-10-01), MISP's distribution levels and tlp: taxonomy tags, the Sigma tag, the briefing's level.
STIX_MARKINGS = {"clear": CLEAR, "green": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
                 "amber": "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
                 "amber+strict": "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003", "red": RED}
MISP_DISTRIBUTION = {"clear": 3, "green": 2, "amber": 1, "amber+strict": 1, "red": 0}


@pytest.mark.parametrize(("word", "level"), [
    ("clear", "clear"), ("TLP:WHITE", "clear"), ("green", "green"), ("TLP:AMBER", "amber"),
    ("amber-strict", "amber+strict"), ("TLP:AMBER+STRICT", "amber+strict"), ("red", "red"),
])
def test_every_level_maps_to_the_same_markings(heron: dict[str, Any], word: str, level: str) -> None:
    for analysis, requested in ((marked(heron, word), None), (marked(heron, None), word)):
        bundle = json.loads(bundle_of(analysis, None, tlp=requested or "clear").serialize())
        report = next(o for o in bundle["objects"] if o["type"] == "report")
        assert report["object_marking_refs"] == [STIX_MARKINGS[level]]
        definition = next(o for o in bundle["objects"] if o["id"] == STIX_MARKINGS[level])
        assert definition["name"] == f"TLP:{level.upper()}"
        event = event_of(analysis, None, tlp=requested or "clear")
        assert int(event.distribution) == MISP_DISTRIBUTION[level]
        assert f"tlp:{level}" in {t.name for t in event.tags}
        assert all(f"tlp.{level.replace('+', '-')}" in rule["tags"]
                   for rule in rules_of(analysis, tlp=requested or "clear"))
        assert f"TLP:{level.upper()}" in export_navigator(analysis, None, tlp=requested or "clear")
        assert build_brief(analysis, None, tlp=requested).tlp == level
