"""Regenerate vendor-report.pdf, the end-to-end test's PDF (standard library only; not needed to run the tests).

    .venv/bin/python tests/data/e2e/make_pdf.py

The PDF is written byte by byte (Helvetica text on A4 pages, an Info dictionary with title, author and creation
date, a cross-reference table), so it needs no PDF library and comes out the same on every run. The prose is
invented for Threadline's tests, in the style of a vendor threat report.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

HERE = Path(__file__).resolve().parent
TITLE = "Operation Silver Lattice: APT41 in semiconductor supply chains"

PAGES = [
    [
        ("H", TITLE),
        ("P", "Prepared by the Kestrel Intelligence research team. Invented sample report for Threadline's tests."),
        ("P", "Executive summary. From January to April 2024 we investigated intrusions at three semiconductor "
              "equipment suppliers in Taiwan and Japan. We attribute the activity, which we call Operation Silver "
              "Lattice, to APT41 with high confidence: the operators reused a code-signing certificate and a "
              "ShadowPad configuration format seen in earlier APT41 operations."),
        ("P", "Initial access. The operators exploited a SQL injection flaw in a public supplier portal and wrote "
              "a web shell to the server. From there they dumped credentials from LSASS memory with a renamed "
              "copy of ProcDump and moved laterally over SMB using the stolen administrator accounts."),
        ("P", "Persistence and command and control. ShadowPad was installed as a Windows service named "
              "KestrelUpdateSvc and loaded through DLL search-order hijacking. It reached its controller at "
              "hxxps://telemetry.lattice-cdn[.]com/v3/ping over HTTPS and fell back to 202.182.98[.]74 on "
              "port 443. Design documents were compressed with WinRAR before exfiltration."),
    ],
    [
        ("H", "Appendix A. Indicators of compromise"),
        ("P", "telemetry.lattice-cdn[.]com    domain    ShadowPad controller"),
        ("P", "202.182.98[.]74    IPv4    fallback controller"),
        ("P", "103.224.80.21    IPv4    web shell upload source"),
        ("P", "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9    SHA-256    ShadowPad loader DLL"),
        ("P", "Recommendations. Patch internet-facing portals, protect LSASS with Credential Guard, alert on "
              "new services that load DLLs from writable folders, and block the indicators above."),
    ],
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(blocks: list[tuple[str, str]]) -> bytes:
    """A page's content stream: 14 pt headings, 10 pt paragraphs wrapped to the A4 text width."""
    lines = ["BT", "50 790 Td"]
    for kind, text in blocks:
        size, width, leading = (14, 60, 20) if kind == "H" else (10, 95, 13)
        lines.append(f"/F1 {size} Tf {leading} TL")
        for row in textwrap.wrap(text, width):
            lines.append(f"({_escape(row)}) Tj T*")
        lines.append("T*")
    lines.append("ET")
    return "\n".join(lines).encode("latin-1")


def build() -> bytes:
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(PAGES))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{' '.join(f'{n} 0 R' for n in page_ids)}] /Count {len(PAGES)} >>"
                   .encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for number, blocks in zip(page_ids, PAGES, strict=True):
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> "
                       f">> /Contents {number + 1} 0 R >>".encode())
        stream = _content(blocks)
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    info_id = len(objects) + 1
    objects.append(f"<< /Title ({_escape(TITLE)}) /Author (Kestrel Intelligence) /Producer (make_pdf.py) "
                   f"/CreationDate (D:20240422090000Z) >>".encode())
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


if __name__ == "__main__":
    (HERE / "vendor-report.pdf").write_bytes(build())
    print("written:", HERE / "vendor-report.pdf")
