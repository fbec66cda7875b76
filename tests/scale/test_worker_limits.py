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
    assert huge.documents == [] and huge.analyses == [] and huge.findings == []
    assert all(results[f"batch.jsonl:{n}"].error is None for n in (1, 3))
    assert count(store, AnalysisRow) == count(store, BatchInputRow) == 2     # nothing half-written of the huge one
