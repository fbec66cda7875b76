"""SSRF-safe URL fetching: public addresses only (checked after DNS and at every redirect, then connected to
by IP), timeouts, a size limit, a content-type check and a bounded number of redirects.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from threadline import __version__, settings
from threadline.errors import InputError

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
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


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that was checked, not to whatever a second DNS answer says (DNS rebinding)."""

    def __init__(self, host: str, port: int, ip: IPAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned_ip = str(ip)

    def connect(self) -> None:
        self.sock = socket.create_connection((self.pinned_ip, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """TLS to the checked address, with the certificate verified against the host name (SNI as usual)."""

    def __init__(self, host: str, port: int, ip: IPAddress, timeout: float) -> None:
        self.tls = tls_context()
        super().__init__(host, port, timeout=timeout, context=self.tls)
        self.pinned_ip = str(ip)

    def connect(self) -> None:
        sock = socket.create_connection((self.pinned_ip, self.port), self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


def _target(url: str, allow_private: bool) -> tuple[str, str, int, IPAddress]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InputError(f"only http and https URLs can be fetched, not {parts.scheme or 'a bare name'}",
                         where=url)
    host = parts.hostname
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


def _read_body(response: http.client.HTTPResponse, url: str, max_bytes: int, deadline: float,
               timeout: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise InputError(f"timed out after {timeout:g} s while reading the response", where=url)
        chunk = response.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise InputError(f"response larger than {max_bytes} bytes (setting fetch_max_bytes)", where=url)
        chunks.append(chunk)


def fetch_document(url: str, *, allow_private: bool = False) -> Fetched:
    """Fetch a URL under the SSRF rules; every problem is a one-line :class:`InputError` naming the URL."""
    timeout = settings.get_number("fetch_timeout")
    max_bytes = settings.get_int("fetch_max_bytes")
    deadline = time.monotonic() + 2 * timeout   # a slow drip of bytes cannot hold a fetch forever
    current = url
    for redirects in range(MAX_REDIRECTS + 1):
        scheme, host, port, ip = _target(current, allow_private)
        cls = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
        conn = cls(host, port, ip, timeout)
        try:
            conn.request("GET", _request_path(current), headers={
                "User-Agent": f"Threadline/{__version__} (CTI report ingestion)",
                "Accept": "text/html, application/pdf, text/plain, application/xml, application/json;q=0.9, */*;q=0.5",
                "Accept-Encoding": "identity",   # no decompression bombs
            })
            response = conn.getresponse()
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise InputError(f"HTTP {response.status} redirect without a Location", where=current)
                current = urljoin(current, location.strip())
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
            body = _read_body(response, current, max_bytes, deadline, timeout)
            return Fetched(body=body, content_type=content_type, url=current, redirects=redirects)
        except InputError:
            raise
        except TimeoutError:
            raise InputError(f"timed out after {timeout:g} s", where=current) from None
        except ssl.SSLError as exc:
            raise InputError(f"TLS error ({exc.reason or exc})", where=current) from None
        except ConnectionRefusedError:
            raise InputError("connection refused", where=current) from None
        except (http.client.HTTPException, OSError) as exc:
            raise InputError(f"fetch failed ({exc.__class__.__name__}: {exc})", where=current) from None
        finally:
            conn.close()
    raise InputError(f"more than {MAX_REDIRECTS} redirects", where=url)


def fetch(url: str, *, allow_private: bool = False) -> tuple[bytes, str]:
    """Body and content type of a URL, fetched under the SSRF rules (reused by ``kb update --from URL``)."""
    fetched = fetch_document(url, allow_private=allow_private)
    return fetched.body, fetched.content_type
