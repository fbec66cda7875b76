"""Find indicator candidates in refanged text and decide their type and normalised value.

Each scanner yields :class:`Raw` hits with offsets in the refanged text. URLs (and e-mail addresses, in
:mod:`threadline.extract.iocs.urls`) are found first; a domain, address,
hash or file name inside a URL (or a domain inside an e-mail address, a file name inside a registry key) is part of
that indicator and is not reported again.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from threadline.extract.iocs import patterns as p
from threadline.extract.iocs import suffixes
from threadline.limits import check

if TYPE_CHECKING:
    import tldextract

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?", re.IGNORECASE | re.ASCII)
_DOMAIN_CUE = re.compile(
    r"\b(?:domains?|hostnames?|host|resolv\w*|c2|c&c|dns|register\w*|site|lookups?|quer(?:y|ies)|beacons?|"
    r"contact\w*|connects?|sinkhol\w*|typosquat\w*|lookalike)\W{1,3}(?:\w+\W{1,3}){0,3}$",
    re.IGNORECASE,
)
_FILE_CUE = re.compile(r"\b(?:file|files|named|called|script|archive|attachment|executable|drops|dropped|lure)"
                       r"\W{1,3}(?:\w+\W{1,3})?$", re.IGNORECASE)
_HASH_LABEL = re.compile(r"sha[\-_ ]?(512|384|256|1)\b|md5", re.IGNORECASE)


@dataclass(slots=True)
class Raw:
    """A typed, normalised hit with offsets in the refanged text."""

    type: str
    value: str
    start: int
    end: int
    host: str = ""         # for url, domain, email: the host name (lower case), to check lists against


@cache
def extractor() -> tldextract.TLDExtract:
    """Public Suffix List from tldextract's bundled snapshot: never fetched, never cached on disk. Only for hosts
    :func:`threadline.extract.iocs.suffixes.split` does not answer (punycode, ports): importing tldextract imports
    requests, a tenth of a second of a cold start."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


def _domain_and_suffix(host: str) -> tuple[str, str]:
    found = suffixes.split(host)
    if found is None:
        parts = extractor()(host)
        return parts.domain, parts.suffix
    return found


@cache
def tlds() -> frozenset[str]:
    """Top-level domains (single labels) of the bundled Public Suffix List."""
    return frozenset(s.lower() for s in suffixes.rules().tlds if "." not in s)


@lru_cache(maxsize=65536)
def registered_domain(host: str) -> str:
    """``sub.evil.co.uk`` -> ``evil.co.uk`` (private suffixes such as ``github.io`` count as suffixes)."""
    domain, suffix = _domain_and_suffix(host)
    return f"{domain}.{suffix}" if domain and suffix else host


@lru_cache(maxsize=65536)
def valid_domain(name: str) -> bool:
    """Syntactically a host name under a public suffix."""
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 253 or labels[-1].lower() not in tlds():
        return False
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    domain, suffix = _domain_and_suffix(name)
    return bool(domain and suffix)


