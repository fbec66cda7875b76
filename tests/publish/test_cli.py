"""`threadline brief` and `threadline publish` from analysis JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import threadline.cli.publish as cli_publish  # registers the commands (the lead wires the import in cli/__init__)

from .conftest import DOCUMENTS, REPORT


@pytest.fixture
def fixture(analyse: Any, tmp_path: Path) -> str:
    """Our report's analysis as `threadline analyze --json` would give it, in a file."""
    path = tmp_path / "dianxun-analysis.json"
    path.write_text(json.dumps(analyse(REPORT), ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_brief_markdown_to_stdout(run_cli: Any, fixture: str) -> None:
    code, out, err = run_cli("brief", fixture)
    assert code == 0, err
    assert out.startswith("**TLP:CLEAR**") and "# What You Need to Know About Operation Diànxùn" in out


def test_brief_html_to_file_with_tlp(run_cli: Any, fixture: str, tmp_path: Path) -> None:
    target = tmp_path / "brief.html"
    code, _out, err = run_cli("brief", fixture, "--format", "html", "--out", str(target), "--tlp", "TLP:GREEN")
    assert code == 0, err
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "TLP:GREEN" in html


def test_several_briefs_need_a_folder(run_cli: Any, fixture: str, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    data = json.loads(Path(fixture).read_text(encoding="utf-8"))
    data["document"]["sha256"] = "f" * 64
    other.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run_cli("brief", fixture, str(other))
    assert code == 2 and "--out DIR" in err and len(err.strip().splitlines()) == 1
    code, _out, err = run_cli("brief", fixture, str(other), "--out", str(tmp_path / "briefs"), "--no-kb")
    assert code == 0, err
    assert len(list((tmp_path / "briefs").glob("*.md"))) == 2


def test_bad_inputs_are_one_line_errors(run_cli: Any, fixture: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # `publish` with nothing stored is an error: an empty database of its own, whatever earlier tests stored.
    monkeypatch.setenv("THREADLINE_DB", str(tmp_path / "empty.db"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    # A wrong --format is a usage error listing the choices (tests/cli/test_readable_output.py).
    for args in (["brief", str(bad)], ["brief", str(tmp_path / "missing.json")],
                 ["brief", fixture, "--tlp", "blue"], ["publish"]):
        code, _, err = run_cli(*args)
        assert code == 2 and err.startswith("threadline: ") and len(err.strip().splitlines()) == 1, (args, err)


def test_publish_from_files_and_folders(run_cli: Any, tmp_path: Path, fixture: str, analyse: Any) -> None:
    folder = tmp_path / "analyses"
    folder.mkdir()
    for path in DOCUMENTS[:2]:
        (folder / f"{path.stem}.json").write_text(json.dumps(analyse(path)), encoding="utf-8")
    out = tmp_path / "site"
    code, stdout, err = run_cli("publish", "--out", str(out), fixture, str(folder))
    assert code == 0, err
    assert (out / "index.html").is_file() and "index.html" in stdout
    assert len(cli_publish.load_analyses([str(folder)])) == len(list((out / "briefings").glob("*.html"))) - 1


def _one_line(err: str) -> bool:
    return err.startswith("threadline: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_publish_into_the_current_site_is_refused(run_cli: Any, tmp_path: Path, fixture: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`publish --out .` from inside a site (or a folder above where we stand) would pull the folder from under
    the shell: one line naming it, nothing changed."""
    site = tmp_path / "site"
    code, _, err = run_cli("publish", "--no-kb", "--out", str(site), fixture)
    assert code == 0, err
    before = tree(tmp_path)
    (site / "sub").mkdir()
    for where, out in ((site, "."), (site / "sub", ".."), (site / "sub", str(site))):
        monkeypatch.chdir(where)
        code, _, err = run_cli("publish", "--no-kb", "--out", out, fixture)
        assert code == 2 and _one_line(err), (out, err)
        assert "current folder" in err and out in err
    (site / "sub").rmdir()
    assert tree(tmp_path) == before


def test_publish_into_a_folder_it_can_not_write(run_cli: Any, tmp_path: Path, fixture: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only folder: one line naming it, exit 2, nothing half-written. As root every folder is writable, so
    the refusal the kernel would give is simulated where the site's folder is created."""
    import os
    import tempfile

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:
        def refuse(*args: Any, **kwargs: Any) -> str:
            raise PermissionError(13, "Permission denied")

        monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    try:
        code, _, err = run_cli("publish", "--no-kb", "--out", str(locked / "site"), fixture)
    finally:
        locked.chmod(0o755)
    assert code == 2 and _one_line(err), err
    assert str(locked / "site") in err and ("not writable" in err or "Permission denied" in err)
    assert list(locked.iterdir()) == []


def test_publish_into_a_folder_that_is_not_a_site(run_cli: Any, tmp_path: Path, fixture: str) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine", encoding="utf-8")
    (tmp_path / "file").write_text("a file", encoding="utf-8")
    for out in (tmp_path / "mine", tmp_path / "file"):
        code, _, err = run_cli("publish", "--no-kb", "--out", str(out), fixture)
        assert code == 2 and _one_line(err) and str(out) in err, err
    assert (tmp_path / "mine" / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dianxun-analysis.json", "file", "mine"]
