"""Analysts' technique verdicts from the review loop become training data of the procedure model: exported from the
store by `threadline reviews export` (the same lines as the web's /reviews/training.jsonl), read by
`threadline train techniques --reviews`: a corrected sentence is a positive of the analyst's technique, a rejected
one a negative."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from threadline.cli.techniques import VENDORED_TRAM
from threadline.errors import InputError
from threadline.extract.techniques.build import procedure_inputs
from threadline.extract.techniques.train import load_reviews, procedure_training_set, review_examples

REPO = Path(__file__).resolve().parents[3]
REPORT = REPO / "tests" / "data" / "e2e" / "news-brief.txt"


def _reviewed_store(db: Path, kb: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A store holding the example report, analysed by the current code, with one technique corrected and
    another rejected by an analyst. Returns the corrected and the rejected technique items and the new id."""
    from threadline.analysis import analyze_document
    from threadline.ingest import ingest_into
    from threadline.store import open_store
    from threadline.store.analyses import save_analysis
    from threadline.web.reviews import save_review

    with open_store(db) as store:
        doc = ingest_into(store, str(REPORT)).documents[0]
        analysis = analyze_document(doc, kb)
        save_analysis(store, analysis)
        found = [t for t in analysis["techniques"] if not t.get("inferred") and t.get("evidence")]
        assert found, "the report has techniques with evidence"
        corrected = found[0]

        def sentences(item: dict[str, Any]) -> set[str]:
            return {ev["text"] for ev in item["evidence"]}

        # a technique found in other sentences, so that the rejection is the only verdict on them
        rejected = next(t for t in found if not sentences(t) & sentences(corrected))
        new_id = "T1204.002" if corrected["id"] != "T1204.002" else "T1566.001"
        save_review(store, doc.sha256, "technique", corrected["id"], "accept", None, "alice")
        save_review(store, doc.sha256, "technique", corrected["id"], "correct", new_id, "alice")   # the latest wins
        save_review(store, doc.sha256, "technique", rejected["id"], "reject", None, "bob")
    return corrected, rejected, new_id


def test_exported_reviews_label_the_procedure_training_set(tmp_path: Path, kb: Any, run_cli: Any) -> None:
    db = tmp_path / "reviews.db"
    corrected, rejected, new_id = _reviewed_store(db, kb)
    out = tmp_path / "reviews.jsonl"
    code, _, err = run_cli("reviews", "export", "--db", str(db), "--out", str(out))
    assert code == 0, err
    records = load_reviews(out)
    assert {r["verdict"] for r in records} == {"correct", "reject"}           # the earlier "accept" was overridden
    code, stdout, _ = run_cli("reviews", "export", "--db", str(db))            # stdout: the same lines
    assert code == 0 and [json.loads(line) for line in stdout.splitlines()] == records
    sentence = " ".join(corrected["evidence"][0]["text"].split())
    record = next(r for r in records if " ".join(r["text"].split()) == sentence)
    assert record["technique"] == new_id and record["machine"] == corrected["id"] and record["by"] == "alice"
    assert record["tlp"] == "clear"

    negatives, extra, provenance = procedure_inputs(VENDORED_TRAM, kb, None, records, log=lambda _: None)
    texts, y, names = procedure_training_set(kb, negatives, extra=extra)
    row = texts.index(sentence)
    labels = {names[j] for j in y[row].nonzero()[0]}
    assert new_id in labels and new_id.split(".")[0] in labels                 # the analyst's technique and parent
    assert corrected["id"] not in labels or corrected["id"] == new_id.split(".")[0]
    for ev in rejected["evidence"]:                                            # a rejected sentence: no label
        text = " ".join(ev["text"].split())
        assert text in negatives and not y[len(texts) - len(negatives) + negatives.index(text)].any()
    assert provenance["reviews"]["positive_sentences"] >= 1 and provenance["reviews"]["negative_sentences"] >= 1


