"""A STIX 2.1 bundle exported by Threadline imports back into an empty store without loss."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from threadline.export.stix import analysis_from_bundle, export_stix
from threadline.ingest import ingest_into
from threadline.store import open_store


@pytest.mark.parametrize("kb_or_not", ["kb", "no-kb"])
def test_export_ingest_rebuild_export(analysis: dict[str, Any], kb: Any, kb_or_not: str, tmp_path: Path) -> None:
    exported = export_stix(analysis, kb if kb_or_not == "kb" else None)
    bundle_file = tmp_path / "report.stix.json"
    bundle_file.write_text(exported, encoding="utf-8")
    bundle = json.loads(exported)
    with open_store(tmp_path / "empty.db") as store:
        assert store.count_knowledge() == 0
        outcome = ingest_into(store, str(bundle_file))
        assert outcome.imported is not None and len(outcome.imported.added) == len(bundle["objects"])
        again = ingest_into(store, str(bundle_file))     # idempotent: deterministic ids, nothing new
        assert again.imported is not None and not again.imported.added and not again.imported.updated
        stored = store.knowledge_from(hashlib.sha256(bundle_file.read_bytes()).hexdigest())
    by_id = {o["id"]: o for o in bundle["objects"]}
    assert {o["id"]: o for o in stored} == by_id                 # every object, every property
    rebuilt = {"type": "bundle", "id": bundle["id"], "objects": stored}
    back = analysis_from_bundle(rebuilt)
    assert back == analysis                                      # the evidence of every item came through
    assert json.loads(export_stix(back, kb if kb_or_not == "kb" else None))["objects"] == bundle["objects"]
