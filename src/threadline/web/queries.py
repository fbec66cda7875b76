"""The web app's reads of the store, every one filtered by the reader's TLP clearance in SQL.

A query never returns a row the reader may not see and then drops it in Python: counts, pages, search hits and
"where have I seen this" answers are all computed over the allowed rows only, so nothing leaks through a total.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, and_, column, func, select, text
from sqlalchemy.orm import Session

from threadline.errors import NotFoundError
from threadline.store.models import PG_TSVECTOR, AnalysisRow, DocumentRow, FindingRow
from threadline.store.repository import Store, by_id_or_prefix
from threadline.tlp import recognise
from threadline.web.tlp import Principal

MAX_PAGE = 200
_LISTED = frozenset({"actor", "sector", "country", "region", "campaign", "technique"})
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Filters:
    """The listing's filters, as the query string gives them; empty strings mean "any"."""

    q: str = ""
    actor: str = ""
    technique: str = ""
    sector: str = ""
    country: str = ""
    tlp: str = ""
    # The finding keys the actor filter stands for (its G-id, the ATT&CK ids its name resolves to, the name itself).
    actor_keys: list[str] = field(default_factory=list)

    def active(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v and isinstance(v, str)}

    def shown(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if isinstance(v, str)}


def _spellings(value: str) -> list[str]:
    """A sector as findings key it ("Government"), whatever case the reader typed."""
    value = " ".join(value.split())
    return list(dict.fromkeys([value, value.title(), value.capitalize(), value.lower()])) if value else []


@dataclass
class Row:
    """One briefing as the listing shows it."""

    id: str
    title: str | None
    source: str
    published: str | None
    tlp: str
    campaigns: list[str] = field(default_factory=list)
    actors: list[dict[str, str | None]] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    techniques: int = 0


def fts_query(q: str) -> str:
    """User words as an FTS5 query: each word quoted (so no operator or column filter of FTS5's syntax can be
    injected), all of them required."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in _WORD.findall(q)[:20])


def _has(kind: str, keys: list[str]) -> Any:
    """The condition "the report has a finding of this kind and one of these keys", over the (kind, key) index."""
    cond: Any = FindingRow.key.in_(keys)
    if kind == "technique" and len(keys) == 1 and "." not in keys[0]:
        # A parent technique also finds its sub-techniques: "T1566" <= key < "T1566/" is one index range holding
        # T1566 and every T1566.nnn ("." sorts just before "/"), where an OR of two conditions read every key.
        cond = and_(FindingRow.key >= keys[0], FindingRow.key < keys[0] + "/")
    # An IN over the index: the database reads the few matching findings once, instead of looking through
    # every listed report's findings (an EXISTS per row took most of a filtered page's time).
    return AnalysisRow.document_id.in_(select(FindingRow.document_id).where(FindingRow.kind == kind, cond))


def _search(session: Session, q: str) -> Any:
    """The condition "the report matches q" in the database's own full-text index."""
    if session.get_bind().dialect.name == "sqlite":
        match = fts_query(q)
        if not match:
            return None
        ids = text("SELECT k.document_id FROM report_search JOIN search_keys k ON k.id = report_search.rowid "
                   "WHERE report_search MATCH :match").bindparams(match=match).columns(column("document_id", String))
        return AnalysisRow.document_id.in_(ids)
    if session.get_bind().dialect.name == "postgresql":
        docs = select(DocumentRow.id).where(text(f"{PG_TSVECTOR} @@ plainto_tsquery('simple', :q)")
                                            .bindparams(q=q))
        return AnalysisRow.document_id.in_(docs)
    like = f"%{q}%"
    return AnalysisRow.document_id.in_(select(DocumentRow.id).where(DocumentRow.text.ilike(like)))


def _listing_where(session: Session, who: Principal, f: Filters) -> list[Any]:
    wanted = recognise(f.tlp) if f.tlp else None
    levels = [lvl for lvl in who.levels if not f.tlp or lvl == wanted]
    where: list[Any] = [AnalysisRow.tlp.in_(levels)]
    for kind, keys in (("actor", f.actor_keys), ("technique", [f.technique.strip().upper()] if f.technique.strip()
                                                              else []),
                       ("sector", _spellings(f.sector)), ("country", [f.country.strip().upper()] if f.country.strip()
                                                         else [])):
        if keys:
            where.append(_has(kind, keys))
    if f.q.strip():
        cond = _search(session, f.q.strip())
        if cond is not None:
            where.append(cond)
    return where


