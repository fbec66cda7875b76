"""Bounded work per document: a stage past its time or memory limit stops with a one-line error naming the
document and the stage, whatever it was doing (a backtracking regular expression, a library that catches every
Exception), and a batch goes on with the next document."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from threadline.errors import LimitError, ThreadlineError
from threadline.limits import stage


def test_a_catastrophic_regular_expression_is_stopped_at_the_deadline() -> None:
    started = time.monotonic()
    with pytest.raises(LimitError) as caught, stage("iocs", "hostile.txt", seconds=0.5):
        re.match(r"(a+)+$", "a" * 40 + "b")       # 2**40 steps: hours without the limit
    assert time.monotonic() - started < 3
    assert str(caught.value) == "hostile.txt: stage iocs stopped: it took more than 0.5 s (setting stage_timeout)"


def test_a_library_that_catches_every_exception_cannot_swallow_the_stop() -> None:
    def library_call() -> str:
        try:
            while True:
                pass
        except Exception:     # trafilatura and lxml do this; the stop must still get through
            return "unreadable"

    with pytest.raises(LimitError, match=r"^page\.html: stage read html stopped"), \
            stage("read html", "page.html", seconds=0.3):
        library_call()


def test_a_stop_that_is_swallowed_once_comes_again() -> None:
    # Python ignores an exception raised in a garbage-collector callback or a __del__: the stop must come back
    # at the next tick, or the stage would run unbounded (hypothesis's gc callback swallowed one).
    swallowed = 0
    end = time.monotonic() + 3
    with pytest.raises(LimitError), stage("entities", "a.txt", seconds=0.2):
        while time.monotonic() < end:
            try:
                while time.monotonic() < end:
                    pass
            except BaseException:
                swallowed += 1
                if swallowed > 1:
                    raise
    assert swallowed == 2


def test_memory_growth_past_the_limit_stops_the_stage() -> None:
    hoard: list[bytes] = []
    with pytest.raises(LimitError) as caught, stage("entities", "big.txt", seconds=30, max_memory=200 * 2**20):
        for _ in range(4000):               # up to 4 GB, a MB at a time: stopped at about 200 MB
            hoard.append(b"x" * 2**20)
    assert len(hoard) < 1500
    assert str(caught.value) == ("big.txt: stage entities stopped: it needed more than 200 MB "
                                 "(setting stage_max_memory)")
    assert isinstance(caught.value, ThreadlineError)


def test_the_alarm_is_gone_after_a_stage() -> None:
    before = signal.getsignal(signal.SIGALRM)
    with stage("sentences", "a.txt", seconds=0.2):
        pass
    assert signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    time.sleep(0.3)      # no late alarm arrives


def test_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_STAGE_TIMEOUT", "0.2")
    with pytest.raises(LimitError, match=r"more than 0\.2 s"), stage("techniques", "a.txt"):
        time.sleep(2)
    monkeypatch.setenv("THREADLINE_STAGE_TIMEOUT", "soon")
    with pytest.raises(ThreadlineError, match=r"^THREADLINE_STAGE_TIMEOUT: expected a number"), stage("x", "a.txt"):
        pass


def test_outside_the_main_thread_a_stage_runs_unbounded() -> None:
    # Signals reach the main thread only (SECURITY.md says so): elsewhere the stage runs, without an error.
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with stage("iocs", "a.txt", seconds=0.05):
                time.sleep(0.2)
        except BaseException as exc:   # any error at all is the failure here
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []


def test_a_batch_goes_on_after_a_document_past_its_limit(kb, run_cli, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    text = "APT28 sent spearphishing attachments; the implant beaconed to 45.137.21.9 and used Mimikatz."
    big = " ".join([text] * 60_000)          # 5.6 MB: some stage takes more than the second allowed
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (
        {"id": "small-1", "text": text}, {"id": "huge", "text": big}, {"id": "small-2", "text": text})) + "\n")
    run_cli("analyze", "--jsonl", str(path), "--no-store")       # warm-up: models load outside the limit
    monkeypatch.setenv("THREADLINE_STAGE_TIMEOUT", "1")
    code, out, err = run_cli("analyze", "--jsonl", str(path), "--no-store")
    assert code == 2
    assert [json.loads(line)["id"] for line in out.splitlines()] == ["small-1", "small-2"]
    first = err.splitlines()[0]
    assert re.fullmatch(rf"threadline: {re.escape(str(path))}:2: jsonl:huge: stage \w+ stopped: it took more "
                        r"than 1 s \(setting stage_timeout\)", first), first
