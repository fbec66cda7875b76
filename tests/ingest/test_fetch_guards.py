"""The URL fetcher's guards against hostile servers and names, proved on loopback servers the tests start: DNS
answers that change between the check and the connection, IPv4-mapped IPv6 and the decimal, octal and hex
spellings of an address, endless and slow bodies, compressed and entity bombs, and the whole-fetch deadline."""

from __future__ import annotations

import gzip
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from threadline.errors import InputError
from threadline.ingest import fetch, ingest, url

REPORT = (b"<html><head><title>Harbour report</title></head><body><article><p>The Harbour group used "
          b"ShadowPad against port operators in 2024 and beaconed to 45.137.21.9.</p></article></body></html>")
STOP = threading.Event()
SEEN: list[dict[str, str]] = []      # request headers, for the tests that check what the fetcher asked for
BOMB = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)   # 64 MB of zeros in about 64 KB
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "ha">'
          + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
          + ']><rss version="2.0"><channel><title>x</title><item><title>&j;</title><description>&j;'
          "</description></item></channel></rss>").encode()


class Hostile(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def _head(self, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()

    def do_GET(self) -> None:
        SEEN.append(dict(self.headers.items()))
        if self.path == "/report.html":
            self._head("text/html", {"Content-Length": str(len(REPORT))})
            self.wfile.write(REPORT)
        elif self.path == "/endless":          # as fast as the socket takes it, never ending, no length
            self._head("text/plain")
            try:
                while not STOP.is_set():
                    self.wfile.write(b"A" * 65536)
            except OSError:
                pass
            self.close_connection = True
        elif self.path == "/endless-slow":     # a byte every 50 ms, for ever
            self._head("text/plain")
            try:
                while not STOP.wait(0.05):
                    self.wfile.write(b"A")
                    self.wfile.flush()
            except OSError:
                pass
            self.close_connection = True
        elif self.path == "/bomb.txt":         # gzip though the client asked for identity
            self._head("text/plain", {"Content-Encoding": "gzip", "Content-Length": str(len(BOMB))})
            self.wfile.write(BOMB)
        elif self.path == "/laughs.rss":
            self._head("application/rss+xml", {"Content-Length": str(len(LAUGHS))})
            self.wfile.write(LAUGHS)
        elif self.path == "/bad-redirect":
            self.send_response(302)
            self.send_header("Location", "http://[oops/report.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path.startswith("/slow-hop"):   # each redirect takes a while: only the whole deadline ends it
            hop = int(self.path.removeprefix("/slow-hop") or 0)
            STOP.wait(0.6)
            self.send_response(302)
            self.send_header("Location", f"/slow-hop{hop + 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()


@pytest.fixture
def server() -> Iterator[tuple[str, int]]:
    """(host, port) of a hostile server on 127.0.0.1."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    STOP.clear()
    SEEN.clear()
    thread.start()
    try:
        yield "127.0.0.1", srv.server_address[1]
    finally:
        STOP.set()
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 plays a public host; every other address keeps the real policy."""
    original = url.forbidden_reason
    stand_in = ipaddress.ip_address("127.0.0.1")
    monkeypatch.setattr(url, "forbidden_reason", lambda ip: None if ip == stand_in else original(ip))


def test_a_dns_answer_that_changes_after_the_check_is_never_connected_to(
        server: tuple[str, int], loopback_is_public: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the first answer (public) is checked, a second lookup would say 10.0.0.7. The fetcher must
    connect to the address it checked, never asking again: the real resolver is patched, so any later lookup of
    the name (by http.client, by socket.create_connection) would get the private answer and fail."""
    _, port = server
    real = socket.getaddrinfo
    asked: list[str] = []

    def rebinding(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name == "rebind.example":
            asked.append(name)
            answer = "127.0.0.1" if len(asked) == 1 else "10.0.0.7"
            return real(answer, *args, **kwargs)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    body, _ = fetch(f"http://rebind.example:{port}/report.html")
    assert body == REPORT
    assert asked == ["rebind.example"]                     # looked up once, for the check
    assert SEEN[-1]["Host"] == f"rebind.example:{port}"    # the name still goes to the server (virtual hosts)


def test_a_name_whose_second_answer_is_private_is_refused_on_the_next_hop(
        server: tuple[str, int], loopback_is_public: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same name asked again at a redirect is checked again: the rebinding answer is refused there."""
    _, port = server
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.0.0.7"])

    def rebinding(name: Any, *args: Any, **kwargs: Any) -> Any:
        return real(next(answers) if name == "rebind.example" else name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    fetch(f"http://rebind.example:{port}/report.html")
    with pytest.raises(InputError, match=re.escape("rebind.example resolves to 10.0.0.7, a private address")):
        fetch(f"http://rebind.example:{port}/report.html")


@pytest.mark.parametrize("host", [
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]",     # IPv4-mapped IPv6
    "2130706433", "0x7f000001", "0x7f.0x0.0x0.0x1", "0177.0.0.1", "017700000001", "127.1", "127.0.1",  # IPv4 forms
    "[::1]", "localhost", "0", "0.0.0.0",
])
def test_every_spelling_of_a_loopback_address_is_refused(server: tuple[str, int], host: str) -> None:
    _, port = server
    with pytest.raises(InputError) as info:
        fetch(f"http://{host}:{port}/report.html")
    message = str(info.value)
    assert re.search(r"a (loopback|unspecified) address", message) or "cannot resolve" in message, message
    assert not SEEN, "the server was reached"


@pytest.mark.parametrize(("host", "resolved"), [
    ("[::ffff:10.1.2.3]", "10.1.2.3"), ("167772161", "10.0.0.1"), ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
    ("0251.0376.0251.0376", "169.254.169.254"), ("2852039166", "169.254.169.254"),
    ("[::ffff:a9fe:a9fe]", "169.254.169.254"),
])
def test_other_spellings_of_private_and_metadata_addresses_are_refused(host: str, resolved: str) -> None:
    with pytest.raises(InputError, match=r"resolves to \S+, a (private|link-local) address") as info:
        fetch(f"http://{host}/latest/meta-data/")
    said = ipaddress.ip_address(re.findall(r"resolves to (\S+),", str(info.value))[0])
    assert (said.ipv4_mapped if isinstance(said, ipaddress.IPv6Address) else said) == ipaddress.ip_address(resolved)


def test_an_endless_body_stops_at_the_size_limit(server: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = server
    monkeypatch.setenv("THREADLINE_FETCH_MAX_BYTES", str(2 * 1024 * 1024))
    started = time.monotonic()
    with pytest.raises(InputError, match=re.escape(f"response larger than {2 * 1024 * 1024} bytes")):
        fetch(f"http://{host}:{port}/endless", allow_private=True)
    assert time.monotonic() - started < 10


def test_an_endless_slow_body_stops_at_the_whole_fetch_deadline(server: tuple[str, int],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = server
    monkeypatch.setenv("THREADLINE_FETCH_TIMEOUT", "0.5")
    started = time.monotonic()
    with pytest.raises(InputError, match=r"timed out: the whole fetch took more than 1 s"):
        fetch(f"http://{host}:{port}/endless-slow", allow_private=True)
    assert time.monotonic() - started < 3


def test_the_deadline_covers_every_redirect(server: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    # Five hops of 0.6 s each: every wait is under the 1 s per-wait timeout, the whole is over its 2 s.
    host, port = server
    monkeypatch.setenv("THREADLINE_FETCH_TIMEOUT", "1")
    started = time.monotonic()
    with pytest.raises(InputError, match=r"timed out: the whole fetch took more than 2 s"):
        fetch(f"http://{host}:{port}/slow-hop0", allow_private=True)
    assert time.monotonic() - started < 4


def test_a_gzip_bomb_is_never_inflated(server: tuple[str, int]) -> None:
    host, port = server
    body, _ = fetch(f"http://{host}:{port}/bomb.txt", allow_private=True)
    assert body == BOMB                                   # the compressed bytes, 64 KB, not 64 MB of zeros
    assert SEEN[-1]["Accept-Encoding"] == "identity"
    with pytest.raises(InputError, match="binary data"):
        ingest(f"http://{host}:{port}/bomb.txt", allow_private=True)


def test_an_entity_expansion_bomb_in_a_feed_is_not_expanded(server: tuple[str, int]) -> None:
    """A billion laughs (10**9 "ha"): expat refuses the expansion; whatever the feed reader makes of the rest,
    it is small and quick, or a one-line error."""
    host, port = server
    started = time.monotonic()
    try:
        documents = ingest(f"http://{host}:{port}/laughs.rss", allow_private=True)
    except InputError as exc:
        assert "\n" not in str(exc)
    else:
        assert sum(len(d.text) for d in documents) < 1_000_000
    assert time.monotonic() - started < 10


def test_a_redirect_to_an_unparsable_url_is_a_one_line_error(server: tuple[str, int]) -> None:
    # urljoin raised ValueError("Invalid IPv6 URL") through the fetcher: a traceback
    host, port = server
    with pytest.raises(InputError, match=re.escape("HTTP 302 redirect to an invalid URL 'http://[oops/report.html'")):
        fetch(f"http://{host}:{port}/bad-redirect", allow_private=True)


@pytest.mark.parametrize("target", ["http://[::1", "https://[oops]x/", "http://[1.2.3.4]/"])
def test_an_unparsable_url_is_a_one_line_error(target: str, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("ingest", target)
    assert code == 2 and err.startswith(f"threadline: {target}: not a valid URL") and "Traceback" not in err, err
