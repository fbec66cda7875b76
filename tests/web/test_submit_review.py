"""Submitting a report (paste, upload, URL) runs a job whose page shows its progress and, on failure, why; an
analyst's review overrides the machine in the briefing, the JSON and the exports, and exports as training data."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.web.conftest import DATA, PASSWORD, REPO, Site, csrf_of, login

NEWS = (REPO / "tests" / "data" / "e2e" / "news-brief.txt").read_text(encoding="utf-8")


def _submit(client: TestClient, **fields: Any) -> Any:
    files = fields.pop("files", None)
    data = {"csrf": csrf_of(client, "/submit"), "tlp": "clear", **fields}
    return client.post("/submit", data=data, files=files, follow_redirects=False)


def test_only_analysts_submit(client: TestClient) -> None:
    assert client.get("/submit", follow_redirects=False).status_code == 303        # anonymous: log in first
    login(client, "viewer")
    assert client.get("/submit").status_code == 403


def test_paste_is_analysed_and_the_job_links_the_briefing(client: TestClient) -> None:
    login(client, "analyst")
    response = _submit(client, text=NEWS, title="Pasted news brief", tlp="amber")
    assert response.status_code == 303
    job = client.get(response.headers["location"] + ".json").json()
    assert job["state"] == "done" and job["progress"] == 100 and job["tlp"] == "amber"
    report = client.get(job["report"] + ".json").json()
    assert report["tlp"] == "amber" and report["analysis"]["document"]["title"] == "Pasted news brief"
    page = client.get(response.headers["location"]).text
    assert 'id="report"' in page and "refresh" not in page


def test_upload_of_a_file(client: TestClient) -> None:
    login(client, "analyst")
    body = (DATA / "amber-report.md").read_bytes()
    response = _submit(client, files={"file": ("amber.md", body, "text/markdown")}, tlp="green")
    job = client.get(response.headers["location"] + ".json").json()
    assert job["state"] == "done"
    assert client.get(job["report"] + ".json").json()["tlp"] == "amber"     # the report's own stricter marking


def test_an_unknown_tlp_word_in_the_front_matter_is_red(kb: Any, tmp_path: Path) -> None:
    """"tlp: restricted" (no TLP 2.0 level) left the report clear, shown to anonymous readers: it is red. (Its own
    store: the site's reports must not change under the other tests.)"""
    from threadline.store import open_store
    from threadline.web import create_app
    from threadline.web.auth import add_user

    note = (REPO / "tests" / "data" / "reports" / "vendor-note-front-matter.md").read_text(encoding="utf-8")
    body = note.replace("tlp: TLP:GREEN", "tlp: restricted")
    assert body != note
    store = open_store(tmp_path / "web.db")
    for role in ("analyst", "admin"):
        add_user(store, role, role, PASSWORD)
    app = create_app(store, kb=kb, secret="test-secret", background=False)
    with TestClient(app) as client, TestClient(app) as anonymous, TestClient(app) as admin:
        login(client, "analyst")
        response = _submit(client, files={"file": ("restricted.md", body.encode(), "text/markdown")})
        job = client.get(response.headers["location"] + ".json").json()
        assert job["state"] == "done" and job["tlp"] == "clear"     # the form's default, raised by the report
        report = job["report"]
        for reader in (anonymous, client):           # the analyst who submitted it is cleared to amber+strict
            assert reader.get(report + ".json").status_code == 404
        login(admin, "admin")
        assert admin.get(report + ".json").json()["tlp"] == "red"
    store.close()


def test_a_failed_job_says_why(client: TestClient) -> None:
    login(client, "analyst")
    response = _submit(client, url="http://127.0.0.1:9/report.html")         # loopback: refused, never fetched
    job = client.get(response.headers["location"] + ".json").json()
    assert job["state"] == "failed" and "127.0.0.1" in job["error"] and job["report"] is None
    page = client.get(response.headers["location"]).text
    assert 'id="error"' in page and "Failed:" in page


def test_bad_submissions_are_one_line_errors(client: TestClient) -> None:
    login(client, "analyst")
    assert _submit(client).status_code == 400                                  # nothing given
    assert _submit(client, text="x", url="https://example.org/").status_code == 400
    assert _submit(client, text=NEWS, tlp="red").status_code == 400            # above the analyst's clearance
    assert _submit(client, text=NEWS, tlp="purple").status_code == 400
    assert client.post("/submit", data={"text": NEWS, "csrf": "forged"}).status_code == 403


def test_a_long_paste_is_accepted_and_a_too_long_field_gets_a_clear_line(client: TestClient,
                                                                          monkeypatch: Any) -> None:
    """A report of a few MB pasted whole reaches the analysis (Starlette alone refuses form fields over 1 MB, with
    words that name neither the field nor what to do); past the form's own bound, the line says to upload."""
    from threadline.web import jobs

    login(client, "analyst")
    long_text = (NEWS + "\n\n") * (1_600_000 // len(NEWS) + 1)          # ~1.6 MB
    # max_input_bytes below it: the route's own check answers, which proves the field got through the form parser
    monkeypatch.setenv("THREADLINE_MAX_INPUT_BYTES", str(1_500_000))
    response = _submit(client, text=long_text)
    assert response.status_code == 400
    assert "paste: the text is larger than max_input_bytes" in response.text, response.text
    response = client.post("/submit", data={"csrf": csrf_of(client, "/submit"), "tlp": "clear",
                                            "text": "x" * (jobs.PASTE_MAX_BYTES + 1)},
                           headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"error": "/submit: a form field is larger than the web form accepts (64 MB); upload "
                                        "the report as a file instead"}


def test_jobs_are_private_to_their_submitter(client: TestClient, app: Any) -> None:
    login(client, "analyst")
    location = _submit(client, text=NEWS).headers["location"]
    other = TestClient(app)
    login(other, "viewer")
    assert other.get(location + ".json").status_code == 404
    admin = TestClient(app)
    login(admin, "admin")
    assert admin.get(location + ".json").status_code == 200


def test_the_page_never_waits_for_the_analysis(site: Site, kb: Any) -> None:
    """With the background worker, the submit request returns at once and the job page shows progress."""
    from threadline.web import create_app

    app = create_app(site.store, kb=kb, secret="test-secret")
    with TestClient(app) as client:
        login(client, "analyst")
        started = time.monotonic()
        response = _submit(client, text=NEWS + "\nA second copy, so the content is new.", tlp="green")
        assert time.monotonic() - started < 2.0
        location = response.headers["location"]
        first = client.get(location).text
        assert "refresh" in first or "done" in first
        for _ in range(300):
            job = client.get(location + ".json").json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert job["state"] == "done", job


def _review(client: TestClient, ref: str, **fields: str) -> Any:
    data = {"csrf": csrf_of(client, f"/reports/{ref}"), **fields}
    return client.post(f"/reports/{ref}/review", data=data, follow_redirects=False)


def test_a_correction_overrides_the_machine_everywhere(client: TestClient, site: Site, app: Any) -> None:
    ref = site.hostile
    login(client, "analyst")
    analysis = client.get(f"/reports/{ref}.json").json()["analysis"]
    machine = next(t["id"] for t in analysis["techniques"] if not t.get("inferred"))
    assert _review(client, ref, kind="technique", key=machine, action="correct", value="T1204.002").status_code == 303
    after = client.get(f"/reports/{ref}.json").json()
    ids = [t["id"] for t in after["analysis"]["techniques"]]
    assert "T1204.002" in ids and machine not in ids
    corrected = next(t for t in after["analysis"]["techniques"] if t["id"] == "T1204.002")
    assert corrected["review"]["by"] == "analyst" and corrected["review"]["at"]
    assert corrected["name"] == "Malicious File"
    assert "T1204.002" in client.get(f"/reports/{ref}").text                  # the briefing
    stix = json.loads(client.get(f"/reports/{ref}/export/stix").text)
    names = {o.get("external_references", [{}])[0].get("external_id") for o in stix["objects"]
             if o["type"] == "attack-pattern"}
    assert "T1204.002" in names and machine not in names                       # the STIX export
    assert ref in [r["id"] for r in client.get("/.json?technique=T1204.002").json()["rows"]]   # the findings
    training = [json.loads(line) for line in client.get("/reviews/training.jsonl").text.splitlines()]
    assert any(t["technique"] == "T1204.002" and t["machine"] == machine and t["verdict"] == "correct"
               and t["text"] for t in training)
    # A reject removes the item; the latest verdict wins.
    assert _review(client, ref, kind="technique", key=machine, action="reject").status_code == 303
    final = [t["id"] for t in client.get(f"/reports/{ref}.json").json()["analysis"]["techniques"]]
    assert sorted(final) == sorted(t["id"] for t in analysis["techniques"] if t["id"] != machine)


def test_reviews_need_an_analyst_and_a_valid_correction(client: TestClient, site: Site) -> None:
    login(client, "viewer")
    assert _review(client, site.ids["clear"], kind="actor", key="G0129", action="reject").status_code == 403
    login(client, "analyst")
    assert _review(client, site.ids["clear"], kind="technique", key="T1566", action="correct",
                   value="not-a-technique").status_code == 400
    assert _review(client, site.ids["red"], kind="actor", key="G0129", action="reject").status_code == 404


def test_a_job_left_running_by_a_stopped_server_says_so(client: TestClient, site: Site) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy.orm import Session

    from threadline.store.models import JobRow

    long_ago = datetime.now(UTC) - timedelta(hours=2)
    with Session(site.store.engine) as session, session.begin():
        session.add(JobRow(id="f" * 32, state="running", step="analysing document 1 of 1", progress=40,
                           source="paste by analyst", tlp="clear", submitted_by="analyst", created_at=long_ago,
                           updated_at=long_ago))
    login(client, "analyst")
    job = client.get(f"/jobs/{'f' * 32}.json").json()
    assert job["state"] == "failed" and "server stopped" in job["error"]



def test_a_submission_is_attributed_with_the_store_s_earlier_reports(kb: Any, tmp_path: Path) -> None:
    """As `threadline analyze` does: a stored report that claims its actor corroborates a later submission, and the
    evidence says which stored report it came from; never the submission's own. (A store of its own: the shared
    site's canary test must not see these reports.)"""
    from threadline.store import open_store
    from threadline.web import create_app
    from threadline.web.auth import add_user

    store = open_store(tmp_path / "web.db")
    add_user(store, "analyst", "analyst", PASSWORD)
    heron = (REPO / "tests" / "data" / "reports" / "silent-heron.html").read_bytes()
    note = (REPO / "tests" / "data" / "reports" / "vendor-note-front-matter.md").read_bytes()
    reports = []
    with TestClient(create_app(store, kb=kb, secret="test-secret", background=False)) as client:
        login(client, "analyst")
        for name, body, kind in (("heron.html", heron, "text/html"), ("note.md", note, "text/markdown")):
            job = client.get(_submit(client, files={"file": (name, body, kind)}).headers["location"] + ".json").json()
            assert job["state"] == "done", job
            reports.append(client.get(job["report"] + ".json").json()["analysis"])
    store.close()
    sha = reports[0]["document"]["sha256"][:12]

    def stored(analysis: dict[str, Any]) -> list[str]:
        return [x for c in analysis["attribution"]["candidates"] for s in c["evidence"]["shared"]
                if isinstance(s.get("source"), list) for x in s["source"] if x.startswith("stored analysis: ")]

    assert [x for x in stored(reports[1]) if sha in x]
    assert not stored(reports[0])


def test_each_kind_of_item_is_corrected_everywhere(kb: Any, tmp_path: Path) -> None:
    """Actor, claim, country role and indicator corrections (as the technique one above) override the machine in
    the JSON, the briefing, the STIX and MISP exports and the listing's filters: an actor corrected to another
    group's alias is that group (its ATT&CK id), a country corrected to "origin" is no longer a victim. (A store of
    its own: the shared site's listings must not change.)"""
    from threadline.store import open_store
    from threadline.web import create_app
    from threadline.web.auth import add_user

    store = open_store(tmp_path / "web.db")
    add_user(store, "analyst", "analyst", PASSWORD)
    text = (REPO / "examples" / "operation-dianxun.md").read_text(encoding="utf-8") + (
        "\nThe loader called back to dianxun-update.xyz for its next stage.\n")
    with TestClient(create_app(store, kb=kb, secret="test-secret", background=False)) as client:
        login(client, "analyst")
        job = client.get(_submit(client, text=text).headers["location"] + ".json").json()
        assert job["state"] == "done", job
        ref = job["report"].rsplit("/", 1)[1]
        before = client.get(f"/reports/{ref}.json").json()["analysis"]
        assert [a["attack_id"] for a in before["actors"]] == ["G0129"]
        assert {c["attack_id"] for c in before["claims"]} == {"G0129"}
        assert next(c for c in before["countries"] if c["code"] == "US")["role"] == "targeted"
        assert ("domain", "dianxun-update.xyz") in [(i["type"], i["value"]) for i in before["iocs"]]
        for kind, key, value in (("actor", "G0129", "APT41"), ("claim", "G0129", "APT41"),
                                 ("country", "US", "origin"),
                                 ("indicator", "domain:dianxun-update.xyz", "dianxun-update.top")):
            assert _review(client, ref, kind=kind, key=key, action="correct", value=value).status_code == 303
        after = client.get(f"/reports/{ref}.json").json()["analysis"]
        assert [(a["attack_id"], a["name"], a["review"]["by"]) for a in after["actors"]] == \
            [("G0096", "APT41", "analyst")]
        assert {(c["attack_id"], c["actor"]) for c in after["claims"]} == {("G0096", "APT41")}
        us = next(c for c in after["countries"] if c["code"] == "US")
        assert us["role"] == "origin" and us["name"] == "United States of America" and us["review"]["value"] == "origin"
        assert [i["value"] for i in after["iocs"] if i["type"] == "domain"] == ["dianxun-update.top"]
        page = client.get(f"/reports/{ref}").text
        assert "APT41" in page and "dianxun-update[.]top" in page
        stix = json.loads(client.get(f"/reports/{ref}/export/stix").text)
        names = {o["name"] for o in stix["objects"] if o["type"] == "intrusion-set"}
        assert "APT41" in names and "Mustang Panda" not in names
        places = {o["id"]: o.get("country") for o in stix["objects"] if o["type"] == "location"}
        targets = {places.get(o["target_ref"]) for o in stix["objects"]
                   if o["type"] == "relationship" and o["relationship_type"] == "targets"}
        assert "VA" in targets and "US" not in targets
        patterns = " ".join(o["pattern"] for o in stix["objects"] if o["type"] == "indicator")
        assert "dianxun-update.top" in patterns and "dianxun-update.xyz" not in patterns   # the
        # sentence quoted as the indicator's evidence keeps the report's own words
        misp = client.get(f"/reports/{ref}/export/misp").text
        assert "United States" not in json.dumps([a for a in json.loads(misp)["Event"]["Attribute"]
                                                  if a["type"] == "target-location"])
        assert [r["id"] for r in client.get("/.json?actor=G0096").json()["rows"]] == [ref]
        assert client.get("/.json?actor=G0129").json()["total"] == 0
        assert ref in [r["id"] for r in client.get("/actors/G0096.json").json()["reports"]]
        assert ref in [r["id"] for r in client.get("/indicators.json?q=dianxun-update.top").json()["reports"]]
        # a country correction is a role or a code, nothing else
        assert _review(client, ref, kind="country", key="VA", action="correct", value="victim").status_code == 400
    store.close()


def test_a_url_on_a_private_address_is_fetched_only_when_the_server_allows_it(kb: Any, tmp_path: Path,
                                                                              monkeypatch: Any) -> None:
    """A submitted URL is read by the job (SSRF-safe: refused on loopback, as above); a server set to read an
    intranet's reports (setting web_allow_private) fetches it, analyses it at the marking asked, and links the
    briefing."""
    import functools
    import http.server
    import threading

    from threadline.store import open_store
    from threadline.web import create_app
    from threadline.web.auth import add_user

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "report.md").write_bytes((REPO / "examples" / "operation-dianxun.md").read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/report.md"
    store = open_store(tmp_path / "web.db")
    add_user(store, "analyst", "analyst", PASSWORD)
    try:
        for allowed in ("no", "yes"):
            monkeypatch.setenv("THREADLINE_WEB_ALLOW_PRIVATE", allowed)
            with TestClient(create_app(store, kb=kb, secret="test-secret", background=False)) as client:
                login(client, "analyst")
                job = client.get(_submit(client, url=url, tlp="green").headers["location"] + ".json").json()
                if allowed == "no":
                    assert job["state"] == "failed" and "127.0.0.1" in job["error"], job
                    continue
                assert job["state"] == "done", job
                report = client.get(job["report"] + ".json").json()
                assert report["tlp"] == "green" and "Diànxùn" in report["title"]
                assert report["analysis"]["document"]["source"] == url
    finally:
        server.shutdown()
        store.close()
