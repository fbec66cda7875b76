"""Helpers every command shares: JSON output, JSON-lines batch mode, the Rich console."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from threadline.errors import InputError, ThreadlineError
from threadline.export import FORMATS
from threadline.tlp import LEVELS

console = Console()
err_console = Console(stderr=True)

FailFast = Annotated[bool, typer.Option("--fail-fast", help="Batch: stop at the first bad line (by default each "
                                        "bad line is reported on stderr and the others are processed).")]
TLP_WORDS = ", ".join(LEVELS)       # the TLP 2.0 levels as options spell them (TLP:AMBER and white also read)
# --tlp of the commands that store documents (analyze, ingest).
DocumentTlp = Annotated[str | None, typer.Option(
    "--tlp", help=f"TLP 2.0 marking of the documents: {TLP_WORDS}; default: the report's own front matter, else "
    "clear (a stricter front-matter marking is kept).")]


def plain(value: object) -> str:
    """Untrusted text (a report, imported knowledge) for Rich: its brackets are shown, never read as markup."""
    return escape(str(value))


# A sentence ends at . ! or ? before a space, but not after "e.g" or "i.e" (a mitigation was cut at "(e.g.").
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)[.!?][)\"”’]*(?=\s)")


def shorten(text: str, limit: int) -> str:
    """Text for a terminal, at most about ``limit`` characters: whole sentences when they fit, else whole words,
    and "…" wherever something was left out (a description used to stop mid-sentence with no mark)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, limit + 1)]
    if ends and ends[-1] >= limit // 2:
        return text[:ends[-1]] + " …"
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:(") + "…"


def listing(items: list[str], limit: int) -> str:
    """Items joined by commas, at most ``limit`` of them, saying how many more there are ("+52 more")."""
    shown = ", ".join(items[:limit])
    return shown + (f", +{len(items) - limit} more" if len(items) > limit else "")


def new_table(*columns: str, title: str | None = None, **options: Any) -> Table:
    """A table that fits the screen: every cell wraps (long words fold), none is cropped with "…"."""
    table = Table(title=title, title_justify="left", **options)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def print_json(obj: Any) -> None:
    """Machine output: JSON on stdout, UTF-8, stable key order as built."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def _lines(source: str) -> Iterator[bytes | str]:
    """The raw lines of a JSON-lines file or stdin; bytes where possible, so that one line in a wrong encoding is
    reported on its own instead of ending the batch."""
    if source == "-":
        yield from getattr(sys.stdin, "buffer", sys.stdin)
        return
    path = Path(source)
    if not path.is_file():
        raise InputError("no such file", where=source)
    try:
        with path.open("rb") as handle:
            yield from handle
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc.__class__.__name__})", where=source) from None


def _record(line: bytes | str) -> dict[str, Any] | None:
    """One JSON-lines record, None for a blank line; a bad line raises a one-line error (without its location)."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError("not UTF-8 text") from None
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON ({exc.msg})") from None
    if not isinstance(record, dict) or "id" not in record:
        raise InputError("expected an object with an \"id\"")
    return record


def read_jsonl(source: str) -> Iterator[tuple[int, dict[str, Any] | ThreadlineError]]:
    """(line number, record) for each non-blank line of a JSON-lines file (``-``: stdin); a bad line comes as
    (line number, the error) so that the caller can report it and go on."""
    for number, line in enumerate(_lines(source), 1):
        try:
            record = _record(line)
        except ThreadlineError as exc:
            yield number, exc
            continue
        if record is not None:
            yield number, record


def _at_line(exc: ThreadlineError, source: str, number: int) -> str:
    """``FILE:LINE: problem``; a location the error carries beyond the file itself (a record id) stays in."""
    name = jsonl_name(source)
    where = exc.where or ""
    if where in ("", source, name):
        problem = " ".join(exc.message.split())
    else:
        problem = exc.one_line().removeprefix(f"{name}: ").removeprefix(f"{source}: ")
    return f"{name}:{number}: {problem}"


def jsonl_name(source: str) -> str:
    """How error lines name a batch input: its path, or ``<stdin>``."""
    return "<stdin>" if source == "-" else source


def record_field(record: dict[str, Any], key: str, where: str) -> str | None:
    """An optional string field of a JSONL record; anything else is a one-line error naming the file and the id."""
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise InputError(f"record {record['id']!r}: expected a \"{key}\" string", where=where)
    return value


def record_text(record: dict[str, Any], where: str) -> str:
    """A JSONL record's "text", which every batch command needs: a non-empty string."""
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"record {record['id']!r}: expected a non-empty \"text\" string", where=where)
    return text


