"""Storing analyses with provenance: the analysis JSON, and one finding row per item and supporting sentence.

Re-analysing a document replaces its analysis and findings in one transaction, so running twice is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from threadline.errors import NotFoundError, StoreError
from threadline.model import deterministic_id
from threadline.store.models import AnalysisRow, DocumentRow, FindingRow, GroupLinkRow
from threadline.store.repository import Store, by_id_or_prefix
from threadline.tlp import Level, normalise, stricter

if TYPE_CHECKING:
    from threadline.knowledge import KnowledgeBase

# (analysis key, kind stored, how to key an item): what becomes a finding.
_KINDS: tuple[tuple[str, str], ...] = (
    ("actors", "actor"), ("campaigns", "campaign"), ("software", "software"), ("sectors", "sector"),
    ("countries", "country"), ("regions", "region"), ("techniques", "technique"), ("iocs", "ioc"),
    ("claims", "claim"), ("dates", "date"),
)


def finding_key(kind: str, item: dict[str, Any]) -> str:
    """The key a finding of ``kind`` (as stored: "ioc" for indicators) is filed and looked up by; reviews refer to
    items by it too."""
    if kind == "technique":
        return str(item["id"])
    if kind == "ioc":
        return f"{item['type']}:{item['value']}"
    if kind == "country":
        return str(item.get("code") or item.get("name"))
    if kind == "date":
        return str(item.get("date"))
    if kind == "claim":
        return str(item.get("attack_id") or item.get("actor"))
    return str(item.get("attack_id") or item.get("name"))


def _evidence(kind: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    if kind == "ioc":
        sentence = item.get("sentence")
        return [sentence] if isinstance(sentence, dict) else []
    return [e for e in item.get("evidence") or [] if isinstance(e, dict)]


def findings_of(document_id: str, analysis: dict[str, Any]) -> Iterator[FindingRow]:
    """One row per (item, supporting sentence); an item without evidence still gets one row (e.g. inferred)."""
    for values in finding_values(document_id, analysis):
        yield FindingRow(**values)


def finding_values(document_id: str, analysis: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """:func:`findings_of` as plain column values, for bulk INSERTs (store/batches.py) and for workers that
    prepare them away from the single writer."""
    seen: set[str] = set()
    for field, kind in _KINDS:
        for item in analysis.get(field) or []:
            key = finding_key(kind, item)[:400]
            label = item.get("name") or item.get("actor") or item.get("text") or item.get("value")
            for ev in _evidence(kind, item) or [{}]:
                row_id = deterministic_id("finding", document_id, kind, key, str(ev.get("start")))
                if row_id in seen:
                    continue
                seen.add(row_id)
                yield {"id": row_id, "document_id": document_id, "kind": kind, "key": key,
                       "label": str(label) if label else None, "sentence": ev.get("text"), "start": ev.get("start"),
                       "end": ev.get("end"), "page": ev.get("page"), "inferred": bool(item.get("inferred"))}


def link_rows(document_id: str, analysis: dict[str, Any], kb: KnowledgeBase | None = None) -> list[dict[str, Any]]:
    """The ``group_links`` rows of an analysis (attribute/known.py's links: evidence tied to the one group its
    claims name), as column values; ``kb`` defaults to the active knowledge base, loaded only when needed."""
    from threadline.attribute.known import link_values

    return [{"id": deterministic_id("group-link", document_id, v["group_id"], v["kind"], v["key"]),
             "document_id": document_id, **v} for v in link_values(analysis, kb)]


def analysis_tlp(analysis: dict[str, Any]) -> Level:
    """The TLP 2.0 level an analysis is filed under: its document's marking, else clear (an unknown word, which
    should never reach here, files it as red rather than leak it)."""
    return normalise(analysis.get("document", {}).get("tlp"))


def _session(store: Store) -> Session:
    return Session(store.engine, expire_on_commit=False)


def save_analysis(store: Store, analysis: dict[str, Any], links: list[dict[str, Any]] | None = None) -> bool:
    """Store (or replace) the analysis of a stored document, its findings and its group links (``links``: the
    :func:`link_rows` a caller made already, else made here); True when it replaced an earlier one."""
    document_id = analysis["document"]["sha256"]
    if links is None:
        links = link_rows(document_id, analysis)
    try:
        with _session(store) as session, session.begin():
            document = session.get(DocumentRow, document_id)
            if document is None:
                raise NotFoundError("analyse a stored document (ingest it first)", where=document_id)
            # A marking only ever goes up: analysing a TLP:RED report again without --tlp must not make it clear.
            level = stricter(analysis_tlp(analysis), normalise(document.tlp))
            document.tlp = level
            if level != "clear" and analysis["document"].get("tlp") != level:
                analysis = {**analysis, "document": {**analysis["document"], "tlp": level}}
            replaced = session.get(AnalysisRow, document_id) is not None
            session.execute(delete(FindingRow).where(FindingRow.document_id == document_id))
            session.execute(delete(GroupLinkRow).where(GroupLinkRow.document_id == document_id))
            session.execute(delete(AnalysisRow).where(AnalysisRow.document_id == document_id))
            session.add(AnalysisRow(document_id=document_id, schema_version=int(analysis.get("schema_version", 1)),
                                    title=analysis["document"].get("title"),
                                    published=analysis["document"].get("published"),
                                    data=analysis, analysed_at=datetime.now(UTC),
                                    tlp=level))
            session.flush()
            session.add_all(findings_of(document_id, analysis))
            session.add_all(GroupLinkRow(**row) for row in links)
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc.__class__.__name__}", where=store.url) from None
    return replaced


def get_analysis(store: Store, ref: str) -> dict[str, Any]:
    """A stored analysis by document SHA-256 or a unique prefix of at least 7 hex digits."""
    with _session(store) as session:
        row = by_id_or_prefix(session, AnalysisRow, AnalysisRow.document_id, ref)
        if row is None:
            raise NotFoundError("no stored analysis for this id", where=ref)
        return dict(row.data)


def list_analyses(store: Store, limit: int | None = None) -> list[dict[str, Any]]:
    """Stored analyses, newest publication first (then newest analysis)."""
    with _session(store) as session:
        query = select(AnalysisRow).order_by(AnalysisRow.published.desc().nulls_last(),
                                             AnalysisRow.analysed_at.desc())
        if limit is not None:
            query = query.limit(limit)
        return [dict(row.data) for row in session.scalars(query)]


def documents_with(store: Store, kind: str, key: str) -> list[str]:
    """SHA-256 of every analysed document with a finding of that kind and key (e.g. ``technique``, ``T1566``)."""
    with _session(store) as session:
        rows = session.scalars(select(FindingRow.document_id).where(FindingRow.kind == kind, FindingRow.key == key)
                               .distinct())
        return sorted(rows)


def group_links(store: Store) -> list[dict[str, Any]]:
    """Every stored group link with its analysis's marking (read through the analysis, so that a marking raised
    later is the one that counts): what `analyze` attributes with beyond ATT&CK, in one SELECT of small rows."""
    try:
        with _session(store) as session:
            query = (select(GroupLinkRow.document_id, GroupLinkRow.group_id, GroupLinkRow.kind, GroupLinkRow.key,
                            GroupLinkRow.source, AnalysisRow.tlp)
                     .join(AnalysisRow, AnalysisRow.document_id == GroupLinkRow.document_id))
            return [dict(row._mapping) for row in session.execute(query)]
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc.__class__.__name__}", where=store.url) from None


def relink_analyses(store: Store, kb: KnowledgeBase, batch: int = 200) -> tuple[int, int]:
    """Make every stored analysis's ``group_links`` rows again with ``kb`` (after `kb update`: a name may now
    resolve to another group, a software to another id); (analyses read, links written). One transaction: a
    failure leaves the old rows whole, never half of each."""
    try:
        with _session(store) as session, session.begin():
            ids = list(session.execute(select(AnalysisRow.document_id).order_by(AnalysisRow.document_id))
                       .scalars())
            session.execute(delete(GroupLinkRow))
            written = 0
            for start in range(0, len(ids), batch):      # a few analyses' JSON in memory at a time
                part = ids[start:start + batch]
                rows = [row for document_id, data in session.execute(
                            select(AnalysisRow.document_id, AnalysisRow.data)
                            .where(AnalysisRow.document_id.in_(part)))
                        for row in link_rows(document_id, dict(data), kb)]
                if rows:                                 # many rows per INSERT, as the batch writer does
                    session.execute(insert(GroupLinkRow), rows)
                written += len(rows)
    except SQLAlchemyError as exc:
        raise StoreError(f"database error: {exc.__class__.__name__}", where=store.url) from None
    return len(ids), written
