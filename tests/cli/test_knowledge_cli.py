"""`threadline actor`, `technique` and `kb` as a user runs them: JSON contract, exit codes, one-line errors."""

from __future__ import annotations

import json


def test_actor_json_contract(kb, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("actor", "TA416", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["attack_id"] == "G0129"
    assert {"attack_id", "name", "aliases", "country", "campaigns", "software", "techniques"} <= set(data)
    assert all({"name", "sources"} <= set(a) for a in data["aliases"])


def test_fancy_bear(kb, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("actor", "Fancy Bear", "--json")
    assert code == 0 and json.loads(out)["attack_id"] == "G0007"


def test_shared_name_exits_zero_with_candidates(kb, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("actor", "APT38", "--json")
    data = json.loads(out)
    assert code == 0 and len(data["candidates"]) >= 2


def test_unknown_actor_exits_one_with_suggestions(kb, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("actor", "Mustang Pandas", "--json")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "did you mean" in err and "Mustang Panda" in err


def test_human_output_is_a_table(kb, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("actor", "bronze president")
    assert code == 0 and "Mustang Panda" in out and "RedDelta" in out


def test_technique_and_stats(kb, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("technique", "T1566.001", "--json")
    assert code == 0 and json.loads(out)["id"] == "T1566.001"
    code, out, _ = run_cli("technique", "T9999")
    assert code == 1
    code, out, _ = run_cli("technique", "T1574.002")           # revoked: answered with its replacement
    assert code == 0 and "T1574.001" in out and "revoked" in out
    code, out, _ = run_cli("kb", "stats", "--json")
    assert code == 0 and json.loads(out)["counts"]["groups"] == 172


def test_kb_update_rejects_a_missing_file(run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("kb", "update", "--from", str(tmp_path / "missing.json"))
    assert code == 2 and "missing.json: no such file" in err


def test_kb_update_names_a_bundle_without_techniques(run_cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "not-attack.json"
    bundle.write_text('{"type": "bundle", "id": "bundle--1", "objects": []}', encoding="utf-8")
    code, _, err = run_cli("kb", "update", "--from", str(bundle))
    assert code == 2 and f"{bundle}: the bundle has no ATT&CK techniques" in err and err.count("\n") == 1
