"""One view function, two representations (the datasette way): ``@page(router, "/x", "x.html.j2")`` registers
the function at ``/x`` as an HTML page and at ``/x.json`` as the same data in JSON.

The view returns plain data (dicts, lists, strings, numbers); the HTML page gets that data plus who is asking and
the CSRF token, rendered by an autoescaping template, so report text never becomes markup.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse

from threadline.web.auth import principal

View = Callable[..., dict[str, Any]]


def html(request: Request, template: str, data: dict[str, Any], status: int = 200) -> HTMLResponse:
    state = request.app.state.threadline
    text = state.env.get_template(template).render(
        **data, data=data, who=principal(request), csrf=request.state.session["c"], root="/", path=request.url.path)
    return HTMLResponse(text, status_code=status)


def _json_path(path: str) -> str:
    return "/.json" if path == "/" else path + ".json"


def page(router: APIRouter, path: str, template: str, *, summary: str,
         html_only: Callable[[Request, dict[str, Any]], dict[str, Any]] | None = None) -> Callable[[View], View]:
    """Register ``view`` at ``path + ".json"`` (JSON) and ``path`` (HTML); ``html_only`` adds what only the page
    needs (the rendered document, say) without putting it in the JSON."""

    def register(view: View) -> View:
        @functools.wraps(view)
        def as_json(*args: Any, **kwargs: Any) -> JSONResponse:
            return JSONResponse(jsonable_encoder(view(*args, **kwargs)))

        @functools.wraps(view)
        def as_html(*args: Any, **kwargs: Any) -> HTMLResponse:
            data = view(*args, **kwargs)
            request: Request = kwargs["request"]
            if html_only is not None:
                data = {**data, **html_only(request, data)}
            return html(request, template, data)

        # The .json route first: "/reports/{ref}" would otherwise also match "/reports/abc.json".
        router.add_api_route(_json_path(path), as_json, methods=["GET"], summary=summary + " (JSON)",
                             response_class=JSONResponse, name=view.__name__ + "_json")
        router.add_api_route(path, as_html, methods=["GET"], summary=summary + " (HTML page)",
                             response_class=HTMLResponse, name=view.__name__)
        return view

    return register
