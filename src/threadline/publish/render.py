"""The Jinja2 environments that turn briefings and site pages into text: HTML with autoescape, Markdown with an
escaping ``finalize``, and the filters both share (defanging, Markdown escaping, ICD-203 words)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:      # Jinja2 is imported when a template is rendered: the CLI's defanging does not need it
    from jinja2 import Environment

# ---- defanging ---------------------------------------------------------------------------------------------
_SCHEME = re.compile(r"(?i)\b(h)(tt)(ps?)(://|\[://\])")
_FTP = re.compile(r"(?i)\bftp(s?)://")
_HOST_AFTER_SCHEME = re.compile(r"(?i)\b(hxxps?|fxp)(://|\[://\])([^/\s?#\"'<>]+)")
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3})\.(\d{1,3})(?![\d.])")
_EMAIL_AT = re.compile(r"(?<=[\w.+-])@(?=[\w-]+(?:\.|\[\.\])[\w.\[\]-]+)")
_MAYBE_LIVE = re.compile(r"(?i)://|\[://\]|\d\.\d|@")
_NETWORK_TYPES = frozenset({"url", "domain", "hostname", "ipv4", "ipv6", "email", "ip-dst", "ip-src"})


def _defang_dots(host: str) -> str:
    return re.sub(r"(?<!\[)\.(?!\])", "[.]", host)


def defang_value(kind: str, value: str) -> str:
    """The defanged form of one indicator: ``hxxp``, ``[.]`` in hosts, ``[@]`` in e-mail addresses."""
    kind = kind.lower()
    if kind == "url":
        return defang_generic(value)
    if kind in ("domain", "hostname"):
        return _defang_dots(value)
    if kind in ("ipv4", "ip-dst", "ip-src"):
        return _IPV4.sub(r"\1[.]\2", value)
    if kind == "ipv6":
        return value.replace(":", "[:]", 1) if "[:]" not in value else value
    if kind == "email":
        local, _, host = value.rpartition("@")
        return f"{local}[@]{_defang_dots(host)}" if local else value
    return value


def defang_generic(text: str) -> str:
    """Defang what looks live in any text: URL schemes, URL hosts, IPv4 addresses and e-mail ``@``."""
    if not _MAYBE_LIVE.search(text):
        return text   # most sentences hold nothing to defang: one cheap scan instead of five substitutions
    text = _SCHEME.sub(lambda m: f"{m.group(1)}xx{m.group(3)}://", text)
    text = _FTP.sub(lambda m: f"fxp{m.group(1)}://", text)
    text = _HOST_AFTER_SCHEME.sub(lambda m: f"{m.group(1)}://{_defang_dots(m.group(3))}", text)
    text = _IPV4.sub(r"\1[.]\2", text)
    return _EMAIL_AT.sub("[@]", text)


class Defanger:
    """Defangs untrusted text with the analysis's own indicators first (longest first), then generically."""

    def __init__(self, iocs: Iterable[dict[str, Any]] = ()) -> None:
        pairs: dict[str, str] = {}
        for ioc in iocs:
            value, kind = str(ioc.get("value") or ""), str(ioc.get("type") or "")
            if not value:
                continue
            given = str(ioc.get("defanged") or "")
            # A "defanged" form that is still live (or missing) is recomputed: indicators are never shown live.
            shown = given if given and given != value else defang_value(kind, value)
            if kind.lower() in _NETWORK_TYPES and shown == value:
                shown = defang_generic(value)
            if shown != value:
                pairs[value] = shown
        self._pairs = sorted(pairs.items(), key=lambda p: (-len(p[0]), p[0]))
        self._pattern = (re.compile("|".join(re.escape(v) for v, _ in self._pairs)) if self._pairs else None)
        self._table = dict(self._pairs)

    def __call__(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: self._table[m.group(0)], text)
        return defang_generic(text)


