"""The review loop: an analyst accepts, rejects or corrects an extracted item; the verdict is stored with who and
when, and overrides the machine wherever the analysis is read (briefing, JSON, every export, TAXII), because
every reader goes through :func:`reviewed_analysis`. Technique verdicts export as training data (JSON lines)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from threadline.errors import InputError
from threadline.publish.render import is_technique_id
from threadline.store.models import AnalysisRow, FindingRow, ReviewRow
from threadline.store.repository import Store
from threadline.web import queries
from threadline.web.auth import Who, require_csrf
from threadline.web.document import item_key

router = APIRouter()
ACTIONS = ("accept", "reject", "correct")
# kind shown -> (analysis key, findings kind, the field a correction replaces)
KINDS: dict[str, tuple[str, str, str]] = {
    "technique": ("techniques", "technique", "id"), "actor": ("actors", "actor", "name"),
    "indicator": ("iocs", "ioc", "value"), "country": ("countries", "country", "code"),
    "sector": ("sectors", "sector", "name"), "software": ("software", "software", "name"),
    "campaign": ("campaigns", "campaign", "name"), "region": ("regions", "region", "name"),
    "claim": ("claims", "claim", "actor"), "date": ("dates", "date", "date"),
}


def _latest(rows: list[ReviewRow]) -> dict[tuple[str, str], ReviewRow]:
    out: dict[tuple[str, str], ReviewRow] = {}
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        out[(row.kind, row.key)] = row
    return out


def _as_dict(row: ReviewRow) -> dict[str, Any]:
    return {"kind": row.kind, "key": row.key, "action": row.action, "value": row.value, "by": row.reviewer,
            "at": row.created_at.isoformat() if row.created_at else None}


def apply_reviews(analysis: dict[str, Any], reviews: list[ReviewRow], kb: Any = None) -> dict[str, Any]:
    """A copy of the analysis with the latest verdict on each item applied: rejected items removed, corrected
    ones changed, accepted ones marked; every reviewed item carries ``review`` (who, when, what)."""
    if not reviews:
        return analysis
    out = copy.deepcopy(analysis)
    for (kind, key), row in _latest(reviews).items():
        field, _, target = KINDS[kind]
        kept = []
        for item in out.get(field) or []:
            if not isinstance(item, dict) or item_key(kind, item) != key:
                kept.append(item)
                continue
            if row.action == "reject":
                continue
            if row.action == "correct" and row.value:
                item[target] = row.value
                if kind == "technique":
                    found = kb.by_attack_id.get(row.value) if kb is not None else None
                    item["name"] = str(getattr(found, "name", None) or row.value)
                    item.pop("inferred", None)
                if kind == "indicator":
                    item.pop("defanged", None)
            item["review"] = _as_dict(row)
            kept.append(item)
        out[field] = kept
    return out


def reviews_of(store: Store, document_id: str) -> list[ReviewRow]:
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.scalars(select(ReviewRow).where(ReviewRow.document_id == document_id)
                                    .order_by(ReviewRow.created_at, ReviewRow.id)))


def reviewed_analysis(store: Store, row: AnalysisRow, kb: Any = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The analysis as people should read it (the machine's, with analysts' verdicts applied) and the verdicts."""
    rows = reviews_of(store, row.document_id)
    return apply_reviews(dict(row.data), rows, kb), [_as_dict(r) for r in rows]


