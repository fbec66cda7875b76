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

from tests.web.conftest import RED_CANARIES, Site, login
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
    """Query strings that look for the red report by every door: search, filters and indicator look-ups."""
    iocs = [i["value"] for i in red["iocs"]]
    listing = ([f"q={w}" for w in ("Crimson Lantern", "crimson", "shipping ministries", "PlugX")]
               + ["tlp=red", "actor=G0129", "actor=Mustang Panda", "sector=government", "country=VN", "size=200"]
               + [f"technique={t['id']}" for t in red["techniques"]])
    return {"/": listing, "/.json": listing, "/indicators": [f"q={v}" for v in iocs],
            "/indicators.json": [f"q={v}" for v in iocs]}


def _urls(app: Any, values: dict[str, list[str]], queries: dict[str, list[str]]) -> Iterator[str]:
    """Every GET route the app documents (the OpenAPI schema lists them all), with every value of its params."""
    for route, operations in app.openapi()["paths"].items():
        if "get" not in operations:
            continue
        names = PARAM.findall(route)
        missing = [n for n in names if n not in values]
        assert not missing, f"the leak test has no values for {missing} of {route}: add them"
        for combo in itertools.product(*(values[n] for n in names)):
            path = route
            for name, value in zip(names, combo, strict=True):
                path = path.replace("{" + name + "}", value, 1)
            yield path
            for query in queries.get(route, []):
                yield f"{path}?{query}"


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


@pytest.mark.parametrize("who", ["anonymous", "viewer", "analyst", "analyst-session"])
def test_no_route_shows_tlp_red_content(app: Any, client: TestClient, site: Site, who: str) -> None:
    values = _values(client, site)
    queries = _queries(_red_analysis(client, site))
    headers: dict[str, str] = {}
    if who == "analyst-session":
        assert login(client, "analyst").status_code == 303
    elif who != "anonymous":
        headers["Authorization"] = f"Bearer {site.tokens[who]}"
    checked = 0
    for url in _urls(app, values, queries):
        accept = {"Accept": "application/taxii+json;version=2.1"} if url.startswith("/taxii2") else {}
        response = client.get(url, headers={**headers, **accept})
        assert response.status_code in (200, 303, 307, 400, 401, 403, 404, 406, 422), (url, response.status_code)
        _no_red(response.text, f"{url} as {who}")
        checked += 1
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
    assert levels["red"] == 1 and levels["amber"] >= 1 and levels["green"] >= 1
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
