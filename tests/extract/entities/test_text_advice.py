"""The source's own advice and its hedged assessments of cause or motive, with evidence."""

from __future__ import annotations

from threadline.extract.entities.text import advice, assessments


def test_advice_is_the_recommended_action() -> None:
    (hit,) = advice("Kestrelwood recommended rotating every VPN credential within 24 hours of the disclosure.")
    assert hit.text == "rotating every VPN credential within 24 hours of the disclosure"
    (hit,) = advice("Organizations should block outbound SMB at the perimeter.")
    assert hit.text.startswith("block outbound SMB")


def test_no_advice_without_a_recommending_verb() -> None:
    assert advice("The loader recommended by the forum was sold for 300 dollars.") == []   # "recommended by"
    assert advice("The actor used a loader to install the backdoor.") == []


def test_assessments_are_hedged_and_causal() -> None:
    sentence = "The intrusions may be a response to the sanctions announced in March."
    (hit,) = assessments(sentence)
    assert hit.text == sentence.rstrip(".")
    assert assessments("The intrusions began in March and used a new loader.") == []
    assert assessments("The group may be active in Europe.") == []
