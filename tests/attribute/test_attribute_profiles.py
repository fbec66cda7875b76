"""Group profiles: what a group uses after excluding sources, and the distinctiveness weights."""

from __future__ import annotations

import math

from threadline.attribute.profiles import GENERIC_SHARE, build_profiles, citation_year, os_native_tools, source_key
from threadline.attribute.scoring import level_of
from threadline.knowledge.attack import Citation, Software
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


def test_sectors_the_extractor_reports_outside_misp_are_matched(kb):  # type: ignore[no-untyped-def]
    """"Religious organisations" has no MISP sector value; a group described as targeting religious institutions
    must still share it with a report that names religious organizations as victims."""
    from threadline.attribute.profiles import sector_stems, static_of

    static = static_of(kb)
    case = sector_stems("Religious organisations") & static.sector_vocabulary
    assert case == {"religi"}          # "organisations" is filler, not a sector
    sectors, _ = static.victimology("has targeted religious institutions and think tanks in Mongolia")
    assert case <= sectors


def _tool(attack_id: str, description: str, kind: str = "tool") -> Software:
    return Software(f"tool--{attack_id}", attack_id, attack_id, description, None, None, None, kind=kind)


def test_os_native_tools_are_read_from_descriptions_and_their_references() -> None:
    urls = {"TechNet Thing": "https://technet.microsoft.com/en-us/library/bb490939.aspx",
            "Sysinternals": "https://technet.microsoft.com/en-us/sysinternals/bb897553.aspx",
            "Project": "https://github.com/example/tool"}
    software = [
        _tool("S9001", "The Thing utility is a component of the Windows operating system."),
        _tool("S9002", "thing is a scripting utility for networking components. (Citation: TechNet Thing)"),
        _tool("S9003", "ping is an operating system utility commonly used to verify network connections."),
        _tool("S9004", "PsExec-like is a free Microsoft tool. (Citation: Sysinternals)"),
        _tool("S9005", "A post-exploitation framework on GitHub. (Citation: Project)"),
        _tool("S9006", "A backdoor that is a Windows utility lookalike.", kind="malware"),   # only tools
    ]
    assert os_native_tools(software, urls) == {"S9001", "S9002", "S9003"}


def test_os_native_tools_grade_as_generic_on_attack(kb):  # type: ignore[no-untyped-def]
    ps = build_profiles(kb)
    names = {kb.by_attack_id[s].name.casefold() for s in ps.native}
    assert {"net", "netsh", "ipconfig", "cmd", "reg", "schtasks", "systeminfo", "tasklist", "ping", "route",
            "netstat", "arp", "at", "ftp", "certutil", "esentutl", "bitsadmin", "nltest", "dsquery"} <= names
    # third-party tools and malware stay graded by how many groups ATT&CK lists them for
    assert not {"psexec", "mimikatz", "adfind", "cobalt strike", "sdelete", "impacket"} & names
    netsh = "S0108"
    assert ps.frequency("software", netsh) <= GENERIC_SHARE * ps.n_groups      # few groups in ATT&CK...
    assert level_of(ps, "software", netsh) == "generic"                        # ...but generic evidence
    df, n = ps.frequency("software", netsh), ps.n_groups
    assert ps.idf("software", netsh) < math.log(1 + (n - df + 0.5) / (df + 0.5))   # weighs less than its count says
    assert build_profiles(kb, ["McAfee Dianxun March 2021"]).native == ps.native   # computed once, kept
