"""`threadline attribute`: file, JSON and JSON-lines batch modes, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

CASE = {"techniques": ["T1566.002", "T1204.001", "T1053.005", "T1071.001", "T1583.001"], "software": ["S0154"]}


def test_json_output(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "obs.json"
    path.write_text(json.dumps(CASE), encoding="utf-8")
    code, out, err = run_cli("attribute", str(path), "--exclude-source", "McAfee Dianxun March 2021", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["candidates"][0]["attack_id"].startswith("G")
    assert 0.0 <= result["unknown_probability"] <= 1.0
    assert result["excluded_sources"] == ["McAfee Dianxun March 2021"]


def test_human_output(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "obs.json"
    path.write_text(json.dumps(CASE), encoding="utf-8")
    code, out, _ = run_cli("attribute", str(path))
    assert code == 0 and "Candidate intrusion sets" in out and "Analytic confidence" in out


def test_jsonl_batch_with_per_line_exclusions(run_cli) -> None:  # type: ignore[no-untyped-def]
    lines = [{"id": "c1", **CASE, "exclude_sources": ["McAfee Dianxun March 2021"]},
             {"id": "c2", "techniques": ["T1105"]}]
    code, out, err = run_cli("attribute", "--jsonl", "-", stdin="".join(json.dumps(x) + "\n" for x in lines))
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["c1", "c2"]
    assert rows[0]["excluded_sources"] == ["McAfee Dianxun March 2021"] and rows[1]["excluded_sources"] == []
    assert all("candidates" in r and "unknown_probability" in r for r in rows)


def test_bad_json_is_one_line_error(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "broken.json"
    path.write_text("{techniques: T1059", encoding="utf-8")
    code, out, err = run_cli("attribute", str(path), "--json")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "broken.json" in err and "not JSON" in err


def test_bad_batch_record_names_the_record(run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("attribute", "--jsonl", "-", stdin=json.dumps({"id": "x9", "techniques": 3}) + "\n")
    assert code == 2 and "x9" in err and "must be a list" in err and err.count("\n") == 1


def test_human_output_says_too_thin_and_tests_the_claim(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Generic techniques and Cobalt Strike, claimed for RedDelta: the panel says the evidence is too thin and
    reports the claim as untestable, not contradicted (issue 15)."""
    path = tmp_path / "obs.json"
    path.write_text(json.dumps({**CASE, "report_claims": [{"actor": "RedDelta", "strength": "attributed"}]}),
                    encoding="utf-8")
    code, out, _ = run_cli("attribute", str(path))
    flat = " ".join(out.replace("│", " ").split())     # the panel's border splits its lines
    assert code == 0 and "Too thin to tell:" in flat
    assert "Claim test: RedDelta (G0129): untestable from this text (its techniques and tools are generic), not " \
           "contradicted" in flat


def test_analyze_says_too_thin_instead_of_a_ranking(run_cli) -> None:  # type: ignore[no-untyped-def]
    seed = Path(__file__).resolve().parents[2] / "examples" / "operation-dianxun.md"
    code, out, err = run_cli("analyze", str(seed))
    flat = " ".join(out.split())
    assert code == 0, err
    assert "engine's view: too thin to tell: the report names no technique or tool" in flat
    assert "APT41" not in flat
    assert "claim test: RedDelta / TA416: untestable from this text (it names no technique or tool), not " \
           "contradicted" in flat
