"""Seed inputs of each fuzz target: real documents of its kind from tests/data, so a fuzzer starts deep in the
parser (the atheris harnesses in fuzz/ and bench/fuzz.py start from these)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
_TEXTS = ["reports/*.txt", "reports/*.md", "e2e/*.txt", "e2e/*.md", "ingest/*.md", "../../examples/*.md"]
# Seed inputs per target: real documents of the kind, so the fuzzer starts deep in the parser.
SEEDS: dict[str, list[str]] = {
    "text": _TEXTS, "front_matter": ["e2e/front-matter.md", "reports/vendor-note-front-matter.md"],
    "html": ["reports/*.html", "ingest/*.html", "e2e/*.html"],
    "pdf": ["ingest/lanternfish.pdf", "ingest/owner_password.pdf", "e2e/vendor-report.pdf"],
    "feed": ["e2e/feed.rss", "ingest/harbour.*"], "stix": ["ingest/*stix*.json"], "misp": ["ingest/*misp*.json"],
    "jsonl": ["e2e/reports.jsonl"], "pipeline": ["reports/*", "e2e/feed.rss", "ingest/*.json", "ingest/*.pdf"],
    "sentences": _TEXTS, "iocs": [*_TEXTS, "iocs/snippets.jsonl"], "dates": _TEXTS, "entities": _TEXTS,
}


def seed_inputs(name: str) -> list[bytes]:
    """The seed inputs of a target (a JSON-lines file gives one seed per line, as the jsonl target reads one)."""
    out: list[bytes] = []
    for pattern in SEEDS[name]:
        for path in sorted(DATA.glob(pattern)):
            if path.suffix == ".jsonl":
                out += [line for line in path.read_bytes().splitlines() if line.strip()]
            elif path.suffix not in (".py",) and path.is_file():
                out.append(path.read_bytes())
    return out
