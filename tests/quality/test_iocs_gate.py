"""Quality gate for indicator extraction: micro F1 on the shared dev set and on our own snippets, against floors.

The snippets (``tests/data/iocs/snippets.jsonl``) are in the repository, so that gate runs for everyone. The dev set
and its scorer (``../shared/data/ioc/dev.jsonl``, ``score.py``) are development data the package does not ship; that
gate skips, saying so, where ``../shared`` is absent.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from threadline.extract.iocs import extract_iocs

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / ".." / "shared" / "data" / "ioc" / "dev.jsonl"
SCORER = DEV.parent / "score.py"
SNIPPETS = ROOT / "tests" / "data" / "iocs" / "snippets.jsonl"
FLOORS = Path(__file__).resolve().parent / "floors.json"
CASE_INSENSITIVE = {"domain", "email", "md5", "sha1", "sha256", "sha512", "file_name"}


def _floor(key: str) -> float:
    return float(json.loads(FLOORS.read_text(encoding="utf-8"))["iocs"][key])


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _key(item: dict[str, str]) -> tuple[str, str]:
    value = item["value"]
    return item["type"], value.lower() if item["type"] in CASE_INSENSITIVE else value


def _micro_f1(records: list[dict[str, Any]]) -> tuple[float, list[str]]:
    """Our snippets' expected values are already normalised, so a set comparison is the scorer's rule."""
    tp = fp = fn = 0
    errors = []
    for record in records:
        expected = {_key(i) for i in record["expected"]}
        ignored = {_key(i) for i in record["benign"] + record["optional"]}
        found = {_key(h.to_dict()) for h in extract_iocs(record["text"])}
        tp += len(found & expected)
        for kind, bad in sorted(found - expected - ignored):
            fp += 1
            errors.append(f"{record['id']}: FP {kind} {bad}")
        for kind, missed in sorted(expected - found):
            fn += 1
            errors.append(f"{record['id']}: FN {kind} {missed}")
    return (2 * tp / (2 * tp + fp + fn) if tp else 0.0), errors


def _scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ioc_dev_score", SCORER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_own_snippets_f1_stays_above_the_floor() -> None:
    f1, errors = _micro_f1(_records(SNIPPETS))
    assert f1 >= _floor("snippets_f1"), f"F1 {f1:.4f} below the floor; errors: {errors}"


def test_dev_set_f1_stays_above_the_floor(tmp_path: Path) -> None:
    if not DEV.is_file() or not SCORER.is_file():
        pytest.skip(f"IOC dev set not found at {DEV} (shared data is not part of the repository)")
    scorer = _scorer()
    predictions = tmp_path / "predictions.jsonl"
    with predictions.open("w", encoding="utf-8") as out:
        for record in _records(DEV):
            hits = [h.to_dict() for h in extract_iocs(record["text"])]
            out.write(json.dumps({"id": record["id"], "iocs": hits}) + "\n")
    figures = scorer.score(scorer.load_gold(str(DEV)), scorer.load_predictions(str(predictions)))
    overall = figures["overall"]
    assert overall["f1"] >= _floor("dev_f1"), f"dev-set F1 {overall} fell below the floor"
