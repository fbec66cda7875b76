"""Countries by role in the briefing and the exports (issue 15): only targets are targets; the actor's origin and
a country merely mentioned (impersonated, quoted, a vendor's home) are said as such."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pymisp import MISPEvent

from threadline.export.misp import export_misp
from threadline.export.stix import export_stix
from threadline.publish.brief import build_brief

REPORT = Path(__file__).resolve().parents[2] / "tests" / "data" / "reports" / "embassy-lure.md"


@pytest.fixture
def embassy(analyse: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    analysis = analyse(REPORT)
    assert {c["code"]: c["role"] for c in analysis["countries"]} == {"IT": "targeted", "AT": "targeted",
                                                                     "CN": "origin", "DE": "mentioned"}
    return analysis


def test_stix_targets_only_targeted_countries(embassy: dict[str, Any], kb: Any) -> None:
    objs = json.loads(export_stix(embassy, kb))["objects"]
    by_id = {o["id"]: o for o in objs}
    targeted = {by_id[r["target_ref"]].get("country") for r in objs if r["type"] == "relationship"
                and r["relationship_type"] == "targets" and by_id[r["target_ref"]]["type"] == "location"}
    assert targeted == {"IT", "AT"}
    notes = " ".join(o.get("content", "") for o in objs if o["type"] == "note")
    assert "merely mentioned" in notes and "country of origin" in notes


def test_misp_target_locations_are_targets_only(embassy: dict[str, Any], kb: Any) -> None:
    event = MISPEvent()
    event.from_json(export_misp(embassy, kb))
    targets = {a.value for a in event.attributes if a.type == "target-location"}
    assert targets == {"Italy", "Austria"}
    others = {a.value: a.comment for a in event.attributes if a.type == "text" and a.value in ("Germany", "China")}
    assert others["Germany"].startswith("Country merely mentioned") and others["China"].startswith("Actor's origin")


def test_briefing_says_which_is_which(embassy: dict[str, Any], kb: Any) -> None:
    brief = build_brief(embassy, kb)
    lines = {f.text.split(":")[0]: f.text for f in brief.campaign}
    assert lines["Targeted countries"] == "Targeted countries: Italy and Austria."
    assert "China" in lines["The actor's origin, as the source states it"]
    assert "Germany" in lines["Countries mentioned, not as targets (impersonated, quoted or a vendor's home)"]
    assert "Germany" not in brief.countries and "China" not in brief.countries
