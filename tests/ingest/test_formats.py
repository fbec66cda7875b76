"""Each report format becomes the Documents (or knowledge) an analyst expects, recognised by content."""

from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from threadline.errors import InputError
from threadline.ingest import import_misp, import_stix, ingest, ingest_into
from threadline.store import Store


def test_markdown_report_with_front_matter(samples: Path) -> None:
    [doc] = ingest(str(samples / "lanternfish.md"))
    assert doc.media_type == "text/markdown"
    assert doc.title == "Operation Lanternfish: side-loading against telecom operators"
    assert (doc.published, doc.author) == ("2025-07-02", "Threadline Test Lab")
    assert not doc.text.startswith("---")          # front matter is metadata, not report text
    assert "103.56.17[.]24:8443" in doc.text and doc.pages == []


def test_plain_text_title_is_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "brief.txt"
    path.write_text("Weekly brief: Lanternfish\r\n\r\nThe operators reused 103.56.17[.]24.\r\n", encoding="utf-8")
    [doc] = ingest(str(path))
    assert (doc.media_type, doc.title) == ("text/plain", "Weekly brief: Lanternfish")
    assert "\r" not in doc.text and doc.metadata["encoding"] == "utf-8"


def test_html_main_text_and_metadata_without_scripts_or_boilerplate(samples: Path) -> None:
    [doc] = ingest(str(samples / "advisory.html"))
    assert doc.title == "Lanternfish returns with a new loader"
    assert (doc.author, doc.published, doc.site) == ("Mei Tanaka", "2025-08-19", "Harbour Threat Research")
    assert "ReedLoader" in doc.text and "hxxps://cdn-sync.reedloader[.]net/poll" in doc.text
    assert "cdn-sync.reedloader[.]net | domain" in doc.text          # the table stays readable, row by row
    for junk in ("TRACKER_SECRET", "INJECTED-BY-SCRIPT", "dataLayer", "track.js", "We use cookies",
                 "All rights reserved", "Join our team"):
        assert junk not in doc.text


def test_pdf_pages_offsets_title_and_table(samples: Path) -> None:
    [doc] = ingest(str(samples / "lanternfish.pdf"))
    assert doc.media_type == "application/pdf" and doc.title == "Operation Lanternfish"
    assert [p.number for p in doc.pages] == [1, 2, 3]
    for page in doc.pages:
        assert doc.text[page.start:page.end].strip()
    table_row = doc.text.index("103.56.17[.]24 ipv4 2025-03-15")     # one table row on one line
    assert doc.page_at(table_row) == 2
    assert doc.page_at(doc.text.index("Attribution.")) == 3
    assert doc.page_at(doc.text.index("hr-notice@mailbox-secure[.]net")) == 1


def test_pdf_with_only_an_owner_password_opens(samples: Path) -> None:
    [doc] = ingest(str(samples / "owner_password.pdf"))
    [plain] = ingest(str(samples / "lanternfish.pdf"))
    assert doc.text == plain.text and doc.sha256 == plain.sha256


def test_fifty_page_pdf_in_a_few_seconds(samples: Path) -> None:
    started = time.perf_counter()
    [doc] = ingest(str(samples / "fifty_pages.pdf"))
    elapsed = time.perf_counter() - started
    print(f"50-page PDF: {elapsed:.2f} s, {len(doc.text)} chars")
    assert len(doc.pages) == 50 and doc.page_at(doc.pages[49].start) == 50
    assert elapsed < 5.0


@pytest.mark.parametrize("name", ["harbour.rss", "harbour.atom"])
def test_feed_entries_become_documents(samples: Path, name: str) -> None:
    docs = ingest(str(samples / name))
    assert len(docs) == 2     # the RSS item with a title only is skipped
    first = docs[0]
    assert first.title == "Lanternfish returns with a new loader"
    assert first.source == "https://research.harbour.example/posts/lanternfish-returns"
    assert first.published == "2025-08-19T09:00:00Z"
    assert first.site and first.site.startswith("Harbour Threat Research")
    assert "ReedLoader" in first.text and "never kept" not in first.text and "<p>" not in first.text
    assert first.metadata["feed"] == str(samples / name)


def test_content_is_sniffed_not_the_extension(samples: Path, tmp_path: Path) -> None:
    shutil.copy(samples / "advisory.html", tmp_path / "saved-page.txt")
    shutil.copy(samples / "lanternfish.pdf", tmp_path / "download.bin")
    shutil.copy(samples / "harbour.atom", tmp_path / "feed")
    assert ingest(str(tmp_path / "saved-page.txt"))[0].media_type == "text/html"
    assert ingest(str(tmp_path / "download.bin"))[0].media_type == "application/pdf"
    assert len(ingest(str(tmp_path / "feed"))) == 2


def test_windows_1252_text_is_decoded_and_says_so(tmp_path: Path) -> None:
    text = ("Rapport d'activité : l'opération Diànxùn a visé des opérateurs télécoms en Asie du Sud-Est. "
            "Les opérateurs ont déployé ShadowPad et réutilisé l'adresse 103.56.17[.]24 pendant l'été.")
    path = tmp_path / "rapport.txt"
    path.write_bytes(text.encode("cp1252"))
    [doc] = ingest(str(path))
    assert doc.text == text
    assert doc.metadata["encoding"] == "cp1252" and doc.metadata["warning"] == "decoded as cp1252 (not UTF-8)"


