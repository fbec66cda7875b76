"""Text normalisation: stable text (so a stable SHA-256) whatever the line endings and block boundaries."""

from __future__ import annotations

import random

from threadline.ingest.text import _rstrip_lines, normalise, text_document, title_from_text


def test_block_wise_line_stripping_equals_the_simple_one() -> None:
    rng = random.Random(2025)
    pieces = ["a", "b", " ", "\t", "\n", "\n\n", "x  \n", "\r\n", "é"]
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(60)))
        expected = "\n".join(line.rstrip() for line in text.split("\n"))
        for block in (1, 2, 3, 7, 1 << 20):
            assert _rstrip_lines(text, block) == expected


def test_same_report_with_different_line_endings_normalises_identically() -> None:
    unix = "Lanternfish\n\nC2: 103.56.17[.]24  \nDiànxùn\n"
    windows = unix.replace("\n", "\r\n")
    decomposed = unix.replace("à", "a\u0300")     # NFD as some Mac tools write it
    assert normalise(unix) == normalise(windows) == normalise(decomposed) == \
        "Lanternfish\n\nC2: 103.56.17[.]24\nDiànxùn"
    assert normalise("a\n\n\n\n\n\nb") == "a\n\n\nb"


def test_title_skips_the_page_chrome_a_copied_web_page_starts_with() -> None:
    copied = "Go to listing page\n\nLanternfish Returns With a New Loader\n\nBody of the post."
    assert text_document(copied.encode(), "brief.txt").title == "Lanternfish Returns With a New Loader"
    assert title_from_text("Skip to content\nMenu\nHome > Blog > Threats\nHarbour campaign update\n") == \
        "Harbour campaign update"
    assert title_from_text("Going to the source: a Lanternfish post-mortem\n") == \
        "Going to the source: a Lanternfish post-mortem"    # only whole navigation phrases are chrome
    assert title_from_text("Back to top\n") == "Back to top"  # nothing else near the top: keep what there is
