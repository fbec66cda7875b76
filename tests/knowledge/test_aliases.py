"""Aliases are evidence, not identity: every vendor name lands on its intrusion set, with who says so."""

from __future__ import annotations

import pytest

from threadline.knowledge.aliases import AliasAssertion, AliasIndex, normalise


@pytest.mark.parametrize("name", ["TA416", "RedDelta", "BRONZE PRESIDENT", "bronze president", "mustang panda",
                                  "Mustang-Panda", "G0129"])
def test_mustang_panda_aliases(kb, name: str) -> None:  # type: ignore[no-untyped-def]
    from threadline.knowledge.profiles import lookup_actor

    profile = lookup_actor(kb, name)
    assert profile["attack_id"] == "G0129"
    assert profile["name"] == "Mustang Panda"


def test_each_alias_says_who_asserts_it(kb) -> None:  # type: ignore[no-untyped-def]
    from threadline.knowledge.profiles import lookup_actor

    aliases = {a["name"]: a["sources"] for a in lookup_actor(kb, "RedDelta")["aliases"]}
    sources = {s["source"] for s in aliases["RedDelta"]}
    assert "MITRE ATT&CK G0129" in sources
    assert any(s.startswith("MISP threat-actor galaxy") for s in sources)
    attack = next(s for s in aliases["RedDelta"] if s["kind"] == "attack")
    assert attack["citations"], "ATT&CK cites a report for the RedDelta alias"


@pytest.mark.parametrize("name", ["Fancy Bear", "APT 28", "apt-28", "apt28", "Sofacy"])
def test_apt28_spellings(kb, name: str) -> None:  # type: ignore[no-untyped-def]
    resolution = kb.actors.resolve(name)
    assert resolution.unique == "G0007"


def test_shared_name_returns_every_candidate_with_sources(kb) -> None:  # type: ignore[no-untyped-def]
    from threadline.knowledge.profiles import lookup_actor

    result = lookup_actor(kb, "APT38")   # ATT&CK's G0082, and a MISP synonym of Lazarus Group (G0032)
    assert result["ambiguous"] is True
    ids = {c["attack_id"] for c in result["candidates"]}
    assert {"G0082", "G0032"} <= ids
    assert all(c["matched_by"] for c in result["candidates"])


def test_no_two_intrusion_sets_are_merged(kb) -> None:  # type: ignore[no-untyped-def]
    # Every ATT&CK alias still finds its own group, whatever else carries the name.
    for group in kb.attack.groups.values():
        for alias in group.aliases:
            assert group.attack_id in kb.actors.resolve(alias).matches, (group.attack_id, alias)
    # A MISP entry is linked to one group at most, and only on a stated basis.
    assert all(link.attack_id in kb.by_attack_id and link.basis for link in kb.actor_links.values())


def test_misp_relations_are_kept_with_their_likelihood(kb) -> None:  # type: ignore[no-untyped-def]
    relations = [a for key in kb.actors.all_keys() for a in kb.actors.assertions(key)
                 if a.kind == "relation"]
    assert relations, "MISP overlaps/similar relations must become alias evidence"
    assert any(a.likelihood for a in relations)


def test_normalise_ignores_case_spaces_hyphens_and_diacritics() -> None:
    assert normalise("Diànxùn") == normalise("Dianxun") == "dianxun"
    assert normalise("APT 28") == normalise("apt-28") == normalise("APT_28") == "apt28"


def test_relation_only_names_yield_to_direct_ones() -> None:
    index = AliasIndex()
    index.add(AliasAssertion("G0001", "Blue Team", "attack", "MITRE ATT&CK G0001"))
    index.add(AliasAssertion("G0002", "Blue Team", "relation", "MISP: X overlaps Y", "likely"))
    assert index.resolve("blue-team").unique == "G0001"
    index.add(AliasAssertion("G0003", "Red Team", "relation", "MISP: A similar B", "likely"))
    assert index.resolve("Red Team").unique == "G0003"   # no direct carrier: the relation is all we have


def test_unknown_name_suggests_close_matches(kb) -> None:  # type: ignore[no-untyped-def]
    from threadline.errors import NotFoundError
    from threadline.knowledge.profiles import lookup_actor

    with pytest.raises(NotFoundError, match="did you mean: Mustang Panda"):
        lookup_actor(kb, "Mustang Pandaa")


def test_a_group_name_without_its_suffix_is_a_derived_alias(kb) -> None:  # type: ignore[no-untyped-def]
    lazarus = kb.actors.resolve("Lazarus")
    assert list(lazarus.matches) == ["G0032"]
    (assertion,) = lazarus.matches["G0032"]
    assert assertion.kind == "derived" and assertion.source == 'MITRE ATT&CK G0032 (its name without "Group")'
    # MISP gives the bare "Winnti" to APT41 directly: Winnti Group's derived "Winnti" does not outweigh it
    winnti = kb.actors.resolve("Winnti")
    assert list(winnti.matches) == ["G0096"]
    assert all(a.kind != "derived" for assertions in winnti.matches.values() for a in assertions)
