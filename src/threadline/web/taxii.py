"""A read-only TAXII 2.1 server under ``/taxii2/``: discovery, one API root, one collection of every report's
STIX 2.1 bundle (the same exporter as `threadline export --format stix`, analysts' reviews applied), objects with
``added_after``, ``match[type]``, ``match[id]`` and ``limit``/``next`` pagination, and the manifest.

Every response is filtered by the reader's clearance (a Bearer API token, or HTTP Basic with a user's password or
token), so OpenCTI, MISP or any TAXII client pulls only what its account may read. An object's ``date_added`` is
when its report was analysed; the ``next`` cursor names the report and the position in its bundle.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from threadline.export.common import stix_time
from threadline.store.models import AnalysisRow
from threadline.web.auth import Who, check_password, principal_of_token
from threadline.web.reviews import readable_analysis
from threadline.web.tlp import Principal

router = APIRouter(prefix="/taxii2")
TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
API_ROOT = "threadline"
COLLECTION = "9f0b6c1e-7f4a-4c59-9a36-5c1d2e7b0a11"      # fixed: clients keep it in their configuration
MAX_PAGE = 1000
_BATCH = 50                                              # analyses read from the store at a time


class _Bundles:
    """STIX objects of an analysis as one reader may read it, cached by (document, analysis time, marking, number
    of reviews, cited reports withheld from the reader): exporting is the slow part of a page, and a client paging
    through a collection asks for the same bundles again. The withheld reports are part of the key, so a bundle
    made for a reader of every marking is never served to one who may not read a report it cites."""

    def __init__(self, size: int = 256) -> None:
        self._cache: OrderedDict[tuple[str, str, str, int, tuple[str, ...]], list[dict[str, Any]]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def objects(self, state: Any, row: AnalysisRow, who: Principal) -> list[dict[str, Any]]:
        from threadline.export.stix import export_stix

        analysis, reviews, withheld = readable_analysis(state.store, row, who, state.kb)
        key = (row.document_id, row.analysed_at.isoformat(), row.tlp, len(reviews), tuple(sorted(withheld)))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        objects: list[dict[str, Any]] = json.loads(export_stix(analysis, state.kb, tlp=row.tlp))["objects"]
        with self._lock:
            self._cache[key] = objects
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return objects


_bundles = _Bundles()


def _taxii(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=TAXII, headers=headers)


def _reader(request: Request, who: Principal) -> Principal:
    """A Bearer token is read by :func:`principal`; TAXII clients often send HTTP Basic instead."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return who
    try:
        name, _, secret = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise HTTPException(status_code=401, detail="malformed Basic credentials") from None
    store = request.app.state.threadline.store
    found = principal_of_token(store, secret) if secret.startswith("tl_") else check_password(store, name, secret)
    if found is None or (found.name != name and not secret.startswith("tl_")):
        raise HTTPException(status_code=401, detail="wrong user name, password or token",
                            headers={"WWW-Authenticate": 'Basic realm="threadline"'})
    return found


def _check_root(api_root: str) -> None:
    if api_root != API_ROOT:
        raise HTTPException(status_code=404, detail="no such API root")


def _check_collection(api_root: str, collection_id: str) -> None:
    _check_root(api_root)
    if collection_id != COLLECTION:
        raise HTTPException(status_code=404, detail="no such collection")


def _collection() -> dict[str, Any]:
    return {"id": COLLECTION, "title": "Threadline reports",
            "description": "STIX 2.1 bundles of the analysed reports you may read (TLP-filtered).",
            "can_read": True, "can_write": False, "media_types": [STIX]}


@router.get("/", summary="TAXII 2.1 discovery")
def discovery(request: Request, who: Who) -> JSONResponse:
    _reader(request, who)
    return _taxii({"title": "Threadline TAXII 2.1", "description": "Read-only intelligence from Threadline",
                   "default": f"/taxii2/{API_ROOT}/", "api_roots": [f"/taxii2/{API_ROOT}/"]})


@router.get("/{api_root}/", summary="TAXII 2.1 API root")
def api_root_info(request: Request, who: Who, api_root: str) -> JSONResponse:
    _reader(request, who)
    _check_root(api_root)
    return _taxii({"title": "Threadline", "versions": [TAXII], "max_content_length": 10 * 1024 * 1024})


@router.get("/{api_root}/collections/", summary="TAXII 2.1 collections")
def collections(request: Request, who: Who, api_root: str) -> JSONResponse:
    _reader(request, who)
    _check_root(api_root)
    return _taxii({"collections": [_collection()]})


@router.get("/{api_root}/collections/{collection_id}/", summary="TAXII 2.1 collection")
def collection(request: Request, who: Who, api_root: str, collection_id: str) -> JSONResponse:
    _reader(request, who)
    _check_collection(api_root, collection_id)
    return _taxii(_collection())


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise HTTPException(status_code=400, detail=f"{name} is not a timestamp") from None


def _cursor(token: str | None) -> tuple[datetime, str, int] | None:
    if not token:
        return None
    try:
        when, doc, index = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        return datetime.fromisoformat(when), str(doc), int(index)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise HTTPException(status_code=400, detail="not a valid next token") from None


