"""Regenerate the sample PDFs of this folder (needs fpdf2 and pypdf; not needed to run the tests).

    .venv/bin/pip install fpdf2 && .venv/bin/python tests/data/ingest/make_pdfs.py

The prose is invented for Threadline's tests, in the style of a vendor threat report.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

HERE = Path(__file__).resolve().parent

PARAGRAPHS = [
    "Summary. Between March and June 2025 we observed a cluster of intrusions against telecommunication "
    "operators in South-East Asia. We track the activity as Operation Lanternfish and assess with moderate "
    "confidence that it overlaps with the actor other vendors call Mustang Panda.",
    "Initial access. The operators sent spear-phishing e-mails from hr-notice@mailbox-secure[.]net with a "
    "RAR archive attached. The archive held a signed executable that side-loaded a malicious DLL named "
    "version.dll (SHA-256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08).",
    "Command and control. The loader reached hxxps://update.lanternfish-cdn[.]com/api/v2/check over HTTPS "
    "and fell back to 103.56.17[.]24 on port 8443. Persistence used the Run key "
    "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\OneDriveSync.",
]

TABLE = [
    ("Indicator", "Type", "First seen"),
    ("update.lanternfish-cdn[.]com", "domain", "2025-03-14"),
    ("103.56.17[.]24", "ipv4", "2025-03-15"),
    ("d41d8cd98f00b204e9800998ecf8427e", "md5", "2025-04-02"),
]


def _pdf() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_font("Helvetica", size=11)
    pdf.set_title("Operation Lanternfish")
    pdf.set_author("Threadline Test Lab")
    return pdf


def report(path: Path) -> None:
    """Three pages: prose, an indicator table, and a closing page."""
    pdf = _pdf()
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=16)
    pdf.cell(0, 10, "Operation Lanternfish", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for para in PARAGRAPHS:
        pdf.multi_cell(0, 6, para, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    pdf.add_page()
    pdf.cell(0, 8, "Table 1. Indicators of compromise", new_x="LMARGIN", new_y="NEXT")
    with pdf.table(col_widths=(80, 30, 40)) as table:
        for row in TABLE:
            cells = table.row()
            for value in row:
                cells.cell(value)
    pdf.add_page()
    pdf.multi_cell(0, 6, "Attribution. The tooling, the victimology and the infrastructure reuse point to "
                   "the same operator; we did not find code shared with any other known cluster.")
    pdf.output(str(path))


def fifty_pages(path: Path) -> None:
    """Fifty pages of report-like text, for the ingestion speed test."""
    pdf = _pdf()
    for number in range(1, 51):
        pdf.add_page()
        pdf.set_font("Helvetica", style="B", size=13)
        pdf.cell(0, 8, f"Section {number}: observed activity", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        for para in PARAGRAPHS * 3:
            pdf.multi_cell(0, 5, para.replace("2025", str(2000 + number % 25)), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
    pdf.output(str(path))


def encrypted(source: Path, path: Path) -> None:
    """The report, encrypted with a user password (cannot be opened without it)."""
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password="lanternfish", owner_password="owner-secret", algorithm="AES-128")
    with path.open("wb") as handle:
        writer.write(handle)


def owner_only(source: Path, path: Path) -> None:
    """The report with only an owner password (opens without a password, as many vendor PDFs do)."""
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password="", owner_password="owner-secret", algorithm="AES-128")
    with path.open("wb") as handle:
        writer.write(handle)


if __name__ == "__main__":
    report(HERE / "lanternfish.pdf")
    fifty_pages(HERE / "fifty_pages.pdf")
    encrypted(HERE / "lanternfish.pdf", HERE / "encrypted.pdf")
    owner_only(HERE / "lanternfish.pdf", HERE / "owner_password.pdf")
    print("written:", ", ".join(p.name for p in sorted(HERE.glob("*.pdf"))))
