"""`threadline attribute`: rank ATT&CK intrusion sets for a case (single file or JSON-lines batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from threadline.cli import app
from threadline.cli.common import FailFast, console, plain, print_json, run_jsonl
from threadline.errors import InputError


def _attribute(data: dict[str, Any], extra_excludes: list[str], where: str) -> dict[str, Any]:
    from threadline.attribute import attribute, parse_observations
    from threadline.attribute.observations import exclude_sources_of
    from threadline.knowledge import load_kb

    kb = load_kb()
    obs = parse_observations(data, kb, where=where)
    excludes = [*exclude_sources_of(data, where), *extra_excludes]
    return attribute(obs, kb, exclude_sources=excludes).to_dict()


def _show(result: dict[str, Any]) -> None:
    table = Table(title="Candidate intrusion sets", show_lines=True)
    for column, style in (("#", "dim"), ("group", "bold"), ("probability", ""), ("distinctive", ""),
                          ("shared", "dim"), ("missing hallmarks", "dim")):
        table.add_column(column, style=style, overflow="fold")
    for rank, cand in enumerate(result["candidates"], 1):
        evidence = cand["evidence"]
        shared = ", ".join(s["id"] if s["kind"] in ("technique", "software") else s["name"]
                           for s in evidence["shared"])
        table.add_row(str(rank), plain(f"{cand['attack_id']} {cand['name']}"),
                      f"{cand['probability']:.0%} ({cand['estimative']})"
                      + (" [italic]capped[/italic]" if cand["capped_at_likely"] else ""),
                      plain(", ".join(evidence["distinctive"]) or "-"), plain(shared),
                      plain(", ".join(m["name"] for m in evidence["missing"]) or "-"))
    console.print(table)
    conf = result["confidence"]
    lines = [f"[bold]Unknown actor:[/bold] {result['unknown_probability']:.0%} ({conf['unknown_actor']})",
             f"[bold]Analytic confidence:[/bold] {conf['analytic_confidence']}"]
    lines += [f"  - {plain(r)}" for r in conf["reasons"]]
    for claim in result["report_claims"]:
        engine = claim["engine"]
        if not claim.get("actor"):
            lines.append("[bold]Report claim:[/bold] not attributed to any known actor")
            continue
        lines.append(f"[bold]Report claim:[/bold] {plain(claim['strength'])} to {plain(claim['actor'])} "
                     f"({claim['attack_id'] or 'not in ATT&CK'}); engine: rank {engine['rank'] or '-'}, "
                     f"{engine['probability']:.0%}")
    if result.get("outcome") == "insufficient_evidence":
        lines.insert(0, f"[bold yellow]Too thin to tell:[/bold yellow] {plain(result['outcome_reason'])}")
    for test in result.get("claim_tests") or []:
        lines.append(f"[bold]Claim test:[/bold] {plain(test['actor'])} ({test['attack_id'] or 'not in ATT&CK'}): "
                     f"{plain(test['reason'])}" + (f"; {plain(test['comparison'])}" if test["comparison"] else ""))
    for item in result["disagreements"]:
        lines.append(f"[bold red]Disagreement:[/bold red] {plain(item['message'])}")
    console.print(Panel("\n".join(lines), title="Assessment"))
    console.print(plain(result["explanation"]))


@app.command()
def attribute(
    observations: Annotated[Path | None, typer.Argument(
        help="JSON object: techniques, software, sectors, countries, first_seen, last_seen, iocs, report_claims.",
        show_default=False)] = None,
    exclude_source: Annotated[list[str] | None, typer.Option(
        "--exclude-source", help="Ignore knowledge-base evidence resting only on this source (name or URL); "
        "repeatable.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    jsonl: Annotated[str | None, typer.Option("--jsonl", help="Batch: JSON lines {id, <fields>, exclude_sources?} "
                                              "in (FILE or -), {id, candidates, ...} out.")] = None,
    fail_fast: FailFast = False,
) -> None:
    """Rank ATT&CK intrusion sets for observations, with calibrated probabilities and ICD-203 wording."""
    extra = list(exclude_source or [])
    if jsonl is not None:
        if observations is not None:        # the file was silently ignored
            raise InputError("give either an OBSERVATIONS.json file or --jsonl, not both", where="attribute")

        def handle(record: dict[str, Any]) -> dict[str, Any]:
            return _attribute(record, extra, f"record {record['id']!r}")

        run_jsonl(jsonl, handle, fail_fast=fail_fast)
        return
    if observations is None:
        raise InputError("give an OBSERVATIONS.json file, or --jsonl FILE|-", where="attribute")
    from threadline.attribute.observations import read_observations_file

    result = _attribute(read_observations_file(observations), extra, str(observations))
    if json_out:
        print_json(result)
    else:
        _show(result)