def _token(when: datetime, doc: str, index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([when.isoformat(), doc, index]).encode("ascii")).decode("ascii")


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _stream(request: Request, who: Principal, after: datetime | None,
            cursor: tuple[datetime, str, int] | None) -> Iterator[tuple[datetime, str, int, dict[str, Any]]]:
    """(date added, document, index in its bundle, object) over the readable reports, oldest analysis first."""
    state = request.app.state.threadline
    position = (cursor[0], cursor[1]) if cursor else None
    while True:
        with Session(state.store.engine, expire_on_commit=False) as session:
            query = select(AnalysisRow).where(AnalysisRow.tlp.in_(who.levels))
            if after is not None:
                # date_added is shown to the millisecond (cut, not rounded): "after t" starts at the next one.
                query = query.where(AnalysisRow.analysed_at >= _naive(request, after + timedelta(milliseconds=1)))
            if position is not None:
                query = query.where(or_(AnalysisRow.analysed_at > position[0],
                                        and_(AnalysisRow.analysed_at == position[0],
                                             AnalysisRow.document_id >= position[1])))
            rows = list(session.scalars(query.order_by(AnalysisRow.analysed_at, AnalysisRow.document_id)
                                        .limit(_BATCH)))
        for row in rows:
            skip = cursor[2] if cursor and (row.analysed_at, row.document_id) == (cursor[0], cursor[1]) else 0
            for index, obj in enumerate(_bundles.objects(state, row, who)):
                if index >= skip:
                    yield _aware(row.analysed_at), row.document_id, index, obj
        if len(rows) < _BATCH:
            return
        last = rows[-1]
        position = (last.analysed_at, last.document_id + "\x00")      # strictly after the last one read


def _matches(obj: dict[str, Any], types: set[str], ids: set[str]) -> bool:
    return (not types or obj.get("type") in types) and (not ids or obj.get("id") in ids)


def _page(request: Request, who: Principal, added_after: str | None, limit: int, next_token: str | None,
          types: str | None, ids: str | None) -> tuple[list[tuple[datetime, dict[str, Any]]], str | None]:
    after = _parse_time(added_after, "added_after")
    wanted_types = {t.strip() for t in (types or "").split(",") if t.strip()}
    wanted_ids = {t.strip() for t in (ids or "").split(",") if t.strip()}
    out: list[tuple[datetime, dict[str, Any]]] = []
    seen: set[tuple[str, str]] = set()
    for when, doc, index, obj in _stream(request, who, after, _cursor(next_token)):
        if len(out) >= limit:
            return out, _token(when.replace(tzinfo=None) if _naive_store(request) else when, doc, index)
        version = str(obj.get("modified") or obj.get("created") or "")
        if _matches(obj, wanted_types, wanted_ids) and (obj["id"], version) not in seen:
            seen.add((obj["id"], version))          # a shared object (an ATT&CK technique) once per page
            out.append((when, obj))
    return out, None


def _naive(request: Request, when: datetime) -> datetime:
    return when.astimezone(UTC).replace(tzinfo=None) if _naive_store(request) else when


def _naive_store(request: Request) -> bool:
    """SQLite hands timestamps back without a zone; the cursor compares in the store's own terms."""
    return bool(request.app.state.threadline.store.engine.dialect.name == "sqlite")


def _date_headers(items: list[tuple[datetime, dict[str, Any]]]) -> dict[str, str]:
    if not items:
        return {}
    return {"X-TAXII-Date-Added-First": stix_time(items[0][0]), "X-TAXII-Date-Added-Last": stix_time(items[-1][0])}


@router.get("/{api_root}/collections/{collection_id}/objects/", summary="TAXII 2.1 objects of a collection")
def objects(request: Request, who: Who, api_root: str, collection_id: str, added_after: str | None = None,
            limit: int = Query(100, ge=1, le=MAX_PAGE), next: str | None = None,
            match_type: str | None = Query(None, alias="match[type]"),
            match_id: str | None = Query(None, alias="match[id]")) -> JSONResponse:
    reader = _reader(request, who)
    _check_collection(api_root, collection_id)
    items, token = _page(request, reader, added_after, limit, next, match_type, match_id)
    body: dict[str, Any] = {"more": token is not None, "objects": [obj for _, obj in items]}
    if token:
        body["next"] = token
    return _taxii(body, headers=_date_headers(items))


@router.get("/{api_root}/collections/{collection_id}/objects/{object_id}/", summary="TAXII 2.1 one object")
def one_object(request: Request, who: Who, api_root: str, collection_id: str, object_id: str) -> JSONResponse:
    reader = _reader(request, who)
    _check_collection(api_root, collection_id)
    items, _ = _page(request, reader, None, 1, None, None, object_id)
    if not items:
        raise HTTPException(status_code=404, detail="no such object in this collection")
    return _taxii({"more": False, "objects": [items[0][1]]}, headers=_date_headers(items))


@router.get("/{api_root}/collections/{collection_id}/manifest/", summary="TAXII 2.1 manifest of a collection")
def manifest(request: Request, who: Who, api_root: str, collection_id: str, added_after: str | None = None,
             limit: int = Query(100, ge=1, le=MAX_PAGE), next: str | None = None,
             match_type: str | None = Query(None, alias="match[type]"),
             match_id: str | None = Query(None, alias="match[id]")) -> JSONResponse:
    reader = _reader(request, who)
    _check_collection(api_root, collection_id)
    items, token = _page(request, reader, added_after, limit, next, match_type, match_id)
    records = [{"id": obj["id"], "date_added": stix_time(when),
                "version": str(obj.get("modified") or obj.get("created") or stix_time(when)), "media_type": STIX}
               for when, obj in items]
    body: dict[str, Any] = {"more": token is not None, "objects": records}
    if token:
        body["next"] = token
    return _taxii(body, headers=_date_headers(items))
