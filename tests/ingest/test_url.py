"""SSRF-safe fetching against loopback servers the tests start themselves (no other network)."""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from threadline.errors import InputError
from threadline.ingest import fetch, ingest, ingest_into, url
from threadline.store import Store

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "ingest"
RUSSIAN = "Группа Дяньсюнь использовала ShadowPad против операторов связи."
RELEASE = threading.Event()   # set at teardown so a deliberately slow handler ends at once


class Handler(BaseHTTPRequestHandler):
    """Routes: a report, a PDF, a feed, redirects, a slow answer, a large body, an image, a 404."""

    redirect_target = ""

    def log_message(self, *args: object) -> None:   # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8",
              headers: dict[str, str] | None = None, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, pieces: list[bytes]) -> None:
        """One piece every 0.1 s: each read gets a byte long before any socket timeout, so only a deadline on
        the whole fetch can end it (the whole answer takes 6 s)."""
        try:
            for piece in pieces:
                if RELEASE.wait(0.1):
                    return
                self.wfile.write(piece)
                self.wfile.flush()
        except OSError:   # the client gave up: that is the point
            pass
        self.close_connection = True

    def _dribble_body(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "60")
        self.end_headers()
        self._drip([b"x"] * 60)

    def _dribble_headers(self) -> None:
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        self._drip([b"X-Pad: %d\r\n" % n for n in range(59)] + [b"Content-Length: 2\r\n\r\nok"])

    def do_GET(self) -> None:
        path = self.path
        if path == "/advisory.html":
            self._send(200, (SAMPLES / "advisory.html").read_bytes())
        elif path == "/report.pdf":
            self._send(200, (SAMPLES / "lanternfish.pdf").read_bytes(), "application/octet-stream")
        elif path == "/feed":
            self._send(200, (SAMPLES / "harbour.atom").read_bytes(), "application/atom+xml")
        elif path == "/moved":
            self._send(302, headers={"Location": "/advisory.html"})
        elif path == "/to-loopback":
            self._send(302, headers={"Location": self.redirect_target})
        elif path.startswith("/loop"):
            self._send(301, headers={"Location": f"/loop{len(path)}"})
        elif path == "/slow":
            RELEASE.wait(10)
            self._send(200, b"too late")
        elif path == "/dribble":
            self._dribble_body()
        elif path == "/dribble-headers":
            self._dribble_headers()
        elif path == "/big":
            self._send(200, b"A" * 50_000, "text/plain")
        elif path == "/big-chunked":
            self._send(200, b"B" * 50_000, "text/plain", length=False)
            self.close_connection = True
        elif path == "/ru.txt":
            self._send(200, RUSSIAN.encode("cp1251"), "text/plain; charset=windows-1251")
        elif path == "/ru.html":
            self._send(200, f"<html><body><article><p>{RUSSIAN}</p></article></body></html>".encode("cp1251"),
                       "text/html; charset=windows-1251")
        elif path == "/logo.png":
            self._send(200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "image/png")
        else:
            self._send(404, b"not here")


def _serve(host: str) -> Iterator[str]:
    try:
        server = ThreadingHTTPServer((host, 0), Handler)
    except OSError as exc:
        pytest.skip(f"cannot bind a test server on {host}: {exc}")
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    RELEASE.clear()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        RELEASE.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def base() -> Iterator[str]:
    """A server on 127.0.0.1 (loopback, so it needs allow_private)."""
    yield from _serve("127.0.0.1")


