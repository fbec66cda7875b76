"""Lazy package attributes: a name loads its submodule on first use; an unknown name is an AttributeError."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import threadline.store


def test_a_known_name_loads_from_its_submodule() -> None:
    from threadline.store.records import SaveResult

    assert threadline.store.SaveResult is SaveResult


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"'threadline\.store' has no attribute 'Nope'"):
        threadline.store.Nope  # noqa: B018


# ---- what a cold `threadline analyze` imports (issue 17: under 1.5 s cold) -----------------------------------------
# Run in a fresh interpreter: the test process has imported everything already. Each module named here costs a cold
# start 20-300 ms and is not needed to analyse a plain report.
_PROBE = """
import json, sys
from threadline.cli import main
sys.argv = ["threadline", *json.loads(sys.argv[1])]
try:
    main()
finally:
    with open(OUT, "w") as out:
        json.dump(sorted(sys.modules), out)
"""
_NEVER = ("sklearn", "scipy", "dask", "distributed", "alembic", "jinja2", "tldextract", "requests", "urllib3",
          "fastapi", "uvicorn", "stix2", "pymisp", "trafilatura")


def _imported(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.json"
    code = f"OUT = {str(out)!r}\n{_PROBE}"
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "THREADLINE_DB": str(tmp_path / "lazy.db")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {name.split(".")[0] for name in json.loads(out.read_text())}


@pytest.fixture
def short_report(tmp_path: Path, kb: object) -> Path:      # kb: the index is built before the subprocess runs
    report = tmp_path / "short.txt"
    report.write_text("APT41 used spear-phishing e-mails against telecom companies in Vietnam. The malware beaconed "
                      "to update-check-service.com and cdn.evil-mirror.co.uk over HTTPS.\n")
    return report


def test_analyze_no_store_imports_neither_the_store_nor_the_fetchers(tmp_path: Path, short_report: Path) -> None:
    modules = _imported(tmp_path, "analyze", str(short_report), "--no-store", "--json")
    assert "numpy" in modules and "threadline" in modules       # the probe sees what the analysis loaded
    assert not modules & {"sqlalchemy", *_NEVER}, sorted(modules & {"sqlalchemy", *_NEVER})


def test_analyze_and_store_a_short_report_imports_only_the_store(tmp_path: Path, short_report: Path) -> None:
    assert "alembic" in _imported(tmp_path, "analyze", str(short_report), "--json")    # creates the database
    modules = _imported(tmp_path, "analyze", str(short_report), "--json")               # up to date: no migration
    assert "sqlalchemy" in modules
    assert not modules & set(_NEVER), sorted(modules & set(_NEVER))


def test_a_punycode_host_still_gets_tldextracts_answer(tmp_path: Path, kb: object) -> None:
    """The scanner's own suffix lookup leaves punycode to tldextract, imported then (and only then)."""
    report = tmp_path / "puny.txt"
    report.write_text("The implant contacted xn--80ak6aa92e.com and update-check-service.com.\n")
    assert "tldextract" in _imported(tmp_path, "analyze", str(report), "--no-store", "--json")
