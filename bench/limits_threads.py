"""How promptly a stage past ``stage_timeout`` stops, wherever the analysis runs, and what the cooperative checks
cost.

A 2 MB report (one dense sentence about APT28, repeated) is analysed with ``stage_timeout`` at 1 s:

- in the main thread (the alarm stops the stage),
- in another thread (the web app's ``job_isolation: thread``, a Dask worker's task thread: the cooperative
  checks at the stages' loop heads stop it),
- in the web app's analysis process (``threadline.web.isolate``: the alarm again, in the child's main thread).

For each: the stage that stopped, and the seconds from the start of the analysis to the error (the stages before
the stopped one ran to their end). Then the cost of the checks: the same analysis of a 1 MB report (no limit hit)
with the checks in place and with every module's ``check`` replaced by a no-op, best of 3 on the thread's CPU.

    .venv/bin/python bench/limits_threads.py
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

SENTENCE = "APT28 sent spearphishing attachments; the implant beaconed to 45.137.21.9 and used Mimikatz."
MODULES = ("threadline.extract.sentences", "threadline.extract.iocs.scan", "threadline.extract.iocs.urls",
           "threadline.extract.entities.places", "threadline.extract.entities.extractor",
           "threadline.extract.entities.claims", "threadline.extract.techniques.runtime",
           "threadline.extract.techniques.extractor", "threadline.ingest.pdf", "threadline.ingest.feed")


def _timed(work: Callable[[], Any]) -> tuple[str, float]:
    from threadline.errors import ThreadlineError

    started = time.monotonic()
    try:
        work()
        outcome = "finished"
    except ThreadlineError as exc:
        outcome = exc.one_line()
    return outcome, time.monotonic() - started


def _in_thread(work: Callable[[], Any]) -> tuple[str, float]:
    box: list[tuple[str, float]] = []
    thread = threading.Thread(target=lambda: box.append(_timed(work)))
    thread.start()
    thread.join()
    return box[0]


def _cpu(work: Callable[[], Any], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        work()
        best = min(best, time.thread_time() - start)
    return best


def main() -> None:
    import importlib

    from threadline.analysis import analyze_document
    from threadline.ingest.source import Raw
    from threadline.knowledge import load_kb
    from threadline.model import Document
    from threadline.web.isolate import Isolated, Job

    kb = load_kb(progress=False)
    analyze_document(Document(text=SENTENCE, source="warm-up"), kb)
    huge = " ".join([SENTENCE] * 22_000)
    os.environ["THREADLINE_STAGE_TIMEOUT"] = "1"
    print(f"2 MB report ({len(huge):,} characters), stage_timeout 1 s: seconds from the start to the error")
    rows = [("main thread (alarm)", _timed(lambda: analyze_document(Document(text=huge, source="huge.txt"), kb))),
            ("another thread (checks)", _in_thread(lambda: analyze_document(Document(text=huge, source="huge.txt"),
                                                                             kb)))]
    isolated = Isolated()
    try:
        isolated.analyse(Job(Raw(SENTENCE.encode(), "warm.txt"), None, "clear", None), "warm.txt")   # start it
        rows.append(("web analysis process (alarm)", _timed(lambda: isolated.analyse(
            Job(Raw(huge.encode(), "huge.txt"), None, "clear", None), "huge.txt"))))
    finally:
        isolated.stop()
    for name, (outcome, seconds) in rows:
        print(f"  {name:30} {seconds:6.2f} s  {outcome}")

    del os.environ["THREADLINE_STAGE_TIMEOUT"]
    one_mb = Document(text=" ".join([SENTENCE] * 11_000), source="one-mb.txt")
    with_checks = _cpu(lambda: analyze_document(one_mb, kb))
    modules = [importlib.import_module(m) for m in MODULES]
    saved = [getattr(m, "check") for m in modules]     # noqa: B009  (each module's own name for limits.check)
    for module in modules:
        setattr(module, "check", lambda: None)            # noqa: B010
    try:
        without = _cpu(lambda: analyze_document(one_mb, kb))
    finally:
        for module, check in zip(modules, saved, strict=True):
            setattr(module, "check", check)               # noqa: B010
    print(f"1 MB report, CPU of the whole analysis (best of 3): {with_checks:.2f} s with the checks, "
          f"{without:.2f} s without ({100 * (with_checks - without) / without:+.1f} %)")


if __name__ == "__main__":
    main()
