"""Bounded work per document: each stage (reading a format, splitting sentences, entities, techniques,
indicators, attribution) may take at most ``stage_timeout`` seconds and grow the process by at most
``stage_max_memory`` bytes; past either, the stage stops with a one-line :class:`LimitError` naming the document
and the stage, and a batch goes on with the next document.

How: a periodic ``SIGALRM`` (every 0.1 s while a stage runs). The operating system delivers it whatever the
stage is doing, and CPython runs the handler at its next check, which the regular-expression engine and the
interpreter loop both make: a catastrophic backtrack or a runaway loop is stopped as surely as slow Python code.
The handler compares the clock with the deadline and the resident memory (``/proc/self/statm``) with the stage's
start; a stage that builds a huge structure in one C call (one giant ``str.join``) is only seen after it, which
is why the memory limit is on growth with some slack, not an exact cap.

Signals reach the main thread only. Elsewhere (the web app's job thread, a Dask worker's task thread) the same
limits are kept cooperatively: the loop heads of each stage (sentences, entities, techniques, indicators, PDF
pages, feed entries) call :func:`check`, which compares the clock with the thread's deadline and, at most every
0.1 s, the resident memory with the stage's start. That stops every loop that goes round, not one long C call
(one regular-expression search): those are kept linear and measured by ``bench/regex_worst.py``, and the
operating system's limits (or Dask's worker memory limit, which restarts the worker) stay the hard cap there.
In the main thread :func:`check` is a second line behind the alarm. Stages do not nest: an inner one runs under
the outer one's limits.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from threadline import settings
from threadline.errors import LimitError

_TICK = 0.1
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class _Stop(BaseException):
    """Raised by the alarm handler; a BaseException so that a library's ``except Exception`` (trafilatura and
    lxml turn every Exception into "unreadable") cannot swallow it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _Stage:
    deadline: float
    seconds: float
    baseline: int
    max_growth: int
    next_memory_check: float = 0.0
    running: bool = True      # False from the first statement of the stage's exit: the alarm never raises after

    def over(self) -> str | None:
        """Why the stage must stop now (time, then memory), or None."""
        if time.monotonic() >= self.deadline:
            return f"took more than {self.seconds:g} s (setting stage_timeout)"
        if self.baseline and resident_bytes() - self.baseline > self.max_growth:
            return f"needed more than {self.max_growth // (1024 * 1024)} MB (setting stage_max_memory)"
        return None


_active: _Stage | None = None         # the main thread's stage, read by the alarm handler
_local = threading.local()            # each thread's stage, read by check()


def resident_bytes() -> int:
    """The process's resident memory now (Linux ``/proc``; 0 where it cannot be read, which disables the check)."""
    try:
        with open("/proc/self/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def check() -> None:
    """A cooperative check at the head of a stage's loop: stops the stage running in this thread once it is past
    its time or memory limit. Costs a thread-local read and a clock read (resident memory at most every 0.1 s),
    so that a loop over sentences or matches can call it every round; outside a stage it does nothing."""
    current: _Stage | None = getattr(_local, "stage", None)
    if current is None:
        return
    now = time.monotonic()
    if now >= current.deadline:
        raise _Stop(f"took more than {current.seconds:g} s (setting stage_timeout)")
    if now >= current.next_memory_check:
        current.next_memory_check = now + _TICK
        reason = current.over()
        if reason is not None:
            raise _Stop(reason)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    stage = _active
    if stage is None or not stage.running or isinstance(sys.exc_info()[1], _Stop):
        # A stop is already on its way out (being handled: in an except or finally block, or in the ``with``
        # statement's exit before the stage's own code runs), or the stage is exiting. A second stop raised there
        # would skip the stage's exit: the stage stayed "running" with its timer ticking into the code after it
        # (a test session ended in INTERNALERROR that way, on a loaded machine).
        return
    reason = stage.over()
    if reason is not None:
        # Raised again at every tick until the stage has ended: Python ignores an exception raised where it runs a
        # garbage-collector callback or a __del__ (found under hypothesis), and that stop must not be the last.
        raise _Stop(reason)


def _disarm() -> None:
    global _active
    _active = None
    signal.setitimer(signal.ITIMER_REAL, 0)


def _can_interrupt() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def unbounded() -> Iterator[None]:
    """Run the ``with`` body without stage limits in this thread (stages inside it do not start their own): for a
    worker's warm-up, whose loading of models and lexicons is not any document's work."""
    if getattr(_local, "stage", None) is not None:
        yield
        return
    _local.stage = _Stage(float("inf"), float("inf"), 0, 0, float("inf"))
    try:
        yield
    finally:
        _local.stage = None


@contextmanager
def stage(name: str, where: str, *, seconds: float | None = None, max_memory: int | None = None) -> Iterator[None]:
    """Run the ``with`` body as stage ``name`` of document ``where`` under the limits (settings by default), in
    any thread: preempted by the alarm in the main thread, at each :func:`check` in every thread."""
    global _active
    if getattr(_local, "stage", None) is not None:
        yield
        return
    limit = seconds if seconds is not None else settings.get_number("stage_timeout")
    growth = max_memory if max_memory is not None else settings.get_int("stage_max_memory")
    current = _Stage(time.monotonic() + limit, limit, resident_bytes(), growth)
    alarm = _can_interrupt()
    previous: Any = None
    _local.stage = current
    try:
        try:
            if alarm:
                _active = current
                previous = signal.signal(signal.SIGALRM, _on_alarm)
                signal.setitimer(signal.ITIMER_REAL, min(_TICK, limit), _TICK)
            yield
        finally:
            current.running = False      # first thing: from here on a tick is a no-op, whatever else runs
            if alarm:
                _disarm()    # a stop that landed before the line above is caught below like any other
                signal.signal(signal.SIGALRM, previous)
            _local.stage = None
    except _Stop as stop:
        _local.stage = None
        if alarm:
            _disarm()
            signal.signal(signal.SIGALRM, previous)
        raise LimitError(f"stage {name} stopped: it {stop.reason}", where=where) from None
    except MemoryError:
        # The process's own cap (ulimit -v, the web's analysis child): the stage's allocations are gone once it has
        # unwound, so this document fails on one line and the next one runs.
        raise LimitError(f"stage {name} stopped: it ran out of memory (the process's memory limit; setting "
                         "stage_max_memory)", where=where) from None