def test_reviews_export_is_the_web_training_export(tmp_path: Path, kb: Any, run_cli: Any) -> None:
    """The CLI and the web route give the same lines (one function behind both)."""
    from fastapi.testclient import TestClient

    from threadline.store import open_store
    from threadline.web import create_app
    from threadline.web.auth import add_user, create_token

    db = tmp_path / "reviews.db"
    _reviewed_store(db, kb)
    code, stdout, _ = run_cli("reviews", "export", "--db", str(db))
    assert code == 0
    with open_store(db) as store:
        add_user(store, "carol", "admin", "correct horse battery staple")
        token = create_token(store, "carol")
        with TestClient(create_app(store, kb=kb, secret="s", background=False)) as client:
            web = client.get("/reviews/training.jsonl", headers={"Authorization": f"Bearer {token}"}).text
    assert web == stdout and web.strip()


def test_bad_reviews_file_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "The actor used PowerShell to run commands.", "technique": "powershell", '
                   '"verdict": "accept"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.jsonl:1"):
        load_reviews(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_reviews(tmp_path / "missing.jsonl")


def test_train_checks_the_reviews_before_training(tmp_path: Path, run_cli: Any) -> None:
    """`train techniques --reviews` reads the file first: a bad one is a one-line error, not minutes later."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n", encoding="utf-8")
    code, _, err = run_cli("train", "techniques", "--reviews", str(bad), "--out", str(tmp_path / "models"))
    assert code == 2 and "bad.jsonl:1" in err and "Traceback" not in err
    assert not (tmp_path / "models").exists()


def test_review_examples_keep_confirmed_techniques_over_rejections() -> None:
    text = "The actor used PowerShell to download a second stage from its server."
    examples = review_examples([
        {"text": text, "technique": "T1059.001", "verdict": "accept"},
        {"text": text, "technique": "T1105", "verdict": "reject"},
        {"text": "  Spearphishing  emails carried a malicious Word document. ", "technique": "T1566.001",
         "verdict": "reject"},
    ])
    assert examples == ([text], [["T1059", "T1059.001"]],
                        ["Spearphishing emails carried a malicious Word document."])


@pytest.mark.slow
def test_a_model_trained_with_reviews_learns_the_correction(tmp_path: Path, kb: Any) -> None:
    """End to end, on the procedure model (the part --reviews changes; 12-40 s a training): trained with the exported
    verdicts, written and read back, it scores the corrected sentence higher for the analyst's technique than the
    same training without them."""
    from threadline.extract.techniques.build import negative_sentences
    from threadline.extract.techniques.extractor import PROCEDURE_MODEL
    from threadline.extract.techniques.model import load, save
    from threadline.extract.techniques.train import train_procedure_model
    from threadline.store import open_store
    from threadline.web.reviews import training_records

    db = tmp_path / "reviews.db"
    corrected, _, new_id = _reviewed_store(db, kb)
    with open_store(db) as store:
        records = training_records(store)
    negatives, extra, provenance = procedure_inputs(VENDORED_TRAM, kb, None, records, log=lambda _: None)
    save(tmp_path / "models" / PROCEDURE_MODEL, *train_procedure_model(kb, negatives, extra=extra),
         {"reviews": provenance["reviews"]})
    feat, bank, info = load(tmp_path / "models" / PROCEDURE_MODEL)
    assert info["reviews"]["positive_sentences"] >= 1
    plain_feat, plain_bank = train_procedure_model(kb, negative_sentences(VENDORED_TRAM))
    sentence = " ".join(corrected["evidence"][0]["text"].split())
    with_reviews = bank.decision(feat.transform([sentence]))[0, bank.labels.index(new_id)]
    without = plain_bank.decision(plain_feat.transform([sentence]))[0, plain_bank.labels.index(new_id)]
    assert with_reviews > without       # measured: -0.24 against -2.03 (the threshold is 0.0) for one sentence
