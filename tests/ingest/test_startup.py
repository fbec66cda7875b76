"""Reading a text report must not load the heavy readers or the database layer (command start-up time)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPORTS = Path(__file__).parents[1] / "data" / "reports"


def test_reading_a_text_report_loads_no_pdf_html_feed_or_database_module() -> None:
    script = (
        "import sys\n"
        "from threadline.ingest import ingest\n"
        f"docs = ingest({str(REPORTS / 'gov-advisory.md')!r})\n"
        "assert docs and docs[0].text\n"
        "print(' '.join(m for m in ('sqlalchemy', 'pypdf', 'trafilatura', 'feedparser') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
