"""What a SOURCE_OR_ID argument stands for, in one place for `brief`, `export`, `publish` and the web app:

- an analysis JSON file, or a folder of them;
- a STIX 2.1 bundle Threadline wrote (imported back to an analysis);
- a report (text, Markdown, HTML, PDF, feed, URL), which is ingested and analysed on the spot (and stored);
- the SHA-256 (or a unique prefix of 7+ hex digits, as `analyze` shows it) of a document analysed earlier, looked
  up in the store.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from threadline.errors import InputError

_HEX_ID = re.compile(r"^[0-9a-fA-F]{7,64}$")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _is_analysis_file(path: Path) -> bool:
    """A ``.json`` file is an analysis or a STIX bundle to read back, never report text to analyse."""
    return path.suffix.lower() == ".json"


def _from_file(path: Path) -> dict[str, Any]:
    from threadline.export.common import check_analysis, read_json_file

    data = read_json_file(path, "an analysis JSON file or a STIX 2.1 bundle")
    if isinstance(data, dict) and data.get("type") == "bundle":
        from threadline.export.stix import analysis_from_bundle

        try:
            data = analysis_from_bundle(data)
        except InputError as exc:
            raise InputError(exc.message, where=str(path)) from None
    return check_analysis(data, str(path))


def _analyse_report(ref: str, *, db: str | None, store: bool, allow_private: bool) -> list[dict[str, Any]]:
    from threadline.analysis import analyze_document
    from threadline.ingest import ingest, ingest_into
    from threadline.knowledge import load_kb
    from threadline.store import open_store
    from threadline.store.analyses import save_analysis

    kb = load_kb()
    if not store:
        return [analyze_document(doc, kb) for doc in ingest(ref, allow_private=allow_private)]
    with open_store(db) as opened:
        outcome = ingest_into(opened, ref, allow_private=allow_private)
        if outcome.imported is not None:
            raise InputError("knowledge (STIX/MISP) was imported, but it is not a report to analyse", where=ref)
        results = []
        for doc in outcome.documents:
            result = analyze_document(doc, kb)
            save_analysis(opened, result)
            results.append(result)
        return results


def load_analyses(refs: list[str], *, db: str | None = None, store: bool = True,
                  allow_private: bool = False) -> list[dict[str, Any]]:
    """The analyses behind SOURCE_OR_ID arguments, in order."""
    from threadline.ingest.source import folder_files
    from threadline.ingest.url import unsupported_scheme

    out: list[dict[str, Any]] = []
    for ref in refs:
        path = Path(ref).expanduser()
        if path.is_dir():
            files = folder_files(path)
            if not files:
                raise InputError("folder holds no files to read", where=ref)
            analyses = [p for p in files if _is_analysis_file(p)]
            if analyses:
                out.extend(_from_file(p) for p in analyses)
            else:
                for p in files:
                    out.extend(_analyse_report(str(p), db=db, store=store, allow_private=allow_private))
        elif path.is_file():
            if _is_analysis_file(path):
                out.append(_from_file(path))
            else:
                out.extend(_analyse_report(ref, db=db, store=store, allow_private=allow_private))
        elif _URL.match(ref):
            if refusal := unsupported_scheme(ref):       # it said "no such file" for ftp:// and file://
                raise refusal
            out.extend(_analyse_report(ref, db=db, store=store, allow_private=allow_private))
        elif _HEX_ID.match(ref):
            out.append(stored_analysis(ref, db=db))
        else:
            raise unsupported_scheme(ref) or InputError("no such file, folder, URL or stored analysis id", where=ref)
    return out


def stored_analysis(ref: str, *, db: str | None = None) -> dict[str, Any]:
    from threadline.store import open_store
    from threadline.store.analyses import get_analysis

    with open_store(db) as opened:
        return get_analysis(opened, ref)


def opened_url(db: str | None) -> str:
    from threadline import settings

    return settings.get("db", db)


def all_stored(*, db: str | None = None) -> list[dict[str, Any]]:
    """Every stored analysis, newest first."""
    from threadline.store import open_store
    from threadline.store.analyses import list_analyses

    with open_store(db) as opened:
        found = list_analyses(opened)
    if not found:
        raise InputError("nothing to publish: the store holds no analyses yet (run `threadline analyze REPORT`)",
                         where=opened_url(db))
    return found
