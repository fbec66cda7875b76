"""The TAXII source's credentials stay with their host: a redirect to another host does not carry them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen: list[dict[str, str]] = []


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        seen.append(dict(self.headers))
        if self.target:
            self.send_response(302)
            self.send_header("Location", self.target)
            self.end_headers()
            return
        body = b'{"more": false, "objects": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/taxii+json;version=2.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


@contextmanager
def _serve(target: str) -> Iterator[int]:
    handler = type("Handler", (_Redirect,), {"target": target})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


def test_authorization_is_not_sent_to_another_host() -> None:
    from threadline.ingest.url import fetch_document

    seen.clear()
    with _serve("") as final_port, _serve(f"http://localhost:{final_port}/objects/") as first_port:
        fetch_document(f"http://127.0.0.1:{first_port}/objects/", allow_private=True,
                       headers={"Authorization": "Bearer secret", "Accept": "application/taxii+json;version=2.1"})
    assert [h.get("Authorization") for h in seen] == ["Bearer secret", None]
    assert all(h.get("Accept") == "application/taxii+json;version=2.1" for h in seen)