def _newest_first(session: Session) -> list[Any]:
    """Newest publication first, then newest analysis: every key descending, so that the listing index is read
    backwards and only the rows of one page are fetched. SQLite puts NULLs last when descending already (and
    would not use the index for an explicit NULLS LAST); PostgreSQL puts them first unless told."""
    published = AnalysisRow.published.desc()
    if session.get_bind().dialect.name != "sqlite":
        published = published.nulls_last()
    return [published, AnalysisRow.analysed_at.desc(), AnalysisRow.document_id.desc()]


def listing(store: Store, who: Principal, f: Filters, page: int, size: int) -> tuple[list[Row], int]:
    """One page of visible briefings, newest first, and how many visible briefings match in all."""
    size = max(1, min(size, MAX_PAGE))
    with Session(store.engine) as session:
        where = _listing_where(session, who, f)
        total = int(session.scalar(select(func.count()).select_from(AnalysisRow).where(and_(*where))) or 0)
        query = (select(AnalysisRow.document_id, AnalysisRow.title, AnalysisRow.published,
                                     AnalysisRow.tlp, DocumentRow.source)
                              .join(DocumentRow, DocumentRow.id == AnalysisRow.document_id)
                              .where(and_(*where))
                              .order_by(*_newest_first(session))
                              .limit(size).offset(max(0, page - 1) * size))
        rows = {r.document_id: Row(r.document_id, r.title, r.source, r.published, r.tlp)
                for r in session.execute(query)}
        _fill(session, rows)
    return list(rows.values()), total


def _fill(session: Session, rows: dict[str, Row]) -> None:
    """Actors, sectors, places, campaigns and the count of observed techniques, from the findings index."""
    if not rows:
        return
    found = session.execute(select(FindingRow.document_id, FindingRow.kind, FindingRow.key, FindingRow.label,
                                   FindingRow.inferred)
                            # By document only: with a condition on kind too, SQLite picked the (kind, key) index
                            # and read every actor, sector... finding in the store (0.7 s at 10,000 reports).
                            .where(FindingRow.document_id.in_(list(rows)))
                            .order_by(FindingRow.document_id, FindingRow.start))
    techniques: dict[str, set[str]] = defaultdict(set)
    for f in found:
        if f.kind not in _LISTED:
            continue
        row = rows[f.document_id]
        label = f.label or f.key
        if f.kind == "technique":
            if not f.inferred:
                techniques[f.document_id].add(f.key)
        elif f.kind == "actor":
            if all(a["key"] != f.key for a in row.actors):
                row.actors.append({"key": f.key, "name": label})
        else:
            target = {"sector": row.sectors, "country": row.countries, "region": row.countries,
                      "campaign": row.campaigns}[f.kind]
            if label not in target:
                target.append(label)
    for doc_id, tids in techniques.items():
        rows[doc_id].techniques = len(tids)


def analysis_row(store: Store, who: Principal, ref: str) -> AnalysisRow:
    """A stored analysis the reader may see; one the reader may not see is "not found", exactly as a missing one,
    so that a TLP:RED report's existence does not leak either."""
    with Session(store.engine, expire_on_commit=False) as session:
        row = by_id_or_prefix(session, AnalysisRow, AnalysisRow.document_id, ref)
        if row is None or not who.may_read(row.tlp):
            raise NotFoundError("no such report", where=ref)
        return row


def document_text(store: Store, document_id: str) -> str:
    with Session(store.engine) as session:
        return session.scalar(select(DocumentRow.text).where(DocumentRow.id == document_id)) or ""


REPORTS_PER_PAGE = 500


def _matching(who: Principal, kind: str, keys: list[str]) -> Any:
    """The visible analyses with a finding of this kind and one of these keys (a technique's sub-techniques
    included when ``keys`` holds them)."""
    match = select(FindingRow.document_id).where(FindingRow.kind == kind, FindingRow.key.in_(keys))
    return AnalysisRow.document_id.in_(match), AnalysisRow.tlp.in_(who.levels)


