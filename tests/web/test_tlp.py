"""TLP is enforced everywhere: every GET route of the app, with every id the store holds (the TLP:RED report's
included), as anonymous, viewer and analyst, by session and by API token, shows no TLP:RED content; counts and
search results leave it out as well. An administrator does see it, so the canaries are real."""

from __future__ import annotations

import html
import itertools
import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import RED_CANARIES, Site, csrf_of, login
from threadline.export import FORMATS

PARAM = re.compile(r"{(\w+)}")


def _red_analysis(client: TestClient, site: Site) -> dict[str, Any]:
    data = client.get(f"/reports/{site.ids['red']}.json",
                      headers={"Authorization": f"Bearer {site.tokens['admin']}"}).json()
    analysis: dict[str, Any] = data["analysis"]
    return analysis


def _values(client: TestClient, site: Site) -> dict[str, list[str]]:
    """Every value each path parameter can take here, the TLP:RED report's first."""
    red = _red_analysis(client, site)
    ids = [site.ids["red"], site.ids["red"][:7], site.ids["red"][:12], *site.ids.values(), site.hostile]
    techniques = sorted({t["id"] for t in red["techniques"]} | {t["id"].split(".")[0] for t in red["techniques"]})
    actors = [*sorted({str(a.get("attack_id") or a["name"]) for a in red["actors"]}), "name-mustang-panda"]
    return {"ref": ids, "fmt": sorted(FORMATS), "key": actors, "tid": techniques,
            "job_id": ["0" * 32], "api_root": ["threadline"], "collection_id": _collections(client, site),
            "object_id": _object_ids(client, site)}


def _collections(client: TestClient, site: Site) -> list[str]:
    response = client.get("/taxii2/threadline/collections/", headers=_taxii(site.tokens["admin"]))
    return [c["id"] for c in response.json().get("collections", [])] if response.status_code == 200 else ["x"]


def _object_ids(client: TestClient, site: Site) -> list[str]:
    """The ids of STIX objects only the red report's bundle has."""
    headers = {"Authorization": f"Bearer {site.tokens['admin']}"}
    bundle = client.get(f"/reports/{site.ids['red']}/export/stix", headers=headers).json()
    return [o["id"] for o in bundle["objects"] if o["type"] in ("indicator", "report", "note")][:5]


def _taxii(token: str | None) -> dict[str, str]:
    headers = {"Accept": "application/taxii+json;version=2.1"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _queries(red: dict[str, Any]) -> dict[str, list[str]]:
    """Query strings that look for the red report by every door: search, filters, paging, indicator look-ups and
    TAXII's filters and pages."""
    iocs = [i["value"] for i in red["iocs"]]
    listing = ([f"q={w}" for w in ("Crimson Lantern", "crimson", "shipping ministries", "PlugX", "SILENT HERON",
                                   "heron")]
               + ["tlp=red", "actor=G0129", "actor=G0096", "actor=Mustang Panda", "sector=government",
                  "sector=energy", "country=VN", "size=200", "size=1&page=2", "page=3&size=1"]
               + [f"technique={t['id']}" for t in red["techniques"]])
    taxii = ["limit=1", "added_after=2000-01-01T00:00:00Z", "match[type]=report", "match[type]=note",
             "match[type]=indicator", "match[type]=intrusion-set,relationship"]
    objects = "/taxii2/{api_root}/collections/{collection_id}/"
    return {"/": listing, "/.json": listing, "/indicators": [f"q={v}" for v in iocs],
            "/indicators.json": [f"q={v}" for v in iocs], objects + "objects/": taxii, objects + "manifest/": taxii}


def routes_of(app: Any) -> list[tuple[str, str]]:
    """(path, method) of every route the app serves, read from ``app.routes`` (routers included, whatever FastAPI
    keeps them as), not from the OpenAPI schema: a route left out of the schema is enumerated too."""
    out: list[tuple[str, str]] = []
    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):          # an included router (FastAPI >= 0.165)
            found = [(c.path, getattr(c.original_route, "methods", None) or getattr(c, "methods", None) or ())
                     for c in route.effective_route_contexts()]
        else:
            assert hasattr(route, "methods"), f"the leak test cannot enumerate {route!r}: teach it"
            found = [(route.path, route.methods or ())]
        out += [(path, method) for path, methods in found for method in sorted(methods) if method != "HEAD"]
    return out


def _urls(app: Any, values: dict[str, list[str]], queries: dict[str, list[str]], method: str = "GET"
          ) -> Iterator[tuple[str, str]]:
    """(route, url) of every route of ``method`` the app serves, with every value of its params and queries."""
    for route, verb in routes_of(app):
        if verb != method:
            continue
        names = PARAM.findall(route)
        missing = [n for n in names if n not in values]
        assert not missing, f"the leak test has no values for {missing} of {route}: add them"
        for combo in itertools.product(*(values[n] for n in names)):
            path = route
            for name, value in zip(names, combo, strict=True):
                path = path.replace("{" + name + "}", value, 1)
            yield route, path
            for query in queries.get(route, []):
                yield route, f"{path}?{query}"


