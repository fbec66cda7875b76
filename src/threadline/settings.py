"""The single table of settings: it feeds the CLI options, the environment variables and the docs.

Each setting resolves as: explicit value (CLI option) > environment variable > default. ``threadline settings``
prints this table, and ``docs/settings.md`` is generated from it, so the three can never disagree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value: its name, environment variable, default and a one-line help."""

    name: str
    env: str
    default: str
    help: str

    def value(self, explicit: str | None = None) -> str:
        if explicit not in (None, ""):
            return str(explicit)
        return os.environ.get(self.env) or self.default


def _home(*parts: str) -> str:
    return str(Path.home().joinpath(*parts))


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting("db", "THREADLINE_DB", "sqlite:///" + _home(".local", "share", "threadline", "threadline.db"),
            "Database URL or SQLite file path for ingested documents and analyses."),
    Setting("cache_dir", "THREADLINE_CACHE", _home(".cache", "threadline"),
            "Folder for the knowledge-base index (rebuilt automatically when stale or corrupt)."),
    Setting("data_dir", "THREADLINE_DATA", _home(".local", "share", "threadline"),
            "Folder for user data such as an ATT&CK bundle installed with `kb update`."),
    Setting("attack_bundle", "THREADLINE_ATTACK", "",
            "ATT&CK STIX bundle to use instead of the installed or vendored one (path)."),
    Setting("fetch_timeout", "THREADLINE_FETCH_TIMEOUT", "20",
            "Seconds before a URL fetch gives up."),
    Setting("fetch_max_bytes", "THREADLINE_FETCH_MAX_BYTES", str(50 * 1024 * 1024),
            "Largest response body a URL fetch accepts, in bytes."),
    Setting("max_input_bytes", "THREADLINE_MAX_INPUT_BYTES", str(200 * 1024 * 1024),
            "Largest local file accepted for ingestion, in bytes."),
    Setting("max_html_bytes", "THREADLINE_MAX_HTML_BYTES", str(20 * 1024 * 1024),
            "Largest HTML page (scripts and styles removed) given to main-text extraction, in bytes."),
)

_BY_NAME: Final[dict[str, Setting]] = {s.name: s for s in SETTINGS}


def get(name: str, explicit: str | None = None) -> str:
    """Resolve one setting by name."""
    return _BY_NAME[name].value(explicit)


def get_int(name: str, explicit: str | None = None) -> int:
    return int(get(name, explicit))


def sqlalchemy_url(db: str) -> str:
    """Accept a URL (``postgresql+psycopg://...``) or a plain path to a SQLite file."""
    return db if "://" in db else "sqlite:///" + str(Path(db).expanduser().resolve())


def as_markdown() -> str:
    """The settings table as Markdown, for docs/settings.md."""
    rows = ["| setting | environment variable | default | what it does |", "|---|---|---|---|"]
    rows += [f"| `{s.name}` | `{s.env}` | `{s.default.replace(str(Path.home()), '~')}` | {s.help} |"
             for s in SETTINGS]
    return "\n".join(rows) + "\n"
