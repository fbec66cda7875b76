"""`threadline analyze` from the command line: files, batches, the store, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "operation-dianxun.md"


def test_analyze_store_then_brief_export_publish(kb, run_cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("THREADLINE_DB", str(tmp_path / "a.db"))
    code, out, err = run_cli("analyze", str(EXAMPLE), "--json")
    assert code == 0, err
    (result,) = json.loads(out)
    sha = result["document"]["sha256"]
    code, out, err = run_cli("analyze", str(EXAMPLE), "--json")      # again: same document, same analysis
    assert code == 0 and json.loads(out)[0]["document"]["sha256"] == sha
    code, out, err = run_cli("brief", sha[:16])
    assert code == 0, err
    assert "What You Need to Know About" in out and "Mustang Panda" in out
    code, out, err = run_cli("export", sha, "--format", "stix")
    assert code == 0, err
    assert json.loads(out)["type"] == "bundle"
    site = tmp_path / "site"
    code, out, err = run_cli("publish", "--out", str(site))
    assert code == 0, err
    assert (site / "index.html").is_file()


def test_analyze_jsonl_batch(kb, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = "".join(json.dumps({"id": f"r{i}", "text": EXAMPLE.read_text(encoding="utf-8")}) + "\n" for i in range(2))
    code, out, err = run_cli("analyze", "--jsonl", "-", "--no-store", stdin=lines)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["r0", "r1"]
    assert all(any(a.get("attack_id") == "G0129" for a in r["actors"]) for r in rows)


def test_bad_inputs_are_one_line_errors(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    code, _, err = run_cli("analyze", str(empty), "--no-store")
    assert code == 2 and "empty.txt" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("analyze", "--jsonl", "-", "--no-store", stdin="not json\n")
    assert code == 2 and err == "threadline: <stdin>:1: not JSON (Expecting value)\n"   # FILE:LINE: problem
    code, _, err = run_cli("analyze")
    assert code == 2


@pytest.mark.parametrize(("line", "message"), [
    ({"id": "r1"}, "record 'r1': expected a non-empty \"text\" string"),
    ({"id": "r1", "text": "APT28 used Mimikatz.", "exclude_sources": 5}, "\"exclude_sources\" must be a list"),
    ({"id": "r1", "text": "APT28 used Mimikatz.", "published": 2020}, "record 'r1': expected a \"published\" string"),
])
def test_every_batch_command_checks_its_records(run_cli, line, message) -> None:  # type: ignore[no-untyped-def]
    # Fields of a record used to pass unchecked: a number as "published" reached the analysis JSON, a number as
    # "exclude_sources" crashed with a traceback.
    commands = ["analyze", "techniques", "iocs"] if "text" not in line else ["analyze"]
    for command in commands:
        code, _, err = run_cli(command, "--jsonl", "-", *(["--no-store"] if command == "analyze" else []),
                               stdin=json.dumps(line) + "\n")
        assert code == 2 and message in err, (command, err)
        assert len(err.strip().splitlines()) == 1
