"""`threadline brief` and `threadline publish`: briefings in the seed's shape, and the static site of them all."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from threadline import settings
from threadline.cli import app
from threadline.cli.common import TLP_WORDS, BriefFormat, within_marking
from threadline.errors import InputError
from threadline.export.common import write_atomic
from threadline.tlp import CLEAR, LEVELS, RED, label, parse_option

if TYPE_CHECKING:
    from threadline.knowledge.base import KnowledgeBase


def load_analyses(refs: list[str], db: str | None = None) -> list[dict[str, Any]]:
    """The analyses behind SOURCE_OR_ID arguments (files, folders, reports, stored ids); all stored ones if none."""
    from threadline.resolve import all_stored
    from threadline.resolve import load_analyses as resolve

    return resolve(refs, db=db) if refs else all_stored(db=db)


def _kb(no_kb: bool) -> KnowledgeBase | None:
    if no_kb:
        return None
    from threadline.knowledge import load_kb

    return load_kb()


@app.command("brief")
def brief_command(
    sources: Annotated[list[str], typer.Argument(
        metavar="SOURCE_OR_ID",
        help="Reports (analysed on the spot), stored document ids, analysis JSON files or folders.")],
    fmt: Annotated[BriefFormat, typer.Option("--format", "-f", case_sensitive=False, help="Markdown or HTML.")
                   ] = BriefFormat.md,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to FILE (one source) or into DIR (several)."
                                             )] = None,
    tlp: Annotated[str | None, typer.Option("--tlp", help=f"TLP 2.0 marking ({TLP_WORDS}); raises the analysis's "
                                            "own marking, never lowers it.")] = None,
    no_kb: Annotated[bool, typer.Option("--no-kb", help="Leave out history and mitigations from the knowledge base."
                                        )] = False,
) -> None:
    """A briefing in the seed's shape: details, the campaign, a pinch of history, stay safe, all things considered."""
    from threadline.publish.brief import build_brief, render_brief

    level = parse_option(tlp) if tlp is not None else None
    # A briefing marked LEVEL holds no evidence citing a report above LEVEL, and says how many pieces it left out.
    analyses = within_marking(load_analyses(sources), level)
    kb = _kb(no_kb)
    texts = [(b.id, render_brief(b, fmt)) for b in (build_brief(a, kb, tlp=level, withheld=n) for a, n in analyses)]
    if len(texts) == 1:
        if out is None:
            sys.stdout.write(texts[0][1])
        else:
            write_atomic(out, texts[0][1])
        return
    # Several briefings: one file each in a folder (footnote numbers and HTML pages do not concatenate).
    if out is None:
        raise InputError(f"{len(texts)} briefings need --out DIR (one file each)", where="brief")
    if out.exists() and not out.is_dir():
        raise InputError("several briefings need a folder, and this is a file", where=str(out))
    out.mkdir(parents=True, exist_ok=True)
    for brief_id, text in texts:
        write_atomic(out / f"{brief_id}.{fmt}", text)
    sys.stdout.write(f"{len(texts)} briefings written to {out}\n")


@app.command("publish")
def publish_command(
    sources: Annotated[list[str] | None, typer.Argument(
        metavar="[SOURCE_OR_ID]...", help="What to publish; default: every analysis in the store.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL or SQLite path (env THREADLINE_DB).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The site's folder (replaced as a whole).")] = Path("site"),
    tlp: Annotated[str | None, typer.Option("--tlp", help="TLP marking for every briefing, where stricter "
                                            "than the analysis's own (a marking is never lowered).")] = None,
    clearance: Annotated[str | None, typer.Option(
        "--clearance", metavar="LEVEL", help=f"Keep out every analysis marked above LEVEL ({TLP_WORDS}), and the "
        "evidence citing one, as the web app does for a reader with that clearance (env "
        "THREADLINE_PUBLISH_CLEARANCE); default red: every analysis, whatever its marking.")] = None,
    no_kb: Annotated[bool, typer.Option("--no-kb", help="Build without the knowledge base.")] = False,
) -> None:
    """A static site: listing page (newest first, filterable), briefings, actors, techniques, ATT&CK heatmap; then
    the markings it holds (whoever can open its folder reads every briefing in it)."""
    from threadline.publish.site import check_clearance, cites_stored, publish, summary

    level = parse_option(tlp) if tlp is not None else None
    ceiling = settings.get_level("publish_clearance", clearance)
    check_clearance(level, ceiling)          # before reports are analysed
    analyses = load_analyses(sources or [], db)
    if ceiling != RED and cites_stored(analyses):
        # The cited reports' markings come from the store (a report known to neither it nor the site is kept out).
        from threadline.store import open_store
        from threadline.store.citations import stored_markings

        with open_store(db) as opened:
            result = publish(analyses, out, _kb(no_kb), tlp=level, clearance=ceiling,
                             markings=stored_markings(opened))
    else:
        result = publish(analyses, out, _kb(no_kb), tlp=level, clearance=ceiling)
    sys.stdout.write(f"{result['briefings']} briefings, {result['pages']} pages written to {result['out']}/"
                     f"index.html\n{summary(result)}\n")
    above = [label(m) for m in LEVELS if m != CLEAR and result["markings"].get(m)]
    if above and not settings.is_set("publish_clearance", clearance):
        print(f"threadline: warning: the site holds {', '.join(above)} briefings, readable by anyone who can "
              f"open {result['out']}/ (--clearance clear keeps it to TLP:CLEAR)", file=sys.stderr)