def save_review(store: Store, document_id: str, kind: str, key: str, action: str, value: str | None,
                reviewer: str) -> None:
    """Store a verdict and bring the findings index (listing filters, actor and technique pages) in line."""
    if kind not in KINDS or action not in ACTIONS:
        raise InputError(f"unknown review ({kind} {action})", where="review")
    value = (value or "").strip() or None
    if action == "correct":
        if value is None:
            raise InputError("a correction needs the corrected value", where=key)
        if kind == "technique":
            value = value.upper()
            if not is_technique_id(value):
                raise InputError("not an ATT&CK technique id (T1234 or T1234.001)", where=value)
    finding_kind = KINDS[kind][1]
    with Session(store.engine) as session, session.begin():
        session.add(ReviewRow(document_id=document_id, kind=kind, key=key[:400], action=action, value=value,
                              reviewer=reviewer, created_at=datetime.now(UTC)))
        matching = (FindingRow.document_id == document_id, FindingRow.kind == finding_kind, FindingRow.key == key)
        if action == "reject":
            session.execute(delete(FindingRow).where(*matching))
        elif action == "correct" and kind in ("technique", "actor", "country", "sector", "indicator"):
            new_key = value if kind != "indicator" else f"{key.split(':', 1)[0]}:{value}"
            session.execute(update(FindingRow).where(*matching).values(key=new_key, inferred=False))


@router.post("/reports/{ref}/review", summary="Accept, reject or correct an extracted item (analysts)")
def review(request: Request, who: Who, ref: str, kind: str = Form(...), key: str = Form(..., max_length=400),
           action: str = Form(...), value: str = Form("", max_length=400), csrf: str = Form(""),
           ) -> Response:
    require_csrf(request, csrf)
    if not who.can_review:
        from fastapi import HTTPException

        raise HTTPException(status_code=403, detail="reviewing needs an analyst or admin account")
    store = request.app.state.threadline.store
    row = queries.analysis_row(store, who, ref)
    save_review(store, row.document_id, kind, key, action, value, who.name or "?")
    return RedirectResponse(f"/reports/{row.document_id}#items", status_code=303)


def training_records(store: Store, levels: tuple[str, ...] | list[str] | None = None) -> list[dict[str, Any]]:
    """One record per reviewed technique sentence (of reports at ``levels``; None: every report): the sentence,
    the technique the analyst settled on (or the one rejected), the verdict, the machine's technique, the report,
    its TLP marking and the reviewer. The latest verdict on an item wins. The web's ``/reviews/training.jsonl`` and
    ``threadline reviews export`` both give these; ``threadline train techniques --reviews`` reads them."""
    query = (select(ReviewRow, AnalysisRow.data, AnalysisRow.tlp)
             .join(AnalysisRow, AnalysisRow.document_id == ReviewRow.document_id)
             .where(ReviewRow.kind == "technique").order_by(ReviewRow.created_at, ReviewRow.id))
    if levels is not None:
        query = query.where(AnalysisRow.tlp.in_(list(levels)))
    with Session(store.engine) as session:
        rows = session.execute(query).all()
    latest: dict[tuple[str, str], ReviewRow] = {}
    for review_row, _, _ in rows:                    # oldest first: the last verdict on an item wins
        latest[(review_row.document_id, review_row.key)] = review_row
    data = {r.document_id: d for r, d, _ in rows}
    marking = {r.document_id: t for r, _, t in rows}
    lines: list[dict[str, Any]] = []
    for (doc_id, key), review_row in latest.items():
        label = review_row.value if review_row.action == "correct" else key
        for t in data[doc_id].get("techniques") or []:
            if t.get("id") == key:
                lines += [{"text": ev.get("text"), "technique": label, "verdict": review_row.action,
                           "machine": key, "document": doc_id, "tlp": marking[doc_id], "by": review_row.reviewer}
                          for ev in t.get("evidence") or [] if isinstance(ev, dict) and ev.get("text")]
    return lines


def as_jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in records)


@router.get("/reviews/training.jsonl", summary="Analysts' technique verdicts as training data (JSON lines)")
def training(request: Request, who: Who) -> Response:
    """One line per reviewed technique sentence of a report the reader may see: the sentence, the technique
    the analyst settled on (or the one rejected) and the verdict, for `threadline train techniques --reviews`."""
    records = training_records(request.app.state.threadline.store, list(who.levels))
    return Response(as_jsonl(records), media_type="application/x-ndjson")
