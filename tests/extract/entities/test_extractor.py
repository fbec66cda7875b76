"""Entity extraction on the seed brief, on our retelling of it, and on reports written to trap false positives."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from threadline.extract.entities import Entities, extract_entities
from threadline.knowledge import KnowledgeBase, load_kb

REPO = Path(__file__).resolve().parents[3]
REPORTS = REPO / "tests" / "data" / "reports"
SEED = REPO / ".." / "shared" / "seed"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_kb(progress=False)


def _seed_texts() -> list[Any]:
    files = sorted(SEED.glob("*.txt")) if SEED.is_dir() else []
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no seed brief in {SEED}"))]
    return [pytest.param(f, id=f"seed:{f.name}") for f in files]


def _all_evidence(d: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [e for items in d.values() for item in items for e in item["evidence"]]


def _dated(d: dict[str, list[dict[str, Any]]], prefix: str, *words: str) -> list[dict[str, Any]]:
    return [x for x in d["dates"] if x["date"].startswith(prefix)
            and all(any(w in e["text"] for e in x["evidence"]) for w in words)]


def check_dianxun_facts(text: str, found: Entities) -> None:
    """The facts the issue's seed target lists; our retelling states the same facts in other words."""
    d = found.to_dict()
    for e in _all_evidence(d):
        assert text[e["start"]:e["end"]] == e["text"]
    (actor,) = d["actors"]
    assert (actor["attack_id"], actor["name"], actor["role"]) == ("G0129", "Mustang Panda", "attributed")
    assert {"RedDelta", "TA416"} <= set(actor["mentions"])
    (campaign,) = d["campaigns"]
    assert campaign["name"] == "Operation Diànxùn" and campaign["first_seen"] == "2020-08"
    assert "Telecommunications" in {s["name"] for s in d["sectors"]}
    countries = {c["code"]: c for c in d["countries"]}
    assert countries["US"]["role"] == "targeted"
    assert {"HK", "MM", "VA"} <= countries.keys()
    assert {(r["name"], r["code"]) for r in d["regions"]} >= {("Europe", "150"), ("Southeast Asia", "035")}
    first = [x for x in d["dates"] if x["date"] == "2020-08"]
    assert first and any(w in first[0]["event"] for w in ("first", "earliest"))
    assert any("Huawei" in lure["text"] and "career" in lure["text"] for lure in d["lures"])
    assert any("Catholicism" in lure["text"] for lure in d["lures"])
    assert [c["category"] for c in d["capabilities"]] == ["infostealer"]
    assert any("5G" in goal["text"] and "spy" in goal["text"] for goal in d["goals"])
    may = _dated(d, "2020-05", "Vatican")
    assert may and may[0]["qualifier"] == "early"
    assert _dated(d, "2020-09", "Tibet")
    later = _dated(d, "2020-09/", "Hong Kong", "Myanmar")
    assert later and later[0]["relative_to"] == "September 2020"
    aliases = {c.actor for c in found.claims if c.attack_id == "G0129"}
    assert len(aliases) >= 2       # one group, attributed under two of its names
    ttp = [c for c in found.claims if c.attack_id == "G0129" and "TTPs" in c.basis and c.caveats]
    assert ttp and ttp[0].strength == "attributed"


