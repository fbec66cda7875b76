"""The review loop: an analyst accepts, rejects or corrects an extracted item; the verdict is stored with who and
when, and overrides the machine wherever the analysis is read (briefing, JSON, every export, TAXII), because
every reader goes through :func:`reviewed_analysis`. Technique verdicts export as training data (JSON lines)."""

from __future__ import annotations

import copy
import json
import re
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
from threadline.web.citations import withhold_citations
from threadline.web.document import item_key
from threadline.web.tlp import Principal

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


COUNTRY_ROLES = ("targeted", "origin", "mentioned")
_GROUP_ID = re.compile(r"^[GS]\d{4}$")


def _entity(index: Any, kb: Any, value: str, prefix: str) -> str | None:
    """The one knowledge-base entity a corrected name (or ATT&CK id) stands for, if one."""
    if kb is None:
        return None
    if _GROUP_ID.match(value.upper()) and value.upper().startswith(prefix) and value.upper() in kb.by_attack_id:
        return value.upper()
    return index.resolve(value).unique  # type: ignore[no-any-return]


def correction(kind: str, value: str, kb: Any = None) -> dict[str, Any]:
    """The fields a correction to ``value`` sets on an item of ``kind`` (None: the field is removed), so that what
    every view and export reads of the item follows it: a technique's name, an actor's or a claim's ATT&CK id, a
    country's role ("targeted", "origin", "mentioned") or its code and name."""
    if kind == "technique":
        found = kb.by_attack_id.get(value) if kb is not None else None
        return {"id": value, "name": str(getattr(found, "name", None) or value), "inferred": None}
    if kind in ("actor", "claim"):
        entity = _entity(kb.actors if kb is not None else None, kb, value, "G")
        gid = entity if entity and not entity.startswith("misp:") else None
        fields = {"attack_id": gid, "entity": entity or value}
        if kind == "claim":
            return {**fields, "actor": value}
        return {**fields, "name": kb.entity_name(entity) if entity else value}
    if kind == "software":
        sid = _entity(kb.software_names if kb is not None else None, kb, value, "S")
        return {"attack_id": sid, "name": kb.by_attack_id[sid].name if sid else value}
    if kind == "country":
        if value.lower() in COUNTRY_ROLES:
            return {"role": value.lower()}
        names = {c.code.upper(): c.value for c in kb.galaxies.countries if c.code} if kb is not None else {}
        return {"code": value.upper(), "name": names.get(value.upper(), value.upper())}
    if kind == "indicator":
        return {"value": value, "defanged": None}
    return {KINDS[kind][2]: value}


def apply_reviews(analysis: dict[str, Any], reviews: list[ReviewRow], kb: Any = None) -> dict[str, Any]:
    """A copy of the analysis with the latest verdict on each item applied: rejected items removed, corrected
    ones changed (:func:`correction`), accepted ones marked; every reviewed item carries ``review`` (who, when,
    what)."""
    if not reviews:
        return analysis
    out = copy.deepcopy(analysis)
    for (kind, key), row in _latest(reviews).items():
        field = KINDS[kind][0]
        kept = []
        for item in out.get(field) or []:
            if not isinstance(item, dict) or item_key(kind, item) != key:
                kept.append(item)
                continue
            if row.action == "reject":
                continue
            if row.action == "correct" and row.value:
                for name, new in correction(kind, row.value, kb).items():
                    if new is None:
                        item.pop(name, None)
                    else:
                        item[name] = new
            item["review"] = _as_dict(row)
            kept.append(item)
        out[field] = kept
    return out


def reviews_of(store: Store, document_id: str) -> list[ReviewRow]:
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.scalars(select(ReviewRow).where(ReviewRow.document_id == document_id)
                                    .order_by(ReviewRow.created_at, ReviewRow.id)))


def reviewed_analysis(store: Store, row: AnalysisRow, who: Principal, kb: Any = None
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The analysis as ``who`` should read it (the machine's, with analysts' verdicts applied, and without the
    evidence that cites a stored report ``who`` may not read) and the verdicts."""
    analysis, reviews, _ = readable_analysis(store, row, who, kb)
    return analysis, reviews


def readable_analysis(store: Store, row: AnalysisRow, who: Principal, kb: Any = None
                      ) -> tuple[dict[str, Any], list[dict[str, Any]], set[str]]:
    """:func:`reviewed_analysis` and the ids of the cited reports withheld from ``who`` (a cache key part)."""
    rows = reviews_of(store, row.document_id)
    analysis, withheld = withhold_citations(store, who, dict(row.data))
    return apply_reviews(analysis, rows, kb), [_as_dict(r) for r in rows], withheld


def save_review(store: Store, document_id: str, kind: str, key: str, action: str, value: str | None,
                reviewer: str, kb: Any = None) -> None:
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
        if kind == "country" and value.lower() not in COUNTRY_ROLES and not re.fullmatch(r"[A-Za-z]{2}", value):
            raise InputError("a country's role (targeted, origin or mentioned) or its two-letter ISO code",
                             where=value)
    finding_kind = KINDS[kind][1]
    with Session(store.engine) as session, session.begin():
        session.add(ReviewRow(document_id=document_id, kind=kind, key=key[:400], action=action, value=value,
                              reviewer=reviewer, created_at=datetime.now(UTC)))
        matching = (FindingRow.document_id == document_id, FindingRow.kind == finding_kind, FindingRow.key == key)
        if action == "reject":
            session.execute(delete(FindingRow).where(*matching))
        elif action == "correct" and value is not None:
            # the key the corrected item is found by (a G-id for a known actor's name, the new code of a country)
            item: dict[str, Any] = {"type": key.split(":", 1)[0]} if kind == "indicator" else {}
            item.update({k: v for k, v in correction(kind, value, kb).items() if v is not None})
            new_key = item_key(kind, item) if kind != "country" or "code" in item else key
            changes: dict[str, Any] = {"key": new_key[:400], "inferred": False}
            label = item.get("actor") if kind == "claim" else item.get("name")
            if label and kind not in ("technique", "indicator", "date"):
                changes["label"] = str(label)
            session.execute(update(FindingRow).where(*matching).values(**changes))


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
    save_review(store, row.document_id, kind, key, action, value, who.name or "?", request.app.state.threadline.kb)
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
