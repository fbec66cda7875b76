"""List items are read with their lead-in ("The stealer collects the following data:" / "- clipboard contents"): an
item alone names no action, so its technique was lost (issue 14: bullet items were a class of misses on real
reports). The evidence stays the item's own line."""

from __future__ import annotations

import pytest

from threadline.extract.techniques import extract_techniques
from threadline.extract.techniques.signals import with_lead_ins
from threadline.knowledge.base import KnowledgeBase

STEALER = """The stealer collects the following data:
- clipboard contents
- audio from the microphone
- the webcam
- keystrokes
"""


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    from threadline.knowledge.index import load_kb

    return load_kb(progress=False)


def test_short_items_take_their_lead_in() -> None:
    texts = ["The malware can:", "- take screenshots", "* log keystrokes typed by the user in any window", "Done."]
    judged = with_lead_ins(texts)
    assert judged[1] == "The malware can: take screenshots"
    assert judged[2] == texts[2]          # a longer item states its action itself
    assert judged[0] == texts[0] and judged[3] == texts[3]


def test_items_without_a_lead_in_are_themselves() -> None:
    texts = ["The report ends here.", "- take screenshots", "Indicators", "- log keystrokes"]
    assert with_lead_ins(texts) == texts


@pytest.mark.parametrize(("technique", "item"), [("T1115", "- clipboard contents"),
                                                 ("T1123", "- audio from the microphone"),
                                                 ("T1125", "- the webcam")])
def test_item_fragment_gives_its_technique_with_the_item_as_evidence(kb: KnowledgeBase, technique: str,
                                                                     item: str) -> None:
    hits = {h.id: h for h in extract_techniques(STEALER, kb=kb) if not h.inferred}
    assert technique in hits, sorted(hits)
    assert hits[technique].evidence[0].text == item