@pytest.fixture
def public(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A server on 127.0.0.2 that plays a public host: only that address is let through the policy."""
    original = url.forbidden_reason
    stand_in = ipaddress.ip_address("127.0.0.2")
    monkeypatch.setattr(url, "forbidden_reason", lambda ip: None if ip == stand_in else original(ip))
    yield from _serve("127.0.0.2")


def test_loopback_is_refused_without_allow_private(base: str) -> None:
    with pytest.raises(InputError) as info:
        fetch(f"{base}/advisory.html")
    message = str(info.value)
    assert "refused" in message and "127.0.0.1, a loopback address" in message and "--allow-private" in message


def test_allow_private_fetches_and_follows_redirects(base: str, store: Store) -> None:
    body, ctype = fetch(f"{base}/moved", allow_private=True)
    assert b"Lanternfish returns" in body and ctype.startswith("text/html")
    [doc] = ingest(f"{base}/moved", allow_private=True)
    assert doc.source == f"{base}/moved" and doc.metadata["url"] == f"{base}/advisory.html"
    assert doc.title == "Lanternfish returns with a new loader" and "TRACKER_SECRET" not in doc.text
    outcome = ingest_into(store, f"{base}/report.pdf", allow_private=True)   # octet-stream, sniffed as PDF
    assert outcome.kind == "pdf" and len(outcome.documents[0].pages) == 3
    assert len(ingest(f"{base}/feed", allow_private=True)) == 2


def test_timeout_is_a_one_line_error_not_a_hang(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_FETCH_TIMEOUT", "0.5")
    started = time.monotonic()
    with pytest.raises(InputError, match=r"timed out after 0\.5 s"):
        fetch(f"{base}/slow", allow_private=True)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("path", ["/dribble", "/dribble-headers"])
def test_a_slow_drip_of_bytes_cannot_outlast_the_deadline(base: str, path: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # The deadline used to be checked only after a full 64 KiB read, and never while the headers came in.
    monkeypatch.setenv("THREADLINE_FETCH_TIMEOUT", "0.5")   # each wait; the whole fetch gets twice that
    started = time.monotonic()
    with pytest.raises(InputError) as info:
        fetch(f"{base}{path}", allow_private=True)
    assert time.monotonic() - started < 2
    assert str(info.value) == (f"{base}{path}: timed out: the whole fetch took more than 1 s "
                               "(twice the setting fetch_timeout)")


def test_a_fast_body_within_the_deadline_is_read_whole(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_FETCH_TIMEOUT", "5")
    assert fetch(f"{base}/big-chunked", allow_private=True)[0] == b"B" * 50_000
    assert fetch(f"{base}/big", allow_private=True)[0] == b"A" * 50_000


def test_redirect_from_a_public_host_to_loopback_is_refused(public: str, base: str) -> None:
    Handler.redirect_target = f"{base}/advisory.html"
    with pytest.raises(InputError) as info:
        fetch(f"{public}/to-loopback")
    assert "127.0.0.1, a loopback address" in str(info.value) and str(info.value).startswith(base)
    assert b"Lanternfish" in fetch(f"{public}/advisory.html")[0]   # the stand-in itself is allowed


def test_redirect_to_a_metadata_address_is_refused(public: str) -> None:
    Handler.redirect_target = "http://169.254.169.254/latest/meta-data/"
    with pytest.raises(InputError, match=re.escape("169.254.169.254, a link-local address")):
        fetch(f"{public}/to-loopback")


def test_dns_answers_are_checked_and_the_checked_address_is_used(public: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    port = int(public.rsplit(":", 1)[1])
    answers = {"reports.example": ["127.0.0.2"], "rebind.example": ["127.0.0.2", "10.1.2.3"],
               "intranet.example": ["192.168.10.5"]}
    monkeypatch.setattr(url, "resolve", lambda host, _port: [ipaddress.ip_address(a) for a in answers[host]])
    # The name does not exist in real DNS: the fetch works only because it connects to the address it checked.
    assert b"ReedLoader" in fetch(f"http://reports.example:{port}/advisory.html")[0]
    with pytest.raises(InputError, match=re.escape("rebind.example resolves to 10.1.2.3, a private address")):
        fetch(f"http://rebind.example:{port}/advisory.html")
    with pytest.raises(InputError, match=re.escape("192.168.10.5, a private address")):
        fetch(f"http://intranet.example:{port}/advisory.html")


def test_redirect_loop_is_cut(base: str) -> None:
    with pytest.raises(InputError, match="more than 5 redirects"):
        fetch(f"{base}/loop", allow_private=True)


@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_size_limit(base: str, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THREADLINE_FETCH_MAX_BYTES", "10000")
    with pytest.raises(InputError, match="larger than 10000"):
        fetch(f"{base}{path}", allow_private=True)


def test_content_type_and_status_checks(base: str) -> None:
    with pytest.raises(InputError, match="content type image/png is not a report"):
        fetch(f"{base}/logo.png", allow_private=True)
    with pytest.raises(InputError, match="HTTP 404"):
        fetch(f"{base}/missing", allow_private=True)


def test_connection_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as sock:          # a port that was free a moment ago: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(InputError, match="connection refused"):
        fetch(f"http://127.0.0.1:{port}/", allow_private=True)


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://ftp.example/report.pdf", "gopher://x/"])
def test_only_http_and_https(target: str) -> None:
    with pytest.raises(InputError, match="only http and https"):
        fetch(target)


@pytest.mark.parametrize(("target", "scheme"), [("ftp://ftp.example/pub/report.pdf", "ftp"),
                                                ("file:///etc/passwd", "file"), ("FTP://ftp.example/x", "ftp"),
                                                # taxii+https:// is a TAXII collection source now (issue 16)
                                                ("taxii+ftp://taxii.example/api/", "taxii+ftp")])
def test_other_schemes_are_unsupported_not_missing_files(target: str, scheme: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    # These used to be read as file names: "no such file", which sent users looking for a typo.
    expected = f"{target}: unsupported URL scheme {scheme!r} (only http and https are fetched)"
    with pytest.raises(InputError) as info:
        ingest(target)
    assert str(info.value) == expected
    for command, *options in (("ingest",), ("analyze", "--no-store"), ("iocs",), ("export", "--format", "csv")):
        code, _, err = run_cli(command, target, *options)
        assert code == 2 and expected in err and "no such file" not in err, (command, err)


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"), ("fd00::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"), ("240.0.0.1", "reserved"), ("100.64.0.1", "not publicly routable"),
    ("2002:7f00:1::", "loopback"), ("8.8.8.8", None), ("2001:4860:4860::8888", None), ("103.56.17.24", None),
])
def test_address_policy(address: str, reason: str | None) -> None:
    assert url.forbidden_reason(ipaddress.ip_address(address)) == reason


def test_charset_declared_by_the_server_is_used(base: str) -> None:
    [text_doc] = ingest(f"{base}/ru.txt", allow_private=True)
    assert text_doc.text == RUSSIAN and text_doc.metadata["encoding"] == "cp1251"
    [html_doc] = ingest(f"{base}/ru.html", allow_private=True)
    assert RUSSIAN in html_doc.text