# ---- Markdown escaping -------------------------------------------------------------------------------------
# Every ASCII punctuation character CommonMark lets a backslash escape and that can start markup inline.
# "+" and "-" start a list item only at the start of a line, where _MD_LINE_START escapes them ("+3 more" stays).
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#!|~&^=$\"])")
_MD_LINE_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-:+])")


def md_escape(text: object) -> str:
    """Untrusted text made inert in Markdown: one line, markup characters backslash-escaped (HTML too)."""
    flat = " ".join(str(text).split())
    escaped = _MD_SPECIAL.sub(r"\\\1", flat)
    # A leading "1." or "-" would start a list if the text ever began a line.
    return _MD_LINE_START.sub(lambda m: f"{m.group(1)}{m.group(2)}\\{m.group(3)}" if m.group(2)
                              else f"{m.group(4)}\\{m.group(5)}", escaped)


class MdSafe(str):
    """Markdown our templates wrote (not from a report): passed through ``finalize`` unescaped."""

    __slots__ = ()


def md_raw(text: object) -> MdSafe:
    return MdSafe(str(text))


def _md_finalize(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, MdSafe):
        return str(value)
    return md_escape(value)


# ---- estimative language -----------------------------------------------------------------------------------
# ICD-203 likelihood bands (upper bound, word); the same bands the MISP exporter tags with.
LIKELIHOOD = ((0.05, "almost no chance"), (0.20, "very unlikely"), (0.45, "unlikely"),
              (0.55, "roughly even chance"), (0.80, "likely"), (0.95, "very likely"), (1.01, "almost certain"))


def likelihood(probability: float) -> str:
    """ICD-203 likelihood words for a probability in [0, 1]."""
    p = min(max(float(probability), 0.0), 1.0)
    return next(word for bound, word in LIKELIHOOD if p < bound)


def percent(probability: float) -> str:
    return f"{round(float(probability) * 100)}%"


_WEB_URL = re.compile(r"^https?://[^\s<>()\[\]\"'`\\]+$")


def tlp_label(level: str) -> str:
    return f"TLP:{level.upper()}"


def tlp_class(level: str) -> str:
    """CSS class of a TLP level (TLP 2.0 colours on black are in the stylesheet)."""
    return "tlp-" + re.sub(r"[^a-z]+", "-", level.lower())


def web_url(url: object) -> str:
    """A knowledge-base URL when it is a plain http(s) URL, else "" (never ``javascript:`` or markup)."""
    text = str(url or "")
    return text if _WEB_URL.match(text) else ""


def md_url(url: object) -> MdSafe:
    """A Markdown autolink for a plain http(s) URL, or nothing."""
    text = web_url(url)
    return MdSafe(f"<{text}>" if text else "")


def script_hash(script: str) -> str:
    """The CSP source expression that allows exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


_TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")


def is_technique_id(value: object) -> bool:
    """True for an ATT&CK technique id, the only ids the site makes pages (and file names) for."""
    return bool(_TECHNIQUE_ID.match(str(value)))


def _filters(env: Environment) -> None:
    env.tests["technique_id"] = is_technique_id
    env.filters["likelihood"] = likelihood
    env.filters["percent"] = percent
    env.filters["tlp_label"] = tlp_label
    env.filters["tlp_class"] = tlp_class
    env.filters["web_url"] = web_url


@cache
def html_env() -> Environment:
    """HTML pages: autoescape on for every template, so report text can never become markup."""
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup

    env = Environment(loader=PackageLoader("threadline.publish", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    _filters(env)
    env.filters["trusted"] = Markup   # only for markup we build ourselves (the inline script), never report text
    return env


@cache
def md_env() -> Environment:
    """Markdown: every ``{{ value }}`` is escaped by ``finalize`` unless the template marks it ``|md_raw``."""
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("threadline.publish", "templates"), autoescape=False,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
                      finalize=_md_finalize)
    _filters(env)
    env.filters["md_raw"] = md_raw
    env.filters["md_escape"] = md_escape
    env.filters["md_url"] = md_url
    return env
