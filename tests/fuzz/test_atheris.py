"""The bounded slice of coverage-guided fuzzing CI runs: each atheris harness (fuzz/) for a few seconds from its
seed inputs, which must end without a crash. bench/fuzz.py runs the same harnesses for as long as asked."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "fuzz.py"

pytestmark = pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                                reason="atheris is not installed (it ships Linux wheels only; pip install atheris)")

SECONDS = 2


def _targets() -> list[str]:
    from tests.fuzz.seeds import SEEDS

    return sorted(SEEDS)


def _bench() -> ModuleType:
    """bench/fuzz.py, loaded from its file (bench/ is a folder of scripts)."""
    if "bench_fuzz" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_fuzz", BENCH)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_fuzz"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_fuzz"]


def test_every_target_has_a_harness() -> None:
    from tests.fuzz.targets import TARGETS

    assert set(_targets()) == set(TARGETS)
    assert all((ROOT / "fuzz" / f"fuzz_{name}.py").is_file() for name in TARGETS)


@pytest.mark.parametrize("name", _targets())
def test_harness_runs_without_a_crash(name: str, tmp_path: Path) -> None:
    result = _bench().run_target(name, SECONDS, tmp_path, timeout=20)
    log = (tmp_path / "logs" / f"{name}.log").read_text()
    assert not result.crashed, f"{name} crashed: {result.artifact}\n{log[-3000:]}"
    assert result.executions > 0 and result.corpus_inputs > 0, log[-2000:]
