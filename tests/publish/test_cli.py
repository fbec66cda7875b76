"""`threadline brief` and `threadline publish` from analysis JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import threadline.cli.publish as cli_publish  # registers the commands (the lead wires the import in cli/__init__)

from .conftest import PUBLISH

FIXTURE = str(PUBLISH / "dianxun-analysis.json")


def test_brief_markdown_to_stdout(run_cli: Any) -> None:
    code, out, err = run_cli("brief", FIXTURE)
    assert code == 0, err
    assert out.startswith("**TLP:CLEAR**") and "# What You Need to Know About Operation Diànxùn" in out


def test_brief_html_to_file_with_tlp(run_cli: Any, tmp_path: Path) -> None:
    target = tmp_path / "brief.html"
    code, _out, err = run_cli("brief", FIXTURE, "--format", "html", "--out", str(target), "--tlp", "TLP:GREEN")
    assert code == 0, err
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "TLP:GREEN" in html


def test_several_briefs_need_a_folder(run_cli: Any, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    data = json.loads(Path(FIXTURE).read_text(encoding="utf-8"))
    data["document"]["sha256"] = "f" * 64
    other.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run_cli("brief", FIXTURE, str(other))
    assert code == 2 and "--out DIR" in err and len(err.strip().splitlines()) == 1
    code, _out, err = run_cli("brief", FIXTURE, str(other), "--out", str(tmp_path / "briefs"), "--no-kb")
    assert code == 0, err
    assert len(list((tmp_path / "briefs").glob("*.md"))) == 2


def test_bad_inputs_are_one_line_errors(run_cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    # A wrong --format is a usage error listing the choices (tests/cli/test_readable_output.py).
    for args in (["brief", str(bad)], ["brief", str(tmp_path / "missing.json")],
                 ["brief", FIXTURE, "--tlp", "blue"], ["publish"]):
        code, _, err = run_cli(*args)
        assert code == 2 and err.startswith("threadline: ") and len(err.strip().splitlines()) == 1, (args, err)


def test_publish_from_files_and_folders(run_cli: Any, tmp_path: Path) -> None:
    if not list((PUBLISH.parent / "analysis").glob("*.json")):
        pytest.skip("no hand-written analyses in tests/data/analysis")
    out = tmp_path / "site"
    code, stdout, err = run_cli("publish", "--out", str(out), FIXTURE, str(PUBLISH.parent / "analysis"))
    assert code == 0, err
    assert (out / "index.html").is_file() and "index.html" in stdout
    assert len(cli_publish.load_analyses([str(PUBLISH.parent / "analysis")])) == \
        len(list((out / "briefings").glob("*.html"))) - 1
