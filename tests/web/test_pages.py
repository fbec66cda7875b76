"""Every page as HTML and as JSON from one view, on reports the current code analysed."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import Site, csrf_of, login
from threadline.export import FORMATS


def _titles(client: TestClient, query: str = "") -> list[str]:
    return [r["title"] for r in client.get(f"/.json{query}").json()["rows"]]


def test_listing_json_rows_carry_the_report_id_newest_first(client: TestClient, site: Site) -> None:
    data = client.get("/.json").json()
    ids = [r["id"] for r in data["rows"]]
    assert site.ids["clear"] in ids and site.hostile in ids
    assert data["total"] == len(ids) == 2                       # anonymous: the two TLP:CLEAR reports only
    dates = [r["published"] for r in data["rows"]]
    assert dates == sorted(dates, reverse=True)
    for row in data["rows"]:
        assert client.get(f"/reports/{row['id']}.json").json()["id"] == row["id"]
    dianxun = next(r for r in data["rows"] if r["id"] == site.ids["clear"])
    assert dianxun["title"].startswith("What You Need to Know About Operation Di")
    assert any(a["key"] == "G0129" for a in dianxun["actors"])
    for row in data["rows"]:
        analysis = client.get(f"/reports/{row['id']}.json").json()["analysis"]
        assert row["techniques"] == len({t["id"] for t in analysis["techniques"] if not t.get("inferred")})


def test_listing_html_is_the_same_data(client: TestClient, site: Site) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.count("<li>") >= 2 and "<h1>Briefings</h1>" in page.text
    for row in client.get("/.json").json()["rows"]:
        assert f'href="/reports/{row["id"]}"' in page.text


def test_listing_filters_and_paging(client: TestClient, site: Site) -> None:
    from sqlalchemy import text

    login(client, "analyst")
    everything = client.get("/.json?size=200").json()
    with site.store.engine.connect() as conn:    # other tests submit reports too: the store says how many
        readable = conn.execute(text("SELECT count(*) FROM analyses WHERE tlp <> 'red'")).scalar_one()
    assert everything["total"] == readable == len(everything["rows"]) >= 4
    assert [r["id"] for r in client.get("/.json?actor=G0129").json()["rows"]] == [site.ids["clear"]]
    assert [r["id"] for r in client.get("/.json?actor=mustang panda").json()["rows"]] == [site.ids["clear"]]
    assert [r["id"] for r in client.get("/.json?actor=RedDelta").json()["rows"]] == [site.ids["clear"]]  # alias
    amber = client.get("/.json?tlp=amber").json()["rows"]
    assert site.ids["amber"] in [r["id"] for r in amber] and {r["tlp"] for r in amber} == {"amber"}
    assert client.get("/.json?tlp=red").json()["total"] == 0
    assert site.ids["clear"] in [r["id"] for r in client.get("/.json?country=US").json()["rows"]]
    sector = client.get(f"/reports/{site.ids['green']}.json").json()["analysis"]["sectors"][0]["name"]
    found = client.get("/.json", params={"sector": sector.lower()}).json()["rows"]    # any case
    assert site.ids["green"] in [r["id"] for r in found]
    pages = [client.get(f"/.json?size=2&page={n}").json() for n in range(1, (readable + 1) // 2 + 1)]
    assert pages[0]["pages"] == len(pages) and pages[0]["next"] and not pages[-1]["next"]
    assert [r["id"] for p in pages for r in p["rows"]] == [r["id"] for r in everything["rows"]]


def test_technique_filter_finds_sub_techniques(client: TestClient, site: Site) -> None:
    report = client.get(f"/reports/{site.hostile}.json").json()["analysis"]
    observed = next(t["id"] for t in report["techniques"] if not t.get("inferred") and "." in t["id"])
    parent = observed.split(".")[0]
    assert [r["id"] for r in client.get(f"/.json?technique={parent}").json()["rows"]] == [site.hostile]
    assert [r["id"] for r in client.get(f"/.json?technique={observed.lower()}").json()["rows"]] == [site.hostile]


def test_full_text_search_uses_the_index(client: TestClient, site: Site) -> None:
    assert [r["id"] for r in client.get("/.json?q=Huawei careers").json()["rows"]] == [site.ids["clear"]]
    assert client.get("/.json?q=Huawei nonexistentword").json()["total"] == 0
    # FTS5 syntax in the query is taken as words, never as operators or column filters.
    for hostile in ('title:x OR "', "NEAR(a b", "*", "body: -", '"""'):
        assert client.get("/.json", params={"q": hostile}).status_code == 200


