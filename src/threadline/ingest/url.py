"""SSRF-safe URL fetching: public addresses only (checked after DNS and at every redirect, then connected to
by IP), timeouts, a size limit, a content-type check and a bounded number of redirects.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from threadline import __version__, settings
from threadline.errors import InputError

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
FETCHED_SCHEMES = ("http", "https")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# What a report can be served as; octet-stream is common for PDFs and is sniffed afterwards.
ALLOWED_CONTENT_TYPES = frozenset({
    "text/html", "application/xhtml+xml", "text/plain", "text/markdown", "text/x-markdown", "application/pdf",
    "application/x-pdf", "application/rss+xml", "application/atom+xml", "application/rdf+xml",
    "application/xml", "text/xml", "application/json", "application/stix+json", "application/taxii+json",
    "application/octet-stream", "binary/octet-stream",
})
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Fetched:
    """A fetched body with its content type and the URL it finally came from (after redirects)."""

    body: bytes
    content_type: str
    url: str
    redirects: int


def url_scheme(source: str) -> str | None:
    """The scheme of a ``scheme://...`` source (lower case), or None for a path (``C:\\x`` has no ``//``)."""
    match = _SCHEME.match(source)
    return match.group(1).lower() if match else None


def unsupported_scheme(source: str) -> InputError | None:
    """The error for a ``scheme://`` source that is not fetched (ftp, file, ...), or None when it may be fetched
    or is not a URL at all: a path named "ftp://x" does not exist, and "no such file" would mislead."""
    scheme = url_scheme(source)
    if scheme is None or scheme in FETCHED_SCHEMES:
        return None
    return InputError(f"unsupported URL scheme {scheme!r} (only http and https are fetched)", where=source)


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why an address must not be fetched without --allow-private, or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            return forbidden_reason(embedded)
    # Most specific first: Python counts 0.0.0.0/8 and 240.0.0.0/4 as "private" too.
    for test, reason in ((ip.is_loopback, "loopback"), (ip.is_link_local, "link-local"),
                         (ip.is_unspecified, "unspecified"), (ip.is_multicast, "multicast"),
                         (ip.is_reserved, "reserved"), (ip.is_private, "private")):
        if test:
            return reason
    return None if ip.is_global else "not publicly routable"


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address a host name resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InputError(f"cannot resolve host {host!r} ({exc})", where=host) from None
    out: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


def tls_context() -> ssl.SSLContext:
    """The system's trusted CAs, certificate and host-name checks on (one place to change the trust store)."""
    return ssl.create_default_context()