def run_jsonl(source: str, handle: Callable[[dict[str, Any]], dict[str, Any]], *, fail_fast: bool = False) -> int:
    """Batch mode shared by every command: one output line ``{"id", ...}`` per good input line, flushed as it goes.

    A bad line (not JSON, no id, a record the command refuses) is one ``FILE:LINE: problem`` line on stderr and the
    batch goes on with the next one; the exit status is then 2 at the end. With ``fail_fast`` the first bad line
    ends the batch, as before. A record's output is built in full before it is written, so stdout never holds half
    of one. Returns the number of records written.
    """
    written = 0
    failed: list[str] = []
    for number, item in read_jsonl(source):
        try:
            if isinstance(item, ThreadlineError):
                raise item
            line = json.dumps({"id": item["id"], **handle(item)}, ensure_ascii=False, default=str) + "\n"
        except ThreadlineError as exc:
            if fail_fast:
                raise type(exc)(_at_line(exc, source, number)) from None
            failed.append(str(number))
            print(f"threadline: {_at_line(exc, source, number)}", file=sys.stderr, flush=True)
            continue
        sys.stdout.write(line)
        sys.stdout.flush()
        written += 1
    if failed:
        if written:     # with nothing written, the error lines already say everything
            lines = ("line " if len(failed) == 1 else "lines ") + listing(failed, 10)
            print(f"threadline: {jsonl_name(source)}: {len(failed)} of {len(failed) + written} records failed "
                  f"({lines}); the others were processed", file=sys.stderr)
        raise typer.Exit(2)
    return written


class BriefFormat(StrEnum):
    """`brief --format`: a choice, so that a wrong value gets the usage error that lists the formats."""

    md = "md"
    html = "html"


# `export --format`, built from the exporters' registry so that a new format is still one entry there.
ExportFormatName = StrEnum("ExportFormatName", {name: name for name in FORMATS})  # type: ignore[misc]


def within_marking(analyses: list[dict[str, Any]], tlp: str | None,
                   db: str | None = None) -> list[tuple[dict[str, Any], int]]:
    """Each analysis as an output of it (a briefing, an export) may carry it, and how many pieces of evidence were
    left out: the output is marked LEVEL, the stricter of ``tlp`` and the analysis's own marking
    (:func:`threadline.export.common.marking`), and must not hold evidence citing a report above LEVEL (its title
    would be read under a lower marking). The cited reports' markings are the store's (``db``, else the ``db``
    setting); a cited report the store does not know is treated as above LEVEL (:mod:`threadline.store.citations`).
    The store is opened only when an analysis marked below red cites a stored one."""
    from threadline.export.common import marking
    from threadline.tlp import RED

    out: list[tuple[dict[str, Any], int]] = []
    store = None
    try:
        for analysis in analyses:
            level = marking(analysis, tlp)
            if level == RED:
                out.append((analysis, 0))
                continue
            from threadline.store.citations import cites_any, stored_markings, withhold_counted

            if not cites_any(analysis):
                out.append((analysis, 0))
                continue
            if store is None:
                from threadline.store import open_store

                store = open_store(db)
            out.append(withhold_counted(analysis, level, stored_markings(store)))
    finally:
        if store is not None:
            store.close()
    return out
