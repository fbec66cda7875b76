"""The report's own attribution statements: actor, strength from verbs and hedges, basis, caveats, evidence."""

from __future__ import annotations

import pytest

from threadline.extract.entities.claims import Claim, extract_claims
from threadline.knowledge import KnowledgeBase, load_kb


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_kb(progress=False)


def claims(text: str, kb: KnowledgeBase) -> list[Claim]:
    return extract_claims(text, kb)


@pytest.mark.parametrize(("text", "actor", "attack_id", "strength"), [
    ("We attribute the campaign to APT28 with high confidence.", "APT28", "G0007", "attributed"),
    ("The intrusions were carried out by Kimsuky operators.", "Kimsuky", "G0094", "attributed"),
    ("We assess that the activity is likely linked to Kimsuky.", "Kimsuky", "G0094", "suspected"),
    ("The dropper is believed to be the work of Turla.", "Turla", "G0010", "suspected"),
    ("The campaign has probably been attributed to APT41 by other vendors.", "APT41", "G0096", "suspected"),
    ("Its infrastructure overlaps with APT29.", "APT29", "G0016", "overlaps"),
    ("This cluster shares several TTPs with FIN7.", "FIN7", "G0046", "overlaps"),
    ("We found no evidence linking the intrusion to APT41.", "APT41", "G0096", "denied"),
    ("The cluster is not to be confused with Sandworm Team.", "Sandworm Team", "G0034", "denied"),
    ("The second wave could not be attributed to Turla or any other group.", "Turla", "G0010", "unknown"),
])
def test_strength_from_verbs_and_hedges(kb: KnowledgeBase, text: str, actor: str, attack_id: str,
                                        strength: str) -> None:
    (claim,) = claims(text, kb)
    assert (claim.actor, claim.attack_id, claim.strength) == (actor, attack_id, strength)
    assert claim.evidence[0].text == text
    assert text[claim.evidence[0].start:claim.evidence[0].end] == text


def test_failure_to_attribute_is_a_claim_without_actor(kb: KnowledgeBase) -> None:
    (claim,) = claims("We could not attribute the activity to any known actor.", kb)
    assert claim.actor is None and claim.strength == "unknown"


def test_mentions_without_attribution_verbs_are_not_claims(kb: KnowledgeBase) -> None:
    text = ("Turla has a long history of espionage. APT28 targeted the same ministry in 2018. We will share more "
            "threat intelligence with every victim.")
    assert claims(text, kb) == []


def test_aliases_in_one_statement_make_one_claim(kb: KnowledgeBase) -> None:
    text = "The campaign has been attributed to the RedDelta threat actor, also known as TA416 and Mustang Panda."
    (claim,) = claims(text, kb)
    assert claim.actor == "RedDelta" and claim.attack_id == "G0129"


def test_the_same_group_under_another_alias_later_is_another_claim(kb: KnowledgeBase) -> None:
    text = ("The campaign has been attributed to RedDelta. Based on the TTPs gathered, the earlier activities have "
            "been attributed to TA416.")
    found = claims(text, kb)
    assert [(c.actor, c.attack_id) for c in found] == [("RedDelta", "G0129"), ("TA416", "G0129")]
    assert found[0].basis == [] and found[1].basis == ["TTPs"]


def test_basis_and_caveat_in_the_same_sentence(kb: KnowledgeBase) -> None:
    text = ("Although the campaign has been attributed to RedDelta based on similar TTPs, no other evidence has "
            "been found to be pointing towards that.")
    (claim,) = claims(text, kb)
    assert claim.basis == ["TTPs"]
    assert claim.caveats == ["no other evidence has been found to be pointing towards that"]


def test_caveat_in_the_following_sentence(kb: KnowledgeBase) -> None:
    text = ("We assess with moderate confidence that the intrusions are linked to Volt Typhoon. However, some of "
            "the infrastructure is shared with other actors, and false flags cannot be ruled out.")
    (claim,) = claims(text, kb)
    assert claim.strength == "suspected"
    assert claim.caveats == ["some of the infrastructure is shared with other actors",
                             "false flags cannot be ruled out"]


