"""Bounded work per document on Dask workers: a worker analyses in a task thread, where no alarm signal reaches;
a pathological input's stage still stops at the workers' ``stage_timeout`` with the one-line error naming the
document and the stage, the batch goes on with the other inputs, and nothing of the stopped input is stored."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.scale.test_cluster import count, record_items
from threadline.scale.items import Item
from threadline.scale.runner import run
from threadline.scale.work import Result
from threadline.store import Store
from threadline.store.models import AnalysisRow, BatchInputRow

SENTENCE = "APT28 sent spearphishing attachments; the implant beaconed to 45.137.21.9 and used Mimikatz."
LIMIT = "1"


@pytest.fixture
def limited(client: Any) -> Iterator[Any]:
    """The session's two workers with THREADLINE_STAGE_TIMEOUT set, as a worker started with it in its
    environment has it (settings are read when a stage starts); unset again afterwards for the other tests."""
    def setenv(value: str | None) -> None:      # a local function: shipped by value, run in each worker
        import os

        if value is None:
            os.environ.pop("THREADLINE_STAGE_TIMEOUT", None)
        else:
            os.environ["THREADLINE_STAGE_TIMEOUT"] = value

    client.run(setenv, LIMIT)
    try:
        yield client
    finally:
        client.run(setenv, None)


def test_a_pathological_input_stops_in_its_stage_on_a_worker_and_the_batch_goes_on(limited: Any,
                                                                                   store: Store) -> None:
    records = [{"id": "small-1", "text": SENTENCE},
               {"id": "huge", "text": " ".join([SENTENCE] * 22_000)},       # 2 MB: seconds per stage unbounded
               {"id": "small-2", "text": SENTENCE + " Then it moved laterally."}]
    items = record_items(records)
    results: dict[str, Result] = {}

    def keep(item: Item, result: Result) -> None:
        results[item.source] = result

    summary = run(items, store=store, client=limited, on_result=keep)
    assert summary.analysed == 3 and summary.stored == 2
    huge = results["batch.jsonl:2"]
    assert summary.failed == [("batch.jsonl:2", huge.error)]
    assert huge.error is not None and re.fullmatch(
        r"jsonl:huge: stage (sentences|entities|techniques|iocs|attribution) stopped: it took more than 1 s "
        r"\(setting stage_timeout\)", huge.error), huge.error
    # the worker's time on it: the stages before the stopped one and that one's second, with room for a loaded
    # machine (unbounded it takes 8 s and more)
    assert huge.seconds < 6, huge.seconds
    assert huge.documents == [] and huge.analyses == [] and huge.prepared == []
    assert all(results[f"batch.jsonl:{n}"].error is None for n in (1, 3))
    assert count(store, AnalysisRow) == count(store, BatchInputRow) == 2     # nothing half-written of the huge one


def test_a_feed_s_entry_past_its_limit_is_left_out_and_its_other_entries_are_stored(limited: Any, store: Store,
                                                                                     tmp_path: Any) -> None:
    """On a worker as from the command line (tests/test_feed_entries.py): the feed is one input; its hostile entry
    is left out with its one-line reason and counted as a failure, its other entries are analysed and stored."""
    from tests.test_feed_entries import GOOD, _feed
    from threadline.scale.items import source_item

    path = tmp_path / "feed.rss"
    path.write_bytes(_feed([("Lanternfish returns", GOOD), ("Everything at once", " ".join([SENTENCE] * 22_000)),
                            ("Phishing kit", "A phishing kit served from login-verify.portal-docs[.]com.")]))
    results: list[Result] = []
    summary = run([source_item(str(path), ship=True)], store=store, client=limited,
                  on_result=lambda _, result: results.append(result))
    [result] = results
    assert result.error is None and len(result.documents) == len(result.analyses) == 2
    assert [d.title for d in result.documents] == ["Lanternfish returns", "Phishing kit"]
    assert len(result.left_out) == 1 and "setting stage_timeout" in result.left_out[0]
    assert summary.failed == [(str(path), result.left_out[0])]
    assert count(store, AnalysisRow) == 2
