"""`threadline analyze` end to end: the seed's facts, the schema, provenance in the store, idempotence."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from threadline.analysis import analyze_document, sources_citing
from threadline.model import Document
from threadline.store import open_store
from threadline.store.analyses import documents_with, get_analysis, list_analyses, save_analysis

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "operation-dianxun.md"
SCHEMA = json.loads((files("threadline") / "data" / "schema" / "analysis.schema.json").read_text())


def _facts(result: dict[str, Any]) -> None:
    """The facts of the Operation Diànxùn brief, whatever the wording."""
    actors = {a.get("attack_id"): a for a in result["actors"]}
    assert actors["G0129"]["role"] == "attributed"
    assert any("Di" in c["name"] and "xun" in c["name"].lower().replace("ù", "u") for c in result["campaigns"])
    assert any("telecom" in s["name"].lower() for s in result["sectors"])
    assert "US" in {c["code"] for c in result["countries"]}
    regions = {r["name"] for r in result["regions"]}
    assert {"Europe", "Southeast Asia"} <= regions
    dates = {d["date"]: d for d in result["dates"]}
    assert "2020-08" in dates and "2020-05" in dates and "2020-09" in dates
    assert any("huawei" in lure["text"].lower() and "career" in lure["text"].lower() for lure in result["lures"])
    assert any("5g" in goal["text"].lower() for goal in result["goals"])
    ttp_claims = [c for c in result["claims"] if c.get("attack_id") == "G0129"
                  and any("ttp" in b.lower() for b in c.get("basis", []))]
    assert ttp_claims and any(c["caveats"] for c in ttp_claims)
    for item in (*result["actors"], *result["sectors"], *result["countries"], *result["dates"]):
        assert item["evidence"], item   # evidence for every claim


@pytest.fixture(scope="module")
def example_result(kb) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    doc = Document(text=EXAMPLE.read_text(encoding="utf-8"), source=str(EXAMPLE), title="Operation Diànxùn")
    return analyze_document(doc, kb)


def test_example_report_facts(example_result: dict[str, Any]) -> None:
    _facts(example_result)


def test_seed_brief_facts(kb, seed_text: str) -> None:  # type: ignore[no-untyped-def]
    _facts(analyze_document(Document(text=seed_text, source="seed.txt"), kb))


def test_output_follows_the_published_schema(example_result: dict[str, Any]) -> None:
    jsonschema.validate(example_result, SCHEMA)


def test_evidence_points_into_the_text(example_result: dict[str, Any]) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for key in ("actors", "sectors", "countries", "regions", "dates", "techniques", "claims"):
        for item in example_result[key]:
            for ev in item["evidence"]:
                assert text[ev["start"]:ev["end"]] == ev["text"]


def test_attribution_is_reported_beside_the_claims(example_result: dict[str, Any]) -> None:
    attribution = example_result["attribution"]
    assert 0 <= attribution["unknown_probability"] <= 1
    assert all(0 <= c["probability"] <= 1 for c in attribution["candidates"])
    assert attribution["report_claims"]


def test_a_document_the_kb_cites_is_excluded_from_its_own_attribution(kb) -> None:  # type: ignore[no-untyped-def]
    citation = next(c for c in kb.attack.citations.values() if c.url and c.url.startswith("https://"))
    doc = Document(text="A short report.", source=citation.url or "")
    assert citation.source_name in sources_citing(doc, kb)


def test_citations_found_with_the_folded_keys_are_those_the_plain_scan_finds(kb) -> None:  # type: ignore[no-untyped-def]
    """sources_citing folds each citation once per knowledge base: the same citations as folding them per call."""
    def plain(doc: Document) -> list[str]:
        url = doc.source.rstrip("/").lower() if "://" in doc.source else None
        title = " ".join((doc.title or "").lower().split())
        return [c.source_name for c in kb.attack.citations.values()
                if (url and c.url and c.url.rstrip("/").lower() == url)
                or (len(title) > 20 and title in " ".join((c.description or "").lower().split()))]

    sample = list(kb.attack.citations.values())[::97]
    docs = [Document(text="A short report.", source=(c.url or "x").upper() + "/", title=None) for c in sample]
    docs += [Document(text="A short report.", source="report.txt", title=" ".join((c.description or "").split()[:6]))
             for c in sample]
    # a title at the end of a description (the joined text's borders), and titles that many descriptions hold
    docs += [Document(text="A short report.", source="report.txt", title=" ".join((c.description or "").split()[-5:]))
             for c in sample]
    docs += [Document(text="A short report.", source="https://example.org/r", title=t)
             for t in ("Retrieved November 17,", "Microsoft Threat Actor", "Retrieved September 12,")]
    assert sum(bool(plain(d)) for d in docs) > len(sample)        # the sample really finds citations both ways
    assert max(len(plain(d)) for d in docs) > 20                  # one title in many descriptions
    assert all(sources_citing(d, kb) == plain(d) for d in docs)


def test_stored_with_provenance_and_idempotent(example_result: dict[str, Any], tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    with open_store(tmp_path / "t.db") as store:
        doc = Document(text=text, source=str(EXAMPLE))
        store.save_document(doc)
        result = dict(example_result, document=dict(example_result["document"], sha256=doc.sha256))
        assert save_analysis(store, result) is False
        assert save_analysis(store, result) is True          # replaced, not duplicated
        assert len(list_analyses(store)) == 1
        assert documents_with(store, "actor", "G0129") == [doc.sha256]
        assert get_analysis(store, doc.sha256[:12])["document"]["sha256"] == doc.sha256


def test_analysis_needs_a_stored_document(example_result: dict[str, Any], tmp_path: Path) -> None:
    from threadline.errors import NotFoundError

    with open_store(tmp_path / "t.db") as store, pytest.raises(NotFoundError, match="ingest it first"):
        save_analysis(store, example_result)


REPORTS = sorted((Path(__file__).resolve().parent / "data" / "reports").iterdir())


@pytest.mark.parametrize("path", REPORTS, ids=[p.name for p in REPORTS])
def test_every_sample_report_analyses_to_the_schema(kb, path: Path) -> None:  # type: ignore[no-untyped-def]
    result = analyze_document(Document(text=path.read_text(encoding="utf-8"), source=str(path)), kb)
    jsonschema.validate(result, SCHEMA)
    assert len(result["attribution"]["report_claims"]) == len(result["claims"])


@pytest.mark.parametrize(("path", "published", "basis"), [
    (EXAMPLE, "2021-03-18", "front_matter"),     # "published:" in the front matter used to be ignored
    (EXAMPLE.parents[1] / "tests" / "data" / "reports" / "cert-advisory-dated.txt", "2024-03-18", "body"),
    (EXAMPLE.parents[1] / "tests" / "data" / "reports" / "vendor-note-front-matter.md", "2024-05-14", "front_matter"),
])
def test_ingested_reports_analyse_with_their_date_and_its_basis(analyse, path: Path, published: str,  # type: ignore[no-untyped-def]
                                                                basis: str) -> None:
    result = analyse(path)
    jsonschema.validate(result, SCHEMA)
    assert (result["document"]["published"], result["document"]["date_basis"]) == (published, basis)


def test_the_schema_refuses_an_unknown_date(example_result: dict[str, Any]) -> None:
    for published in (None, "", "sometime"):
        broken = dict(example_result, document=dict(example_result["document"], published=published))
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_a_report_that_cannot_attribute_says_so(kb) -> None:  # type: ignore[no-untyped-def]
    # "could not be attributed to any known actor" is a claim without an actor; it used to abort the analysis.
    path = Path(__file__).resolve().parent / "data" / "reports" / "gov-advisory.md"
    result = analyze_document(Document(text=path.read_text(encoding="utf-8"), source=str(path)), kb)
    unattributed = [c for c in result["claims"] if c["actor"] is None]
    assert unattributed and all(c["strength"] == "unknown" for c in unattributed)
    assert any(c["actor"] is None for c in result["attribution"]["report_claims"])
