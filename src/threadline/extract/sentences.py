"""Split report text into sentences with character offsets.

Threat reports break naive splitters: defanged indicators (``evil[.]com``), IPs and versions (``10.0.19041.1``),
abbreviations (``e.g.``, ``U.S.``), bullet lists and PDF line breaks. A boundary is a ``.``, ``!`` or ``?`` followed
by whitespace and then something that can start a sentence, or a blank line / list bullet; never a dot inside a token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from threadline.limits import check
from threadline.model import Sentence

# Words that end with a dot but rarely end a sentence.
_ABBREVIATIONS = frozenset(
    """e.g i.e etc vs al fig figs sect no nos cf approx inc ltd corp co dept est jan feb mar apr jun jul aug sep
    sept oct nov dec mr mrs ms dr st u.s u.k u.n e.u ver v vol pp""".split()
)
# Candidate boundaries: sentence punctuation (+ closing quotes/brackets) then whitespace; or a paragraph break;
# or a newline before a bullet or a Markdown heading.
_BOUNDARY = re.compile(r"""[.!?]['"”’)\]]*\s+|\n[ \t]*\n\s*|\n(?=[ \t]*(?:(?:[-*•●▪◦·]|\d{1,2}[.)])\s|#{1,6}\s))""")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_LINE_START = re.compile(r"(?:[-*•●▪◦·]|\d{1,2}[.)]|#{1,6})\s")
_STARTS_SENTENCE = re.compile(r"""['"“‘(\[]?[A-Z0-9•●▪◦·*-]""")
_MAX_SENTENCE = 2000   # very long runs (tables, base64 blobs) are cut so that evidence stays readable


def _last_word(text: str, end: int) -> str:
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end].rstrip(".!?'\"”’)]").lower()


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    chunk = match.group(0)
    if chunk[0] not in ".!?" or _BLANK_LINE.search(chunk):
        return True        # paragraph break, list item or heading
    if "\n" in chunk and _LINE_START.match(text, match.end()):
        return True        # "... item a.\n- item b"
    nxt = match.end()
    if nxt >= len(text):
        return True
    if not _STARTS_SENTENCE.match(text, nxt):
        return False       # "e.g. the loader" / "... see fig. 3a"
    if chunk[0] == ".":
        word = _last_word(text, match.start())
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            return False   # "U.S. Army", "J. Smith"
    return True


def _emit(text: str, start: int, end: int) -> Iterator[Sentence]:
    while start < end and text[start].isspace():
        start += 1
    if text.startswith("#", start):   # a Markdown heading is a sentence of its own
        newline = text.find("\n", start, end)
        if newline != -1:
            yield from _emit(text, start, newline)
            start = newline
            while start < end and text[start].isspace():
                start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    while end - start > _MAX_SENTENCE:
        cut = text.rfind(" ", start, start + _MAX_SENTENCE)
        cut = cut if cut > start else start + _MAX_SENTENCE
        yield Sentence(text[start:cut], start, cut)
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        yield Sentence(text[start:end], start, end)


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of ``text`` in order; ``text[s.start:s.end] == s.text`` always holds."""
    out: list[Sentence] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        check()      # bounded work per document in any thread (threadline.limits)
        if _is_boundary(text, match):
            cut = match.start() + len(match.group(0).rstrip())   # keep the punctuation, drop the whitespace
            if match.group(0)[0] not in ".!?":
                cut = match.start()
            out.extend(_emit(text, start, cut))
            start = match.end()
    out.extend(_emit(text, start, len(text)))
    return out


def sentence_at(sentences: list[Sentence], offset: int) -> Sentence | None:
    """The sentence holding a character offset (binary search)."""
    lo, hi = 0, len(sentences)
    while lo < hi:
        mid = (lo + hi) // 2
        if sentences[mid].end <= offset:
            lo = mid + 1
        else:
            hi = mid
    if lo < len(sentences) and sentences[lo].start <= offset:
        return sentences[lo]
    return None
