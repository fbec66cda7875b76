"""Shared fixtures for the export tests: the hand-written analyses and the knowledge base."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "analysis"
SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
FIXTURES = ("dianxun", "silent_heron")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture(params=FIXTURES)
def analysis(request: pytest.FixtureRequest) -> dict[str, Any]:
    return copy.deepcopy(load(request.param))


@pytest.fixture
def dianxun() -> dict[str, Any]:
    return load("dianxun")


@pytest.fixture
def heron() -> dict[str, Any]:
    return load("silent_heron")


@pytest.fixture(scope="session")
def kb() -> Any:
    from threadline.errors import ThreadlineError
    from threadline.knowledge import load_kb

    try:
        return load_kb()
    except ThreadlineError as exc:   # no ATT&CK snapshot on this machine
        pytest.skip(f"knowledge base unavailable: {exc}")


def refanged_values(analysis: dict[str, Any]) -> list[str]:
    """Indicator values whose defanged form differs: these must never appear in human-facing text."""
    return [i["value"] for i in analysis["iocs"] if i.get("defanged") and i["defanged"] != i["value"]]
