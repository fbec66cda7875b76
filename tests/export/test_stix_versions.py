"""STIX versioning across reports: a shared object is the same in every bundle, each report's evidence its own.

Two reports about the same actor, sector and region (the Diànxùn example brief, a retelling of it, and the
Lanternfish report that names Mustang Panda too) are exported; every id they share must stand for the same object
(or a new version, with a new ``modified``), and importing all the bundles into one store keeps every report's
evidence (issue 13: "ingesting that bundle counts it unchanged and drops its evidence").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.export.conftest import DIANXUN, DOCUMENTS, REPO
from threadline.export.stix import analysis_from_bundle, export_stix
from threadline.ingest import ingest_into
from threadline.store import open_store

REPORTS = (DIANXUN, REPO / "tests" / "data" / "reports" / "dianxun-retold.md", DOCUMENTS["lanternfish"])


@pytest.fixture
def bundles(analyse: Callable[..., dict[str, Any]], kb: Any) -> list[tuple[dict[str, Any], str]]:
    """(analysis, bundle text) per report; one at TLP:AMBER, so marking differences are exercised too."""
    out = []
    for n, path in enumerate(REPORTS):
        analysis = analyse(path)
        out.append((analysis, export_stix(analysis, kb, tlp="amber" if n == 2 else "clear")))
    return out


def by_id(text: str) -> dict[str, dict[str, Any]]:
    return {o["id"]: o for o in json.loads(text)["objects"]}


def test_shared_ids_are_the_same_object_in_every_bundle(bundles: list[tuple[dict[str, Any], str]]) -> None:
    seen: dict[str, dict[str, Any]] = {}
    shared_types: set[str] = set()
    for _, text in bundles:
        for oid, obj in by_id(text).items():
            if oid in seen:
                shared_types.add(obj["type"])
                assert obj == seen[oid] or obj["modified"] != seen[oid]["modified"], (oid, obj, seen[oid])
            seen.setdefault(oid, obj)
    # The reports do share an actor, a sector and a region (and Diànxùn's two tellings a campaign and a country).
    assert {"intrusion-set", "identity", "location", "campaign"} <= shared_types


def test_the_reports_say_what_they_say_on_objects_they_own(bundles: list[tuple[dict[str, Any], str]]) -> None:
    owners: dict[str, str] = {}
    for analysis, text in bundles:
        report = next(o for o in by_id(text).values() if o["type"] == "report")
        for obj in by_id(text).values():
            if any(k.startswith("x_threadline_") for k in obj) or obj["type"] == "relationship":
                assert owners.setdefault(obj["id"], report["id"]) == report["id"], obj["id"]   # never shared
        actor = analysis["actors"][0]
        notes = [o for o in by_id(text).values() if o["type"] == "note" and o.get("x_threadline_section") == "actors"]
        assert [n["x_threadline_item"] for n in notes] == analysis["actors"]
        assert actor["evidence"] and notes[0]["x_threadline_item"]["evidence"] == actor["evidence"]


def test_importing_every_bundle_keeps_every_reports_evidence(bundles: list[tuple[dict[str, Any], str]],
                                                             tmp_path: Path) -> None:
    files = []
    for n, (_, text) in enumerate(bundles):
        files.append(tmp_path / f"report-{n}.stix.json")
        files[-1].write_text(text, encoding="utf-8")
    with open_store(tmp_path / "store.db") as store:
        for path in files:
            outcome = ingest_into(store, str(path))
            assert outcome.imported is not None and not outcome.imported.updated
        for analysis, text in bundles:
            exported = json.loads(text)
            stored = [store.get_knowledge(o["id"]) for o in exported["objects"]]
            assert stored == exported["objects"]              # what the store holds is what each bundle said
            rebuilt = {"type": "bundle", "id": exported["id"], "objects": stored}
            assert analysis_from_bundle(rebuilt) == analysis  # so each report comes back with its evidence
