"""Every bad input of issue 3: one clear line naming the input, never a traceback or a hang, store unchanged."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from threadline.errors import InputError
from threadline.ingest import ingest, ingest_into
from threadline.store import Store


def _bad(store: Store, source: Path | str, expected: str) -> str:
    """Ingesting ``source`` raises a one-line InputError naming it and containing ``expected``; nothing stored."""
    before = (store.count_documents(), store.count_knowledge())
    with pytest.raises(InputError) as info:
        ingest_into(store, str(source))
    message = str(info.value)
    assert "\n" not in message and str(source) in message and expected in message, message
    assert (store.count_documents(), store.count_knowledge()) == before
    return message


@pytest.fixture
def stocked(store: Store, samples: Path) -> Store:
    """A store that already holds something, so 'unchanged' is not trivially 'empty'."""
    ingest_into(store, str(samples / "lanternfish.md"))
    ingest_into(store, str(samples / "lanternfish-stix.json"))
    return store


def test_empty_file(stocked: Store, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_bytes(b"  \n\n\t \r\n")
    _bad(stocked, tmp_path / "empty.txt", "empty input")
    _bad(stocked, tmp_path / "blank.md", "empty input (only whitespace)")


def test_binary_garbage(stocked: Store, tmp_path: Path) -> None:
    rng = random.Random(20250702)
    (tmp_path / "garbage.txt").write_bytes(bytes(rng.randrange(256) for _ in range(64 * 1024)))
    (tmp_path / "archive.pdf.zip").write_bytes(b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(4096)))
    _bad(stocked, tmp_path / "garbage.txt", "binary data")
    _bad(stocked, tmp_path / "archive.pdf.zip", "binary data")


def test_control_character_soup_without_nul_bytes(stocked: Store, tmp_path: Path) -> None:
    rng = random.Random(7)
    data = bytes(rng.choice([*range(1, 9), *range(14, 32), *b"abc "]) for _ in range(8192))
    (tmp_path / "noise.log").write_bytes(data)
    _bad(stocked, tmp_path / "noise.log", "binary data")


def test_encrypted_pdf(stocked: Store, samples: Path) -> None:
    _bad(stocked, samples / "encrypted.pdf", "encrypted PDF: a password is required")


@pytest.mark.parametrize("cut", [0.5, 0.1])
def test_truncated_pdf(stocked: Store, samples: Path, tmp_path: Path, cut: float) -> None:
    data = (samples / "lanternfish.pdf").read_bytes()
    path = tmp_path / "truncated.pdf"
    path.write_bytes(data[: int(len(data) * cut)])
    _bad(stocked, path, "malformed PDF")


def test_pdf_header_then_nonsense(stocked: Store, tmp_path: Path) -> None:
    path = tmp_path / "fake.pdf"
    path.write_bytes(b"%PDF-1.7\n" + b"this is not a PDF body at all\n" * 50)
    _bad(stocked, path, "malformed PDF")


def test_huge_file_is_refused_before_reading(stocked: Store, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A 1 GB file is simulated by lowering the limit: the check is on the size, before any byte is read.
    monkeypatch.setenv("THREADLINE_MAX_INPUT_BYTES", "4096")
    path = tmp_path / "huge.txt"
    path.write_text("APT report line with 198.51.100.7\n" * 1000, encoding="utf-8")
    _bad(stocked, path, "larger than 4096 (setting max_input_bytes)")


def test_html_full_of_scripts(stocked: Store, tmp_path: Path) -> None:
    scripts = "".join(f"<script>var payload{i} = '{'A' * 200}'; eval(payload{i});</script>" for i in range(200))
    path = tmp_path / "scripts.html"
    path.write_text(f"<!DOCTYPE html><html><head><title></title>{scripts}</head><body>{scripts}"
                    "<style>body{display:none}</style></body></html>", encoding="utf-8")
    _bad(stocked, path, "no readable text in the HTML page")


def test_html_with_scripts_keeps_only_the_prose(stocked: Store, tmp_path: Path) -> None:
    scripts = "<script>document.write('EVAL-ME'); fetch('https://tracker.example/beacon');</script>" * 50
    path = tmp_path / "mixed.html"
    path.write_text(f"<html><head>{scripts}</head><body>{scripts}<p>The Lanternfish operators staged "
                    f"payloads on cdn-sync.reedloader[.]net during August 2025.</p>{scripts}</body></html>",
                    encoding="utf-8")
    [doc] = ingest(str(path))
    assert "cdn-sync.reedloader[.]net" in doc.text and "EVAL-ME" not in doc.text and "tracker" not in doc.text


def test_text_in_no_known_encoding(stocked: Store, tmp_path: Path) -> None:
    # Bytes that are not UTF-8 and look like no legacy encoding either: a clear error, not mojibake.
    rng = random.Random(99)
    data = b"Report: " + bytes(rng.choice(range(0x80, 0x100)) for _ in range(3000))
    path = tmp_path / "mystery.txt"
    path.write_bytes(data)
    message = _bad(stocked, path, "")
    assert "not UTF-8" in message or "binary data" in message


def test_missing_file_and_folder(stocked: Store, tmp_path: Path) -> None:
    _bad(stocked, tmp_path / "nope.pdf", "no such file")
    _bad(stocked, tmp_path, "not a regular file")


def test_invalid_stix_object_imports_nothing(stocked: Store, samples: Path, tmp_path: Path) -> None:
    bundle = json.loads((samples / "lanternfish-stix.json").read_text(encoding="utf-8"))
    bundle["objects"][2]["id"] = "malware--4f1e0b2a-aaaa-4bbb-8ccc-000000000001"
    bundle["objects"].append({"type": "indicator", "spec_version": "2.1",
                              "id": "indicator--5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
                              "created": "2025-07-01T10:00:00.000Z", "modified": "2025-07-01T10:00:00.000Z",
                              "pattern": "[ipv4-addr:value = ", "pattern_type": "stix",   # bad pattern
                              "valid_from": "2025-07-01T10:00:00Z"})
    path = tmp_path / "bad-bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    _bad(stocked, path, "invalid STIX object indicator--5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d")


def test_misp_event_without_uuid(stocked: Store, samples: Path, tmp_path: Path) -> None:
    event = json.loads((samples / "lanternfish-misp.json").read_text(encoding="utf-8"))
    del event["Event"]["uuid"]
    path = tmp_path / "no-uuid.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    _bad(stocked, path, "has no uuid")


def test_json_that_is_neither_stix_nor_misp(stocked: Store, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"name": "not threat intel", "values": [1, 2, 3]}), encoding="utf-8")
    _bad(stocked, path, "neither a STIX bundle nor a MISP event")


def test_broken_feed(stocked: Store, tmp_path: Path) -> None:
    path = tmp_path / "broken.rss"
    path.write_text('<?xml version="1.0"?><rss version="2.0"><channel><title>Empty</title>'
                    "<item><title>Title only</title></item></channel></rss>", encoding="utf-8")
    _bad(stocked, path, "feed has no entries with text")


def test_cli_reports_each_bad_input_on_one_line_and_goes_on(run_cli, samples: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty.txt").write_bytes(b"")
    db = tmp_path / "cli.db"
    code, out, err = run_cli("ingest", str(tmp_path / "empty.txt"), str(samples / "encrypted.pdf"),
                             str(samples / "lanternfish.md"), "--db", str(db))
    assert code == 2
    assert "stored" in out and "lanternfish.md" in out
    lines = err.strip().splitlines()
    assert len(lines) == 3 and "Traceback" not in err
    assert "empty.txt: empty input" in lines[0] and "encrypted PDF" in lines[1]
    assert "2 of 3 sources could not be ingested" in lines[2]


def test_unclosed_script_never_leaks_into_the_text(tmp_path: Path) -> None:
    path = tmp_path / "unclosed.html"
    path.write_text("<html><body><p>The Lanternfish operators reused 103.56.17[.]24 for a second wave in August "
                    "2025, after a quiet summer.</p><script>var stolen = 'SECRET-TOKEN'; </body></html>" * 3,
                    encoding="utf-8")
    [doc] = ingest(str(path))
    assert "103.56.17[.]24" in doc.text and "SECRET-TOKEN" not in doc.text


def test_html_larger_than_the_extraction_limit(stocked: Store, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_MAX_HTML_BYTES", "2000")
    path = tmp_path / "long.html"
    scripts = "<script>" + "x" * 50_000 + "</script>"     # scripts do not count against the limit
    path.write_text(f"<html><body>{scripts}" + "<p>A paragraph of a long report about Lanternfish.</p>" * 100
                    + "</body></html>", encoding="utf-8")
    _bad(stocked, path, "larger than 2000 (setting max_html_bytes)")


def test_truncated_stix_bundle_is_not_stored_as_text(stocked: Store, samples: Path, tmp_path: Path) -> None:
    data = (samples / "lanternfish-stix.json").read_bytes()
    path = tmp_path / "cut-bundle.json"
    path.write_bytes(data[: len(data) // 2])
    _bad(stocked, path, "not valid JSON")
