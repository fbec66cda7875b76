"""`threadline techniques` (ATT&CK techniques in reports) and `threadline train techniques` (rebuild the model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from threadline.cli import app
from threadline.cli.common import (
    FailFast,
    console,
    err_console,
    new_table,
    plain,
    print_json,
    record_text,
    run_jsonl,
    shorten,
)
from threadline.cli.ingest import expand_sources
from threadline.errors import InputError
from threadline.model import Page
from threadline.publish.render import defang_generic

train_app = typer.Typer(help="Train the models Threadline ships (deterministic, CPU only).", no_args_is_help=True)
app.add_typer(train_app, name="train")

VENDORED_TRAM = Path(__file__).resolve().parents[1] / "data" / "tram"
# Development data beside a source checkout (not shipped): real reports the procedure model also learns from.
SHARED_ANNOCTR = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "annoctr"


def _documents(source: str, allow_private: bool) -> list[tuple[str, str, list[Page]]]:
    """(label, text, pages) of each document a source holds (file, URL, feed...), through the ingest stage."""
    from threadline.ingest import ingest

    return [(doc.title or doc.source, doc.text, list(doc.pages)) for doc in ingest(source, allow_private=allow_private)]


def _hits(text: str, pages: list[Page] | None = None) -> list[dict[str, Any]]:
    from threadline.extract.techniques import extract_techniques

    return [h.to_dict() for h in extract_techniques(text, pages=pages)]


NONE_FOUND = "no ATT&CK technique found in the text"
INFERRED_NOTE = "{n} more techniques inferred from named software, not from the text"


def _software_of(hit: dict[str, Any]) -> list[str]:
    return [s[9:] for s in hit["sources"] if s.startswith("software")]


def _table(label: str, hits: list[dict[str, Any]], *, list_inferred: bool = False) -> None:
    """The techniques the text supports, strongest first. Techniques inferred from named software (ATT&CK lists
    what a tool can do, not what this actor did: on real reports 0.08 of them are techniques an analyst maps) are
    one summary line unless ``list_inferred``; JSON output keeps them all, flagged ``inferred``."""
    title = f"ATT&CK techniques in {plain(defang_generic(label))}"
    text = [h for h in hits if not h["inferred"]]
    inferred = sorted((h for h in hits if h["inferred"]), key=lambda h: h["id"])
    shown = text + inferred if list_inferred else text
    if not shown:            # an empty table said nothing
        console.print(f"{title}: {NONE_FOUND}", highlight=False)
    else:
        table = new_table("id", "name", "tactics", "score", "evidence", title=title, show_lines=True)
        for hit in sorted(text, key=lambda h: (-float(h["score"]), h["id"])) + (inferred if list_inferred else []):
            first = hit["evidence"][0] if hit["evidence"] else None
            quote = plain(f"“{defang_generic(shorten(first['text'], 220))}”") if first else ""
            if first and first.get("page"):
                quote += f" (p. {first['page']})"
            if hit["inferred"]:
                quote = f"[italic]inferred from {plain(', '.join(_software_of(hit)))}[/italic]: {quote}"
            table.add_row(f"[bold]{hit['id']}[/bold]", plain(hit["name"]), f"[dim]{', '.join(hit['tactics'])}[/dim]",
                          f"{hit['score']:.2f}", quote)
        console.print(table)
    if inferred and not list_inferred:
        software = sorted({name for h in inferred for name in _software_of(h)})
        console.print(f"{INFERRED_NOTE.format(n=len(inferred))} ({plain(shorten(', '.join(software), 160))}); "
                      "--inferred lists them", highlight=False)


@app.command()
def techniques(
    sources: Annotated[list[str] | None, typer.Argument(help="Report files, folders or URLs.")]
    = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    jsonl: Annotated[str | None, typer.Option("--jsonl", help="Batch: JSON lines {id, text} in (FILE or -), "
                                              "{id, techniques} out.")] = None,
    no_inferred: Annotated[bool, typer.Option("--no-inferred", help="Hide techniques inferred from software.")]
    = False,
    list_inferred: Annotated[bool, typer.Option("--inferred", help="List techniques inferred from named software "
                                                "in the table too (by default one summary line).")] = False,
    allow_private: Annotated[bool, typer.Option(
        "--allow-private", help="Allow URL sources on private, loopback and link-local addresses.")] = False,
    fail_fast: FailFast = False,
) -> None:
    """ATT&CK techniques in reports, each with its supporting sentences (or marked inferred from named software)."""
    if jsonl is not None:
        if sources:         # the files were silently ignored
            raise InputError("give either SOURCE files or --jsonl, not both", where="techniques")

        def handle(record: dict[str, Any]) -> dict[str, Any]:
            hits = _hits(record_text(record, jsonl))
            return {"techniques": [h for h in hits if not (no_inferred and h["inferred"])]}

        run_jsonl(jsonl, handle, fail_fast=fail_fast)
        return
    if not sources:
        raise InputError("give report files, or --jsonl FILE|-", where="techniques")
    results: list[dict[str, Any]] = []
    for source in expand_sources(sources):
        for label, text, pages in _documents(source, allow_private):
            hits = [h for h in _hits(text, pages) if not (no_inferred and h["inferred"])]
            results.append({"source": source, "title": label, "techniques": hits})
    if json_out:
        print_json(results if len(results) != 1 else results[0])
        return
    for result in results:
        title = str(result["title"] or "")
        label = result["source"] + (f" ({shorten(title, 100)})" if title and title != result["source"] else "")
        _table(label, result["techniques"], list_inferred=list_inferred)


@train_app.command("techniques")
def train_techniques(
    out: Annotated[Path | None, typer.Option("--out", help="Directory for the model files "
                                             "(default: the package's data/models).")] = None,
    tram: Annotated[Path, typer.Option("--tram", help="TRAM data directory (tram2-reports.jsonl.gz, "
                                       "tram2-classes.txt).")] = VENDORED_TRAM,
    jobs: Annotated[int, typer.Option("--jobs", help="Parallel training jobs (the result does not depend on it).")]
    = 1,
    annoctr: Annotated[Path, typer.Option("--annoctr", help="AnnoCTR data directory (annoctr-train.jsonl.gz, "
                                          "CC-BY-SA 4.0); used when present.")] = SHARED_ANNOCTR,
    reviews: Annotated[Path | None, typer.Option("--reviews", help="Analysts' technique verdicts (JSON lines from "
                                                 "`threadline reviews export`): accepted and corrected sentences "
                                                 "train the procedure model as examples of their technique, "
                                                 "rejected ones as negatives.")] = None,
) -> None:
    """Train the technique models on all 120 TRAM reports + ATT&CK procedure examples (+ AnnoCTR train if present,
    + analysts' reviews with --reviews; fixed seed, ~minutes)."""
    from threadline.extract.techniques import MODEL_DIR
    from threadline.extract.techniques.build import build_models

    target = out or MODEL_DIR
    summary = build_models(tram, target, jobs=jobs, annoctr=annoctr, reviews=reviews, log=err_console.print)
    console.print(f"wrote {', '.join(summary['files'])} to {target}")
