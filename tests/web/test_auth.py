"""Accounts: the CLI creates users (argon2) and tokens; login needs the form's CSRF token, is rate-limited, and
follows only same-site targets; sessions are signed."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.web.conftest import PASSWORD, csrf_of, login


def test_user_and_token_commands(run_cli: Any) -> None:
    from threadline.store import open_store
    from threadline.web.auth import check_password, principal_of_token

    db = str(Path(tempfile.mkdtemp()) / "accounts.db")
    code, _, err = run_cli("user", "add", "carol", "--role", "analyst", "--db", db, stdin=PASSWORD + "\n")
    assert code == 0, err
    code, _, err = run_cli("user", "add", "carol", "--role", "analyst", "--db", db, stdin=PASSWORD + "\n")
    assert code == 2 and "already exists" in err and "Traceback" not in err
    code, _, err = run_cli("user", "add", "dave", "--role", "root", "--db", db, stdin=PASSWORD + "\n")
    assert code == 2 and "unknown role" in err
    code, _, err = run_cli("user", "add", "erin", "--db", db, stdin="short\n")
    assert code == 2 and "at least" in err
    code, token, err = run_cli("token", "create", "carol", "--db", db)
    assert code == 0 and token.startswith("tl_")
    assert run_cli("token", "create", "nobody", "--db", db)[0] == 1
    with open_store(db) as store:
        from sqlalchemy import text

        with store.engine.connect() as conn:
            stored = conn.execute(text("SELECT password_hash FROM users WHERE name = 'carol'")).scalar_one()
            hashes = conn.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert token.strip() not in hashes                                 # only the token's hash is kept
        assert check_password(store, "carol", PASSWORD) is not None
        assert check_password(store, "carol", PASSWORD + "x") is None
        who = principal_of_token(store, token.strip())
        assert who is not None and who.name == "carol" and who.role == "analyst"


def test_login_and_logout(client: TestClient) -> None:
    response = login(client, "viewer")
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "Signed in as viewer (viewer)" in client.get("/").text
    assert client.post("/logout", data={"csrf": csrf_of(client)}, follow_redirects=False).status_code == 303
    assert "Log in" in client.get("/").text


def test_login_needs_the_forms_csrf_token(client: TestClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"name": "viewer", "password": PASSWORD, "csrf": "forged"},
                           follow_redirects=False)
    assert response.status_code == 403
    other = TestClient(client.app)              # a token from another browser's session is no good either
    token = csrf_of(other, "/login")
    assert client.post("/login", data={"name": "viewer", "password": PASSWORD, "csrf": token},
                       follow_redirects=False).status_code == 403


def test_wrong_password_and_rate_limit(client: TestClient, app: Any) -> None:
    app.state.threadline.limiter._failures.clear()
    for _ in range(5):
        assert login(client, "analyst", "wrong password!").status_code == 401
    blocked = login(client, "analyst")               # right password, but too many failures just now
    assert blocked.status_code == 429 and "Too many failed logins" in blocked.text
    app.state.threadline.limiter._failures.clear()
    assert login(client, "analyst").status_code == 303


def test_login_never_redirects_off_site(client: TestClient) -> None:
    import re

    for target in ("//evil.example/", "https://evil.example/", "javascript:alert(1)", "/\\evil.example"):
        page = client.get("/login", params={"next": target}).text
        assert re.search(r'name="next" value="/"', page), target


def test_a_tampered_session_is_anonymous(client: TestClient) -> None:
    login(client, "admin")
    cookie = client.cookies.get("threadline_session")
    assert cookie
    client.cookies.set("threadline_session", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    assert "Signed in as" not in client.get("/").text