def test_briefing_page_has_the_document_and_items_linked_to_sentences(client: TestClient, site: Site) -> None:
    page = client.get(f"/reports/{site.ids['clear']}")
    assert page.status_code == 200
    text = page.text
    assert "Diving into details" in text                             # the shared briefing template
    assert 'id="document"' in text and "<mark id=\"s" in text       # the document with marked evidence
    anchors = [a.split('"')[0] for a in text.split('href="#s')[1:]]
    assert anchors and all(f'<mark id="s{a}"' in text for a in anchors)
    assert "RedDelta" in text
    data = client.get(f"/reports/{site.ids['clear'][:12]}.json").json()     # a unique prefix works too
    assert data["id"] == site.ids["clear"] and data["analysis"]["document"]["sha256"] == site.ids["clear"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_export_format(client: TestClient, site: Site, fmt: str) -> None:
    response = client.get(f"/reports/{site.ids['clear']}/export/{fmt}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == FORMATS[fmt].media_type.split(";")[0]
    body = response.text
    if fmt == "stix":
        bundle = json.loads(body)
        assert bundle["type"] == "bundle" and any(o["type"] == "intrusion-set" for o in bundle["objects"])
    elif fmt in ("misp", "navigator"):
        assert json.loads(body)
    elif fmt == "csv":
        assert next(csv.reader(io.StringIO(body)))
    assert client.get(f"/reports/{site.ids['clear']}/export/docx").status_code == 404


def test_actor_page(client: TestClient, site: Site) -> None:
    data = client.get("/actors/G0129.json").json()
    assert data["name"] == "Mustang Panda"
    names = {a["name"] for a in data["aliases"]}
    assert "RedDelta" in names and all(a["sources"] for a in data["aliases"])
    assert [r["id"] for r in data["reports"]] == [site.ids["clear"]]
    assert data["techniques"] and all(t["known"] for t in data["techniques"])      # ATT&CK's, none observed
    assert not any(t["reports"] for t in data["techniques"])      # the readable report describes none of them
    login(client, "admin")
    red = client.get("/actors/G0129.json").json()
    observed = {t["id"]: t for t in red["techniques"] if t["reports"]}
    red_analysis = client.get(f"/reports/{site.ids['red']}.json").json()["analysis"]
    assert set(observed) == {t["id"] for t in red_analysis["techniques"] if not t.get("inferred")}
    assert all(t["heat"] == 5 for t in observed.values())
    client.post("/logout", data={"csrf": csrf_of(client)})
    assert any(e["report"] for e in data["timeline"]) and any(not e["report"] for e in data["timeline"])
    page = client.get("/actors/G0129.html")                           # the briefing template's link form
    assert page.status_code == 200 and "RedDelta" in page.text
    # who asserts each name, in words (it showed each source as a Python dict)
    ta416 = next(a for a in data["aliases"] if a["name"] == "TA416")
    said = f"{ta416['sources'][0]['source']} (citing {'; '.join(ta416['sources'][0]['citations'])})"
    assert html.escape(f"TA416: {said}", quote=False) in page.text
    assert "{&#39;" not in page.text and "{'" not in page.text
    assert client.get("/actors/G9999.json").status_code == 404


def test_technique_page(client: TestClient, site: Site) -> None:
    report = client.get(f"/reports/{site.hostile}.json").json()["analysis"]
    tid = next(t["id"] for t in report["techniques"] if not t.get("inferred"))
    data = client.get(f"/techniques/{tid}.json").json()
    assert data["id"] == tid and data["tactics"] and [r["id"] for r in data["reports"]] == [site.hostile]
    assert site.hostile in [r["id"] for r in client.get(f"/techniques/{tid.split('.')[0]}.json").json()["reports"]]
    assert client.get(f"/techniques/{tid}").status_code == 200
    assert client.get("/techniques/X1.json").status_code == 404


def test_indicators_where_have_i_seen_this_defanged_on_screen(client: TestClient, site: Site) -> None:
    analysis: dict[str, Any] = client.get(f"/reports/{site.hostile}.json").json()["analysis"]
    url = next(i for i in analysis["iocs"] if i["type"] == "url")
    data = client.get("/indicators.json", params={"q": url["value"]}).json()
    assert [r["id"] for r in data["reports"]] == [site.hostile] and data["value"] == url["value"]
    assert data["types"] == ["url"]
    defanged = data["defanged"]
    assert defanged != url["value"] and "hxxp" in defanged
    again = client.get("/indicators.json", params={"q": defanged}).json()                 # a defanged query
    assert again["value"] == url["value"] and [r["id"] for r in again["reports"]] == [site.hostile]
    page = client.get("/indicators", params={"q": url["value"]}).text
    assert defanged in page and url["value"] not in page


def test_openapi_documents_every_page_and_its_json(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/", "/.json", "/reports/{ref}", "/reports/{ref}.json", "/actors/{key}.json",
                 "/techniques/{tid}.json", "/indicators.json", "/reports/{ref}/export/{fmt}"):
        assert path in paths, path


def test_security_headers(client: TestClient) -> None:
    response = client.get("/")
    assert "script-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_hostile_text_is_escaped_and_bidi_controls_shown(client: TestClient, site: Site) -> None:
    """The server side of the browser test: report text never becomes markup, and a right-to-left override is
    printed as its code point (the browser test checks what Chromium makes of it)."""
    for path in (f"/reports/{site.hostile}", "/", "/?q=digest", f"/indicators?q={site.hostile[:3]}"):
        page = client.get(path).text
        assert "<script>" not in page and "<img" not in page and "<iframe" not in page and "<svg" not in page
        assert "\u202e" not in page
    page = client.get(f"/reports/{site.hostile}").text
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in page and "[U+202E]" in page


def test_every_page_has_its_json_twin(app: Any, client: TestClient) -> None:
    """Every GET route that answers with a page (read from app.routes) is also served as JSON at its path +
    .json, and that JSON is what the page shows (the same keys a JSON client needs)."""
    from tests.web.test_tlp import routes_of

    routes = {path for path, method in routes_of(app) if method == "GET"}
    pages = {p for p in routes if not p.endswith((".json", ".jsonl")) and not p.startswith(("/taxii2", "/openapi"))
             and "/export/" not in p}
    assert {"/", "/login", "/submit", "/reports/{ref}", "/jobs/{job_id}"} <= pages
    missing = [p for p in sorted(pages) if ("/.json" if p == "/" else p + ".json") not in routes]
    assert not missing, f"pages without a .json twin: {missing}"
    assert client.get("/login.json").json() == {"user": None, "role": "anonymous", "levels": ["clear"],
                                                "can_submit": False, "can_review": False}
    assert client.get("/submit.json").status_code == 401
    login(client, "analyst")
    me = client.get("/login.json").json()
    assert me["user"] == "analyst" and me["can_submit"] and "amber" in me["levels"]
    form = client.get("/submit.json").json()
    assert form["levels"] == me["levels"] and {"text", "url", "file", "tlp", "title"} <= set(form["fields"])


def test_actor_technique_and_indicator_pages_count_the_whole_store(client: TestClient, site: Site,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Their reports are paged (a store of 10,000 reports showed the newest 500 and said nothing of the rest), every
    page says how many there are in all, and the heatmap and the technique's actors count every readable report,
    not one page's."""
    from threadline.web import queries

    headers = {"Authorization": f"Bearer {site.tokens['admin']}"}
    technique = client.get(f"/reports/{site.ids['red']}.json", headers=headers).json()["analysis"]["techniques"][0]
    urls = ["/actors/G0129.json", f"/techniques/{technique['id']}.json", "/indicators.json?q=203.0.113.77"]
    whole = {url: client.get(url, headers=headers).json() for url in urls}
    assert whole["/actors/G0129.json"]["total_reports"] >= 2
    monkeypatch.setattr(queries, "REPORTS_PER_PAGE", 1)
    for url in urls:
        first = client.get(url, headers=headers).json()
        assert first["total_reports"] == whole[url]["total_reports"] == len(whole[url]["reports"])
        seen, page = [], first
        while True:
            assert len(page["reports"]) <= 1
            seen += [r["id"] for r in page["reports"]]
            if not page["next"]:
                break
            page = client.get(page["next"].replace("?", ".json?", 1) if ".json" not in page["next"] else page["next"],
                              headers=headers).json()
        assert seen == [r["id"] for r in whole[url]["reports"]], url            # every report, once, in order
    paged = client.get("/actors/G0129.json", headers=headers).json()
    assert paged["techniques"] == whole["/actors/G0129.json"]["techniques"]     # the heatmap: the whole store
    assert paged["listing"] == "/?actor=G0129"
    assert client.get(f"/techniques/{technique['id']}.json", headers=headers).json()["actors"] == \
        whole[f"/techniques/{technique['id']}.json"]["actors"]
    page = client.get("/actors/G0129", headers=headers).text
    assert f"{paged['total_reports']} reports you may read; this page lists 1" in page and 'rel="next"' in page


def test_each_item_is_reviewed_with_its_evidence_beside_it(client: TestClient, site: Site) -> None:
    """The review table shows each item's evidence sentence in its row (not only a link into the document), and a
    country with its role, the thing an analyst corrects."""
    import re

    analysis = client.get(f"/reports/{site.ids['clear']}.json").json()["analysis"]
    country = analysis["countries"][0]
    page = client.get(f"/reports/{site.ids['clear']}").text
    table = page.split('id="items"', 1)[1].split("</table>", 1)[0]
    row = next(r for r in table.split("<tr>") if "<td>country</td>" in r and html.escape(country["name"]) in r)
    assert f"{html.escape(country['name'])} ({country['role']})" in row
    sentence = " ".join(country["evidence"][0]["text"].split())
    shown = re.search(r"<q>(.*?)</q>", row, re.S)
    assert shown and " ".join(html.unescape(shown.group(1)).split()) == sentence
