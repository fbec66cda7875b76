"""`threadline iocs` on files (table and --json), in --jsonl batch mode, and on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from threadline.cli import app

REPORT = ("QUILL SPARROW used hxxps://quill-cdn[.]net/payload/stage2.bin and 45.9.20[.]77:8443.\n"
          "The loader checked connectivity with 8.8.8.8 and wrote HKCU\\Software\\QuillSoft\\Cfg.\n")


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    code = "from threadline.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_file_json(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_text(REPORT, encoding="utf-8")
    result = CliRunner().invoke(app, ["iocs", str(path), "--json"])
    assert result.exit_code == 0, result.output
    (doc,) = json.loads(result.stdout)
    values = {(i["type"], i["value"]): i for i in doc["iocs"]}
    assert ("url", "https://quill-cdn.net/payload/stage2.bin") in values
    assert values["ipv4", "45.9.20.77"]["flags"] == []
    assert "warninglist" in values["ipv4", "8.8.8.8"]["flags"]
    assert ("registry_key", "HKEY_CURRENT_USER\\Software\\QuillSoft\\Cfg") in values


def test_file_table_shows_values_defanged(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    path.write_text(REPORT, encoding="utf-8")
    result = CliRunner().invoke(app, ["iocs", str(path)])
    assert result.exit_code == 0, result.output
    assert "45.9.20[.]77" in result.stdout and "hxxps" in result.stdout and "45.9.20.77" not in result.stdout


def test_jsonl_batch_one_line_per_input_line() -> None:
    lines = [{"id": "a", "text": REPORT}, {"id": "b", "text": "No indicators in this sentence."}]
    result = _run("iocs", "--jsonl", "-", stdin="".join(json.dumps(x) + "\n" for x in lines))
    assert result.returncode == 0, result.stderr
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    assert out[1]["iocs"] == [] and {"type", "value", "defanged", "offset", "flags"} <= set(out[0]["iocs"][0])


def test_bad_input_gives_one_line_errors(tmp_path: Path) -> None:
    missing = _run("iocs", str(tmp_path / "nope.txt"))
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1
    assert "nope.txt" in missing.stderr
    bad = _run("iocs", "--jsonl", "-", stdin='{"id": "x", "text": "ok"}\nnot json\n')
    assert bad.returncode != 0 and "line 2" in bad.stderr and "Traceback" not in bad.stderr
    notext = _run("iocs", "--jsonl", "-", stdin='{"id": "x", "text": 5}\n')
    assert notext.returncode != 0 and "text" in notext.stderr and "Traceback" not in notext.stderr
    neither = _run("iocs")
    assert neither.returncode != 0 and "Traceback" not in neither.stderr


def test_the_iocs_command_loads_no_technique_model_nor_entity_extractor(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_text(REPORT, encoding="utf-8")
    heavy = ("sklearn", "threadline.extract.techniques.extractor", "threadline.extract.entities.extractor")
    code = ("import sys\nfrom threadline.cli import main\ntry:\n    main()\nfinally:\n"
            f"    print('loaded:', [m for m in {heavy!r} if m in sys.modules], file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code, "iocs", str(path), "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["iocs"]
    assert "loaded: []" in done.stderr, done.stderr
