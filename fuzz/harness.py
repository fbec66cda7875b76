"""Shared body of the atheris harnesses: the target from tests/fuzz/targets.py, instrumented, over a corpus.

``python fuzz/fuzz_<target>.py [libFuzzer options] CORPUS_DIR`` runs one; ``bench/fuzz.py --seconds N`` runs
them all from their seed inputs (tests/fuzz/seeds.py). The target accepts a result or a one-line ThreadlineError:
any other exception, a broken invariant (an offset outside the text), more than ``-timeout`` seconds on one input
or more than ``-rss_limit_mb`` is a crash, which libFuzzer writes as ``crash-*`` (``timeout-*``, ``oom-*``); it
then belongs in tests/data/fuzz/ (tests/fuzz/test_regressions.py runs each).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(name: str) -> None:
    import atheris

    sys.path.insert(0, str(ROOT))
    from tests.fuzz.seeds import seed_inputs

    with atheris.instrument_imports():
        from tests.fuzz.targets import TARGETS

        target = TARGETS[name]
        for seed in seed_inputs(name):   # imports the modules each kind of input reaches, under instrumentation
            target(seed)
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()
