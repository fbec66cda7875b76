"""Bounded work per document: a stage past its time or memory limit stops with a one-line error naming the
document and the stage, whatever it was doing (a backtracking regular expression, a library that catches every
Exception), and a batch goes on with the next document."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from threadline.errors import LimitError, ThreadlineError
from threadline.limits import check, stage, unbounded


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


def _in_a_thread(work: Callable[[], object]) -> BaseException | None:
    """Run ``work`` in a new thread (as the web app's job worker and Dask's task threads do); what it raised."""
    raised: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:   # whatever it is, the test looks at it
            raised.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the stage was never stopped"
    return raised[0] if raised else None


def test_off_the_main_thread_a_loop_that_checks_is_stopped_at_the_deadline() -> None:
    def runaway() -> None:
        with stage("entities", "hostile.txt", seconds=0.3):
            while True:          # a stage's loop head: sentences, matches, blocks of rows
                check()

    started = time.monotonic()
    stopped = _in_a_thread(runaway)
    assert time.monotonic() - started < 1.5
    assert isinstance(stopped, LimitError)
    assert str(stopped) == "hostile.txt: stage entities stopped: it took more than 0.3 s (setting stage_timeout)"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)      # no alarm was set from the thread


def test_off_the_main_thread_memory_growth_stops_the_stage() -> None:
    hoard: list[bytes] = []

    def growing() -> None:
        with stage("iocs", "big.txt", seconds=30, max_memory=200 * 2**20):
            for _ in range(4000):             # up to 4 GB, a MB a round: stopped at about 200 MB
                check()
                hoard.append(b"x" * 2**20)

    stopped = _in_a_thread(growing)
    assert len(hoard) < 1500
    assert str(stopped) == "big.txt: stage iocs stopped: it needed more than 200 MB (setting stage_max_memory)"


def test_off_the_main_thread_a_swallowed_stop_comes_again_at_the_next_check() -> None:
    swallowed = 0

    def stubborn() -> None:
        nonlocal swallowed
        with stage("techniques", "a.txt", seconds=0.1):
            while True:
                try:
                    while True:
                        check()
                except BaseException:
                    swallowed += 1
                    if swallowed > 1:
                        raise

    assert isinstance(_in_a_thread(stubborn), LimitError)
    assert swallowed == 2


def test_off_the_main_thread_only_checks_stop_a_stage() -> None:
    # No signal reaches another thread: a stage that never reaches a check (one long call into C) runs to its end,
    # and the next stage starts afresh (SECURITY.md: the operating system's limits are the hard cap there).
    def blocking() -> None:
        with stage("read pdf", "a.pdf", seconds=0.05):
            time.sleep(0.2)
        with stage("sentences", "a.pdf", seconds=5):
            check()

    assert _in_a_thread(blocking) is None


def test_check_outside_a_stage_does_nothing() -> None:
    check()
    with pytest.raises(LimitError), stage("iocs", "a.txt", seconds=0.01):
        time.sleep(0.05)
        check()
    check()     # the stopped stage left nothing behind


def test_an_analysis_in_a_thread_stops_in_its_stage_and_the_next_document_is_analysed(
        kb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadline.analysis import analyze_document
    from threadline.model import Document

    text = "APT28 sent spearphishing attachments; the implant beaconed to 45.137.21.9 and used Mimikatz."
    huge = Document(text=" ".join([text] * 20_000), source="huge.txt")       # 1.9 MB: seconds per stage
    analyze_document(Document(text=text, source="warm.txt"), kb)             # models load outside the limit
    outcome: dict[str, Any] = {}

    def work() -> None:
        started = time.monotonic()
        try:
            analyze_document(huge, kb)
        except LimitError as exc:
            outcome["error"], outcome["seconds"] = str(exc), time.monotonic() - started
        outcome["next"] = analyze_document(Document(text=text, source="small.txt"), kb)

    monkeypatch.setenv("THREADLINE_STAGE_TIMEOUT", "0.5")
    assert _in_a_thread(work) is None
    assert re.fullmatch(r"huge\.txt: stage \w+ stopped: it took more than 0\.5 s \(setting stage_timeout\)",
                        outcome["error"]), outcome["error"]
    assert outcome["seconds"] < 4          # sentences and the stopped stage: 0.5 s each at most, and the checks
    assert outcome["next"]["iocs"]


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


def test_a_warm_up_runs_without_the_limits_in_any_thread() -> None:
    # Loading models and lexicons is no document's work: a worker's warm-up must not fail under a tight limit.
    def warm_up() -> None:
        with unbounded(), stage("entities", "warm-up", seconds=0.05):
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                check()

    warm_up()
    assert _in_a_thread(warm_up) is None
    with pytest.raises(LimitError), stage("entities", "a.txt", seconds=0.05):   # and the limits are back after it
        time.sleep(0.2)


def test_running_out_of_memory_inside_a_stage_is_a_one_line_error() -> None:
    # The process's own cap (ulimit -v, the web's analysis process) raises MemoryError in whatever allocates.
    def allocate() -> None:
        raise MemoryError

    with pytest.raises(LimitError) as caught, stage("techniques", "big.txt", seconds=30):
        allocate()
    assert str(caught.value) == ("big.txt: stage techniques stopped: it ran out of memory (the process's memory "
                                 "limit; setting stage_max_memory)")
    assert isinstance(_in_a_thread(lambda: _stage_raising(MemoryError)), LimitError)


def _stage_raising(error: type[BaseException]) -> None:
    with stage("iocs", "a.txt", seconds=30):
        raise error


def test_a_tick_while_the_stage_exits_raises_nothing_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a loaded machine the process can be held between a stop and the timer's disarming: a tick landing there
    must not raise again, or a bare stop escapes the stage with the timer still ticking into the code after it (a
    whole test session ended in INTERNALERROR that way)."""
    import threadline.limits as limits

    real = limits._disarm
    late: list[int] = []

    def disarm_after_a_late_tick() -> None:
        limits._on_alarm(signal.SIGALRM, None)                   # the timer fired just before it was disarmed
        late.append(1)
        real()

    monkeypatch.setattr(limits, "_disarm", disarm_after_a_late_tick)
    with pytest.raises(LimitError, match=r"^slow\.txt: stage iocs stopped"), stage("iocs", "slow.txt", seconds=0.2):
        time.sleep(5)
    assert late and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_tick_while_a_stop_is_being_handled_adds_no_second_stop() -> None:
    """A cooperative check's stop is on its way out when the timer fires, in the ``with`` statement's exit before
    the stage's own exit has run: a second stop raised there skipped that exit, and the stage stayed running with
    its timer ticking into the code after it (found on a loaded machine: a test session ended in INTERNALERROR)."""
    import threadline.limits as limits

    previous = signal.getsignal(signal.SIGALRM)
    manager = stage("iocs", "slow.txt", seconds=60)
    manager.__enter__()
    try:
        active = limits._active
        assert active is not None
        active.deadline = 0.0                            # past its deadline: a tick has every reason to stop it
        try:
            check()
        except limits._Stop as stop:
            limits._on_alarm(signal.SIGALRM, None)       # the timer fires as the with statement begins its exit
            with pytest.raises(LimitError, match=r"^slow\.txt: stage iocs stopped"):
                manager.__exit__(type(stop), stop, stop.__traceback__)
        assert limits._active is None and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:                                             # never leave a stage behind for the tests after this one
        limits._disarm()
        limits._local.stage = None
        signal.signal(signal.SIGALRM, previous)
