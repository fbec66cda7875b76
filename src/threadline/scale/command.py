"""`threadline analyze --workers N | --scheduler tcp://HOST:PORT`: the batch on a Dask cluster, as the command
line shows it (a progress bar with documents per second and the time left, the dashboard's address, one line per
failure, a summary), with the same outputs as a run in one process."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import typer

from threadline.cli.common import err_console, print_json, read_jsonl, record_field, record_text
from threadline.errors import InputError, ThreadlineError
from threadline.scale.items import RECORD, Item, record_item, source_item
from threadline.scale.runner import Summary, connect, run
from threadline.scale.work import Result


def jsonl_items(source: str, fail_fast: bool) -> tuple[list[Item], list[str]]:
    """Records of a JSONL batch as items (checked here, as one process checks them); bad lines as messages."""
    from threadline.attribute.observations import exclude_sources_of
    from threadline.cli.common import _at_line

    items: list[Item] = []
    bad: list[str] = []
    for number, record in read_jsonl(source):
        try:
            if isinstance(record, ThreadlineError):
                raise record
            fields = {"id": record["id"], "text": record_text(record, source),
                      "title": record_field(record, "title", source),
                      "source": record_field(record, "source", source) or f"jsonl:{record['id']}",
                      "published": record_field(record, "published", source)}
            own = exclude_sources_of(record, where=f"record {record['id']!r}")
            items.append(record_item(record, fields, f"{source}:{number}", own))
        except ThreadlineError as exc:
            if fail_fast:
                raise type(exc)(_at_line(exc, source, number)) from None
            bad.append(f"threadline: {_at_line(exc, source, number)}")
    return items, bad


def _progress(total: int) -> tuple[Any, Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), TimeElapsedColumn(),
                   console=err_console, transient=True, disable=not err_console.is_terminal,
                   # redrawn twice a second, not ten times: each redraw is ~1 ms of the client's CPU (1.9% of a
                   # core at 10 a second, 0.5% at 2), on the cores the workers need
                   refresh_per_second=2)
    return bar, bar.add_task("analysing", total=total, rate="")


def analyze_distributed(*, sources: Sequence[str], jsonl: str | None, json_out: bool, store: Any,
                        exclude: Sequence[str], allow_private: bool, fail_fast: bool, workers: int | None,
                        scheduler: str | None, redo: bool, tlp: str | None = None, known: bool = False) -> None:
    """Run the batch and print what `analyze` prints; exit status 2 when an input failed. ``tlp``: the marking
    ``--tlp`` gives the documents (a stricter one of their own is kept); ``known``: attribute also with the store's
    group links, read once here (as `analyze` without a cluster does)."""
    import dataclasses

    from threadline.analysis import LEFT_OUT
    from threadline.cli.ingest import expand_sources

    bad: list[str] = []
    if jsonl:
        items, bad = jsonl_items(jsonl, fail_fast)
    else:
        items = [source_item(s, ship=bool(scheduler) or s == "-") for s in expand_sources(list(sources))]
    if tlp is not None:
        items = [dataclasses.replace(item, tlp=tlp) for item in items]
    for line in bad:
        print(line, file=sys.stderr, flush=True)
    collected: list[dict[str, Any]] = []
    bar, task = _progress(len(items))

    def on_result(item: Item, result: Result) -> None:
        if result.error is not None:
            bar.console.print(f"threadline: {result.error}", markup=False, highlight=False, soft_wrap=True)
            if fail_fast:
                raise InputError(result.error)
            return
        for line in result.left_out:
            bar.console.print(f"threadline: {line} ({LEFT_OUT})", markup=False,
                              highlight=False, soft_wrap=True)
        if item.kind == RECORD:
            for analysis in result.analyses:
                sys.stdout.write(json.dumps({"id": item.record["id"], **analysis}, ensure_ascii=False,
                                            default=str) + "\n")
                sys.stdout.flush()
        elif json_out:
            collected.extend(result.analyses)
        else:           # the analyses' JSON is not decoded for a line each
            for p in result.prepared:
                print(f"{p.document_id}  {' '.join(str(p.title or p.source).split())[:100]}", flush=True)

    started = time.perf_counter()
    shared = None
    if known and store is not None:
        from threadline.attribute.known import stored_known

        shared = stored_known(store)

    def on_progress(summary: Summary) -> None:
        elapsed = time.perf_counter() - started
        rate = f"{summary.analysed / elapsed:.1f} docs/s" if elapsed > 0 else ""
        bar.update(task, completed=summary.skipped + summary.analysed, rate=rate)

    with connect(workers, scheduler) as client, bar:
        from threadline.scale.runner import dashboard_of

        link = dashboard_of(client)
        if link:
            bar.console.print(f"dashboard: {link}", markup=False, highlight=False)
        summary = run(items, store=store, client=client, exclude=exclude, allow_private=allow_private,
                      redo=redo, on_result=on_result, on_progress=on_progress, known=shared)
    if json_out and not jsonl:
        print_json(collected)
    rate = summary.analysed / summary.seconds if summary.seconds > 0 else 0.0
    line = (f"analysed {summary.analysed} of {summary.total} inputs ({summary.documents} documents) on "
            f"{summary.workers} worker{'s' if summary.workers != 1 else ''} in {summary.seconds:.1f} s "
            f"({rate:.1f} inputs/s)")
    if summary.skipped:
        line += f"; {summary.skipped} already committed by an earlier run, skipped (--redo analyses them again)"
    if summary.failed:
        line += f"; {len(summary.failed)} failed"
    print(f"threadline: {line}", file=sys.stderr)
    if summary.failed or bad:
        raise typer.Exit(2)
