"""Shared fixtures for the export tests: analyses of real documents, produced by the current code.

Nothing here is hand-written analysis JSON: each fixture is the root ``analyse`` fixture's analysis of a document
the repository ships, so a change of the analysis shape reaches the exporters' tests at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
# The documents the export tests run on: a brief with actors, a campaign and places but no indicators; a vendor
# blog post with indicators of every kind, flagged ones, techniques and an attribution; a Markdown report with
# front matter; an HTML advisory with an indicator table.
DOCUMENTS = {
    "dianxun": REPO / "examples" / "operation-dianxun.md",
    "silent_heron": REPO / "tests" / "data" / "reports" / "silent-heron.html",
    "lanternfish": REPO / "tests" / "data" / "ingest" / "lanternfish.md",
    "advisory": REPO / "tests" / "data" / "ingest" / "advisory.html",
}
HERON = DOCUMENTS["silent_heron"]
DIANXUN = DOCUMENTS["dianxun"]


@pytest.fixture(params=list(DOCUMENTS))
def analysis(request: pytest.FixtureRequest, analyse: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return analyse(DOCUMENTS[request.param])


@pytest.fixture
def dianxun(analyse: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return analyse(DIANXUN)


@pytest.fixture
def heron(analyse: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return analyse(HERON)


@pytest.fixture
def lanternfish(analyse: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return analyse(DOCUMENTS["lanternfish"])


def refanged_values(analysis: dict[str, Any]) -> list[str]:
    """Indicator values whose defanged form differs: these must never appear in human-facing text."""
    return [i["value"] for i in analysis["iocs"] if i.get("defanged") and i["defanged"] != i["value"]]


def ioc(analysis: dict[str, Any], value: str) -> dict[str, Any]:
    """The analysis's indicator with this value (a test that names one fails clearly when it is missing)."""
    found: list[dict[str, Any]] = [i for i in analysis["iocs"] if i["value"] == value]
    assert found, f"{value} not among {[i['value'] for i in analysis['iocs']]}"
    return found[0]
