"""The pages: listing, briefing, actor, technique, indicator look-up, exports; each also at its path + ``.json``.

Every view asks :mod:`threadline.web.queries` for rows the reader may see, so the TLP filter is in one place. The
briefing is the static site's template over :func:`threadline.publish.brief.build_brief`; exports are the
registered exporters; nothing here re-implements either.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any
from urllib.parse import quote_plus

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from threadline import settings
from threadline.errors import NotFoundError
from threadline.export import FORMATS
from threadline.publish.facts import join_words
from threadline.publish.render import Defanger, defang_generic, is_technique_id
from threadline.web import queries
from threadline.web.app import state_of
from threadline.web.auth import Who
from threadline.web.document import document_view
from threadline.web.render import page
from threadline.web.reviews import reviewed_analysis

router = APIRouter()
_ACTOR_ID = re.compile(r"^G\d{4}$")
_SCHEME = re.compile(r"^(h[tx]{2}p|fxp)(s?)://", re.IGNORECASE)      # hxxp://, hXXps://, fxp:// as analysts write


def _strip(ref: str) -> str:
    """Links of the shared briefing template end in ``.html`` (the static site's file names)."""
    return ref[:-5] if ref.endswith(".html") else ref


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "unnamed"


def _page_size() -> int:
    return settings.get_int("web_page_size")


def _row(row: queries.Row) -> dict[str, Any]:
    subject = join_words(row.campaigns) if row.campaigns else (row.title or row.source)
    actors = [{"key": a["key"], "name": defang_generic(str(a["name"])), "url": "/actors/" + (
        str(a["key"]) if _ACTOR_ID.match(str(a["key"])) else "name-" + _slug(str(a["name"])))} for a in row.actors]
    return {"id": row.id, "url": f"/reports/{row.id}",
            "title": defang_generic(f"What You Need to Know About {subject}"),
            "source_title": defang_generic(row.title) if row.title else None, "published": row.published,
            "tlp": row.tlp, "actors": actors,
            "sectors": [defang_generic(s) for s in row.sectors], "countries": row.countries,
            "techniques": row.techniques}


def _actor_keys(request: Request, actor: str) -> list[str]:
    """An actor filter as findings keys: a G-id as it is; a name, also every ATT&CK id it is an alias of (so
    "RedDelta" finds Mustang Panda's reports), and the name itself (actors outside ATT&CK are keyed by name)."""
    value = " ".join(actor.split())
    if not value:
        return []
    if _ACTOR_ID.match(value.upper()):
        return [value.upper()]
    resolved = [e for e in state_of(request).kb.actors.resolve(value).entities if _ACTOR_ID.match(e)]
    return list(dict.fromkeys([*resolved, value, value.title()]))


# ---- listing --------------------------------------------------------------------------------------------------
@page(router, "/", "listing.html.j2", summary="Briefings, newest first, filtered and searched")
def listing(request: Request, who: Who,
            q: str = Query("", max_length=200, description="full-text search of the reports"),
            actor: str = Query("", max_length=200), technique: str = Query("", max_length=20),
            sector: str = Query("", max_length=200), country: str = Query("", max_length=60),
            tlp: str = Query("", max_length=20), page: int = Query(1, ge=1, le=100_000),
            size: int = Query(0, ge=0, le=queries.MAX_PAGE)) -> dict[str, Any]:
    f = queries.Filters(q=q, actor=actor, technique=technique, sector=sector, country=country, tlp=tlp,
                        actor_keys=_actor_keys(request, actor))
    size = size or _page_size()
    rows, total = queries.listing(state_of(request).store, who, f, page, size)
    pages = max(1, math.ceil(total / size))
    args = "&".join(f"{k}={v}" for k, v in f.active().items())

    def link(n: int) -> str | None:
        return f"/?{args + '&' if args else ''}page={n}" if 1 <= n <= pages and n != page else None

    return {"total": total, "page": page, "pages": pages, "size": size, "filters": f.shown(),
            "tlp_levels": list(who.levels), "rows": [_row(r) for r in rows],
            "previous": link(page - 1), "next": link(page + 1)}


# ---- briefing -------------------------------------------------------------------------------------------------
def _briefing_extras(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    state = state_of(request)
    from threadline.publish.brief import build_brief

    analysis = data["analysis"]
    brief = build_brief(analysis, state.kb)
    text = queries.document_text(state.store, data["id"])
    return {"brief": brief, "document": document_view(text, analysis, Defanger(analysis.get("iocs") or []))}


@page(router, "/reports/{ref}", "report.html.j2", summary="A briefing with its document and extracted items",
      html_only=_briefing_extras)
def report(request: Request, who: Who, ref: str) -> dict[str, Any]:
    state = state_of(request)
    row = queries.analysis_row(state.store, who, ref)
    analysis, reviews = reviewed_analysis(state.store, row, who, state.kb)
    return {"id": row.document_id, "tlp": row.tlp, "title": row.title, "published": row.published,
            "exports": {name: f"/reports/{row.document_id}/export/{name}" for name in FORMATS},
            "reviews": reviews, "analysis": analysis}


@router.get("/reports/{ref}/export/{fmt}", summary="A report in an export format (stix, misp, navigator, csv, "
            "sigma), marked with its TLP")
def export(request: Request, who: Who, ref: str, fmt: str) -> Response:
    state = state_of(request)
    if fmt not in FORMATS:
        raise NotFoundError(f"unknown export format (expected one of {', '.join(FORMATS)})", where=fmt)
    row = queries.analysis_row(state.store, who, ref)
    analysis, _ = reviewed_analysis(state.store, row, who, state.kb)
    spec = FORMATS[fmt]
    body = spec.exporter()(analysis, state.kb if spec.uses_kb else None, tlp=row.tlp)
    name = f"threadline-{row.document_id[:12]}-{fmt}{spec.extension}"
    return Response(body, media_type=spec.media_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ---- actors and techniques ------------------------------------------------------------------------------------
def _paged(path: str, args: dict[str, str], page: int, total: int, listing: str | None = None) -> dict[str, Any]:
    """How many reports there are in all, and links to the pages before and after this one (and to the listing
    filtered the same way, which pages through every one of them)."""
    pages = max(1, math.ceil(total / queries.REPORTS_PER_PAGE))
    query = "&".join(f"{k}={quote_plus(v)}" for k, v in args.items() if v)

    def link(n: int) -> str | None:
        return f"{path}?{query + '&' if query else ''}page={n}" if 1 <= n <= pages and n != page else None

    return {"total_reports": total, "page": page, "pages": pages, "previous": link(page - 1), "next": link(page + 1),
            "listing": listing}

def _heat(count: int, top: int) -> int:
    return 0 if count <= 0 or top <= 0 else max(1, math.ceil(5 * count / top))


@page(router, "/actors/{key}", "actor_page.html.j2", summary="An actor: aliases with who asserts each, campaigns over "
      "time, technique heatmap, the reports that name it")
def actor(request: Request, who: Who, key: str, page: int = Query(1, ge=1, le=100_000)) -> dict[str, Any]:
    state = state_of(request)
    key = _strip(key)
    kb = state.kb
    profile = None
    if _ACTOR_ID.match(key.upper()) and kb.group(key.upper()) is not None:
        from threadline.knowledge.profiles import actor_profile

        key = key.upper()
        profile = actor_profile(kb, key)
        keys = [key]
    elif key.startswith("name-"):
        keys = queries.actor_keys_by_label(state.store, _slug, key[5:])
    else:
        keys = [key]
    reports, total = queries.reports_with(state.store, who, "actor", keys, page)
    if profile is None and not total:
        raise NotFoundError("no such actor in the knowledge base or in a report you may read", where=key)
    # over every readable report that names the actor, not only this page's
    observed = queries.counts_with(state.store, who, "actor", keys, "technique", observed_only=True)
    known = {t["id"]: t["name"] for t in (profile or {}).get("techniques", [])}
    top = max(observed.values(), default=0)
    # The heatmap: how many readable reports observe each technique, beside those ATT&CK records for the actor.
    counts = {**dict.fromkeys(known, 0), **observed}
    techniques = [{"id": tid, "name": _technique_label(state, tid, known), "reports": n, "heat": _heat(n, top),
                   "known": tid in known} for tid, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    timeline = [{"date": c["first_seen"] or "", "end": c["last_seen"], "name": c["name"],
                 "source": ", ".join(c["sources"]) or "ATT&CK", "report": None}
                for c in (profile or {}).get("campaigns", [])]
    timeline += [{"date": (c["first"] or "")[:10], "end": (c["last"] or "")[:10] if c["last"] != c["first"] else None,
                  "name": defang_generic(c["name"]), "report": None,
                  "source": f"named in {c['reports']} stored report{'s' if c['reports'] != 1 else ''}"}
                 for c in queries.campaigns_with(state.store, who, "actor", keys)]
    timeline += [{"date": (r["published"] or "")[:10], "end": None, "name": defang_generic(r["title"] or r["id"]),
                  "source": "a stored report", "report": f"/reports/{r['id']}"} for r in reports]
    timeline.sort(key=lambda e: (e["date"] or "9999", e["name"]))
    names = [defang_generic(label) for r in reports for label in r["keys"]]
    return {"key": key, "name": profile["name"] if profile else (names[0] if names else key),
            "attack_id": profile["attack_id"] if profile else None, "url": profile["url"] if profile else None,
            "description": profile["description"] if profile else None,
            "aliases": profile["aliases"] if profile else [], "timeline": timeline, "techniques": techniques,
            "reports": [{**r, "title": defang_generic(r["title"] or r["id"]), "url": f"/reports/{r['id']}",
                         "sentences": [defang_generic(s) for s in r["sentences"]]} for r in reports],
            **_paged(f"/actors/{key}", {}, page, total, f"/?actor={quote_plus(key)}" if _ACTOR_ID.match(key)
                     else None)}


def _technique_label(state: Any, tid: str, known: dict[str, str]) -> str:
    obj = state.kb.by_attack_id.get(tid)
    return str(getattr(obj, "name", None) or known.get(tid) or tid)


@page(router, "/techniques/{tid}", "technique_page.html.j2", summary="An ATT&CK technique and the reports observing it")
def technique(request: Request, who: Who, tid: str, page: int = Query(1, ge=1, le=100_000)) -> dict[str, Any]:
    state = state_of(request)
    tid = _strip(tid).upper()
    if not is_technique_id(tid):
        raise NotFoundError("not an ATT&CK technique id", where=tid)
    from threadline.knowledge.attack import Technique

    obj = state.kb.by_attack_id.get(tid)
    technique = obj if isinstance(obj, Technique) else None
    subs = [t for t in state.kb.by_attack_id if t.startswith(tid + ".")] if "." not in tid else []
    reports, total = queries.reports_with(state.store, who, "technique", [tid, *subs], page)
    if technique is None and not total:
        raise NotFoundError("no such technique", where=tid)
    actors = Counter(queries.counts_with(state.store, who, "technique", [tid, *subs], "actor"))
    from threadline.publish.staysafe import first_sentence

    return {"id": tid, "name": technique.name if technique else tid,
            "url": technique.url if technique else None, "tactics": list(technique.tactics) if technique else [],
            "about": first_sentence(technique.description) if technique else None,
            "actors": [{"key": k, "reports": n, "url": f"/actors/{k}"} for k, n in actors.most_common()],
            "reports": [{**r, "title": defang_generic(r["title"] or r["id"]), "url": f"/reports/{r['id']}",
                         "sentences": [defang_generic(s) for s in r["sentences"]]} for r in reports],
            **_paged(f"/techniques/{tid}", {}, page, total, f"/?technique={tid}")}


# ---- indicators -----------------------------------------------------------------------------------------------
@page(router, "/indicators", "indicators.html.j2", summary="Where have I seen this indicator: every report and date")
def indicators(request: Request, who: Who,
               q: str = Query("", max_length=2000, description="an indicator, fanged or defanged"),
               page: int = Query(1, ge=1, le=100_000)) -> dict[str, Any]:
    from threadline.extract.iocs.refang import refang

    value = _SCHEME.sub(lambda m: ("http" if m.group(1)[0] in "hH" else "ftp") + m.group(2).lower() + "://",
                        refang(q.strip()).text.strip()) if q.strip() else ""
    candidates = list(dict.fromkeys([value, value.lower()])) if value else []
    keys = [k for v in candidates for k in queries.ioc_keys(v)]
    reports, total = queries.reports_with(state_of(request).store, who, "ioc", keys, page)
    shown = Defanger([{"type": k.split(":", 1)[0], "value": k.split(":", 1)[1]} for r in reports for k in r["keys"]])
    return {"q": shown(q), "value": value, "defanged": shown(value) if value else "",
            "types": sorted({k.split(":", 1)[0] for r in reports for k in r["keys"]}),
            "reports": [{"id": r["id"], "title": shown(r["title"] or r["id"]), "published": r["published"],
                         "tlp": r["tlp"], "url": f"/reports/{r['id']}",
                         "sentences": [shown(s) for s in r["sentences"]]} for r in reports],
            **_paged("/indicators", {"q": q}, page, total)}
