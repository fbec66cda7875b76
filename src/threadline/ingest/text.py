"""Plain text and Markdown: decode (UTF-8, else a detected encoding, else a clear error), normalise, title."""

from __future__ import annotations

import codecs
import re
import unicodedata

from charset_normalizer import CharsetMatch, from_bytes

from threadline.errors import InputError
from threadline.model import Document

# Share of characters that may be control or unassigned code points before the input counts as binary.
_MAX_GARBAGE_RATIO = 0.01
# charset-normalizer's "chaos" (mess) score above which a guessed encoding is not trusted.
_MAX_CHAOS = 0.2
# Control characters other than tab, newlines, vertical tab and form feed; surrogates; private-use code points.
_GARBAGE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff\U000f0000-\U0010ffff]")
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_MD_HINT = re.compile(r"^(\s{0,3}#{1,6}\s|\s*[-*+]\s|\s*\d+\.\s|```|>\s)|\[[^\]]+\]\([^)]+\)", re.MULTILINE)
# Page chrome that text copied from a web page often starts with ("Go to listing page", "Skip to content",
# "Home > Blog > ..."): never a report's title.
_CHROME = re.compile(r"^(?:(?:go|skip|back|return|jump) to\b|(?:view|see) all\b|(?:home|menu|search|share|print|"
                     r"subscribe|sign in|log ?in|toggle navigation|main menu)\W*$|home\s*[>/»|])", re.IGNORECASE)


def _garbage_ratio(text: str) -> float:
    if not text:
        return 0.0
    sample = text[:200_000]
    return len(_GARBAGE.findall(sample)) / len(sample)


def looks_binary(data: bytes) -> bool:
    """NUL bytes outside a UTF-16 text mean a binary file, whatever its name says."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    return b"\x00" in data[:65536]


# Western legacy encodings, preferred when detection ties: Windows-1252 is by far the most common non-UTF-8
# encoding of reports, and a tie with cp1250/cp1257 would otherwise turn "ù" into "ů".
_PREFERRED_ON_TIE = ("cp1252", "latin_1", "iso8859_15")


def _detect(data: bytes) -> CharsetMatch | None:
    matches = list(from_bytes(data[:1_000_000]))
    if not matches:
        return None
    best = matches[0]
    tied = [m for m in matches if m.chaos <= best.chaos and m.coherence >= best.coherence]
    for encoding in _PREFERRED_ON_TIE:
        for match in tied:
            if match.encoding == encoding:
                return match
    return best


def codec_name(charset: str | None) -> str | None:
    """Python's name for a declared charset (``Windows-1251`` -> ``cp1251``), or None when it is unknown."""
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip("\"'")).name
    except LookupError:
        return None


def _decode_first(data: bytes, codecs_: tuple[str | None, ...]) -> tuple[str | None, str]:
    for codec in codecs_:
        if codec:
            try:
                return data.decode(codec), codec
            except UnicodeDecodeError:
                continue
    return None, ""


def decode(data: bytes, where: str, declared: str | None = None) -> tuple[str, str]:
    """Text and the encoding used: a byte-order mark, UTF-8 (valid UTF-8 is almost never anything else, whatever
    a server declares), the declared charset, then a detected encoding, else an error."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding.replace("-sig", "")
            except UnicodeDecodeError:
                raise InputError(f"invalid {encoding} text after its byte-order mark", where=where) from None
    if looks_binary(data):
        raise InputError("binary data, not a text report (no PDF, HTML, feed, STIX or MISP signature either)",
                         where=where)
    text, encoding = _decode_first(data, ("utf-8", codec_name(declared)))
    if text is None:
        text, encoding = _decode_detected(data, where)
    if _garbage_ratio(text) > _MAX_GARBAGE_RATIO:
        raise InputError("binary data, not a text report (too many control characters)", where=where)
    return text, encoding


def _decode_detected(data: bytes, where: str) -> tuple[str, str]:
    best = _detect(data)
    if best is None or best.encoding is None or best.chaos > _MAX_CHAOS:
        raise InputError("not UTF-8 text and no other encoding fits it; convert it to UTF-8", where=where)
    try:
        return data.decode(best.encoding), best.encoding
    except (UnicodeDecodeError, LookupError):
        raise InputError(f"not UTF-8 text and not valid {best.encoding} either; convert it to UTF-8",
                         where=where) from None


def _rstrip_lines(text: str, block: int = 1 << 20) -> str:
    """Trailing whitespace off every line, a block of about 1 MB at a time so a huge text is not held twice
    as a list of lines."""
    parts: list[str] = []
    pos, size = 0, len(text)
    while True:
        end = text.find("\n", min(pos + block, size))
        end = size if end < 0 else end
        parts.append("\n".join(line.rstrip() for line in text[pos:end].split("\n")))
        if end >= size:
            return "\n".join(parts)
        pos = end + 1


def normalise(text: str) -> str:
    """Unix newlines, NFC, no trailing spaces, at most two blank lines: stable text gives a stable SHA-256."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.isascii():
        text = unicodedata.normalize("NFC", text).replace("\x00", "")
    text = _rstrip_lines(text)
    if "\n\n\n\n" in text:
        text = re.sub(r"\n{4,}", "\n\n\n", text)
    return text.strip("\n")


def is_markdown(text: str, name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith((".md", ".markdown", ".mdown")):
        return True
    if lowered.endswith((".txt", ".text", ".log")):
        return False
    return len(_MD_HINT.findall(text[:20_000])) >= 3


def title_from_text(text: str, lines: int = 10) -> str | None:
    """The first line near the top that is not web-page chrome (the first line if all of them are); a line with
    no letter or digit (a "---" rule, a row of "=") is never a title."""
    candidates = [line.strip() for line in text[:20_000].split("\n") if any(c.isalnum() for c in line)][:lines]
    chosen = next((line for line in candidates if not _CHROME.match(line)), candidates[0] if candidates else "")
    return chosen[:200] or None


def text_document(data: bytes, source: str, *, media_type: str | None = None,
                  charset: str | None = None) -> Document:
    """A Document from text or Markdown bytes (``charset`` as declared by an HTTP server, if any); front matter
    (YAML, see :mod:`threadline.ingest.dating`) gives its title, author, date, source URL and TLP."""
    from threadline.ingest.dating import FrontMatter, apply_front_matter, has_known_keys, read_front_matter

    raw, encoding = decode(data, source, charset)
    text = normalise(raw)
    markdown = media_type == "text/markdown" or (media_type is None and is_markdown(text, source))
    front = read_front_matter(text)
    if not markdown and not has_known_keys(front):
        front = FrontMatter(body=text)   # a plain text's opening "---" block is front matter only if it says so
    text = front.body.strip("\n")
    if not text.strip():
        raise InputError("no text in the file (only whitespace)" if not front.fields
                         else "no text after the front matter", where=source)
    heading = _MD_HEADING.search(text[:50_000]) if markdown else None   # the title is near the top
    title = (heading.group(1).strip()[:200] or None) if heading else title_from_text(text)
    metadata: dict[str, object] = {"encoding": encoding}
    if encoding != "utf-8":
        metadata["warning"] = f"decoded as {encoding} (not UTF-8)"
    doc = Document(text=text, source=source, media_type="text/markdown" if markdown else "text/plain",
                   title=title, metadata=metadata)
    apply_front_matter(doc, front)
    return doc