class Spans:
    """Sorted, non-overlapping spans of already-claimed text (URLs, e-mails, registry keys)."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def add(self, start: int, end: int) -> None:
        i = bisect_right(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)

    def covers(self, start: int, end: int) -> bool:
        i = bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end


def _matches(text: str, pattern: re.Pattern[str], literals: tuple[str, ...]) -> Iterator[re.Match[str]]:
    """Matches of ``pattern`` anchored where one of its literal spellings occurs, in text order."""
    starts: list[int] = []
    for literal in literals:
        pos = text.find(literal)
        while pos != -1:
            starts.append(pos)
            pos = text.find(literal, pos + 1)
    for start in sorted(starts):
        check()      # bounded work per document in any thread (threadline.limits)
        match = pattern.match(text, start)
        if match is not None:
            yield match


# Windows limits: a key name has at most 255 characters, a value name 16,383, and the tree is 512 levels deep.
_KEY_NAME_MAX, _VALUE_NAME_MAX, _LEVELS_MAX = 255, 16383, 512


def _registry_shape_ok(path: str) -> bool:
    """Whether ``\\a\\b\\c`` (after the hive) fits Windows' limits; ``HKLM\\`` x 150,000 does not (and would
    be a 750 KB "indicator" to print)."""
    if path.count("\\") > _LEVELS_MAX:
        return False
    names = path.split("\\")
    return (all(len(name) <= _KEY_NAME_MAX for name in names[:-1])
            and len(names[-1]) <= _VALUE_NAME_MAX)


def scan_registry(text: str, claimed: Spans) -> Iterator[Raw]:
    done = 0       # a hive name inside a key already found is part of that key (and "HKLM\\" x 150,000 stays linear)
    for match in _matches(text, p.REGISTRY, p.REGISTRY_AT):
        if match.start() < done:
            continue
        if match.start() and (text[match.start() - 1].isalnum() or text[match.start() - 1] == "_"):
            continue
        path_match = p.REGISTRY_PATH.match(text, match.end())
        if path_match is None:
            continue
        end = path_match.end()
        path = path_match.group(1)
        before = text[match.start() - 1:match.start()] if match.start() else ""
        if before in ("'", '"') and text[end:end + 1] == " ":      # 'HKLM:\...\Windows Defender'
            tail = p.REGISTRY_TAIL.match(text, end)
            if tail and text[tail.end():tail.end() + 1] == before:
                path += tail.group(0)
                end = tail.end()
        trimmed = path.rstrip("\\.:)")
        end -= len(path) - len(trimmed)
        path = trimmed.replace("\\\\", "\\")
        if len(path) < 2:
            continue
        done = end
        if not _registry_shape_ok(path):
            continue
        hive = text[match.start():match.end()].upper()
        claimed.add(match.start(), end)
        yield Raw("registry_key", p.HIVE_LONG.get(hive, hive) + path, match.start(), end)


# Hex runs are found on a byte copy of the text in which every hex digit is "h" and everything else ".": a
# plain bytes.find for 16 "h" is many times faster than any regex scan for [0-9a-f]{32,}.
_HEX_TABLE = bytes(104 if chr(i) in "0123456789abcdefABCDEF" else 46 for i in range(256))
_H_RUN = re.compile(rb"h+")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]+")
_WRAP_GAP = re.compile(r"[ \t]*\r?\n[ \t]*")
_MIN_PIECE = 16          # shortest first piece of a hash wrapped across lines that is looked at


_B58_TABLE = bytes(104 if chr(i) in p.B58_ALPHABET else 46 for i in range(256))


def hex_runs(data: bytes, minimum: int = _MIN_PIECE, table: bytes = _HEX_TABLE) -> Iterator[tuple[int, int]]:
    """Maximal runs of at least ``minimum`` hex digits (or characters of ``table``) in ``data``."""
    mapped = data.translate(table)
    needle = b"h" * minimum
    pos = mapped.find(needle)
    while pos != -1:
        check()      # bounded work per document in any thread (threadline.limits)
        run = _H_RUN.match(mapped, pos)
        assert run is not None
        yield pos, run.end()
        pos = mapped.find(needle, run.end())


def _word_char(text: str, pos: int) -> bool:
    """An ASCII letter, digit or underscore (a hash glued to a CJK file name in PDF text still counts)."""
    return 0 <= pos < len(text) and text[pos].isascii() and (text[pos].isalnum() or text[pos] == "_")


def scan_hashes(text: str, data: bytes, claimed: Spans) -> Iterator[Raw]:
    done = 0
    for start, end in hex_runs(data):
        if start < done or _word_char(text, start - 1) or _word_char(text, end):
            continue
        tail = _wrapped_tail(text, start, end)
        if tail is not None:
            value = text[start:end] + text[tail[0]:tail[1]]
            done = tail[1]
            yield Raw(p.HASH_TYPES[len(value)], value.lower(), start, tail[1])
            continue
        value = text[start:end]
        if len(value) in p.HASH_TYPES and not value.isdigit() and _hash_allowed(text, start, end, claimed):
            yield Raw(p.HASH_TYPES[len(value)], value.lower(), start, end)


def _hash_allowed(text: str, start: int, end: int, claimed: Spans) -> bool:
    """Outside URLs, or a whole path segment or query value of one (``/gui/file/<sha256>``, ``?md5=<md5>``)."""
    if not claimed.covers(start, end):
        return True
    return text[start - 1] in "/=" and text[end:end + 1] in ("", "/", "?", "#", "&")


def _wrapped_tail(text: str, start: int, end: int) -> tuple[int, int] | None:
    """The rest of a hash wrapped across a line break (PDF text), if the run at start:end is cut short."""
    gap = _WRAP_GAP.match(text, end)
    if gap is None:
        return None
    tail = _HEX_RUN.match(text, gap.end())
    if tail is None or _word_char(text, tail.end()):
        return None
    a, b = end - start, tail.end() - tail.start()
    if a + b not in p.HASH_TYPES:
        return None
    if a not in p.HASH_TYPES:
        return tail.span()
    # Two valid-looking halves (64 + 64): only one hash when the label right before says so.
    labels = _HASH_LABEL.findall(text, max(0, start - 120), start)
    return tail.span() if labels and labels[-1] == "512" and b in p.HASH_TYPES else None


# Token characters (and dots) as "t", everything else as " ": the start of the dotted token around a dot is then one
# C-level rfind away instead of a Python loop over characters.
_TOKEN_TABLE = bytes(116 if chr(i) in p.TOKEN_CHARS or chr(i) == "." else 32 for i in range(256))


def scan_dotted(text: str, data: bytes, claimed: Spans, was_defanged: Callable[[int, int], bool]
                ) -> Iterator[Raw]:
    """Domains, IPv4 addresses and file names, told apart by extension, TLD, spelling and context."""
    top = tlds()
    mapped = data.translate(_TOKEN_TABLE)
    done = 0
    for dot in p.DOT.finditer(text):
        check()      # bounded work per document in any thread (threadline.limits)
        if dot.start() < done:
            continue
        start = mapped.rfind(b" ", 0, dot.start()) + 1
        while text[start] == ".":
            start += 1
        match = p.DOTTED.match(text, start)
        if match is None:
            continue
        end = done = match.end()
        if (start and text[start - 1] in p.NOT_BEFORE_DOTTED) or claimed.covers(start, end):
            continue
        token = match.group(0)
        last = token.rsplit(".", 1)[1].lower()
        if last.isdigit():
            if p.IPV4.fullmatch(token) and _is_address(text, start, end):
                yield Raw("ipv4", token, start, end)
            continue
        if token.lower() in p.PRODUCT_NAMES:
            continue
        is_ext, is_tld = last in p.FILE_EXTENSIONS, last in top
        if not is_tld:
            if is_ext and token.split(".", 1)[0]:
                yield Raw("file_name", token, start, end)
            continue
        kind = _domain_or_file(text, token, start, is_ext, was_defanged(start, end))
        if kind == "domain":
            name = token.lower()
            if valid_domain(name):
                yield Raw("domain", name, start, end, name)
        elif kind == "file_name":
            yield Raw("file_name", token, start, end)


def _is_address(text: str, start: int, end: int) -> bool:
    """A dotted quad that is not a version, a section number or a product's version ("Chrome/120.0.0.0")."""
    if start >= 2 and text[start - 1] == "/" and text[start - 2].isalnum():
        return False
    if text[end:end + 1] == "." and text[end + 1:end + 2].isdigit():
        return False
    line_start = text.rfind("\n", max(0, start - 40), start) + 1
    return not p.NOT_AN_ADDRESS.search(text, max(line_start, start - 40), start)


