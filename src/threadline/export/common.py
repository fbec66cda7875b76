"""What every exporter shares: reading and checking an analysis, its timestamp, TLP, defanging, atomic writes.

The timestamp of an export (STIX ``published``/``created``, the MISP event date, the CSV ``first_seen``, the Sigma
rule date) is the document's date: ``document.published``, which the analysis always fills with its basis in
``document.date_basis`` (front matter, document metadata, a date line in the body, or the ingest time). An analysis
stored before that field existed may lack it: then the ingested or analysed time it carries is used, else the
current time (UTC, whole seconds). The epoch is never used: a 1970 date in a STIX bundle or a MISP event reads as a
real date and sorts the report before every other; the current time at least says "known since now".
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threadline import settings, tlp
from threadline.errors import InputError

Analysis = dict[str, Any]

# The list-valued sections of the agreed analysis shape; each holds objects.
LIST_SECTIONS = ("actors", "campaigns", "software", "sectors", "countries", "regions", "dates", "lures", "goals",
                 "techniques", "iocs", "claims")

TECHNIQUE_ID = re.compile(r"^[Tt]\d{4}(\.\d{3})?$")

# Where an analysis may record when it was ingested or analysed, for analyses stored without a published date.
FALLBACK_TIME_KEYS = ("ingested", "ingested_at", "retrieved", "analysed", "analysed_at", "analyzed_at")


def check_analysis(data: Any, where: str = "analysis") -> Analysis:
    """Check the parts of the analysis shape the exporters rely on; raise a one-line InputError otherwise."""
    from threadline.ingest.source import MISP, json_kind

    if json_kind(data) == MISP:      # knowledge, not a report's analysis: say what to do with it
        raise InputError("a MISP event is knowledge, not an analysis (import it with `threadline ingest`)",
                         where=where)
    if not isinstance(data, dict):
        raise InputError("expected a JSON object (an analysis)", where=where)
    doc = data.get("document")
    if not isinstance(doc, dict):
        raise InputError("missing the \"document\" object", where=where)
    for key in ("title", "source", "sha256", "published", "media_type"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            raise InputError(f"document.{key} must be a string", where=where)
    for section in LIST_SECTIONS:
        items = data.get(section, [])
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise InputError(f"\"{section}\" must be a list of objects", where=where)
    for n, ioc in enumerate(data.get("iocs", []), 1):
        if not isinstance(ioc.get("type"), str) or not isinstance(ioc.get("value"), str) or not ioc["value"]:
            raise InputError(f"iocs[{n}] needs a string \"type\" and a non-empty \"value\"", where=where)
    for n, tech in enumerate(data.get("techniques", []), 1):
        if not isinstance(tech.get("id"), str) or not TECHNIQUE_ID.match(tech["id"]):
            raise InputError(f"techniques[{n}] needs an ATT&CK technique \"id\" (T####)", where=where)
    for section in ("actors", "campaigns", "software", "sectors"):
        for n, item in enumerate(data.get(section, []), 1):
            if not isinstance(item.get("name"), str) or not item["name"].strip():
                raise InputError(f"{section}[{n}] needs a non-empty \"name\"", where=where)
    if data.get("attribution") is not None and not isinstance(data["attribution"], dict):
        raise InputError("\"attribution\" must be an object", where=where)
    return data


def read_json_file(path: str | Path, what: str = "an analysis JSON file") -> Any:
    """Parse a JSON file no larger than the ``max_input_bytes`` setting; problems are one-line InputErrors."""
    where = str(path)
    p = Path(path)
    if not p.is_file():
        raise InputError(f"no such file (expected {what})", where=where)
    limit = settings.get_int("max_input_bytes")
    if p.stat().st_size > limit:
        raise InputError(f"larger than max_input_bytes ({limit} bytes)", where=where)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", where=where) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON (line {exc.lineno}: {exc.msg})", where=where) from None


def load_analysis(path: str | Path) -> Analysis:
    """Read an analysis JSON file; any problem is one InputError naming the file."""
    return check_analysis(read_json_file(path), str(path))


def parse_when(value: Any) -> datetime | None:
    """A UTC datetime from an ISO 8601 date, partial date (``2020-08``, ``2020``) or datetime; None if unusable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if len(text) == 4 and text.isdigit():
        text += "-01-01"
    elif len(text) == 7 and text[4] == "-":
        text += "-01"
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def analysis_time(analysis: Analysis) -> datetime:
    """The timestamp of the report's objects: published, else ingested or analysed, else now (see the docstring)."""
    doc = analysis.get("document") or {}
    for key in ("published", *FALLBACK_TIME_KEYS):
        for where in (doc, analysis):
            when = parse_when(where.get(key))
            if when is not None:
                return when.replace(microsecond=(when.microsecond // 1000) * 1000)
    return datetime.now(UTC).replace(microsecond=0)


def stix_time(when: datetime) -> str:
    """STIX 2.1 timestamp with millisecond precision, always UTC ``Z``."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def marking(analysis: dict[str, Any], requested: str | None = None) -> tlp.Level:
    """The TLP level an output of ``analysis`` carries: the stricter of ``requested`` and the analysis's own marking.

    An export or briefing never lowers a report's marking: ``export ID --tlp clear`` (the option's default) of a
    TLP:RED analysis used to come out marked TLP:CLEAR, ready to be shared on. A stricter request raises it. The
    analysis's own marking is the stricter of its document's and its top-level ``tlp``, each read by
    :func:`threadline.tlp.normalise` (an unknown word counts as red, as the store files it); ``requested`` is
    checked as an option (an unknown word is an InputError)."""
    document = analysis.get("document")
    own = tlp.strictest(analysis.get("tlp"), document.get("tlp") if isinstance(document, dict) else None)
    return tlp.stricter(tlp.parse_option(requested), own) if requested is not None else own


def defang_value(kind: str, value: str) -> str:
    """The usual defanged spelling of an indicator (for analyses that lack one): hxxp, [.] and [@]."""
    if kind == "ipv4":
        head, dot, tail = value.rpartition(".")
        return f"{head}[.]{tail}" if dot else value
    if kind == "domain":
        return value.replace(".", "[.]")
    if kind == "email":
        user, at, host = value.rpartition("@")
        return f"{user}[@]{host.replace('.', '[.]')}" if at else value
    if kind == "url":
        scheme, sep, rest = value.partition("://")
        if not sep:
            return value
        host, slash, path = rest.partition("/")
        scheme = {"http": "hxxp", "https": "hxxps", "ftp": "fxp"}.get(scheme.lower(), scheme)
        return f"{scheme}://{host.replace('.', '[.]')}{slash}{path}"
    return value


def defanged_of(ioc: dict[str, Any]) -> str:
    """An indicator's defanged form: the extractor's, else the usual spelling."""
    given = ioc.get("defanged")
    return str(given) if given else defang_value(str(ioc.get("type")), str(ioc["value"]))


class Defanger:
    """Rewrites human-facing text so every known indicator appears in its defanged form.

    One regular expression over all refanged values, longest first (a URL wins over its host), so a text is
    scanned once however many indicators the report has.
    """

    def __init__(self, iocs: list[dict[str, Any]]) -> None:
        self.table = {str(i["value"]): defanged_of(i) for i in iocs if i.get("value")}
        self.table = {v: d for v, d in self.table.items() if v != d}
        values = sorted(self.table, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, values))) if values else None

    def __call__(self, text: str) -> str:
        if self.pattern is None or not text:
            return text
        return self.pattern.sub(lambda m: self.table[m.group(0)], text)


def defang_text(text: str, iocs: list[dict[str, Any]]) -> str:
    """Human-facing text with every known indicator of ``iocs`` in its defanged form (one-off; see Defanger)."""
    return Defanger(iocs)(text)


def truncate(text: str, limit: int) -> str:
    """Text cut at a word boundary with an ellipsis, for comments with a length budget."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return cut + "…"


def evidence_text(evidence: Any) -> str:
    """The text of an evidence item (``{text, start, end, ...}``) or of a plain string (older analyses); else ""."""
    if isinstance(evidence, str):
        return evidence
    if isinstance(evidence, dict) and isinstance(evidence.get("text"), str):
        return str(evidence["text"])
    return ""


def evidence_sentences(item: dict[str, Any]) -> list[str]:
    """The distinct evidence texts of an analysis item, in order."""
    seen: list[str] = []
    for ev in item.get("evidence") or []:
        text = evidence_text(ev)
        if text and text not in seen:
            seen.append(text)
    return seen


def ioc_sentence(ioc: dict[str, Any]) -> str:
    """The sentence an indicator was found in, as text (an evidence object now, a string in older analyses)."""
    return evidence_text(ioc.get("sentence"))


def analytic_confidence(confidence: Any) -> str:
    """The engine's analytic confidence word (``analytic_confidence``; ``level`` in older analyses), lower case."""
    if not isinstance(confidence, dict):
        return ""
    return str(confidence.get("analytic_confidence") or confidence.get("level") or "").strip().lower()


def attack_url(attack_id: str) -> str:
    """The attack.mitre.org page of a technique, group, software or campaign id."""
    aid = attack_id.upper()
    kind = {"T": "techniques", "G": "groups", "S": "software", "C": "campaigns", "M": "mitigations"}[aid[0]]
    return f"https://attack.mitre.org/{kind}/{aid.replace('.', '/')}"


def _umask() -> int:
    """The process umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | Path, content: str) -> None:
    """Write a file through a temporary sibling and a rename, so a failure never leaves half a file.

    The file gets the mode ``open()`` would give it: an existing file keeps its mode, a new one gets 0666 less the
    umask. (mkstemp creates its temporary file 0600, which would leave an export unreadable to the analyst's group
    whatever their umask says.)
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise InputError("no such directory", where=str(directory))
    if target.is_dir():
        raise InputError("is a directory, not a file", where=str(target))
    try:
        mode = target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask()
    except OSError:
        mode = 0o666 & ~_umask()
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write here ({exc.strerror})", where=str(directory)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(content)
            os.fchmod(handle.fileno(), mode)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write ({exc.strerror or exc})", where=str(target)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