def test_windows_1251_russian_text(tmp_path: Path) -> None:
    text = "Операция Дяньсюнь: группа использовала ShadowPad против телеком-операторов в Юго-Восточной Азии."
    path = tmp_path / "otchet.txt"
    path.write_bytes(text.encode("cp1251"))
    [doc] = ingest(str(path))
    assert doc.text == text and doc.metadata["encoding"] == "cp1251"


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("Lanternfish notes: C2 update.lanternfish-cdn[.]com\n".encode("utf-16"))
    [doc] = ingest(str(path))
    assert doc.text == "Lanternfish notes: C2 update.lanternfish-cdn[.]com"


def test_stix_bundle_is_imported_as_knowledge(samples: Path, store: Store) -> None:
    result = import_stix(str(samples / "lanternfish-stix.json"), store)
    assert result.by_type == {"domain-name": 1, "identity": 1, "indicator": 1, "intrusion-set": 1,
                              "malware": 1, "relationship": 1}
    assert len(result.added) == 6 and store.count_documents() == 0
    intrusion_set = store.get_knowledge("intrusion-set--2c3d4e5f-6071-4829-93a4-b5c6d7e8f901")
    assert intrusion_set["aliases"] == ["Lanternfish"]
    again = import_stix(str(samples / "lanternfish-stix.json"), store)
    assert len(again.unchanged) == 6 and not again.added


def test_stix_from_a_dict(store: Store) -> None:
    indicator = {"type": "indicator", "spec_version": "2.1", "id": "indicator--9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
                 "created": "2025-07-01T10:00:00.000Z", "modified": "2025-07-01T10:00:00.000Z",
                 "pattern": "[ipv4-addr:value = '103.56.17.24']", "pattern_type": "stix",
                 "valid_from": "2025-03-15T00:00:00Z"}
    result = import_stix({"type": "bundle", "id": "bundle--1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
                          "objects": [indicator]}, store)
    assert result.added == [indicator["id"]]


def test_misp_event_is_imported_as_knowledge(samples: Path, store: Store) -> None:
    result = import_misp(str(samples / "lanternfish-misp.json"), store)
    assert result.by_type == {"misp-attribute": 3, "misp-event": 1, "misp-galaxy-cluster": 1, "misp-object": 1}
    event = store.get_knowledge("misp-event--7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    assert event["info"].startswith("Operation Lanternfish") and event["attribute_count"] == 3
    values = sorted(a["value"] for a in store.knowledge_of_type("misp-attribute"))
    assert "103.56.17.24|8443" in values and "update.lanternfish-cdn.com" in values
    [cluster] = store.knowledge_of_type("misp-galaxy-cluster")
    assert (cluster["value"], cluster["galaxy"]) == ("Mustang Panda", "threat-actor")
    assert store.count_documents() == 0


def test_ingest_refuses_knowledge_inputs_but_ingest_into_imports_them(samples: Path, store: Store) -> None:
    with pytest.raises(InputError, match="imported as knowledge"):
        ingest(str(samples / "lanternfish-stix.json"))
    outcome = ingest_into(store, str(samples / "lanternfish-misp.json"))
    assert outcome.kind == "misp" and outcome.imported is not None and len(outcome.imported.added) == 6


def test_ingest_into_stores_once_and_says_so(samples: Path, store: Store) -> None:
    first = ingest_into(store, str(samples / "harbour.rss"))
    second = ingest_into(store, str(samples / "harbour.rss"))
    assert [s.stored for s in first.saved] == [True, True]
    assert [s.stored for s in second.saved] == [False, False]
    assert [d["status"] for d in second.to_dict()["documents"]] == ["already stored"] * 2
    assert store.count_documents() == 2


def test_misp_search_result_list(samples: Path, store: Store, tmp_path: Path) -> None:
    event = (samples / "lanternfish-misp.json").read_text(encoding="utf-8")
    path = tmp_path / "search.json"
    path.write_text(f"[{event}]", encoding="utf-8")
    outcome = ingest_into(store, str(path))
    assert outcome.kind == "misp" and outcome.imported is not None and len(outcome.imported.added) == 6


def test_markdown_that_starts_with_a_link(tmp_path: Path) -> None:
    path = tmp_path / "note"
    path.write_text("[Original advisory](https://example.org/a) - summary\n\n## Findings\n\n- item one\n"
                    "- item two\n", encoding="utf-8")
    [doc] = ingest(str(path))
    assert doc.media_type == "text/markdown" and doc.title == "Findings"


def test_html_reads_with_only_the_declared_dependencies(samples: Path, tmp_path: Path) -> None:
    # trafilatura imports lxml.html.clean, which lxml 5.2+ ships as the separate lxml_html_clean: undeclared, HTML
    # input failed on a fresh `pip install` ("lxml.html.clean module is now a separate project").
    declared = {Requirement(r).name.lower().replace("-", "_") for r in importlib.metadata.requires("threadline") or []
                if "extra ==" not in r}
    importlib.import_module("lxml.html.clean")   # the module trafilatura needs, from the package below

    providers = importlib.metadata.packages_distributions()
    assert {p.lower().replace("-", "_") for p in providers["lxml_html_clean"]} <= declared
    assert "trafilatura" in declared
    # A fresh interpreter, as a user's shell runs it: the HTML reader loads and reads a page.
    script = ("import sys; from threadline.ingest import ingest; [d] = ingest(sys.argv[1]); "
              "print(d.title, d.published, d.date_basis, sep='|')")
    done = subprocess.run([sys.executable, "-c", script, str(samples / "advisory.html")], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Lanternfish returns with a new loader|2025-08-19|metadata"
