"""Group profiles: what a group uses after excluding sources, and the distinctiveness weights."""

from __future__ import annotations

from threadline.attribute.profiles import build_profiles, citation_year, source_key
from threadline.knowledge.attack import Citation
from threadline.knowledge.base import KnowledgeBase


def _single_source_relationship(kb: KnowledgeBase) -> tuple[str, str, Citation]:
    """A group->technique 'uses' whose only citation is one source, and no other path gives the technique."""
    base = build_profiles(kb)
    for rel in kb.attack.relationships:
        if rel.type != "uses" or rel.source not in kb.attack.groups or rel.target not in kb.attack.techniques:
            continue
        if len(rel.citations) != 1:
            continue
        group = kb.attack.groups[rel.source]
        tid = kb.attack.techniques[rel.target].attack_id
        if base.profiles[group.attack_id].techniques.get(tid) == 1.0 and not kb.campaigns_of(group):
            tools = [s for s, _ in kb.software_of(group.stix_id)]
            if all(tid not in {t.attack_id for t, _ in kb.techniques_of(s.stix_id)} for s in tools):
                return group.attack_id, tid, rel.citations[0]
    raise AssertionError("no single-source relationship in the knowledge base")


def test_exclusion_removes_relationships_supported_only_by_that_source(kb):  # type: ignore[no-untyped-def]
    gid, tid, citation = _single_source_relationship(kb)
    assert tid in build_profiles(kb).profiles[gid].techniques
    by_name = build_profiles(kb, [citation.source_name.upper()])      # case-insensitive
    assert tid not in by_name.profiles[gid].techniques
    assert by_name.dropped_relationships >= 1
    if citation.url:
        by_url = build_profiles(kb, [citation.url + "/"])
        assert tid not in by_url.profiles[gid].techniques


def test_exclusion_keeps_relationships_with_other_support(kb):  # type: ignore[no-untyped-def]
    # Every Mustang Panda relationship the McAfee Dianxun report supports is corroborated by another report.
    profile = build_profiles(kb, ["McAfee Dianxun March 2021"]).profiles["G0129"]
    for tid in ("T1566.002", "T1204.001", "T1053.005", "T1071.001"):
        assert profile.techniques.get(tid) == 1.0
        assert profile.sources[tid] and "McAfee Dianxun March 2021" not in profile.sources[tid]
        assert "McAfee Dianxun March 2021" in build_profiles(kb).profiles["G0129"].sources[tid]


def test_profiles_are_cached_per_exclusion_set(kb):  # type: ignore[no-untyped-def]
    assert build_profiles(kb, ["Some Report"]) is build_profiles(kb, ["  some report "])
    assert build_profiles(kb) is not build_profiles(kb, ["Some Report"])


def test_distinctiveness_custom_malware_over_common_tools_over_generic_technique(kb):  # type: ignore[no-untyped-def]
    ps = build_profiles(kb)
    toneshell = ps.idf("software", "S1239")      # Mustang Panda's own backdoor
    cobalt = ps.idf("software", "S0154")         # Cobalt Strike
    generic = ps.idf("technique", "T1059.001")   # PowerShell
    assert toneshell > cobalt > generic


def test_profile_has_software_techniques_victims_and_dates(kb):  # type: ignore[no-untyped-def]
    profile = build_profiles(kb).profiles["G0129"]
    assert "S0013" in profile.software                      # PlugX
    assert any(w < 1.0 for w in profile.techniques.values())  # techniques known through its tools
    assert {"MM", "VN"} <= profile.countries                  # named in ATT&CK's description
    assert "govern" in profile.sectors
    assert profile.years and 2012 <= profile.years[0] <= profile.years[-1] <= 2030


def test_citation_year_and_source_key() -> None:
    cite = Citation("X", None, "Author. (2020, July 28). Title. Retrieved May 1, 2021.")
    assert abs((citation_year(cite) or 0) - (2020 + 6.5 / 12)) < 1e-9
    assert citation_year(Citation("Y", None, "Vendor. (n.d.). Title.")) is None
    assert source_key(" https://Example.org/Report/ ") == "https://example.org/report"


def test_incremental_exclusion_matches_a_full_rebuild(kb):  # type: ignore[no-untyped-def]
    """Excluding a source rebuilds only the groups it touches; the result must equal building everything."""
    from threadline.attribute import profiles as module

    static = module.static_of(kb)
    campaign = next(c for c in kb.attack.campaigns.values() if c.attack_id == "C0024")
    sources = sorted({c.source_name for r in kb.related(campaign.stix_id, "uses") for c in r.citations})
    excluded = frozenset(source_key(s) for s in sources)
    fast = build_profiles(kb, sources, [campaign.stix_id])
    for group in kb.attack.groups.values():
        full, _ = module._build_group(kb, static, group.stix_id, excluded, frozenset([campaign.stix_id]))
        fast_profile = fast.profiles[group.attack_id]
        assert (fast_profile.techniques, fast_profile.software, fast_profile.years) == \
            (full.techniques, full.software, full.years), group.attack_id


def test_nationality_adjectives_are_victims_not_origins(kb):  # type: ignore[no-untyped-def]
    from threadline.attribute.profiles import static_of

    static = static_of(kb)
    assert static.victimology("targeting Ukrainian government entities and South Korean think tanks")[1] == {
        "UA", "KR"}
    assert static.victimology("an Iranian threat group and a Chinese APT")[1] == set()
    assert static.victimology("Russian-speaking operators")[1] == set()
