"""The FastAPI application: one store, the knowledge base loaded once, sessions, security headers and the routers.

``create_app`` builds an app over any store (the tests give each one its own); ``threadline serve`` runs it with
uvicorn. Errors Threadline raises on purpose become a one-line page or JSON body with the right status, never a
traceback.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import ChoiceLoader, Environment, PackageLoader, PrefixLoader
from starlette.exceptions import HTTPException as StarletteHTTPException

from threadline.errors import InputError, NotFoundError, ThreadlineError
from threadline.publish.render import defang_generic, html_env
from threadline.store.repository import Store
from threadline.web.auth import SESSION_COOKIE, LoginLimiter, Sessions, principal, secret_key
from threadline.web.tlp import ANONYMOUS

if TYPE_CHECKING:
    from threadline.knowledge.base import KnowledgeBase

# No script runs on any page (progress refreshes with <meta http-equiv="refresh">), so script-src is 'none'.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'none'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")


class State:
    """What every request shares: the store, the knowledge base (loaded on first use), templates and sessions."""

    def __init__(self, store: Store, kb: KnowledgeBase | None, secret: str) -> None:
        self.store = store
        self._kb = kb
        self._kb_lock = threading.Lock()
        self.sessions = Sessions(secret)
        self.limiter = LoginLimiter()
        self.env = web_env()
        self.jobs: Any = None        # the background job runner (threadline.web.jobs.Runner)

    @property
    def kb(self) -> KnowledgeBase:
        with self._kb_lock:
            if self._kb is None:
                from threadline.knowledge import load_kb

                self._kb = load_kb(progress=False)
            return self._kb


def web_env() -> Environment:
    """The briefing templates of ``threadline.publish`` with the web's own pages and base layout in front: the
    briefing page is the same template as the static site's, under a base with the app's navigation."""
    loader = ChoiceLoader([PackageLoader("threadline.web", "templates"),
                           PrefixLoader({"publish": PackageLoader("threadline.publish", "templates")}),
                           PackageLoader("threadline.publish", "templates")])
    env = html_env().overlay(loader=loader, finalize=_reveal_bidi)
    env.filters["defang"] = defang_generic
    return env


# Bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE makes "invoice<RLO>fdp.exe" read "invoiceexe.pdf"): shown
# as their code point wherever report text is printed, so that a page never reorders what the reader sees.
_BIDI = {c: f"[U+{c:04X}]" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def _reveal_bidi(value: Any) -> Any:
    return value.translate(_BIDI) if isinstance(value, str) and not hasattr(value, "__html__") else value


def state_of(request: Request) -> State:
    state: State = request.app.state.threadline
    return state


def _status(exc: ThreadlineError) -> int:
    return 404 if isinstance(exc, NotFoundError) else 400 if isinstance(exc, InputError) else 500


def create_app(store: Store, *, kb: KnowledgeBase | None = None, secret: str | None = None,
               background: bool = True, scheduler: str | None = None) -> FastAPI:
    """The web app over ``store``; ``background`` False runs submitted analyses before the request returns
    (tests only: the page then shows the finished job); ``scheduler`` (tcp://HOST:PORT) runs them on that Dask
    cluster instead of in this process."""
    from threadline.web import account, jobs, reviews, taxii, views

    state = State(store, kb, secret or secret_key())
    state.jobs = jobs.Runner(state, background=background, scheduler=scheduler)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        state.jobs.close()          # the job heartbeat stops with the server

    app = FastAPI(title="Threadline", version="1", description="Threat reports analysed: briefings, actors, "
                  "techniques and indicators as pages and JSON (every page at its path + .json), exports, TAXII 2.1.",
                  docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.threadline = state

    @app.middleware("http")
    async def session_and_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                                  ) -> Response:
        data = state.sessions.load(request.cookies.get(SESSION_COOKIE))
        fresh = data is None
        if data is None:
            cookie, csrf = state.sessions.dump(None)
            data = {"u": None, "c": csrf}
        request.state.session = data
        request.state.new_cookie = cookie if fresh else None
        response = await call_next(request)
        new_cookie = getattr(request.state, "new_cookie", None)
        if new_cookie:
            response.set_cookie(SESSION_COOKIE, new_cookie, httponly=True, samesite="lax",
                                secure=request.url.scheme == "https", max_age=12 * 3600, path="/")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers.setdefault("Cache-Control", "no-store")      # pages differ by who is asking
        return response

    def error(request: Request, message: str, status: int, headers: dict[str, str] | None = None) -> Response:
        """One line, as JSON for API clients and as a page for people; never a traceback."""
        path = request.url.path
        if path.endswith((".json", ".jsonl")) or path.startswith("/taxii2") or path == "/openapi.json" \
                or "json" in request.headers.get("accept", "") or not hasattr(request.state, "session"):
            return JSONResponse({"error": message}, status_code=status, headers=headers)
        try:
            who = principal(request)
        except Exception:           # a bad API token: the error page is shown as to anyone
            who = ANONYMOUS
        html = state.env.get_template("error.html.j2").render(
            message=message, status=status, who=who, csrf=request.state.session["c"], root="/")
        return HTMLResponse(html, status_code=status, headers=headers)

    @app.exception_handler(ThreadlineError)
    async def threadline_error(request: Request, exc: ThreadlineError) -> Response:
        return error(request, exc.one_line(), _status(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "not found" if exc.status_code == 404 else "error"
        if message.startswith("Field exceeded maximum size"):       # Starlette's words for a form field too big
            message = (f"{request.url.path}: a form field is larger than the web form accepts "
                       f"({jobs.PASTE_MAX_BYTES // 2**20} MB); upload the report as a file instead")
        return error(request, message, exc.status_code, dict(exc.headers or {}))

    app.include_router(account.router)
    app.include_router(jobs.router)
    app.include_router(reviews.router)
    app.include_router(views.router)
    app.include_router(taxii.router)
    return app
