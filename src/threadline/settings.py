"""The single table of settings: it feeds the CLI options, the environment variables and the docs.

Each setting resolves as: explicit value (CLI option) > environment variable > default. ``threadline settings``
prints this table, and ``docs/settings.md`` is generated from it, so the three can never disagree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from threadline.errors import InputError
from threadline.tlp import Level, parse_option


@dataclass(frozen=True, slots=True)
class Setting:
    """One configurable value: its name, environment variable, default and a one-line help."""

    name: str
    env: str
    default: str
    help: str
    number: bool = False        # a positive number (seconds, bytes); checked where it is read

    def value(self, explicit: str | None = None) -> str:
        if explicit not in (None, ""):
            return str(explicit)
        return os.environ.get(self.env) or self.default

    def source(self, explicit: str | None = None) -> str:
        """Where the value comes from, for error messages: the option, the environment variable or the default."""
        if explicit not in (None, ""):
            return f"setting {self.name}"
        return self.env if os.environ.get(self.env) else f"default of {self.name}"


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
            "Seconds before a URL fetch gives up.", number=True),
    Setting("fetch_max_bytes", "THREADLINE_FETCH_MAX_BYTES", str(50 * 1024 * 1024),
            "Largest response body a URL fetch accepts, in bytes.", number=True),
    Setting("max_input_bytes", "THREADLINE_MAX_INPUT_BYTES", str(200 * 1024 * 1024),
            "Largest local file accepted for ingestion, in bytes.", number=True),
    Setting("max_html_bytes", "THREADLINE_MAX_HTML_BYTES", str(20 * 1024 * 1024),
            "Largest HTML page (scripts and styles removed) given to main-text extraction, in bytes.", number=True),
    Setting("batch_commit", "THREADLINE_BATCH_COMMIT", "32",
            "Inputs a distributed batch (`analyze --workers/--scheduler`) commits per transaction at most.",
            number=True),
    Setting("batch_worker_wait", "THREADLINE_BATCH_WORKER_WAIT", "120",
            "Seconds a distributed batch waits while its Dask cluster has no worker (none started, or every one "
            "gone) before it stops with that reason; what was committed is kept.", number=True),
    # --- web (issue 16) ---
    Setting("web_host", "THREADLINE_WEB_HOST", "127.0.0.1",
            "Address `threadline serve` listens on (loopback by default; put TLS in front for anything else)."),
    Setting("web_port", "THREADLINE_WEB_PORT", "8000", "Port `threadline serve` listens on.", number=True),
    Setting("web_secret", "THREADLINE_WEB_SECRET", "",
            "Key that signs web sessions; default: a random key kept in the data folder (file web-secret)."),
    Setting("taxii_token", "THREADLINE_TAXII_TOKEN", "",
            "Bearer token sent to TAXII servers by `ingest taxii+https://…/collections/ID/` (none by default)."),
    Setting("web_page_size", "THREADLINE_WEB_PAGE_SIZE", "25", "Briefings per page of the web listing.",
            number=True),
    Setting("web_allow_private", "THREADLINE_WEB_ALLOW_PRIVATE", "no",
            "Whether `threadline serve` fetches a submitted URL whose host is a private, loopback or link-local "
            "address (yes for a server reading an intranet's reports; as `--allow-private` does for the CLI)."),
    Setting("stage_timeout", "THREADLINE_STAGE_TIMEOUT", "300",
            "Seconds one stage (reading a format, entities, techniques, indicators, ...) may spend on a document "
            "before it stops with an error and a batch goes on.", number=True),
    Setting("stage_max_memory", "THREADLINE_STAGE_MAX_MEMORY", str(2 * 1024 * 1024 * 1024),
            "Bytes of memory one stage may add while reading or analysing a document before it stops with an "
            "error.", number=True),
    Setting("scheduler", "THREADLINE_SCHEDULER", "",
            "Dask scheduler (tcp://HOST:PORT) on which `threadline serve` analyses submitted reports; empty: a "
            "thread in the server."),
    Setting("job_isolation", "THREADLINE_JOB_ISOLATION", "process",
            "Where `threadline serve` reads and analyses a submitted report without a scheduler: process (a child "
            "process with its memory capped; its crash fails the job alone) or thread (in the server's process)."),
    # --- publish ---
    Setting("publish_clearance", "THREADLINE_PUBLISH_CLEARANCE", "red",
            "Highest TLP marking `threadline publish` puts in a site (as `--clearance`): an analysis marked above "
            "it, and evidence citing one, is kept out; red (the default) publishes every analysis."),
    # --- attribution (issue 15) ---
    Setting("text_weight", "THREADLINE_TEXT_WEIGHT", "0",
            "Weight of the attribution's text channel (the report's words against each group's ATT&CK dossier, "
            "names masked); 0 turns it off (the default: on 42 real reports it moved top-3 by one case)."),
)

_BY_NAME: Final[dict[str, Setting]] = {s.name: s for s in SETTINGS}


def get(name: str, explicit: str | None = None) -> str:
    """Resolve one setting by name."""
    return _BY_NAME[name].value(explicit)


def get_number(name: str, explicit: str | None = None) -> float:
    """A numeric setting, which must be above zero; anything else is a one-line error naming where it came from."""
    setting = _BY_NAME[name]
    raw = setting.value(explicit)
    try:
        value = float(raw)
    except ValueError:
        raise InputError(f"expected a number, got {raw!r}", where=setting.source(explicit)) from None
    if not value > 0 or value == float("inf"):
        raise InputError(f"must be a number above zero, got {raw!r}", where=setting.source(explicit))
    return value


def get_int(name: str, explicit: str | None = None) -> int:
    """A size setting in whole units (bytes), checked like :func:`get_number`."""
    return max(1, int(get_number(name, explicit)))


_FLAGS = frozenset({"web_allow_private"})


def get_flag(name: str, explicit: str | None = None) -> bool:
    """A yes/no setting (yes, true, on, 1 / no, false, off, 0); anything else is a one-line error."""
    setting = _BY_NAME[name]
    raw = setting.value(explicit).strip().lower()
    if raw in ("yes", "true", "on", "1"):
        return True
    if raw in ("no", "false", "off", "0", ""):
        return False
    raise InputError(f"expected yes or no, got {raw!r}", where=setting.source(explicit))


_LEVELS = frozenset({"publish_clearance"})


def get_level(name: str, explicit: str | None = None) -> Level:
    """A TLP 2.0 level setting (``TLP:AMBER``, ``white`` and the like read as :mod:`threadline.tlp` reads them);
    a word that names no level is a one-line error."""
    setting = _BY_NAME[name]
    return parse_option(setting.value(explicit), where=setting.source(explicit))


def is_set(name: str, explicit: str | None = None) -> bool:
    """Whether a setting was given (the option or its environment variable), not left at its default."""
    return explicit not in (None, "") or bool(os.environ.get(_BY_NAME[name].env))


def problems() -> dict[str, str]:
    """Settings whose current value is unusable: name -> one-line error (``threadline settings`` shows them)."""
    out = {}
    for setting in SETTINGS:
        if setting.number or setting.name in _FLAGS or setting.name in _LEVELS:
            try:
                if setting.name in _FLAGS:
                    get_flag(setting.name)
                elif setting.name in _LEVELS:
                    get_level(setting.name)
                else:
                    get_number(setting.name)
            except InputError as exc:
                out[setting.name] = str(exc)
    return out


def shown_db(db: str) -> str:
    """The database setting as it may be printed: a URL's password is masked (errors, ``threadline settings``)."""
    if "://" not in db:
        return db
    from sqlalchemy.engine import make_url  # only when a URL is configured; a plain path needs no parsing
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(db).render_as_string(hide_password=True)
    except ArgumentError:
        return db.split("://", 1)[0] + "://..."     # unparsable: show the scheme only, it may hold a password


def sqlalchemy_url(db: str) -> str:
    """Accept a URL (``postgresql+psycopg://...``) or a plain path to a SQLite file."""
    return db if "://" in db else "sqlite:///" + str(Path(db).expanduser().resolve())


def shown_default(default: str) -> str:
    """A default as the docs and ``threadline settings`` show it: the home folder as ``~``, the same for everyone."""
    return default.replace(str(Path.home()), "~")


def as_markdown() -> str:
    """The settings table as Markdown, for docs/settings.md."""
    rows = ["| setting | environment variable | default | what it does |", "|---|---|---|---|"]
    rows += [f"| `{s.name}` | `{s.env}` | `{shown_default(s.default)}` | {s.help} |" for s in SETTINGS]
    return "\n".join(rows) + "\n"
