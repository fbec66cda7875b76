"""JSON-lines batches: a bad line is reported with its line number and the other records are still processed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TEXT = "APT28 sent spearphishing attachments; the implant beaconed to 45.137.21.9 and used Mimikatz."

# command, extra arguments, a good record's fields, a record the command itself refuses (and what it says)
BATCHES = [
    ("analyze", ["--no-store"], {"text": TEXT}, {"text": ""}, "expected a non-empty \"text\" string"),
    ("techniques", [], {"text": TEXT}, {"text": 5}, "expected a non-empty \"text\" string"),
    ("iocs", [], {"text": TEXT}, {"text": TEXT, "url": 7}, "expected a \"url\" string"),
    ("attribute", [], {"techniques": ["T1566.001"], "software": ["Mimikatz"]}, {"techniques": 5},
     "\"techniques\" must be a list of strings"),
]


def _batch(tmp_path: Path, good: dict[str, object], refused: dict[str, object]) -> Path:
    lines = [json.dumps({"id": "r1", **good}).encode(),
             b"{not json",                                          # line 2
             json.dumps({"id": "r3", **good}).encode(),
             json.dumps({"id": "r4", **refused}).encode(),          # line 4
             b"",
             b'{"id": "r6", "text": "caf\xe9"}',                    # line 6: Latin-1, not UTF-8
             json.dumps({"no_id": True}).encode(),                  # line 7
             json.dumps({"id": "r8", **good}).encode()]
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize(("command", "extra", "good", "refused", "says"), BATCHES)
def test_bad_lines_are_reported_and_the_others_processed(  # type: ignore[no-untyped-def]
        kb, run_cli, tmp_path: Path, command: str, extra: list[str], good: dict[str, object],
        refused: dict[str, object], says: str) -> None:
    # It used to stop at line 2: records r3 and r8 were never processed.
    path = _batch(tmp_path, good, refused)
    code, out, err = run_cli(command, "--jsonl", str(path), *extra)
    assert code == 2
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["r1", "r3", "r8"]   # only whole records
    errors = err.splitlines()
    assert errors[:4] == [f"threadline: {path}:2: not JSON (Expecting property name enclosed in double quotes)",
                          f"threadline: {path}:4: record 'r4': {says}",
                          f"threadline: {path}:6: not UTF-8 text",
                          f"threadline: {path}:7: expected an object with an \"id\""]
    assert errors[4:] == [f"threadline: {path}: 4 of 7 records failed (lines 2, 4, 6, 7); the others were processed"]


@pytest.mark.parametrize(("command", "extra", "good", "refused", "says"), BATCHES)
def test_fail_fast_stops_at_the_first_bad_line(  # type: ignore[no-untyped-def]
        kb, run_cli, tmp_path: Path, command: str, extra: list[str], good: dict[str, object],
        refused: dict[str, object], says: str) -> None:
    path = _batch(tmp_path, good, refused)
    code, out, err = run_cli(command, "--jsonl", str(path), "--fail-fast", *extra)
    assert code == 2
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["r1"]
    assert err.splitlines() == [f"threadline: {path}:2: not JSON (Expecting property name enclosed in double quotes)"]


def test_a_good_batch_exits_zero_and_stdin_is_named(kb, run_cli) -> None:  # type: ignore[no-untyped-def]
    stdin = json.dumps({"id": "a", "text": TEXT}) + "\n\n" + "[1, 2]\n"
    code, out, err = run_cli("iocs", "--jsonl", "-", stdin=stdin)
    assert code == 2 and err.splitlines()[0] == "threadline: <stdin>:3: expected an object with an \"id\""
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["a"]
    code, out, err = run_cli("iocs", "--jsonl", "-", stdin=json.dumps({"id": "a", "text": TEXT}) + "\n")
    assert code == 0 and err == "" and json.loads(out)["iocs"]


@pytest.mark.parametrize("command", ["analyze", "techniques", "iocs", "attribute"])
def test_a_batch_and_files_together_are_refused(run_cli, tmp_path: Path, command: str) -> None:  # type: ignore[no-untyped-def]
    # techniques and attribute ignored the files given beside --jsonl.
    report = tmp_path / "report.txt"
    report.write_text(TEXT, encoding="utf-8")
    code, out, err = run_cli(command, str(report), "--jsonl", "-", stdin=json.dumps({"id": "a", "text": TEXT}))
    assert code == 2 and out == "" and "not both" in err and len(err.splitlines()) == 1
