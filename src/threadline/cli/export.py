"""`threadline export`: one analysis out as STIX 2.1, MISP, ATT&CK Navigator, CSV or Sigma."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from threadline.cli import app
from threadline.cli.common import TLP_WORDS, ExportFormatName, within_marking
from threadline.errors import InputError
from threadline.export import FORMATS, get_format
from threadline.export.common import marking, write_atomic
from threadline.tlp import parse_option


def load_source(source: str) -> dict[str, Any]:
    """The analysis behind SOURCE_OR_ID: analysis JSON, a STIX 2.1 bundle, a report (analysed now) or a stored id."""
    from threadline.resolve import load_analyses

    found = load_analyses([source])
    if len(found) != 1:
        raise InputError(f"stands for {len(found)} analyses; export takes one", where=source)
    return found[0]


@app.command("export")
def export_command(
    source: Annotated[str, typer.Argument(
        metavar="SOURCE_OR_ID",
        help="A report (analysed now), a stored document id, an analysis JSON file or a STIX 2.1 bundle.")],
    fmt: Annotated[ExportFormatName, typer.Option("--format", "-f", case_sensitive=False, help=", ".join(
        f"{f.name}: {f.help}" for f in FORMATS.values()) + ".")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (atomically) instead of stdout.")]
    = None,
    tlp: Annotated[str, typer.Option("--tlp", help=f"TLP 2.0 level: {TLP_WORDS}; "
                                     "the analysis's own marking wins where stricter (an export never lowers it).")]
    = "clear",
    no_kb: Annotated[bool, typer.Option("--no-kb", help="Do not enrich from the knowledge base.")] = False,
) -> None:
    """Export an analysis for the tools analysts use: OpenCTI/TAXII, MISP, the Navigator, SIEMs, blocklists."""
    export_format = get_format(str(fmt))
    level = parse_option(tlp)
    # An export marked LEVEL holds no evidence citing a report above LEVEL; how many pieces it left out goes to
    # stderr (the formats are read by machines).
    [(analysis, withheld)] = within_marking([load_source(source)], level)
    kb = None
    if export_format.uses_kb and not no_kb:
        from threadline.knowledge import load_kb

        kb = load_kb()
    text = export_format.exporter()(analysis, kb, tlp=level)   # built in full before anything is written
    if withheld:
        from threadline.store.citations import withheld_line

        print(f"threadline: {source}: {withheld_line(withheld, marking(analysis, level))}", file=sys.stderr)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(out, text)