@pytest.mark.parametrize("path", _seed_texts())
def test_seed_brief(kb: KnowledgeBase, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = extract_entities(text, kb)
    check_dianxun_facts(text, found)
    (caveat,) = {cv for c in found.claims for cv in c.caveats}
    assert caveat.startswith("no other evidence has been found")


def test_same_facts_in_other_words(kb: KnowledgeBase) -> None:
    text = (REPORTS / "dianxun-retold.md").read_text(encoding="utf-8")
    check_dianxun_facts(text, extract_entities(text, kb))


def test_the_example_brief(kb: KnowledgeBase) -> None:
    path = REPO / "examples" / "operation-dianxun.md"
    if not path.is_file():
        pytest.skip(f"no example brief at {path}")
    text = path.read_text(encoding="utf-8")
    check_dianxun_facts(text, extract_entities(text, kb))


def test_vendor_blog_with_several_actors_and_common_words(kb: KnowledgeBase) -> None:
    text = (REPORTS / "vendor-blog-several-actors.md").read_text(encoding="utf-8")
    d = extract_entities(text, kb).to_dict()
    roles = {a["attack_id"]: a["role"] for a in d["actors"]}
    # "Play" is a name only as "Play ransomware"; "The group behind Play", "mask", "silence", "tick", "will" and
    # "victim" are not names.
    assert roles == {"G0096": "attributed", "G0010": "attributed", "G0034": "mentioned"}
    software = {s["attack_id"]: s["mentions"] for s in d["software"]}
    assert software == {"S0596": ["ShadowPad"], "S0357": ["Impacket"], "S0002": ["Mimikatz"], "S1162": ["Play"],
                        "S0154": ["Cobalt Strike"], "S1040": ["Rclone"], "S0022": ["Snake"]}
    assert {s["name"] for s in d["sectors"]} == {"Logistics", "Manufacturing", "Diplomacy", "Energy"}
    assert [c["code"] for c in d["countries"]] == ["TW"]
    assert ("2023-05-14", "14 May 2023") in {(x["date"], x["text"]) for x in d["dates"]}
    assert d["lures"] == [] and d["goals"] == []


def test_government_advisory(kb: KnowledgeBase) -> None:
    text = (REPORTS / "gov-advisory.md").read_text(encoding="utf-8")
    found = extract_entities(text, kb)
    d = found.to_dict()
    assert [(a["attack_id"], a["role"]) for a in d["actors"]] == [("G1017", "attributed")]
    assert [s["name"] for s in d["software"]] == ["netsh"]       # "Lead agencies", "LOLBins" are not names
    assert {s["name"] for s in d["sectors"]} == {"Water", "Healthcare"}
    assert {c["code"] for c in d["countries"]} == {"US", "CA"}
    assert d["capabilities"] == []                                 # advice about ransomware is not its use
    assert {x["date"] for x in d["dates"]} >= {"2022-11-03", "2023-03/2023-05"}
    assert any("pre-position" in g["text"] for g in d["goals"])
    assert [c.strength for c in found.claims] == ["suspected", "unknown", "denied"]


@pytest.mark.parametrize("text", [
    "The threat actor will play a role. We share threat intelligence with every victim.",
    "Users should mask their data, keep silence about incidents and tick every box.",
    "Run net view and ping the host at noon, then route traffic via the proxy.",
    "mustang panda and sandworm are animals, not names here.",
])
def test_no_names_from_common_words(kb: KnowledgeBase, text: str) -> None:
    d = extract_entities(text, kb).to_dict()
    assert d["actors"] == [] and d["software"] == []


@pytest.mark.parametrize(("text", "software"), [
    ("Play ransomware encrypted the file servers.", ["S1162"]),
    ("The operators used a backdoor called Soldier.", ["S0663"]),
    ("RTFs exploit the Equation Editor flaw, and the Watchdog module restarts the implant.", []),
    ("One backdoor and First stage loaders were seen in August.", []),
    # an everyday word opening a sentence is capitalised by its place: the word, unless the text names it so
    ("Soldier accounts were targeted by the phishing emails.", []),
    ("- Soldier families received the lure by e-mail.", []),
    ("Soldier beaconed every minute. The operators then pushed Soldier to the file servers.", ["S0663"]),
    ("Soldier backdoor samples beaconed every minute.", ["S0663"]),
])
def test_everyday_word_names_need_a_cue(kb: KnowledgeBase, text: str, software: list[str]) -> None:
    d = extract_entities(text, kb).to_dict()
    assert [s["attack_id"] for s in d["software"]] == software
    assert d["actors"] == []


@pytest.mark.parametrize("space", ["\u00a0", "\n"])
def test_a_name_broken_by_a_no_break_space_or_a_line_is_still_the_name(kb: KnowledgeBase, space: str) -> None:
    """Published pages write "Cobalt&nbsp;Strike"; it is the tool, not the Cobalt Group's alias "Cobalt"."""
    d = extract_entities(f"What is Cobalt Strike? Cobalt{space}Strike is marketed as adversary simulation "
                         "software, and the intruders deployed it.", kb).to_dict()
    assert d["actors"] == []
    assert [s["attack_id"] for s in d["software"]] == ["S0154"]


def test_a_group_name_without_its_suffix_is_the_group(kb: KnowledgeBase) -> None:
    d = extract_entities("The loader is attributed to the Korean-speaking threat actor Lazarus.", kb).to_dict()
    assert [a["attack_id"] for a in d["actors"]] == ["G0032"]
    assert extract_entities("Lazarus rose from the dead in the story.", kb).to_dict()["actors"][0]["attack_id"] \
        == "G0032"     # a capitalised non-English word is a name; the lower-case word is not
    assert extract_entities("the lazarus effect", kb).to_dict()["actors"] == []


def test_a_name_shared_by_a_group_and_its_malware_follows_the_words_next_to_it(kb: KnowledgeBase) -> None:
    malware = extract_entities("Gopuram coexisted with AppleJeus, a backdoor used by Lazarus.", kb).to_dict()
    assert [s["attack_id"] for s in malware["software"]] == ["S0584"]
    group = extract_entities("AppleJeus targeted cryptocurrency exchanges in 2018.", kb).to_dict()
    assert [a["attack_id"] for a in group["actors"]] == ["G1049"] and group["software"] == []


def test_casing_that_looks_like_a_name_counts(kb: KnowledgeBase) -> None:
    d = extract_entities("MUSTANG PANDA and Apt28 were both active.", kb).to_dict()
    assert {a["attack_id"] for a in d["actors"]} == {"G0129", "G0007"}


def test_shared_name_keeps_candidates(kb: KnowledgeBase) -> None:
    (actor,) = extract_entities("Carbanak hit several banks in 2015.", kb).to_dict()["actors"]
    assert actor["attack_id"] == "G0008"            # the group ATT&CK itself gives the name to
    assert {c["attack_id"] for c in actor["candidates"]} >= {"G0008", "G0046"}


def test_att_and_ck_campaign_by_name(kb: KnowledgeBase) -> None:
    d = extract_entities("Operation Dream Job lured engineers with fake job offers.", kb).to_dict()
    (campaign,) = d["campaigns"]
    assert campaign["attack_id"] == "C0022" and campaign["first_seen"] == "2019-09"
    assert [lure["text"] for lure in d["lures"]] == ["fake job offers"]


def test_fast_on_a_long_report(kb: KnowledgeBase) -> None:
    texts = [p.read_text(encoding="utf-8") for p in sorted(REPORTS.glob("*.md"))]
    long_text = "\n\n".join(texts * 10)
    assert len(long_text.split()) > 5000
    extract_entities(texts[0], kb)          # warm: the name automaton is built once per process
    started = time.perf_counter()
    extract_entities(long_text, kb)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(("text", "countries"), [
    ("Michael Jordan moved from New Jersey to Georgia.", []),
    ("The actor attacked ministries in Georgia and Jordan.", [("GE", "targeted"), ("JO", "targeted")]),
    ("RedDelta, a China-nexus group, went after the Vatican.", [("CN", "origin"), ("VA", "targeted")]),
    ("The U.S. government warns that the group targets water utilities.", [("US", "mentioned")]),
    ("Chinese government-backed hackers breached the Myanmar government.", [("CN", "origin"), ("MM", "targeted")]),
    ("CONTACT US", []),
    # issue 15: impersonated, quoted, or a vendor's home is a mention, not a target nor an origin
    ("The campaign impersonated the German embassy in a lure sent to diplomats in Italy.",
     [("DE", "mentioned"), ("IT", "targeted")]),
    ("According to researchers at Israel-based security firm Check Point, the attackers targeted Ukraine.",
     [("IL", "mentioned"), ("UA", "targeted")]),
    ("The phishing e-mails purported to come from the Ministry of Foreign Affairs of France.", [("FR", "mentioned")]),
    ("Chinese APT groups targeted organisations in Myanmar.", [("CN", "origin"), ("MM", "targeted")]),
    ("The group targeted the German embassy.", [("DE", "targeted")]),
])
def test_countries_and_their_roles(kb: KnowledgeBase, text: str, countries: list[tuple[str, str]]) -> None:
    d = extract_entities(text, kb).to_dict()
    assert [(c["code"], c["role"]) for c in d["countries"]] == countries


@pytest.mark.parametrize(("text", "sectors"), [
    ("The campaign is targeting telecom companies.", ["Telecommunications"]),
    ("The U.S. government warns that the group targets water utilities.", ["Water"]),
    ("Intrusions against two Hong Kong universities and the Myanmar government followed.",
     ["Higher education", "Government"]),
    ("The energy drink was popular with the team.", []),
])
def test_sectors(kb: KnowledgeBase, text: str, sectors: list[str]) -> None:
    assert [s["name"] for s in extract_entities(text, kb).to_dict()["sectors"]] == sectors