class _Deadline:
    """The whole fetch's time limit (twice ``fetch_timeout``, which bounds each wait for the server). A socket
    timeout bounds one read only, so a server that sends a byte a second would never trip it: a watchdog shuts the
    socket down when the whole time is up, which ends any blocked read at once, however slowly bytes arrive
    (status line, headers or body)."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.seconds = 2 * wait
        self.end = time.monotonic() + self.seconds
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def socket_timeout(self) -> float:
        """A wait's limit: ``fetch_timeout``, or less when the whole fetch has less left (never zero, which would
        mean non-blocking)."""
        return max(0.001, min(self.wait, self.end - time.monotonic()))

    def check(self) -> None:
        if self.expired or time.monotonic() >= self.end:
            self.expired = True
            raise TimeoutError

    def watch(self, sock: socket.socket) -> None:
        """The socket to shut down at the deadline (the current connection's)."""
        with self._lock:
            self._sock = sock
            if self.expired:
                self._shutdown()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):   # already closed
                # socket.socket's own shutdown, not SSLSocket's, which would drop the TLS state under the reader
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, not to whatever a second DNS answer says (DNS rebinding)."""

    def __init__(self, host: str, port: int, ip: IPAddress, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=deadline.socket_timeout())
        self.pinned_ip = str(ip)
        self.deadline = deadline

    def _open(self) -> socket.socket:
        sock = socket.create_connection((self.pinned_ip, self.port), self.deadline.socket_timeout())
        self.deadline.watch(sock)
        return sock

    def connect(self) -> None:
        self.sock = self._open()


class _PinnedHTTPS(_PinnedHTTP):
    """TLS to the checked address, with the certificate verified against the host name (SNI as usual)."""

    default_port = http.client.HTTPS_PORT

    def __init__(self, host: str, port: int, ip: IPAddress, deadline: _Deadline) -> None:
        super().__init__(host, port, ip, deadline)
        self.tls = tls_context()

    def connect(self) -> None:
        sock = self.tls.wrap_socket(self._open(), server_hostname=self.host, do_handshake_on_connect=False)
        self.deadline.watch(sock)   # before the handshake: a server can drip that too
        self.sock = sock
        sock.do_handshake()


def host_of(url: str) -> str | None:
    """The host of a URL, or None when it has none or cannot be parsed ("http://[oops": urlsplit raises)."""
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _target(url: str, allow_private: bool) -> tuple[str, str, int, IPAddress]:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:   # "http://[::1": an unclosed IPv6 bracket
        raise InputError(f"not a valid URL ({exc})", where=url) from None
    if parts.scheme.lower() not in FETCHED_SCHEMES:
        scheme = parts.scheme or url_scheme(url)
        raise InputError(f"unsupported URL scheme {scheme!r} (only http and https are fetched)" if scheme
                         else "not a URL (only http and https are fetched)", where=url)
    if not host:
        raise InputError("URL has no host", where=url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise InputError("URL has an invalid port", where=url) from None
    addresses = resolve(host, port)
    if not addresses:
        raise InputError(f"host {host!r} has no address", where=url)
    if not allow_private:
        # Every answer must be public: a name that also resolves to 10.0.0.1 is refused outright.
        for ip in addresses:
            reason = forbidden_reason(ip)
            if reason:
                raise InputError(f"refused: {host} resolves to {ip}, a {reason} address "
                                 "(use --allow-private to fetch from it)", where=url)
    return parts.scheme, host, port, addresses[0]


def _request_path(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _read_body(response: http.client.HTTPResponse, url: str, max_bytes: int, deadline: _Deadline) -> bytes:
    """The body, read a buffer at a time (``read1``: whatever has arrived, never waiting for a full chunk) so the
    deadline is checked between reads however slowly the bytes come."""
    chunks: list[bytes] = []
    size = 0
    while True:
        deadline.check()
        chunk = response.read1(_CHUNK)
        if not chunk:
            deadline.check()   # the watchdog's shutdown also ends a read with no bytes: that is a timeout
            if response.length:   # read1 returns b"" at a premature end where read() would raise
                raise InputError(f"connection closed after {size} bytes, {response.length} short of the "
                                 "announced length", where=url)
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise InputError(f"response larger than {max_bytes} bytes (setting fetch_max_bytes)", where=url)
        chunks.append(chunk)


def fetch_document(url: str, *, allow_private: bool = False, headers: dict[str, str] | None = None) -> Fetched:
    """Fetch a URL under the SSRF rules; every problem is a one-line :class:`InputError` naming the URL.

    ``fetch_timeout`` bounds each wait for the server, and twice that the whole fetch (connecting, every
    redirect, headers and body), however slowly the bytes arrive. ``headers`` adds to or replaces the request's
    (a TAXII client's ``Accept`` and ``Authorization``).
    """
    timeout = settings.get_number("fetch_timeout")
    max_bytes = settings.get_int("fetch_max_bytes")
    deadline = _Deadline(timeout)
    try:
        return _fetch(url, allow_private, deadline, max_bytes, headers or {})
    finally:
        deadline.cancel()


def _fetch(url: str, allow_private: bool, deadline: _Deadline, max_bytes: int, extra: dict[str, str]) -> Fetched:
    current = url
    for redirects in range(MAX_REDIRECTS + 1):
        scheme, host, port, ip = _target(current, allow_private)
        cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
        conn = cls(host, port, ip, deadline)
        try:
            deadline.check()
            conn.request("GET", _request_path(current), headers={
                "User-Agent": f"Threadline/{__version__} (CTI report ingestion)",
                "Accept": "text/html, application/pdf, text/plain, application/xml, application/json;q=0.9, */*;q=0.5",
                "Accept-Encoding": "identity",   # no decompression bombs
                # Credentials go only to the host they were given for, never along a redirect to another one.
                **{k: v for k, v in extra.items() if k.lower() != "accept-encoding" and (
                    k.lower() != "authorization" or urlsplit(current).netloc == urlsplit(url).netloc)},
            })
            response = conn.getresponse()
            deadline.check()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise InputError(f"HTTP {response.status} redirect without a Location", where=current)
                try:
                    current = urljoin(current, location.strip())
                except ValueError:
                    raise InputError(f"HTTP {response.status} redirect to an invalid URL {location.strip()[:100]!r}",
                                     where=current) from None
                continue
            if response.status != 200:
                raise InputError(f"HTTP {response.status} {response.reason}".strip(), where=current)
            content_type = (response.getheader("Content-Type") or "").strip()
            base = content_type.split(";", 1)[0].strip().lower()
            if base and base not in ALLOWED_CONTENT_TYPES:
                raise InputError(f"content type {base} is not a report (expected HTML, PDF, text, a feed, "
                                 "STIX or MISP JSON)", where=current)
            length = response.getheader("Content-Length")
            if length and length.strip().isdigit() and int(length) > max_bytes:
                raise InputError(f"response of {int(length)} bytes is larger than {max_bytes} "
                                 "(setting fetch_max_bytes)", where=current)
            body = _read_body(response, current, max_bytes, deadline)
            return Fetched(body=body, content_type=content_type, url=current, redirects=redirects)
        except InputError:
            raise
        except Exception as exc:
            # A wait's socket timeout is cut to what is left of the whole fetch, so a timeout at the deadline is
            # the deadline's, even before the watchdog fires ("timed out after 1 s waiting" misled: a slow
            # redirect chain, tests/ingest/test_fetch_guards.py)
            if deadline.expired or time.monotonic() >= deadline.end - 0.01:
                # Whatever the shut-down socket made the reader raise (EOF, reset, TLS error), it was the deadline.
                raise InputError(f"timed out: the whole fetch took more than {deadline.seconds:g} s (twice the "
                                 "setting fetch_timeout)", where=current) from None
            if isinstance(exc, TimeoutError):
                raise InputError(f"timed out after {deadline.wait:g} s waiting for the server (setting "
                                 "fetch_timeout)", where=current) from None
            failure = _failure(exc, current)
            if failure is None:
                raise
            raise failure from None
        finally:
            conn.close()
    raise InputError(f"more than {MAX_REDIRECTS} redirects", where=url)


def _failure(exc: Exception, url: str) -> InputError | None:
    """A fetch failure as one line naming the URL; None for anything unexpected (a bug: raised as it is)."""
    if isinstance(exc, ssl.SSLError):
        return InputError(f"TLS error ({exc.reason or exc})", where=url)
    if isinstance(exc, ConnectionRefusedError):
        return InputError("connection refused", where=url)
    if isinstance(exc, http.client.HTTPException | OSError):
        return InputError(f"fetch failed ({exc.__class__.__name__}: {exc})", where=url)
    return None


def fetch(url: str, *, allow_private: bool = False) -> tuple[bytes, str]:
    """Body and content type of a URL, fetched under the SSRF rules (reused by ``kb update --from URL``)."""
    fetched = fetch_document(url, allow_private=allow_private)
    return fetched.body, fetched.content_type