@pytest.mark.parametrize(("text", "basis"), [
    ("The implant was attributed to APT29 on the basis of shared code and C2 infrastructure.",
     ["infrastructure", "code overlap"]),
    ("The operators share infrastructure with APT29.", ["infrastructure"]),
    ("We attributed the attack to APT29 because of victimology and compile timestamps.",
     ["victimology", "artefacts"]),
])
def test_basis_categories(kb: KnowledgeBase, text: str, basis: list[str]) -> None:
    (claim,) = claims(text, kb)
    assert claim.basis == basis


def test_a_name_several_groups_share_keeps_every_candidate(kb: KnowledgeBase) -> None:
    # ATT&CK gives "Carbanak" to G0008 only; a MISP entry gives it to FIN7 as well: resolved, candidates kept.
    (claim,) = claims("The 2015 bank heists were attributed to Carbanak.", kb)
    assert claim.attack_id == "G0008"
    assert {c["entity"] for c in claim.candidates} >= {"G0008", "G0046"}


def test_to_dict_shape(kb: KnowledgeBase) -> None:
    (claim,) = claims("We attribute the campaign to APT28 with high confidence.", kb)
    d = claim.to_dict()
    assert {"actor", "attack_id", "strength", "basis", "caveats", "evidence"} <= d.keys()
    assert d["evidence"][0] == {"text": "We attribute the campaign to APT28 with high confidence.", "start": 0,
                                "end": 56}


@pytest.mark.parametrize(("text", "strength"), [
    ("We do not believe that the stealer is linked to Turla, because its infrastructure differs.", "denied"),
    ("Some of our researchers are skeptical about attribution of the attacks to APT27.", "suspected"),
])
def test_negation_and_doubt(kb: KnowledgeBase, text: str, strength: str) -> None:
    (claim,) = claims(text, kb)
    assert claim.strength == strength


def test_a_name_far_from_the_cue_is_not_its_object(kb: KnowledgeBase) -> None:
    text = ("The incidents appeared to be the work of two different criminal crews that, months later and on other "
            "networks, deployed a loader that reminded some analysts of tools once used by APT41.")
    assert claims(text, kb) == []


@pytest.mark.parametrize(("text", "subject"), [
    ("Based on the TTPs gathered, the above activities have been attributed to TA416.", "the above activities"),
    ("We attribute this activity to APT41 with high confidence.", "this activity"),
    ("Operation Diànxùn was attributed to Mustang Panda.", "Operation Diànxùn"),
    ("The agencies found no evidence linking that set to Volt Typhoon.", "that set"),
])
def test_subject_of_the_claim(kb: KnowledgeBase, text: str, subject: str) -> None:
    (claim,) = claims(text, kb)
    assert claim.subject == subject


def test_a_name_only_misp_entries_share_stays_unresolved(kb: KnowledgeBase) -> None:
    from threadline.extract.entities.claims import resolve_actor

    shared = None
    for actor in kb.galaxies.threat_actors.values():
        for name in (actor.value, *actor.synonyms):
            matches = kb.actors.resolve(name).matches
            if len(matches) > 1 and not any(a.kind == "attack" for v in matches.values() for a in v):
                shared = name
                break
        if shared:
            break
    if shared is None:
        pytest.skip("no name in this knowledge base is shared by MISP entries only")
    entity, candidates = resolve_actor(kb, shared)
    assert entity is None and len(candidates) > 1


@pytest.mark.parametrize("text", [
    "The intrusion set was TIED TO the group.", "It is the Work of a state actor.", "Tied\tto Turla.",
    "The activities of these networks are believed to be the work of Turla.", "the work\nof APT28",
    "The operators were also tied with Kimsuky.", "Entities in the network: none.", "The operation is tied to X."])
def test_the_cue_prefilter_lets_every_cue_through(text: str) -> None:
    """_cues skips a sentence without any stem a cue needs (in ASCII, "tie" and "work" only at a word's start):
    wherever a cue pattern matches, the sentence is let through."""
    from threadline.extract.entities.claims import _CUES, _cue_words

    assert _cue_words(text) or not any(pattern.search(text) for _, pattern in _CUES)
