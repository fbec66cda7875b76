"""`threadline analyze` from the command line: files, batches, the store, bad input."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert code == 2 and "line 1" in err
    code, _, err = run_cli("analyze")
    assert code == 2
