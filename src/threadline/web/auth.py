"""Accounts, API tokens, sessions, CSRF and login rate limiting.

Passwords are argon2id hashes (argon2-cffi's defaults, the OWASP recommendation); an API token is 256 random bits
shown once and stored as its SHA-256 (a hash that is fast to check is enough for a secret nobody can guess). The
session is a cookie signed with itsdangerous, carrying the user name and a CSRF token that every form echoes.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Depends, HTTPException, Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from threadline import settings
from threadline.errors import InputError, NotFoundError
from threadline.store.models import TokenRow, UserRow
from threadline.store.repository import Store
from threadline.web.tlp import ANONYMOUS, ROLES, Principal

SESSION_COOKIE = "threadline_session"
SESSION_MAX_AGE = 12 * 3600            # seconds a signed session stays valid
MIN_PASSWORD = 10                       # characters (NIST SP 800-63B asks for at least 8)
_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _now() -> datetime:
    return datetime.now(UTC)


# ---- accounts and tokens ------------------------------------------------------------------------------------
def add_user(store: Store, name: str, role: str, password: str) -> None:
    """Create an account; a one-line error for a bad role, a short password or a name already taken."""
    name = name.strip()
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise InputError("a user name is 1-100 characters without spaces", where=name or "NAME")
    if role not in ROLES:
        raise InputError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})", where="--role")
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password needs at least {MIN_PASSWORD} characters", where=name)
    try:
        with Session(store.engine) as session, session.begin():
            session.add(UserRow(name=name, role=role, password_hash=_hasher.hash(password), created_at=_now()))
    except IntegrityError:
        raise InputError("a user of this name already exists", where=name) from None


def create_token(store: Store, name: str) -> str:
    """A new API token for a user: the secret is returned once and only its hash is kept."""
    secret = "tl_" + secrets.token_urlsafe(32)
    with Session(store.engine) as session, session.begin():
        user = session.scalar(select(UserRow).where(UserRow.name == name))
        if user is None:
            raise NotFoundError("no such user (add it with `threadline user add`)", where=name)
        session.add(TokenRow(user_id=user.id, token_hash=_token_hash(secret), created_at=_now()))
    return secret


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def principal_of_token(store: Store, secret: str) -> Principal | None:
    with Session(store.engine) as session:
        row = session.execute(select(UserRow.name, UserRow.role).join(TokenRow, TokenRow.user_id == UserRow.id)
                              .where(TokenRow.token_hash == _token_hash(secret))).first()
    return Principal(row.name, row.role) if row else None


def principal_of_user(store: Store, name: str) -> Principal | None:
    with Session(store.engine) as session:
        role = session.scalar(select(UserRow.role).where(UserRow.name == name))
    return Principal(name, role) if role else None


def check_password(store: Store, name: str, password: str) -> Principal | None:
    """The user when the password is right, else None (in about the same time whether or not the name exists)."""
    with Session(store.engine) as session:
        row = session.execute(select(UserRow.role, UserRow.password_hash).where(UserRow.name == name)).first()
    ok: bool
    try:
        ok = _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        ok = False
    return Principal(name, row.role) if ok and row else None


# ---- sessions and CSRF --------------------------------------------------------------------------------------
def secret_key() -> str:
    """The key sessions are signed with: the ``web_secret`` setting, else a random key kept (mode 0600) in the
    data folder, so that restarting the server keeps people logged in."""
    explicit = settings.get("web_secret")
    if explicit:
        return explicit
    path = Path(settings.get("data_dir")) / "web-secret"
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
        return key


class Sessions:
    """Signs and reads the session cookie: ``{"u": user name or None, "c": CSRF token}``."""

    def __init__(self, key: str) -> None:
        self._serializer = URLSafeTimedSerializer(key, salt="threadline-session")

    def dump(self, user: str | None, csrf: str | None = None) -> tuple[str, str]:
        token = csrf or secrets.token_urlsafe(24)
        return self._serializer.dumps({"u": user, "c": token}), token

    def load(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        return data if isinstance(data, dict) and isinstance(data.get("c"), str) else None


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given and expected) and hmac.compare_digest(str(given), str(expected))


# ---- who is asking ----------------------------------------------------------------------------------------------
def principal(request: Request) -> Principal:
    """The reader: an API token (``Authorization: Bearer``), else the session's user, else anonymous. A token
    that is not valid is refused outright rather than read as anonymous, so a client learns its token is wrong."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    store = request.app.state.threadline.store
    header = request.headers.get("authorization", "")
    who: Principal | None = None
    if header.lower().startswith("bearer "):
        who = principal_of_token(store, header[7:].strip())
        if who is None:
            raise HTTPException(status_code=401, detail="invalid API token",
                                headers={"WWW-Authenticate": "Bearer"})
    else:
        session = getattr(request.state, "session", None) or {}
        user = session.get("u")
        who = principal_of_user(store, user) if isinstance(user, str) else None
    found = who or ANONYMOUS
    request.state.principal = found
    return found


Who = Annotated[Principal, Depends(principal)]      # a view's parameter: who is asking


def require_csrf(request: Request, token: str | None) -> None:
    """Forms must echo the session's CSRF token (a request with an API token carries no cookie to abuse)."""
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    if not same_token(token, (getattr(request.state, "session", None) or {}).get("c")):
        raise HTTPException(status_code=403, detail="the form expired or did not come from this site; reload it")


# ---- login rate limit ---------------------------------------------------------------------------------------
class LoginLimiter:
    """At most ``attempts`` failed logins per client address and per user name in a sliding ``window``."""

    def __init__(self, attempts: int = 5, window: float = 300.0) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures[key]
        while times and times[0] < now - self.window:
            times.popleft()
        return times

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.attempts for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)


__all__ = ["ANONYMOUS", "SESSION_COOKIE", "LoginLimiter", "Principal", "Sessions", "Who", "add_user",
           "check_password", "create_token", "principal", "principal_of_token", "principal_of_user", "require_csrf",
           "same_token", "secret_key"]
