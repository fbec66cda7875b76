"""`threadline techniques` on a file and in --jsonl batch mode."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from threadline.cli import app

TEXT = ("The intruders sent spearphishing emails with a malicious attachment to the finance team. "
        "They created a scheduled task to run the implant at every logon. The operators never used RDP.")


def test_file_json(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_text(TEXT, encoding="utf-8")
    result = CliRunner().invoke(app, ["techniques", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    ids = {t["id"] for t in out["techniques"]}
    assert any(i.startswith("T1566") for i in ids)
    assert all(t["evidence"] for t in out["techniques"] if not t["inferred"])


def test_jsonl_batch() -> None:
    lines = "\n".join(json.dumps({"id": f"r{i}", "text": TEXT}) for i in range(2)) + "\n"
    result = CliRunner().invoke(app, ["techniques", "--jsonl", "-"], input=lines)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [r["id"] for r in rows] == ["r0", "r1"]
    assert all(isinstance(r["techniques"], list) and r["techniques"] for r in rows)


def test_missing_file_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["techniques", "/nonexistent/report.txt"])
    assert result.exit_code != 0
