"""`threadline export`: every format to a file, atomic writes, and one-line errors that write nothing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

import threadline.cli.export  # noqa: F401  (registers the command until cli/__init__ imports it)
from tests.export.conftest import HERON
from threadline.cli import main
from threadline.errors import InputError
from threadline.export import FORMATS, get_format
from threadline.export.common import write_atomic


@pytest.fixture
def heron_file(heron: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The current analysis of the SILENT HERON report, as ``analyze`` would save it."""
    path = tmp_path_factory.mktemp("analysis") / "silent-heron.json"
    path.write_text(json.dumps(heron, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["threadline", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_format_to_a_file(fmt: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               heron_file: Path) -> None:
    out = tmp_path / f"heron{FORMATS[fmt].extension}"
    source = str(heron_file)
    assert run(monkeypatch, "export", source, "--format", fmt, "--out", str(out), "--tlp", "green") == 0
    first = out.read_bytes()
    assert first
    assert run(monkeypatch, "export", source, "--format", fmt, "--out", str(out), "--tlp", "green") == 0
    assert out.read_bytes() == first                              # exporting twice: byte-identical
    assert [p.name for p in tmp_path.iterdir()] == [out.name]     # no temporary file left behind


def test_stdout_and_bundle_as_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str], heron: dict[str, Any]) -> None:
    """A report analysed on the spot -> a STIX bundle -> CSV from the bundle: every indicator comes through."""
    bundle = tmp_path / "bundle.json"
    assert run(monkeypatch, "export", str(HERON), "-f", "stix", "-o", str(bundle)) == 0
    capsys.readouterr()
    assert run(monkeypatch, "export", str(bundle), "--format", "csv") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("type,value,defanged") and len(lines) == 1 + len(heron["iocs"])


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"iocs": []}', "missing the \"document\" object"),
    ('{"document": {}, "iocs": [{"type": "domain"}]}', "iocs[1] needs"),
    ('{"document": {}, "techniques": [{"id": "execution"}]}', "techniques[1] needs"),
    ('{"type": "bundle"}', "not a STIX 2.1 bundle"),
    ('{"type": "bundle", "objects": [{"type": "indicator"}]}', "object 0: not a STIX object"),
    ('{"Event": {"info": "phishing wave", "Attribute": []}}', "a MISP event is knowledge"),
])
def test_bad_input_is_one_line_and_writes_nothing(content: str, message: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "analysis.json"
    source.write_text(content, encoding="utf-8")
    out = tmp_path / "out.json"
    out.write_text("previous export\n", encoding="utf-8")
    assert run(monkeypatch, "export", str(source), "--format", "stix", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and str(source) in err
    assert out.read_text(encoding="utf-8") == "previous export\n"   # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis.json", "out.json"]


def test_unknown_format_and_tlp(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                heron_file: Path) -> None:
    source = str(heron_file)
    assert run(monkeypatch, "export", source, "--format", "pdf") == 2
    assert "'pdf' is not one of 'stix', 'misp'" in capsys.readouterr().err    # a usage error listing the choices
    assert run(monkeypatch, "export", source, "--format", "misp", "--tlp", "orange") == 2
    assert "unknown TLP level" in capsys.readouterr().err
    with pytest.raises(InputError):
        get_format("xml")


def test_write_atomic_keeps_the_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "layer.json"
    target.write_text("old", encoding="utf-8")

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(InputError, match=r"cannot write .*disk full"):
        write_atomic(target, json.dumps({"new": True}))
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["layer.json"]


def test_write_atomic_into_a_missing_folder_or_onto_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such directory"):
        write_atomic(tmp_path / "missing" / "out.csv", "x")
    with pytest.raises(InputError, match="is a directory"):
        write_atomic(tmp_path, "x")


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_write_atomic_honours_the_umask(umask: int, tmp_path: Path) -> None:
    """The file gets the mode open() would give it (0666 less the umask), not mkstemp's 0600; atomic still."""
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "new.json", "{}")
        plain = tmp_path / "plain.json"
        with plain.open("w", encoding="utf-8") as handle:
            handle.write("{}")
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o666 & ~umask == plain.stat().st_mode & 0o777
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "plain.json"]


def test_write_atomic_keeps_an_existing_files_mode(tmp_path: Path) -> None:
    target = tmp_path / "shared.csv"
    target.write_text("old", encoding="utf-8")
    target.chmod(0o640)
    write_atomic(target, "new")
    assert target.read_text(encoding="utf-8") == "new" and target.stat().st_mode & 0o777 == 0o640


def test_export_out_file_is_readable_as_the_umask_allows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         heron_file: Path) -> None:
    out = tmp_path / "heron.csv"
    old = os.umask(0o022)
    try:
        assert run(monkeypatch, "export", str(heron_file), "--format", "csv", "--out", str(out)) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


def test_oversized_input_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str], heron_file: Path) -> None:
    monkeypatch.setenv("THREADLINE_MAX_INPUT_BYTES", "100")
    assert run(monkeypatch, "export", str(heron_file), "--format", "csv") == 2
    assert "larger than max_input_bytes (100 bytes)" in capsys.readouterr().err


@pytest.mark.slow
def test_identical_across_processes_and_hash_seeds(tmp_path: Path, heron_file: Path) -> None:
    """Byte-identical output even when Python's set order changes (stix2 keeps custom properties in a set)."""
    import subprocess

    script = ("import sys, hashlib, json\n"
              "from threadline.export import FORMATS, export\n"
              "from threadline.export.common import load_analysis\n"
              "a = load_analysis(sys.argv[1])\n"
              "print(json.dumps({f: hashlib.sha256(export(a, f).encode()).hexdigest() for f in FORMATS}))\n")
    digests = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script, str(heron_file)], env=env,
                              capture_output=True, text=True, check=True, timeout=300)
        digests.append(json.loads(done.stdout))
    assert digests[0] == digests[1]
