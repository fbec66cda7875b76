"""Stored ids: any unique prefix of 7+ hex digits (what `analyze` shows), and a shared one lists its candidates."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from threadline.errors import InputError, NotFoundError
from threadline.model import Document
from threadline.store import open_store

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "operation-dianxun.md"


def _twins() -> tuple[Document, Document]:
    """Two documents whose SHA-256 share their first 7 hex digits (found by search: a birthday pair)."""
    seen: dict[str, Document] = {}
    for number in range(200_000):
        doc = Document(text=f"Report {number}: APT-C-99 used ShadowPad against a telecom operator.", source="t")
        twin = seen.setdefault(doc.sha256[:7], doc)
        if twin is not doc:
            return twin, doc
    raise AssertionError("no pair found")


def test_a_seven_digit_prefix_finds_the_document(tmp_path: Path) -> None:
    # 8 digits were required, while `analyze` at 80 columns showed 7.
    doc = Document(text="APT-C-99 used ShadowPad against a telecom operator in 2025.", source="a.txt")
    with open_store(tmp_path / "t.db") as store:
        store.save_document(doc)
        assert store.get_document(doc.sha256[:7].upper()).text == doc.text
        with pytest.raises(NotFoundError):
            store.get_document(doc.sha256[:6])
        with pytest.raises(NotFoundError):
            store.get_document("%" * 8)                    # never a LIKE pattern that matches everything


def test_a_shared_prefix_is_a_one_line_error_listing_the_candidates(tmp_path: Path) -> None:
    first, second = _twins()
    with open_store(tmp_path / "t.db") as store:
        store.save_documents([first, second])
        with pytest.raises(InputError) as info:
            store.get_document(first.sha256[:7])
        assert store.get_document(first.sha256[:13]).text == first.text   # 13 digits tell them apart
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{first.sha256[:7]}: ambiguous id prefix")
    assert first.sha256[:12] in message and second.sha256[:12] in message


def test_the_id_analyze_shows_at_80_columns_is_taken_by_export(  # type: ignore[no-untyped-def]
        kb, run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadline.cli.common import console

    monkeypatch.setenv("THREADLINE_DB", str(tmp_path / "ids.db"))
    monkeypatch.setattr(console, "width", 80)
    code, out, err = run_cli("analyze", str(EXAMPLE))
    assert code == 0, err
    shown = re.search(r"^ id +([0-9a-f]+) *$", out, re.MULTILINE)
    assert shown, out
    for prefix in (shown.group(1), shown.group(1)[:7]):
        code, out, err = run_cli("export", prefix, "--format", "stix")
        assert code == 0 and json.loads(out)["type"] == "bundle", err


def test_the_readme_export_example_names_the_example_report(analyse) -> None:  # type: ignore[no-untyped-def]
    # The README said `threadline export 526bf5a1`, which is no prefix of the example's id (526bf5ab...).
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (example_id,) = re.findall(r"^threadline export ([0-9a-f]+) ", readme, re.MULTILINE)
    assert analyse(EXAMPLE)["document"]["sha256"].startswith(example_id) and len(example_id) >= 7


def test_an_ambiguous_prefix_exits_two_from_the_cli(kb, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _twins()
    monkeypatch.setenv("THREADLINE_DB", str(tmp_path / "twins.db"))
    batch = "".join(json.dumps({"id": n, "text": d.text}) + "\n" for n, d in enumerate((first, second)))
    code, out, err = run_cli("analyze", "--jsonl", "-", stdin=batch)
    assert code == 0, err
    code, out, err = run_cli("export", first.sha256[:7], "--format", "stix")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "ambiguous id prefix" in err and first.sha256[:12] in err and second.sha256[:12] in err
    code, out, err = run_cli("export", second.sha256[:13], "--format", "stix")
    assert code == 0 and json.loads(out)["type"] == "bundle", err