def _domain_or_file(text: str, token: str, start: int, is_ext: bool, was_defanged: bool) -> str | None:
    if was_defanged:
        return "domain"
    filey = "_" in token or any(c.isupper() for c in token[1:])
    labels = token.split(".")
    last = labels[-1].lower()
    if filey:
        return "file_name" if is_ext else None  # "ASP.NET", "System.Net": products and namespaces
    if (not is_ext and last in p.CODE_TLDS and labels[0].lower() != "www"
            and not any(c in token for c in "-0123456789")):
        return None                              # "user.name", "e.target.id", "task.run": code, not hosts
    if not is_ext:
        return "domain"
    line_start = text.rfind("\n", max(0, start - 60), start) + 1
    before = text[max(line_start, start - 60):start]
    if _FILE_CUE.search(before):
        return "file_name"
    if _DOMAIN_CUE.search(before):
        return "domain"
    if last in p.DOMAIN_FIRST:
        return "domain"
    if len(labels) >= 3 and labels[-2].lower() not in p.FILE_EXTENSIONS:
        return "domain"                          # "dl.photos-share.mov"
    return "file_name"


def scan_ipv6(text: str, claimed: Spans) -> Iterator[Raw]:
    if "::" not in text and text.count(":") < 7:
        return
    done = 0
    for colon in p.COLON.finditer(text):
        check()      # bounded work per document in any thread (threadline.limits)
        pos = colon.start()
        if pos < done:
            continue
        start = pos
        while start > pos - 5 and start > 0 and text[start - 1] in p.HEXCOLON:
            start -= 1
        if start and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
            done = pos + 1
            continue
        match = p.IPV6.match(text, start)
        if match is None:
            continue
        done = match.end()
        if claimed.covers(start, match.end()):
            continue
        value = p.ipv6_value(match.group(0))
        if value is not None:
            yield Raw("ipv6", value, start, match.end())


