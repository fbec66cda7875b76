"""Logging in and out: a form with a CSRF token, argon2 verification, a rate limit per address and per name, and a
fresh session (new CSRF token) on every change of user, so a token seen before login is useless after it."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from threadline.web.auth import Who, check_password, require_csrf
from threadline.web.render import html

router = APIRouter()


def _safe_next(target: str) -> str:
    """Only a path on this site (never ``//evil.example`` or ``javascript:``) is followed after login."""
    parts = urlsplit(target)
    return target if target.startswith("/") and not target.startswith("//") and not parts.scheme \
        and not parts.netloc and "\\" not in target else "/"


@router.get("/login", response_class=HTMLResponse, summary="The login form")
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return html(request, "login.html.j2", {"next": _safe_next(next), "error": None})


@router.get("/login.json", summary="Who is asking (session or API token): name, role, the markings they may read "
            "(JSON)")
def login_json(who: Who) -> JSONResponse:
    return JSONResponse({"user": who.name, "role": who.role, "levels": list(who.levels),
                         "can_submit": who.can_submit, "can_review": who.can_review})


@router.post("/login", summary="Log in (form: name, password, csrf); rate-limited")
def login(request: Request, name: str = Form(..., max_length=100), password: str = Form(..., max_length=1000),
          csrf: str = Form(""), next: str = Form("/")) -> Response:
    require_csrf(request, csrf)
    state = request.app.state.threadline
    client = request.client.host if request.client else "?"
    keys = (f"ip:{client}", f"user:{name.lower()}")
    if state.limiter.blocked(*keys):
        return html(request, "login.html.j2", {"next": _safe_next(next), "error": "Too many failed logins; wait a "
                                               "few minutes and try again."}, status=429)
    who = check_password(state.store, name, password)
    if who is None:
        state.limiter.failed(*keys)
        return html(request, "login.html.j2", {"next": _safe_next(next), "error": "Wrong name or password."},
                    status=401)
    cookie, _ = state.sessions.dump(who.name)
    request.state.new_cookie = cookie
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", summary="Log out (form: csrf)")
def logout(request: Request, csrf: str = Form("")) -> Response:
    require_csrf(request, csrf)
    cookie, _ = request.app.state.threadline.sessions.dump(None)
    request.state.new_cookie = cookie
    return RedirectResponse("/", status_code=303)
