"""HTTPS through the pinned connection: the certificate is checked against the host name, not the address."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from threadline.errors import InputError
from threadline.ingest import fetch, url

crypto = pytest.importorskip("cryptography", reason="cryptography (a pypdf[crypto] dependency) makes test certs")


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Report(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b"Lanternfish over TLS: C2 update.lanternfish-cdn[.]com"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert, key = _certificate(tmp_path, "reports.example")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Report)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], cert
    finally:
        server.shutdown()
        server.server_close()


def test_https_to_the_checked_address_with_the_name_verified(tls_server: tuple[int, Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    port, cert = tls_server
    monkeypatch.setattr(url, "resolve", lambda host, _port: [ipaddress.ip_address("127.0.0.1")])
    # Unknown issuer: refused with one line.
    with pytest.raises(InputError, match=re.escape("TLS error (CERTIFICATE_VERIFY_FAILED)")):
        fetch(f"https://reports.example:{port}/r.txt", allow_private=True)
    # Trusting the test CA: the name in the URL is what the certificate is checked against.
    monkeypatch.setattr(url, "tls_context", lambda: ssl.create_default_context(cafile=str(cert)))
    body, ctype = fetch(f"https://reports.example:{port}/r.txt", allow_private=True)
    assert body.startswith(b"Lanternfish over TLS") and ctype.startswith("text/plain")
    with pytest.raises(InputError, match="TLS error"):
        fetch(f"https://other.example:{port}/r.txt", allow_private=True)   # wrong name, same address
