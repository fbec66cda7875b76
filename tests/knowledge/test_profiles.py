"""Actor and technique profiles carry what an analyst asks first."""

from __future__ import annotations

from threadline.knowledge.profiles import lookup_actor, lookup_technique


def test_mustang_panda_profile(kb) -> None:  # type: ignore[no-untyped-def]
    profile = lookup_actor(kb, "TA416")
    assert profile["country"] == "CN"
    names = {a["name"] for a in profile["aliases"]}
    assert {"Mustang Panda", "TA416", "RedDelta", "BRONZE PRESIDENT"} <= names
    assert any(s["name"] == "PlugX" for s in profile["software"])
    assert all(t["id"].startswith("T") and t["tactics"] for t in profile["techniques"])
    assert profile["techniques"] and all(t["sources"] for t in profile["techniques"])


def test_campaigns_are_dated(kb) -> None:  # type: ignore[no-untyped-def]
    dated = [c for g in kb.attack.groups.values() for c in lookup_actor(kb, g.attack_id)["campaigns"]]
    assert len(dated) >= 20
    assert all(c["first_seen"] and len(c["first_seen"]) == 10 for c in dated)


def test_technique_by_id_and_name(kb) -> None:  # type: ignore[no-untyped-def]
    by_id = lookup_technique(kb, "t1566.001")
    assert by_id["name"] == "Phishing: Spearphishing Attachment"
    assert by_id["mitigations"] and by_id["detection_strategies"] and by_id["groups"]
    by_name = lookup_technique(kb, "Phishing: Spearphishing Attachment")
    assert by_name["id"] == "T1566.001"
    assert lookup_technique(kb, "scheduled task")["id"] == "T1053.005"
    parent = lookup_technique(kb, "T1566")
    assert {s["id"] for s in parent["subtechniques"]} >= {"T1566.001", "T1566.002"}


def test_shared_technique_names_are_all_listed(kb) -> None:  # type: ignore[no-untyped-def]
    result = lookup_technique(kb, "Spearphishing Attachment")   # under Phishing and Phishing for Information
    assert result.get("ambiguous")
    assert {c["id"] for c in result["candidates"]} == {"T1566.001", "T1598.002"}


def test_revoked_technique_ids_resolve_to_their_replacement(kb) -> None:  # type: ignore[no-untyped-def]
    # ATT&CK v17 merged DLL Side-Loading (T1574.002) into T1574.001; v7 turned PowerShell T1086 into T1059.001.
    assert kb.current_technique_id("t1574.002") == "T1574.001"
    assert kb.current_technique_id("T1086") == "T1059.001"
    assert kb.current_technique_id("T1566.001") == "T1566.001"      # live ids stay as they are
    assert lookup_technique(kb, "T1193")["id"] == "T1566.001"         # old Spearphishing Attachment
    assert lookup_technique(kb, "DLL Side-Loading")["id"] == "T1574.001"   # a revoked name, too
    assert all(isinstance(kb.by_attack_id.get(new), type(kb.by_attack_id["T1059"])) for new in kb.revoked.values())
    assert not set(kb.revoked) & set(kb.by_attack_id)
