"""`threadline iocs SOURCE... [--json]` and `threadline iocs --jsonl FILE|-`: indicators with evidence and flags."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from threadline.cli import app as app
from threadline.cli.common import (
    FailFast,
    console,
    new_table,
    plain,
    print_json,
    record_field,
    record_text,
    run_jsonl,
    shorten,
)
from threadline.cli.ingest import expand_sources
from threadline.errors import InputError
from threadline.extract.iocs import Indicator, document_iocs, extract_iocs
from threadline.model import Document
from threadline.publish.render import defang_generic, defang_value


def _documents(source: str, allow_private: bool) -> list[Document]:
    """Documents of a source (file, URL, feed...), through the ingest stage."""
    from threadline.ingest import ingest

    documents: list[Document] = ingest(source, allow_private=allow_private)
    return documents


def _batch_line(record: dict[str, Any], where: str) -> dict[str, Any]:
    text = record_text(record, where)
    source_url = record_field(record, "url", where)
    return {"iocs": [hit.to_dict() for hit in extract_iocs(text, source_url=source_url)]}


def _show(source: str, hits: list[Indicator]) -> None:
    """The indicators of one document; every cell wraps at any width (the table was wider than 80 columns and lost
    its right side), the supporting sentence is shortened at a word with "…"."""
    title = f"{plain(source)}: {len(hits)} indicators ({sum(1 for h in hits if not h.flags)} unflagged)"
    if not hits:
        console.print(title, highlight=False)
        return
    table = new_table("type", "value (defanged)", "flags", "sentence", title=title, show_lines=True)
    for hit in hits:
        sentence = shorten(hit.sentence.text, 200) if hit.sentence else ""
        table.add_row(hit.type, plain(defang_value(hit.type, hit.value)), ", ".join(hit.flags),
                      plain(defang_generic(sentence)), style="dim" if hit.flags else None)
    console.print(table)


@app.command("iocs")
def iocs(
    sources: Annotated[list[str] | None, typer.Argument(
        help="Report files (text, Markdown, HTML, PDF), folders or URLs.")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout instead of a table.")] = False,
    jsonl: Annotated[str | None, typer.Option(
        "--jsonl", metavar="FILE|-",
        help='Batch: lines {"id", "text"[, "url"]} in (url: where the text was published), '
             'lines {"id", "iocs": [...]} out.')] = None,
    allow_private: Annotated[bool, typer.Option(
        "--allow-private", help="Allow URL sources on private, loopback and link-local addresses.")] = False,
    fail_fast: FailFast = False,
) -> None:
    """Extract indicators of compromise: refanged, normalised, with evidence and false-positive flags."""
    if jsonl is not None:
        if sources:
            raise InputError("give either SOURCE files or --jsonl, not both", where="iocs")
        run_jsonl(jsonl, lambda record: _batch_line(record, jsonl), fail_fast=fail_fast)
        return
    if not sources:
        raise InputError("no SOURCE given (a report file, a URL, or --jsonl FILE|-)", where="iocs")
    results: list[dict[str, Any]] = []
    for source in expand_sources(sources):
        for document in _documents(source, allow_private):
            hits = document_iocs(document)
            if as_json:
                results.append({"source": document.source, "sha256": document.sha256,
                                "iocs": [hit.to_dict() for hit in hits]})
            else:
                _show(document.source, hits)
    if as_json:
        print_json(results)
