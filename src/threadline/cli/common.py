"""Helpers every command shares: JSON output, JSON-lines batch mode, the Rich console."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.markup import escape

from threadline.errors import InputError

console = Console()
err_console = Console(stderr=True)


def plain(value: object) -> str:
    """Untrusted text (a report, imported knowledge) for Rich: its brackets are shown, never read as markup."""
    return escape(str(value))


def print_json(obj: Any) -> None:
    """Machine output: JSON on stdout, UTF-8, stable key order as built."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def _open(source: str) -> IO[str]:
    if source == "-":
        return sys.stdin
    path = Path(source)
    if not path.is_file():
        raise InputError("no such file", where=source)
    return path.open(encoding="utf-8", errors="strict")


def read_jsonl(source: str) -> Iterator[dict[str, Any]]:
    """Records of a JSON-lines file (or ``-`` for stdin); a bad line raises an error naming its line number."""
    handle = _open(source)
    name = "<stdin>" if source == "-" else source
    try:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"line {number}: not JSON ({exc.msg})", where=name) from None
            if not isinstance(record, dict) or "id" not in record:
                raise InputError(f"line {number}: expected an object with an \"id\"", where=name)
            yield record
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", where=name) from None
    finally:
        if handle is not sys.stdin:
            handle.close()


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


def run_jsonl(source: str, handle: Callable[[dict[str, Any]], dict[str, Any]]) -> int:
    """Batch mode shared by every command: one output line ``{"id", ...}`` per input line, flushed as it goes."""
    count = 0
    for record in read_jsonl(source):
        out = {"id": record["id"], **handle(record)}
        sys.stdout.write(json.dumps(out, ensure_ascii=False, default=str) + "\n")
        count += 1
    sys.stdout.flush()
    return count