def scan_misc(text: str, data: bytes, claimed: Spans) -> Iterator[Raw]:
    """CVE identifiers, Bitcoin addresses and autonomous system numbers."""
    for match in _matches(text, p.CVE, p.CVE_AT):
        if match.start() and (text[match.start() - 1].isalnum() or text[match.start() - 1] in "_-"):
            continue
        # Also inside a URL: ".../vuln/detail/CVE-2024-3400" names the vulnerability it documents.
        yield Raw("cve", f"CVE-{match.group(1)}-{match.group(2)}", match.start(), match.end())
    for start, end in hex_runs(data, 26, _B58_TABLE):     # runs of Base58 characters, found like hex runs
        candidate = text[start:end]
        if (candidate[0] in "13" and end - start <= 35 and not _word_char(text, start - 1)
                and not _word_char(text, end) and p.base58check_ok(candidate)):
            yield Raw("btc_address", candidate, start, end)
    for match in _matches(text, p.BTC_BECH32, p.BTC_BECH32_AT):
        if not _word_before(text, match.start()) and p.bech32_ok(match.group(0)):
            yield Raw("btc_address", match.group(0).lower(), match.start(), match.end())
    for match in p.ASN.finditer(text):
        number = int(match.group(2))
        if _word_before(text, match.start()) or text[match.start() - 1:match.start()] == "/":
            continue
        if not 0 < number < 2**32 or claimed.covers(match.start(), match.end()):
            continue
        if number < 1000 and not match.group(1):
            # Short numbers are mostly products ("IBM AS/400 (AS400)"): require words about networks nearby.
            window = text[max(0, match.start() - 60):match.end() + 60]
            if not p.ASN_CUE.search(window) or f"AS/{number}" in window:
                continue
        yield Raw("asn", f"AS{number}", match.start(), match.end())


def _word_before(text: str, start: int) -> bool:
    return start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_")