def _echoes(url: str) -> list[str]:
    """What a page may repeat of its own query (the search box, "results for X"): not a leak, so taken out."""
    from threadline.publish.render import defang_generic

    forms = []
    for _, value in parse_qsl(urlsplit(url).query):
        forms += [value, html.escape(value), html.escape(value, quote=False), json.dumps(value)[1:-1],
                  defang_generic(value), html.escape(defang_generic(value)), quote(value), quote_plus(value)]
    return sorted({f.lower() for f in forms if f}, key=len, reverse=True)


def _no_red(body: str, where: str) -> None:
    low = body.lower()
    for echo in _echoes(where.split(" as ")[0]):
        low = low.replace(echo, "")
    for canary in RED_CANARIES:
        assert canary.lower() not in low, f"TLP:RED content {canary!r} leaked through {where}"


def _follow_taxii_pages(client: TestClient, url: str, headers: dict[str, str], where: str) -> int:
    """Every page of a TAXII listing, by its ``next`` token; how many were read."""
    pages = 0
    while pages < 200:
        response = client.get(url, headers=headers)
        _no_red(response.text, where)
        pages += 1
        token = response.json().get("next") if response.status_code == 200 else None
        if not token:
            return pages
        url = url.split("&next=")[0] + f"&next={quote(token)}"
    raise AssertionError(f"{url}: more than 200 pages")


@pytest.mark.parametrize("who", ["anonymous", "viewer", "analyst", "analyst-session"])
def test_no_route_shows_tlp_red_content(app: Any, client: TestClient, site: Site, who: str) -> None:
    """Every route of ``app.routes`` (GET with every id and query; every other method with a form), as each reader:
    no TLP:RED content, and no route left unvisited."""
    values = _values(client, site)
    queries = _queries(_red_analysis(client, site))
    # The TAXII cache holds bundles per reader: an administrator's, read first, must not be served to the others.
    objects = f"/taxii2/threadline/collections/{values['collection_id'][0]}/objects/?limit=1000"
    assert client.get(objects, headers=_taxii(site.tokens["admin"])).status_code == 200
    headers: dict[str, str] = {}
    if who == "analyst-session":
        assert login(client, "analyst").status_code == 303
    elif who != "anonymous":
        headers["Authorization"] = f"Bearer {site.tokens[who]}"
    visited: set[tuple[str, str]] = set()
    checked = 0
    for route, url in _urls(app, values, queries):
        accept = {"Accept": "application/taxii+json;version=2.1"} if url.startswith("/taxii2") else {}
        response = client.get(url, headers={**headers, **accept})
        assert response.status_code in (200, 303, 307, 400, 401, 403, 404, 406, 422), (url, response.status_code)
        _no_red(response.text, f"{url} as {who}")
        visited.add((route, "GET"))
        checked += 1
    for route in ("/taxii2/{api_root}/collections/{collection_id}/objects/",
                  "/taxii2/{api_root}/collections/{collection_id}/manifest/"):
        path = route.format(api_root="threadline", collection_id=values["collection_id"][0])
        assert _follow_taxii_pages(client, path + "?limit=2", {**headers, **_taxii(None)}, f"{path} as {who}") > 1
    # Forms: with the session's CSRF token (so that a form gets past it and answers), an action no view accepts
    # (nothing is written to the shared store), logging out last. The login form gets no token: a wrong password
    # would count against the shared app's rate limit.
    csrf = csrf_of(client, "/login")
    posts = sorted(_urls(app, values, {}, method="POST"), key=lambda r: r[0] == "/logout")
    for route, url in posts:
        form = {"kind": "actor", "key": "G0129", "action": "none", "value": "", "tlp": "red", "text": "x",
                "name": "nobody", "password": "x", "csrf": "" if route == "/login" else csrf}
        response = client.post(url, data=form, headers=headers, follow_redirects=False)
        assert response.status_code in (303, 400, 401, 403, 404, 422), (url, response.status_code, response.text)
        _no_red(response.text, f"POST {url} as {who}")
        visited.add((route, "POST"))
    assert set(routes_of(app)) == visited, "every route is visited"
    assert checked > 100


def _levels(site: Site) -> Counter[str]:
    """How many stored analyses carry each marking, read from the store itself."""
    from sqlalchemy import text

    with site.store.engine.connect() as conn:
        return Counter(conn.execute(text("SELECT tlp FROM analyses")).scalars())


def test_admin_sees_the_red_report(client: TestClient, site: Site) -> None:
    """The canaries are in what the red report shows, so their absence above means something."""
    headers = {"Authorization": f"Bearer {site.tokens['admin']}"}
    page = client.get(f"/reports/{site.ids['red']}", headers=headers).text
    assert "Crimson Lantern" in page
    assert client.get("/.json?q=crimson", headers=headers).json()["total"] == 1
    assert client.get("/.json", headers=headers).json()["total"] == sum(_levels(site).values())


