"""Fixtures for the publish tests: our hand-written Diànxùn report and its analysis, and hostile variants."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
PUBLISH = DATA / "publish"


def load_fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PUBLISH / "dianxun-analysis.json").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def analysis() -> dict[str, Any]:
    return copy.deepcopy(load_fixture())


@pytest.fixture
def report_text() -> str:
    return (PUBLISH / "dianxun-report.txt").read_text(encoding="utf-8")


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
    a["actors"][0]["mentions"] = [HOSTILE["actor"]]
    a["sectors"][0]["name"] = "<svg onload=alert(3)>"
    a["dates"][0]["event"] = "</li></ol><script>alert(4)</script>"
    a["dates"][0]["evidence"][0]["text"] = HOSTILE["sentence"]
    a["claims"][0]["actor"] = HOSTILE["actor"]
    a["claims"][0]["caveats"] = ["<a href=\"javascript:alert(5)\">x</a>"]
    return a
