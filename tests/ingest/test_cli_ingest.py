"""`threadline ingest`: stores each source once, says "already stored", imports STIX/MISP, JSON output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from threadline.store import open_store


def test_ingest_then_again_says_already_stored(run_cli, samples: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = str(tmp_path / "cli.db")
    code, out, err = run_cli("ingest", str(samples / "lanternfish.pdf"), "--db", db)
    assert code == 0 and err == ""
    assert out.startswith("stored ") and "application/pdf, 1172 chars, 3 pages  Operation Lanternfish" in out
    code, out, _ = run_cli("ingest", str(samples / "lanternfish.pdf"), "--db", db)
    assert code == 0 and out.startswith("already stored ")


def test_folder_json_output_and_knowledge_imports(run_cli, samples: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "inbox"
    folder.mkdir()
    for name in ("lanternfish.md", "advisory.html", "harbour.rss", "lanternfish-stix.json",
                 "lanternfish-misp.json"):
        shutil.copy(samples / name, folder / name)
    (folder / ".hidden.txt").write_text("editor state", encoding="utf-8")
    db = tmp_path / "cli.db"
    code, out, err = run_cli("ingest", str(folder), "--db", str(db), "--json")
    assert code == 0, err
    results = json.loads(out)
    assert [Path(r["source"]).name for r in results] == sorted(
        ["advisory.html", "harbour.rss", "lanternfish-misp.json", "lanternfish-stix.json", "lanternfish.md"])
    kinds = {Path(r["source"]).name: r["kind"] for r in results}
    assert kinds == {"advisory.html": "html", "harbour.rss": "feed", "lanternfish-misp.json": "misp",
                     "lanternfish-stix.json": "stix", "lanternfish.md": "text"}
    stix = next(r for r in results if r["kind"] == "stix")
    assert stix["imported"]["added"] == 6
    feed = next(r for r in results if r["kind"] == "feed")
    assert [d["status"] for d in feed["documents"]] == ["stored", "stored"]
    with open_store(db) as store:
        assert store.count_documents() == 4 and store.count_knowledge() == 12


def test_stdin_text(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("ingest", "-", "--db", str(tmp_path / "cli.db"),
                           stdin="Pasted note: Lanternfish reused 103.56.17[.]24 in August.\n")
    assert code == 0 and "text/plain" in out and "<- <stdin>" in out


def test_url_refused_without_allow_private(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("ingest", "http://127.0.0.1:9/report.html", "--db", str(tmp_path / "cli.db"))
    assert code == 2 and out == ""
    assert "127.0.0.1, a loopback address (use --allow-private to fetch from it)" in err.splitlines()[0]


def test_empty_folder(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "inbox").mkdir()
    code, out, err = run_cli("ingest", str(tmp_path / "inbox"), "--db", str(tmp_path / "cli.db"))
    assert code == 2 and out == "" and "inbox: folder holds no files to read" in err
    assert len(err.strip().splitlines()) == 1
    for command in ("analyze", "brief", "techniques", "iocs"):      # every command that takes a folder says the same
        code, out, err = run_cli(command, str(tmp_path / "inbox"))
        assert code == 2 and out == "" and "folder holds no files to read" in err, command


def test_an_empty_folder_fails_on_its_own(run_cli, samples: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "inbox").mkdir()
    report = sorted(p for p in samples.iterdir() if p.suffix == ".md")[0]
    code, out, err = run_cli("ingest", str(tmp_path / "inbox"), str(report), "--db", str(tmp_path / "cli.db"))
    assert code == 2 and "inbox: folder holds no files to read" in err and "1 of 2 sources" in err
    assert report.name in out or "stored" in out      # the other source went on
