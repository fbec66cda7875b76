"""From the seed brief (or our own retelling of it) to a briefing, through the real pipeline: every fact the
seed states is in the briefing's body, with history and mitigations added from the knowledge base."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.publish.test_brief import body
from threadline.analysis import analyze_document
from threadline.model import Document
from threadline.publish.brief import build_brief, render_brief

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "operation-dianxun.md"
SHARED_SEED = Path(__file__).resolve().parents[3] / "shared" / "seed"

FACTS = {
    "telecom sector": r"Telecommunications",
    "first activity August 2020": r"August 2020",
    "RedDelta": r"RedDelta", "TA416": r"TA416", "Mustang Panda": r"Mustang Panda \\?\(G0129",
    "fake Huawei careers site": r"fake Huawei careers (website|site)",
    "info stealers": r"info stealers",
    "5G espionage goal": r"5G",
    "U.S.": r"United States", "Europe": r"Europe", "Southeast Asia": r"Southeast Asia",
    "May 2020 Vatican": r"May 2020[^\n]*Vatican",
    "September 2020 decoys": r"September 2020[^\n]*decoy",
    "UN, Catholicism, Tibet": r"UN General Assembly[^\n]*Catholicism[^\n]*Tibet",
    "Hong Kong universities": r"Hong Kong universities",
    "Myanmar government": r"Myanmar government",
    "TTP-based attribution": r"(?i)on the basis of (similar )?TTPs",
    "caveat": r"(?i)no other evidence",
    "the source's advice": r"(?i)adaptive and integrated",
    "Huawei ban hypothesis": r"(?i)ban\w* (of|on) Huawei",
}


def _texts() -> list[tuple[str, str]]:
    texts = [("example", EXAMPLE.read_text(encoding="utf-8"))]
    texts += [(p.name, p.read_text(encoding="utf-8")) for p in sorted(SHARED_SEED.glob("*.txt"))]
    return texts


@pytest.mark.parametrize(("name", "text"), _texts(), ids=[n for n, _ in _texts()])
def test_briefing_states_every_seed_fact(kb: Any, name: str, text: str) -> None:
    analysis = analyze_document(Document(text=text, source=name), kb)
    brief = render_brief(build_brief(analysis, kb), "md")
    stated = body(brief)
    missing = [fact for fact, pattern in FACTS.items() if not re.search(pattern, stated)]
    assert not missing, f"facts missing from the briefing of {name}: {missing}"
    assert "## A pinch of history" in brief and "ATT\\&CK attributes the campaign" in brief
    stay_safe = brief.split("## Stay safe", 1)[1]
    assert re.search(r"M1\d{3}", stay_safe), "mitigations mapped from the observed techniques"
