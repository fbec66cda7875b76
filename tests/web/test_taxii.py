"""The TAXII 2.1 server as OASIS's own client (taxii2-client) reads it, over HTTP on loopback: discovery, API
root, collections, objects with added_after, match[type] and pagination, the manifest; TLP-filtered per token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, RED_CANARIES, Site, live_server

taxii = pytest.importorskip("taxii2client.v21", reason="taxii2-client is not installed (pip install -e '.[dev]')")


class Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


@pytest.fixture(scope="module")
def server(app: Any) -> Iterator[str]:
    with live_server(app) as base:
        yield base + "/taxii2/"


def _collection(url: str, token: str | None) -> Any:
    server = taxii.Server(url, auth=Bearer(token) if token else None)
    assert server.title == "Threadline TAXII 2.1"
    root = server.default
    assert root is not None and root.versions == ["application/taxii+json;version=2.1"]
    (collection,) = root.collections
    assert collection.can_read and not collection.can_write
    return collection


def _all_objects(collection: Any, **filters: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for envelope in taxii.as_pages(collection.get_objects, per_request=25, **filters):
        out += envelope.get("objects", [])
    return out


def test_taxii_client_reads_the_collection_page_by_page(server: str, site: Site) -> None:
    collection = _collection(server, site.tokens["analyst"])
    objects = _all_objects(collection)
    reports = [o for o in objects if o["type"] == "report"]
    assert len(reports) >= 4 and len(objects) > 25                      # several pages of 25
    assert {o["type"] for o in objects} >= {"report", "intrusion-set", "marking-definition"}
    for obj in objects:
        assert obj["id"].startswith(obj["type"] + "--")
    indicators = _all_objects(collection, type="indicator")
    assert indicators and all(o["type"] == "indicator" for o in indicators)
    manifest = collection.get_manifest()
    assert manifest["objects"] and all(r["media_type"] == "application/stix+json;version=2.1"
                                       for r in manifest["objects"])
    one = collection.get_object(reports[0]["id"])
    assert one["objects"][0]["id"] == reports[0]["id"]


def test_added_after_returns_only_newer_analyses(server: str, site: Site, client: TestClient) -> None:
    headers = {"Authorization": f"Bearer {site.tokens['admin']}", "Accept": "application/taxii+json;version=2.1"}
    base = "/taxii2/threadline/collections/9f0b6c1e-7f4a-4c59-9a36-5c1d2e7b0a11/manifest/"
    everything = client.get(base, headers=headers, params={"limit": 1000}).json()["objects"]
    dates = sorted({r["date_added"] for r in everything})
    assert len(dates) >= 2
    newer = client.get(base, headers=headers, params={"limit": 1000, "added_after": dates[0]}).json()["objects"]
    assert newer and all(r["date_added"] > dates[0] for r in newer)
    assert len(newer) < len(everything)
    page = client.get(base, headers=headers, params={"limit": 3})
    assert page.json()["more"] is True and page.headers["X-TAXII-Date-Added-First"]


@pytest.mark.parametrize("who", [None, "viewer", "analyst"])
def test_taxii_is_filtered_by_the_token(server: str, site: Site, who: str | None) -> None:
    collection = _collection(server, site.tokens[who] if who else None)
    text = str(_all_objects(collection)).lower()
    for canary in RED_CANARIES:
        assert canary.lower() not in text
    markings = {m for o in _all_objects(collection, type="report") for m in o.get("object_marking_refs", [])}
    assert markings                                               # reports are marked with their TLP


def test_admin_reads_the_red_report_and_basic_auth_works(server: str, site: Site) -> None:
    collection = taxii.Collection(
        server + "threadline/collections/9f0b6c1e-7f4a-4c59-9a36-5c1d2e7b0a11/", user="admin", password=PASSWORD)
    text = str(_all_objects(collection, type="report"))
    assert "Crimson Lantern" in text
    wrong = taxii.Collection(
        server + "threadline/collections/9f0b6c1e-7f4a-4c59-9a36-5c1d2e7b0a11/", user="admin", password="nope")
    with pytest.raises(requests.exceptions.HTTPError):
        wrong.get_objects()


def test_ingest_a_taxii_collection(server: str, site: Site, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                                   run_cli: Any) -> None:
    """`threadline ingest taxii+http://…/collections/ID/` imports the collection as STIX knowledge, as much of it
    as the token may read."""
    from threadline.store import open_store

    source = f"taxii+{server}threadline/collections/9f0b6c1e-7f4a-4c59-9a36-5c1d2e7b0a11/"
    anonymous_db, admin_db = str(tmp_path / "anonymous.db"), str(tmp_path / "admin.db")
    code, out, err = run_cli("ingest", "--allow-private", "--db", anonymous_db, source)   # loopback needs the flag
    assert code == 0, err
    assert "imported" in out and "STIX objects" in out
    monkeypatch.setenv("THREADLINE_TAXII_TOKEN", site.tokens["admin"])
    assert run_cli("ingest", "--allow-private", "--db", admin_db, source)[0] == 0
    with open_store(anonymous_db) as anonymous, open_store(admin_db) as admin:
        seen = str(anonymous.knowledge_of_type("report")).lower()
        assert "operation di" in seen and "crimson lantern" not in seen
        assert "Crimson Lantern" in str(admin.knowledge_of_type("report"))
        assert admin.count_knowledge() > anonymous.count_knowledge()
    code, _, err = run_cli("ingest", "--db", anonymous_db, source)           # loopback refused without the flag
    assert code == 2 and "Traceback" not in err


def test_a_taxii_source_that_is_not_a_collection(run_cli: Any, tmp_path: Any) -> None:
    code, _, err = run_cli("ingest", "--db", str(tmp_path / "x.db"), "taxii+https://taxii.example/taxii2/")
    assert code == 2 and "taxii+https://taxii.example/taxii2/: a TAXII source is the URL of a collection" in err
