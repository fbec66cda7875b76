"""CPU time of a call, measured so that growth tests see the code under test and not the machine around it.

Three things blurred these measurements in CI, each seen failing a linear-time test once:
- the wall clock counts the time the scheduler gave to other jobs on a shared machine (2.6x "growth" at load 10);
- the process's CPU time counts threads that earlier tests left running (a web server, a Dask cluster);
- a full garbage collection runs in whichever thread allocates when the heap crosses a threshold, and after a
  thousand tests (knowledge base, models, web apps) one pass took 0.5 s, charged to an 8-line extraction.
So: this thread's CPU time, the collector run before and paused during the call, the best of several rounds taken
in turns so that a burst of load hits every input alike.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence


def best_cpu_seconds(calls: Sequence[Callable[[], object]], rounds: int = 3) -> list[float]:
    """The best of ``rounds`` CPU times of this thread for each call, with the garbage collector paused."""
    best = [float("inf")] * len(calls)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for i, call in enumerate(calls):
                start = time.thread_time()
                call()
                best[i] = min(best[i], time.thread_time() - start)
    finally:
        if enabled:
            gc.enable()
    return best
