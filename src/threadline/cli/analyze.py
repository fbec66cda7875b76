"""`threadline analyze`: a report through every stage, stored with provenance; `--jsonl` for batches."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from threadline.cli import app
from threadline.cli.common import (
    DocumentTlp,
    FailFast,
    console,
    err_console,
    listing,
    new_table,
    plain,
    print_json,
    record_field,
    record_text,
    run_jsonl,
    shorten,
)
from threadline.cli.ingest import expand_sources
from threadline.errors import InputError, ThreadlineError
from threadline.model import Document
from threadline.publish.render import defang_generic, defang_value

if TYPE_CHECKING:
    from threadline.store import Store


def _summary(result: dict[str, Any]) -> None:
    """The analysis for a human: who, what, to whom, when, how sure."""
    doc = result["document"]
    # The title wraps on a line of its own: inside the rule it was cropped at 80 columns, and the id with it.
    console.rule()
    console.print(f"[bold]{plain(defang_generic(doc.get('title') or doc['source']))}[/bold]", overflow="fold")
    facts = Table(show_header=False, box=None)
    facts.add_column(style="bold", no_wrap=True)
    facts.add_column(overflow="fold")
    facts.add_row("id", doc["sha256"][:12])          # what brief and export take (7+ digits will do)

    def names(key: str, label: str = "name") -> str:
        return plain(", ".join(str(i.get(label) or i.get("name")) for i in result.get(key, [])) or "—")

    def texts(key: str) -> str:
        return plain("; ".join(i.get("text", "") for i in result.get(key, [])) or "—")

    facts.add_row("actors", plain(", ".join(f"{a['name']} ({a.get('attack_id') or 'not in ATT&CK'}, {a['role']})"
                                            for a in result["actors"]) or "—"))
    facts.add_row("campaigns", names("campaigns"))
    facts.add_row("software", names("software"))
    facts.add_row("sectors", names("sectors"))
    facts.add_row("countries", names("countries", "code"))
    facts.add_row("regions", names("regions"))
    facts.add_row("dates", plain("; ".join(f"{d['date']} {d.get('event') or ''}".strip()
                                           for d in result["dates"]) or "—"))
    facts.add_row("lures", texts("lures"))
    facts.add_row("goals", texts("goals"))
    facts.add_row("malware used", texts("capabilities"))
    facts.add_row("source advises", texts("advice"))
    console.print(facts)
    _techniques(result["techniques"])
    iocs = [i for i in result["iocs"] if not i.get("flags")]
    if result["iocs"]:
        console.print(f"[bold]indicators[/bold]: {len(iocs)} to act on, {len(result['iocs']) - len(iocs)} flagged: "
                      + plain(listing([defang_value(i["type"], i["value"]) for i in iocs], 15)))
    for line, count in _claim_lines(result["claims"]).items():
        console.print(f"[bold]the report claims[/bold]: {line}" + (f" ({count} sentences)" if count > 1 else ""))
    attribution = result["attribution"]
    top = attribution["candidates"][:3]
    words = attribution.get("confidence") or {}
    lead = (f"; the leading candidate is {words.get('estimative')} ({words.get('range')}), analytic confidence "
            f"{words.get('analytic_confidence')}") if top and isinstance(words, dict) else ""
    if attribution.get("outcome") == "insufficient_evidence":     # issue 15: no rival named on thin evidence
        console.print(f"[bold]engine's view[/bold]: [yellow]too thin to tell[/yellow]: "
                      f"{plain(str(attribution.get('outcome_reason')))}; no group above \"very unlikely\"; unknown "
                      f"actor {attribution['unknown_probability']:.0%}", highlight=False)
    else:
        console.print("[bold]engine's view[/bold]: " + plain(", ".join(
            f"{c['name']} ({c['attack_id']}) {c['probability']:.0%}" for c in top) or "no candidate")
            + f"; unknown actor {attribution['unknown_probability']:.0%}{lead}", highlight=False)
    for test in attribution.get("claim_tests") or []:
        console.print(f"[bold]claim test[/bold]: {plain(str(test['actor']))}: {plain(str(test['reason']))}",
                      highlight=False)
    disagreements = [line if isinstance(line, str) else line.get("message") or line.get("text") or str(line)
                     for line in attribution.get("disagreements") or []]
    for text in dict.fromkeys(disagreements):     # a repeated claim used to print its disagreement as often
        console.print(f"[yellow]disagreement[/yellow]: {plain(text)}", highlight=False)


_CLAIM_WORDS = {"attributed": "attributed to", "suspected": "suspected to be", "overlaps": "overlaps with",
                "denied": "not the work of"}


def _claim_lines(claims: list[dict[str, Any]]) -> Counter[str]:
    """One line per distinct claim, in order, with how many sentences make it: a report that repeats a claim
    printed the same line twice."""
    lines: Counter[str] = Counter()
    for claim in claims:
        said = (f"{_CLAIM_WORDS.get(claim['strength'], plain(claim['strength']) + ' to')} {plain(claim['actor'])}"
                if claim.get("actor") else "the activity is not attributed to any known actor")
        lines[said + (f" (basis: {plain(', '.join(claim.get('basis') or []))})" if claim.get("basis") else "")
              + (f"; caveat: {plain('; '.join(claim['caveats']))}" if claim.get("caveats") else "")] += 1
    return lines


def _techniques(techniques: list[dict[str, Any]], shown: int = 30) -> None:
    """Techniques the text supports, strongest first; those only inferred from named software as one line."""
    found = sorted((t for t in techniques if not t.get("inferred")), key=lambda t: -float(t["score"]))
    if found:
        table = new_table("id", "name", "score", "evidence", title="ATT&CK techniques in the text")
        for t in found[:shown]:
            evidence = shorten(t["evidence"][0]["text"], 160) if t.get("evidence") else ""
            table.add_row(t["id"], plain(t["name"]), f"{t['score']:.2f}", plain(defang_generic(evidence)))
        console.print(table)
        if len(found) > shown:
            console.print(f"... and {len(found) - shown} more (--json lists every one)")
    inferred = [t for t in techniques if t.get("inferred")]
    if inferred:
        by_software = Counter(s.split(" ", 2)[-1] for t in inferred for s in t.get("sources", [])
                              if s.startswith("software "))
        console.print(f"[bold]inferred from named software[/bold] (its ATT&CK entry, not the text): {len(inferred)} "
                      "techniques, " + plain(listing([f"{name} {n}" for name, n in by_software.most_common()], 8))
                      + " (--json lists them)", highlight=False)


@contextmanager
def _no_store() -> Iterator[None]:
    yield None


def _open_store(db: str | None) -> Store:
    from threadline.store import open_store

    return open_store(db)


def _save_analysis(store: Store, result: dict[str, Any]) -> None:
    from threadline.store.analyses import save_analysis

    save_analysis(store, result)


def _warn_unrecognised_tlp(docs: list[Document]) -> None:
    """One stderr line per document whose own front matter names no TLP level (it is marked red)."""
    from threadline.ingest.dating import unrecognised_tlp_warning

    for doc in docs:
        word = doc.metadata.get("tlp_unrecognised")
        if isinstance(word, str):
            print(f"threadline: warning: {doc.source}: {unrecognised_tlp_warning(word)}", file=sys.stderr)


@app.command()
def analyze(
    sources: Annotated[list[str] | None, typer.Argument(
        metavar="SOURCE", help="Files, folders, URLs or - (stdin): text, Markdown, HTML, PDF, RSS/Atom.")] = None,
    jsonl: Annotated[str | None, typer.Option(
        "--jsonl", help="Batch mode: read lines {\"id\", \"text\"} from FILE or - and write one analysis per line.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the analyses as a JSON list.")] = False,
    db: Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path (env THREADLINE_DB).")] = None,
    store_results: Annotated[bool, typer.Option("--store/--no-store", help="Keep documents and analyses.")] = True,
    exclude_source: Annotated[list[str] | None, typer.Option(
        "--exclude-source", help="Ignore knowledge supported only by this citation (name or URL); repeatable.")
    ] = None,
    allow_private: Annotated[bool, typer.Option(
        "--allow-private", help="Allow URLs on private, loopback and link-local addresses.")] = False,
    tlp: DocumentTlp = None,
    fail_fast: FailFast = False,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="Analyse on a local Dask cluster of N worker processes (needs the scale extra).")
    ] = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Analyse on the Dask cluster whose scheduler is at tcp://HOST:PORT.")] = None,
    use_known: Annotated[bool, typer.Option(
        "--known/--attack-only", help="Attribute also with what the store's earlier analyses link to the actor their "
        "claims name (default), or with ATT&CK's own sets only.")] = True,
    redo: Annotated[bool, typer.Option(
        "--redo", help="With --workers/--scheduler: analyse again inputs an earlier run already committed.")
    ] = False,
) -> None:
    """Everything about a report: indicators, techniques, actors, victims, dates, claims, attribution."""
    from threadline.analysis import LEFT_OUT, analyze_document, analyze_each
    from threadline.attribute.known import known_links
    from threadline.attribute.observations import exclude_sources_of
    from threadline.ingest import ingest_into
    from threadline.ingest.pipeline import mark_tlp
    from threadline.knowledge import load_kb
    from threadline.tlp import parse_option

    # The store (SQLAlchemy, a quarter of a second to import) is loaded only when something is stored.
    level = parse_option(tlp) if tlp is not None else None
    if bool(sources) == bool(jsonl):
        raise InputError("give SOURCE files or --jsonl FILE, not both or neither", where="analyze")
    if workers is not None or scheduler is not None:     # issue 17: the batch on a Dask cluster, one writer here
        from threadline.scale.command import analyze_distributed

        if workers is not None and scheduler is not None:
            raise InputError("give --workers N (a local cluster) or --scheduler URL, not both", where="analyze")
        with (_open_store(db) if store_results else _no_store()) as batch_store:
            analyze_distributed(sources=sources or [], jsonl=jsonl, json_out=json_out, store=batch_store,
                                exclude=list(exclude_source or []), allow_private=allow_private,
                                fail_fast=fail_fast, workers=workers, scheduler=scheduler, redo=redo,
                                tlp=level, known=use_known)
        return
    kb = load_kb()
    excluded = list(exclude_source or [])
    store = _open_store(db) if store_results else None
    try:
        known = known_links(kb, store) if use_known else None
        if jsonl:
            def handle(record: dict[str, Any]) -> dict[str, Any]:
                text = record_text(record, jsonl)
                doc = Document(text=text, source=record_field(record, "source", jsonl) or f"jsonl:{record['id']}",
                               title=record_field(record, "title", jsonl),
                               published=record_field(record, "published", jsonl))
                mark_tlp([doc], level)
                own = exclude_sources_of(record, where=f"record {record['id']!r}")
                if store is not None:
                    store.save_document(doc)
                result = analyze_document(doc, kb, exclude_sources=[*excluded, *own], known=known)
                if store is not None:
                    _save_analysis(store, result)
                return result

            run_jsonl(jsonl, handle, fail_fast=fail_fast)
            return
        targets = expand_sources(sources or [])
        results: list[dict[str, Any]] = []
        failures = 0
        show = len(targets) > 1 and err_console.is_terminal
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err_console, transient=True, disable=not show) as bar:
            task = bar.add_task("analysing", total=len(targets))
            for target in targets:
                try:
                    if store is not None:
                        outcome = ingest_into(store, target, allow_private=allow_private, tlp=level)
                        docs = outcome.documents
                        if outcome.imported is not None:
                            err_console.print(f"{target}: imported as knowledge ({outcome.imported.total} objects)")
                    else:
                        from threadline.ingest import ingest as read

                        docs = read(target, allow_private=allow_private)
                        mark_tlp(docs, level)
                    _warn_unrecognised_tlp(docs)
                    # a feed's entry that fails is left out with its reason, the other entries go on
                    _, analysed, skipped = analyze_each(docs, kb, exclude_sources=excluded, known=known)
                    for line in skipped:
                        failures += 1
                        print(f"threadline: {line} ({LEFT_OUT})", file=sys.stderr)
                    for result in analysed:
                        if store is not None:
                            _save_analysis(store, result)
                        results.append(result)
                        if not json_out:
                            _summary(result)
                except ThreadlineError as exc:
                    failures += 1
                    print(f"threadline: {exc.one_line()}", file=sys.stderr)   # one line, never wrapped
                bar.advance(task)
        if json_out:
            print_json(results)
        if failures:
            raise typer.Exit(2)
    finally:
        if store is not None:
            store.close()
