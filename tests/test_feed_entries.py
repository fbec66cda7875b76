"""A feed is a batch of its own: one entry that stops at a stage limit is left out with its one-line reason, and the
feed's other entries are analysed and stored, from the command line and on the web (in the analysis child and in
the job thread). A single document, or a feed whose every entry fails, still fails whole, with nothing stored."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from threadline.errors import LimitError
from threadline.model import Document

SENTENCE = "APT28 sent spearphishing attachments; the implant beaconed to 45.137.21.9 and used Mimikatz."
GOOD = ("The operators behind Operation Lanternfish sent spearphishing emails to telecommunication providers "
        "and installed a loader that beaconed to hxxps://cdn-sync.reedloader[.]net/poll.")
LIMIT = "1"


def _feed(entries: list[tuple[str, str]]) -> bytes:
    items = "".join(f"<item><title>{title}</title><link>https://research.example/{n}</link>"
                    f"<description>{body}</description></item>" for n, (title, body) in enumerate(entries))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Research</title>'
            f"<link>https://research.example/</link><description>reports</description>{items}</channel></rss>"
            ).encode()


@pytest.fixture(autouse=True)
def warm(kb: Any) -> None:
    """One analysis without limits first: on a fresh cache the first one builds the lexicons and profiles (seconds,
    no document's work), which a 1 s stage limit would charge to the feed's first entry."""
    from threadline.analysis import analyze_document
    from threadline.limits import unbounded

    with unbounded():
        analyze_document(Document(text=GOOD, source="warm-up"), kb)


@pytest.fixture
def hostile_feed(tmp_path: Path) -> Path:
    # 2 MB of dense report text in the middle entry: its stages take seconds each without the limit
    path = tmp_path / "feed.rss"
    path.write_bytes(_feed([("Lanternfish returns", GOOD), ("Everything at once", " ".join([SENTENCE] * 22_000)),
                            ("Phishing kit", "A phishing kit served from login-verify.portal-docs[.]com.")]))
    return path


def test_analyze_each_leaves_out_the_failing_entry_and_keeps_the_rest(kb: Any, monkeypatch: pytest.MonkeyPatch
                                                                      ) -> None:
    from threadline.analysis import analyze_each

    monkeypatch.setenv("THREADLINE_STAGE_TIMEOUT", LIMIT)
    docs = [Document(text=GOOD, source="feed#1"), Document(text=" ".join([SENTENCE] * 22_000), source="feed#2"),
            Document(text=SENTENCE, source="feed#3")]
    seen: list[tuple[int, int]] = []
    kept, analyses, skipped = analyze_each(docs, kb, progress=lambda n, total: seen.append((n, total)))
    assert [d.source for d in kept] == ["feed#1", "feed#3"]
    assert [a["document"]["source"] for a in analyses] == ["feed#1", "feed#3"]
    assert len(skipped) == 1 and skipped[0].startswith("feed#2: stage ") and "setting stage_timeout" in skipped[0]
    assert seen == [(1, 3), (2, 3), (3, 3)]
    # one document alone, or every document failing: the first error, as before
    with pytest.raises(LimitError, match=r"^feed#2: stage "):
        analyze_each([docs[1]], kb)
    with pytest.raises(LimitError, match=r"^feed#2: stage "):
        analyze_each([docs[1], docs[1]], kb)


def test_analyze_stores_the_good_entries_of_a_feed_and_names_the_bad_one(
        run_cli: Any, hostile_feed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_STAGE_TIMEOUT", LIMIT)
    db = tmp_path / "cli.db"
    code, out, err = run_cli("analyze", str(hostile_feed), "--db", str(db), "--json")
    assert code == 2                                     # something failed: a script must notice
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "stage" in lines[0] and "left out" in lines[0], err
    assert "Traceback" not in err
    analysed = json.loads(out)
    assert [a["document"]["title"] for a in analysed] == ["Lanternfish returns", "Phishing kit"]
    from sqlalchemy import text

    from threadline.store import open_store

    with open_store(db) as store, store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM analyses")).scalar_one() == 2


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_a_web_job_for_a_feed_finishes_with_the_good_entries_and_says_what_was_left_out(
        kb: Any, hostile_feed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolation: str) -> None:
    from sqlalchemy import text

    from tests.web.conftest import analyst_api
    from threadline.store import open_store

    monkeypatch.setenv("THREADLINE_STAGE_TIMEOUT", LIMIT)
    monkeypatch.setenv("THREADLINE_JOB_ISOLATION", isolation)
    with open_store(tmp_path / "web.db") as store:
        with analyst_api(store, kb) as (_, client):
            response = client.post("/submit", data={"tlp": "clear"},
                                   files={"file": ("feed.rss", hostile_feed.read_bytes(), "application/rss+xml")})
            assert response.status_code == 202, response.text
            job = response.json()["job"]
            deadline = time.monotonic() + 120
            while (shown := client.get(f"/jobs/{job}.json").json())["state"] not in ("done", "failed"):
                assert time.monotonic() < deadline, shown
                time.sleep(0.05)
            page = client.get(f"/jobs/{job}", headers={"Accept": "text/html"}).text
        assert shown["state"] == "done", shown
        assert shown["step"].startswith("finished: 2 of 3 documents analysed; left out: "), shown["step"]
        assert "setting stage_timeout" in shown["step"] and shown["report"] is not None
        assert "2 of 3 documents analysed" in page
        with store.engine.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM documents")).scalar_one()
            analysed = connection.execute(text("SELECT count(*) FROM analyses")).scalar_one()
        assert stored == analysed == 2          # nothing of the entry that was left out
