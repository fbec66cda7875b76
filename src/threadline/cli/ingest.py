"""`threadline ingest SOURCE...`: store documents (text, Markdown, HTML, PDF, URLs, feeds), import STIX/MISP."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from threadline.cli import app
from threadline.cli.common import DocumentTlp, console, err_console, print_json
from threadline.errors import InputError, ThreadlineError

if TYPE_CHECKING:
    from threadline.ingest.pipeline import Outcome

def expand_sources(sources: list[str]) -> list[str]:
    """A folder stands for the regular files under it (sorted, hidden ones skipped); other sources as given."""
    from threadline.ingest.source import folder_files

    out: list[str] = []
    for source in sources:
        path = Path(source).expanduser()
        if not source.lower().startswith(("http://", "https://")) and source != "-" and path.is_dir():
            # An empty folder stays a source of its own, so that it fails on its own and the others go on.
            out += [str(p) for p in folder_files(path)] or [source]
        else:
            out.append(source)
    return out


def _describe(outcome: Outcome) -> list[str]:
    if outcome.imported is not None:
        r = outcome.imported
        types = ", ".join(f"{name} {count}" for name, count in r.by_type.items())
        label = "STIX objects" if outcome.kind == "stix" else "MISP items"
        return [f"imported {r.total} {label} from {outcome.source}: {len(r.added)} new, {len(r.updated)} updated, "
                f"{len(r.unchanged)} unchanged ({types})"]
    lines = []
    by_sha = {d.sha256: d for d in outcome.documents}
    for saved in outcome.saved:
        doc = by_sha[saved.sha256]
        status = "stored        " if saved.stored else "already stored"
        size = f"{len(doc.text)} chars" + (f", {len(doc.pages)} pages" if doc.pages else "")
        title = f"  {doc.title}" if doc.title else ""
        lines.append(f"{status} {saved.sha256[:12]}  {doc.media_type}, {size}{title}  <- {saved.source}")
        if "warning" in doc.metadata:
            lines.append(f"  warning: {doc.metadata['warning']}")
    return lines


@app.command()
def ingest(
    sources: Annotated[list[str], typer.Argument(
        metavar="SOURCE",
        help="Files, folders, URLs or - (stdin): text, Markdown, HTML, PDF, RSS/Atom, STIX 2.x, MISP JSON.")],
    db: Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path (env THREADLINE_DB).")] = None,
    allow_private: Annotated[bool, typer.Option(
        "--allow-private", help="Allow URLs on private, loopback and link-local addresses.")] = False,
    tlp: DocumentTlp = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Store each SOURCE once (same content again says "already stored"); STIX and MISP are imported as knowledge.

    A source that cannot be read gets one error line and the others go on; the exit code is then 2.
    """
    # Imported here so that other commands do not pay for trafilatura, pypdf and the store at start-up.
    from threadline.ingest import ingest_into
    from threadline.store import open_store
    from threadline.tlp import parse_option

    level = parse_option(tlp) if tlp is not None else None
    targets = expand_sources(sources)
    results: list[dict[str, Any]] = []
    failures = 0
    with open_store(db) as store, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, transient=True,
            disable=len(targets) < 3 or not err_console.is_terminal) as progress:
        task = progress.add_task("ingesting", total=len(targets))
        for source in targets:
            progress.update(task, description=f"ingesting {source[-40:]}")
            try:
                outcome = ingest_into(store, source, allow_private=allow_private, tlp=level)
            except ThreadlineError as exc:
                failures += 1
                results.append({"source": source, "error": exc.one_line()})
                if not json_out:
                    progress.console.print(f"threadline: {exc.one_line()}", markup=False, highlight=False,
                                           soft_wrap=True)
            else:
                results.append(outcome.to_dict())
                if not json_out:
                    for line in _describe(outcome):
                        console.print(line, markup=False, highlight=False, soft_wrap=True)
            progress.advance(task)
    if json_out:
        print_json(results)
    if failures and len(targets) == 1 and not json_out:
        raise typer.Exit(2)       # the one source's error line already says it all
    if failures:
        # Raised as an error so that the shared main() prints the summary and exits with 2.
        raise InputError(f"{failures} of {len(targets)} sources could not be ingested (see above)"
                         if not json_out else f"{failures} of {len(targets)} sources could not be ingested",
                         where="ingest")