def reports_with(store: Store, who: Principal, kind: str, keys: list[str], page: int = 1,
                 limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """One page of the visible reports with a finding of this kind and one of these keys (id, title, date, TLP and
    the labels and sentences found), newest first, and how many there are in all."""
    if not keys:
        return [], 0
    limit = limit or REPORTS_PER_PAGE
    with Session(store.engine) as session:
        where = _matching(who, kind, keys)
        total = int(session.scalar(select(func.count()).select_from(AnalysisRow).where(*where)) or 0)
        docs = session.execute(
            select(AnalysisRow.document_id, AnalysisRow.title, AnalysisRow.published, AnalysisRow.tlp).where(*where)
            .order_by(AnalysisRow.published.desc().nulls_last(), AnalysisRow.document_id)
            .limit(limit).offset(max(0, page - 1) * limit)).all()
        out = {d.document_id: {"id": d.document_id, "title": d.title, "published": d.published, "tlp": d.tlp,
                               "keys": [], "sentences": [], "inferred": True} for d in docs}
        if out:
            found = session.execute(
                select(FindingRow.document_id, FindingRow.key, FindingRow.sentence, FindingRow.inferred)
                .where(FindingRow.kind == kind, FindingRow.key.in_(keys), FindingRow.document_id.in_(list(out)))
                .order_by(FindingRow.document_id, FindingRow.start))
            for f in found:
                entry = out[f.document_id]
                if f.key not in entry["keys"]:
                    entry["keys"].append(f.key)
                if f.sentence and f.sentence not in entry["sentences"] and len(entry["sentences"]) < 3:
                    entry["sentences"].append(f.sentence)
                entry["inferred"] = entry["inferred"] and bool(f.inferred)
        return list(out.values()), total


def _kind_is(kind: str) -> Any:
    """``kind = :kind`` written so that SQLite reads the findings by document (the few reports at hand) instead of
    through the (kind, key) index, every finding of that kind in the store (0.9 s at 10,000 reports)."""
    return func.coalesce(FindingRow.kind, "") == kind


def counts_with(store: Store, who: Principal, kind: str, keys: list[str], counted: str,
                observed_only: bool = False) -> dict[str, int]:
    """Over every visible report with a finding of ``kind`` in ``keys`` (the whole store, not one page): how many
    of them have each key of the ``counted`` kind (an actor's technique heatmap, a technique's actors)."""
    if not keys:
        return {}
    docs = select(AnalysisRow.document_id).where(*_matching(who, kind, keys))
    where = [FindingRow.document_id.in_(docs), _kind_is(counted)]
    if observed_only:
        where.append(FindingRow.inferred.is_(False))
    with Session(store.engine) as session:
        rows = session.execute(select(FindingRow.key, func.count(func.distinct(FindingRow.document_id)))
                               .where(*where).group_by(FindingRow.key))
        return {str(key): int(n) for key, n in rows}


def campaigns_with(store: Store, who: Principal, kind: str, keys: list[str]) -> list[dict[str, Any]]:
    """The campaigns the visible reports with a finding of ``kind`` in ``keys`` name, over the whole store: each
    with its first and last report date and how many reports name it."""
    if not keys:
        return []
    with Session(store.engine) as session:
        docs = select(AnalysisRow.document_id).where(*_matching(who, kind, keys))
        rows = session.execute(
            select(func.coalesce(FindingRow.label, FindingRow.key), func.min(AnalysisRow.published),
                   func.max(AnalysisRow.published), func.count(func.distinct(FindingRow.document_id)))
            .select_from(FindingRow).join(AnalysisRow, AnalysisRow.document_id == FindingRow.document_id)
            .where(FindingRow.document_id.in_(docs), _kind_is("campaign"))
            .group_by(func.coalesce(FindingRow.label, FindingRow.key)))
        return [{"name": str(name), "first": first, "last": last, "reports": int(n)}
                for name, first, last, n in rows]


def actor_keys_by_label(store: Store, slug_of: Any, wanted: str) -> list[str]:
    """Actor finding keys whose label slugs to ``wanted`` (actors outside ATT&CK are keyed by name)."""
    with Session(store.engine) as session:
        labels = session.execute(select(FindingRow.key, FindingRow.label).where(FindingRow.kind == "actor")
                                 .distinct())
        return sorted({k for k, label in labels if slug_of(label or k) == wanted})


def ioc_keys(value: str) -> list[str]:
    """The findings keys an indicator value may be stored under ("type:value", one per type the extractor knows):
    the (kind, key) index answers "where have I seen this" without a scan."""
    from threadline.extract.iocs.extractor import TYPES

    return [f"{t}:{value}" for t in TYPES]
