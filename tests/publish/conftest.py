"""Fixtures for the publish tests: our hand-written Diànxùn report, its analysis by the current code (never a
hand-written analysis: a change of the analysis shape must reach these tests), and hostile variants."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
PUBLISH = DATA / "publish"
REPORT = PUBLISH / "dianxun-report.txt"
# Real documents of the project whose briefings and pages the tests check as well (an HTML advisory with an
# indicator, a Markdown report with an indicator list, a PDF, notes that quote indicators, the bundled example).
DOCUMENTS = (DATA / "ingest" / "advisory.html", DATA / "ingest" / "lanternfish.md", DATA / "ingest" / "lanternfish.pdf",
             DATA / "iocs" / "README.md", DATA.parents[1] / "examples" / "operation-dianxun.md")


@pytest.fixture
def analysis(analyse: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The current analysis of our Diànxùn report (a fresh copy per test)."""
    return analyse(REPORT)


@pytest.fixture
def report_text() -> str:
    return REPORT.read_text(encoding="utf-8")


HOSTILE = {
    "title": "Pwned <script>alert('title')</script> & **bold** [x](javascript:alert(1))",
    "lure": "résumé <img src=x onerror=alert(1)> [click me](javascript:alert(2)) `code` <!-- c -->",
    "actor": "<b>Evil</b> *Group* | ![img](http://tracker.example.net/p.png)",
    "sentence": "# Heading injection\n<iframe src=\"http://evil.example.org/\"></iframe> visit "
                "http://live.example.org/x now",
}


@pytest.fixture
def hostile(analysis: dict[str, Any]) -> dict[str, Any]:
    """The fixture with report-controlled strings replaced by script, HTML and Markdown injection attempts."""
    a = analysis
    a["document"]["title"] = HOSTILE["title"]
    a["document"]["sha256"] = "0" * 63 + "1"
    a["campaigns"][0]["name"] = HOSTILE["title"]
    a["lures"][0]["text"] = HOSTILE["lure"]
    a["actors"][0]["name"] = HOSTILE["actor"]
    a["actors"][0]["attack_id"] = None
    a["actors"][0]["entity"] = None
    a["actors"][0]["mentions"] = [HOSTILE["actor"]]
    a["sectors"][0]["name"] = "<svg onload=alert(3)>"
    a["dates"][0]["event"] = "</li></ol><script>alert(4)</script>"
    a["dates"][0]["evidence"][0]["text"] = HOSTILE["sentence"]
    a["claims"][0]["actor"] = HOSTILE["actor"]
    a["claims"][0]["caveats"] = ["<a href=\"javascript:alert(5)\">x</a>"]
    a["iocs"][0]["sentence"]["text"] = HOSTILE["sentence"]      # an indicator's evidence object
    return a
