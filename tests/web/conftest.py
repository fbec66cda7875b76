"""A web app over its own store: four reports at four TLP levels, analysed by the current code, and one account
(with an API token) per role."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from threadline.store import Store, open_store

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "web"
PASSWORD = "correct horse battery staple"
# (document, TLP it is submitted at); front matter marks the amber and red ones already.
REPORTS = ((REPO / "examples" / "operation-dianxun.md", None), (DATA / "hostile.md", None),
           (REPO / "tests" / "data" / "reports" / "gov-advisory.md", "green"),
           (DATA / "amber-report.md", None), (DATA / "red-report.md", None))
# A report stored first as TLP:CLEAR, so that the reports analysed after it cite it as attribution evidence (its
# claims name APT41), then analysed again at TLP:RED: the older analyses still hold its title.
RAISED = REPO / "tests" / "data" / "reports" / "silent-heron.html"
# Strings only the TLP:RED reports hold (the campaign, indicators and title words of the red one, the title of the
# raised one).
RED_CANARIES = ("Crimson Lantern", "crimson", "lantern-crimson-cdn", "203.0.113.77", "203[.]0[.]113[.]77",
                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "shipping ministries",
                "SILENT HERON", "aimed at European energy")


@dataclass
class Site:
    store: Store
    ids: dict[str, str]                 # TLP level -> document id (clear: the Diànxùn example; raised: see RAISED)
    tokens: dict[str, str]              # role -> API token
    hostile: str                        # id of the hostile report


def _store_with_reports(kb: Any) -> Site:
    from threadline.analysis import analyze_document
    from threadline.attribute.known import known_links
    from threadline.ingest import ingest_into
    from threadline.store.analyses import save_analysis
    from threadline.web.auth import add_user, create_token

    folder = Path(tempfile.mkdtemp(prefix="threadline-web-"))
    store = open_store(folder / "web.db")
    ids: dict[str, str] = {}
    hostile = ""

    def analyse(path: Path, tlp: str | None) -> Any:
        """As `threadline analyze --tlp` does: the store's earlier analyses are attribution evidence."""
        doc = ingest_into(store, str(path), tlp=tlp).documents[0]
        save_analysis(store, analyze_document(doc, kb, known=known_links(kb, store)))
        return doc

    analyse(RAISED, None)
    for path, tlp in REPORTS:
        doc = analyse(path, tlp)
        if path.name == "hostile.md":
            hostile = doc.sha256
        else:
            ids[str(doc.metadata.get("tlp") or "clear")] = doc.sha256
    ids["raised"] = analyse(RAISED, "red").sha256
    tokens = {}
    for role in ("viewer", "analyst", "admin"):
        add_user(store, role, role, PASSWORD)
        tokens[role] = create_token(store, role)
    return Site(store, ids, tokens, hostile)


@pytest.fixture(scope="session")
def site(kb: Any) -> Iterator[Site]:
    built = _store_with_reports(kb)
    yield built
    built.store.close()


@pytest.fixture(scope="session")
def app(site: Site, kb: Any) -> Any:
    from threadline.web import create_app

    return create_app(site.store, kb=kb, secret="test-secret", background=False)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def login(client: TestClient, name: str, password: str = PASSWORD) -> Any:
    """Log in through the form, as a browser does (the CSRF token comes from the form page)."""
    import re

    page = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf, "the login form carries a CSRF token"
    return client.post("/login", data={"name": name, "password": password, "csrf": csrf.group(1)},
                       follow_redirects=False)


def csrf_of(client: TestClient, path: str = "/") -> str:
    import re

    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found, f"{path} has a form with a CSRF token"
    return found.group(1)


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, for clients that speak real HTTP (taxii2-client, a
    browser); yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def analyst_api(store: Store, kb: Any) -> Iterator[tuple[Any, TestClient]]:
    """An app over ``store`` whose submissions run as background jobs, and a client calling its API as an analyst
    (bearer token, JSON answers): what the job tests submit through."""
    from threadline.web import create_app
    from threadline.web.auth import add_user, create_token

    add_user(store, "analyst", "analyst", PASSWORD)
    token = create_token(store, "analyst")
    app = create_app(store, kb=kb, secret="test-secret", background=True)
    with TestClient(app, headers={"Authorization": f"Bearer {token}", "Accept": "application/json"}) as client:
        yield app, client