def test_counts_leave_out_what_the_reader_may_not_see(client: TestClient, site: Site) -> None:
    def total(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return int(client.get("/.json", headers=headers).json()["total"])

    from threadline.web.tlp import CLEARANCE

    levels = _levels(site)
    assert levels["red"] == 2 and levels["amber"] >= 1 and levels["green"] >= 1    # red: the red and raised ones
    expected = [sum(levels[level] for level in CLEARANCE[role]) for role in ("anonymous", "viewer", "analyst", "admin")]
    assert [total(None), total(site.tokens["viewer"]), total(site.tokens["analyst"]), total(site.tokens["admin"])] \
        == expected
    assert expected[0] < expected[1] < expected[2] < expected[3]


def test_a_viewer_cannot_read_an_amber_report(client: TestClient, site: Site) -> None:
    viewer = {"Authorization": f"Bearer {site.tokens['viewer']}"}
    analyst = {"Authorization": f"Bearer {site.tokens['analyst']}"}
    assert client.get(f"/reports/{site.ids['amber']}", headers=viewer).status_code == 404
    assert client.get(f"/reports/{site.ids['amber']}/export/stix", headers=viewer).status_code == 404
    assert client.get(f"/reports/{site.ids['amber']}", headers=analyst).status_code == 200
    assert site.ids["green"] in [r["id"] for r in client.get("/.json", headers=viewer).json()["rows"]]


def test_an_invalid_token_is_refused_not_read_as_anonymous(client: TestClient) -> None:
    assert client.get("/.json", headers={"Authorization": "Bearer tl_wrong"}).status_code == 401


def test_reanalysing_without_tlp_keeps_the_stricter_marking(site: Site, kb: Any) -> None:
    from threadline.analysis import analyze_document
    from threadline.store.analyses import get_analysis, save_analysis

    document = site.store.get_document(site.ids["green"])
    assert "tlp" not in document.metadata or document.metadata["tlp"] == "green"
    document.metadata.pop("tlp", None)                      # as `analyze` without --tlp would read it again
    save_analysis(site.store, analyze_document(document, kb))
    assert get_analysis(site.store, site.ids["green"])["document"]["tlp"] == "green"


def _citations(value: Any) -> list[str]:
    """Every string of an analysis that cites a stored analysis (attribution evidence from the store)."""
    if isinstance(value, str):
        return [value] if "stored analysis:" in value else []
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [c for item in items for c in _citations(item)]


def _shared(analysis: dict[str, Any]) -> list[str]:
    return sorted(json.dumps(s, sort_keys=True) for c in analysis["attribution"]["candidates"]
                  for s in c["evidence"]["shared"])


def test_evidence_citing_a_report_raised_above_the_reader_is_withheld(client: TestClient, site: Site) -> None:
    """A report analysed while a stored report was TLP:CLEAR cites that report (its title and id) as attribution
    evidence; once the cited report is raised to TLP:RED, a reader who may not read it sees that evidence nowhere
    (page, JSON, every export, TAXII), and keeps the rest of the evidence; an administrator still sees it."""
    raised = site.ids["raised"][:12]
    admin = {"Authorization": f"Bearer {site.tokens['admin']}"}
    readers: dict[str, tuple[dict[str, str], list[str]]] = {
        "anonymous": ({}, [site.ids["clear"], site.hostile]),
        "viewer": ({"Authorization": f"Bearer {site.tokens['viewer']}"}, [site.ids["clear"], site.ids["green"]]),
        "analyst": ({"Authorization": f"Bearer {site.tokens['analyst']}"},
                    [site.ids["clear"], site.ids["green"], site.ids["amber"]])}
    full = {doc: client.get(f"/reports/{doc}.json", headers=admin).json()["analysis"]
            for doc in readers["analyst"][1] + [site.hostile]}
    citing = [doc for doc, analysis in full.items() if any(raised in c for c in _citations(analysis))]
    assert site.ids["clear"] in citing, "the Diànxùn example cites the raised report (as an administrator reads it)"
    assert any("SILENT HERON" in c for c in _citations(full[site.ids["clear"]]))
    taxii = "/taxii2/threadline/collections/" + _collections(client, site)[0] + "/objects/?limit=1000"
    assert "SILENT HERON" in client.get(taxii, headers=_taxii(site.tokens["admin"])).text
    for who, (headers, docs) in readers.items():
        for doc in docs:
            analysis = client.get(f"/reports/{doc}.json", headers=headers).json()["analysis"]
            assert not [c for c in _citations(analysis) if raised in c], (who, doc)
            kept = [s for s in _shared(full[doc]) if raised not in s]
            assert _shared(analysis) == kept, f"{who} reads the rest of {doc[:12]}'s evidence as it is"
            for url in [f"/reports/{doc}", f"/reports/{doc}.json",
                        *(f"/reports/{doc}/export/{fmt}" for fmt in sorted(FORMATS))]:
                body = client.get(url, headers=headers)
                assert body.status_code == 200, (url, who)
                _no_red(body.text, f"{url} as {who}")
        _no_red(client.get(taxii, headers={**headers, **_taxii(None)}).text, f"{taxii} as {who}")
