"""Refang report text once, keeping a map back to the offsets of the text as written.

Analysts defang indicators in many ways (``evil[.]com``, ``1.2.3(.)4``, ``a[at]b(dot)com``, ``hxxp[:]//``,
``hxxps[://]``, ``evil . org``). Rather than teaching every pattern every variant, the text is refanged in one
linear pass; the extractor runs on the refanged copy and maps hits back to the original offsets, so that a hit's
``defanged`` form is exactly what the report wrote.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

# One alternation, compiled once, starting with a character class (no look-behind first, so the engine can skip
# ahead); each variant maps to its refanged form in _REPLACEMENTS (lower-cased key).
DEFANG = re.compile(
    r"[\[\(\{\\](?:(?<=[A-Za-z0-9]\\)\.(?=[A-Za-z0-9])|(?<!\\)(?:\.|[Dd][Oo][Tt]|@|[Aa][Tt])[\]\)\}]|"
    r"(?<=\[)(?::\]//|://\]|:\]|/\]))"
)
# "evil . org": a dot with single spaces around it, between a label and a lower-case word (checked to be a TLD).
SPACED_DOT = re.compile(r" \. (?=[a-z]{2,24}\b)(?<=[a-z0-9] \. )")
# "evil [.] com": a bracketed dot with spaces around it (replaces the plain "[.]" match inside it).
SPACED_BRACKET_DOT = re.compile(r"(?<=[A-Za-z0-9]) \[\.\] (?=[A-Za-z0-9])")


_REPLACEMENTS = {
    "[.]": ".", "(.)": ".", "{.}": ".", "[dot]": ".", "(dot)": ".", "{dot}": ".",
    "[@]": "@", "(@)": "@", "{@}": "@", "[at]": "@", "(at)": "@", "{at}": "@",
    "[:]//": "://", "[://]": "://", "[:]": ":", "[/]": "/", " . ": ".", "\\.": ".", " [.] ": ".",
}


@dataclass(slots=True)
class Refanged:
    """Refanged text plus the replaced spans, to map refanged offsets back to the original text."""

    text: str
    original: str
    # Parallel lists: refanged start/end and original start/end of each replacement, in order.
    ref_starts: list[int] = field(default_factory=list)
    ref_ends: list[int] = field(default_factory=list)
    orig_starts: list[int] = field(default_factory=list)
    orig_ends: list[int] = field(default_factory=list)

    def start(self, pos: int) -> int:
        """Original offset of a refanged start offset."""
        i = bisect_right(self.ref_starts, pos) - 1
        if i < 0:
            return pos
        if pos < self.ref_ends[i]:
            return self.orig_starts[i]
        return self.orig_ends[i] + (pos - self.ref_ends[i])

    def end(self, pos: int) -> int:
        """Original offset of a refanged end offset (exclusive)."""
        i = bisect_right(self.ref_starts, pos - 1) - 1
        if i < 0:
            return pos
        if pos <= self.ref_ends[i]:
            return self.orig_ends[i]
        return self.orig_ends[i] + (pos - self.ref_ends[i])

    def was_defanged(self, start: int, end: int) -> bool:
        """Whether a refanged span contains a replacement (the analyst defanged it on purpose)."""
        i = bisect_right(self.ref_starts, end - 1) - 1
        return i >= 0 and self.ref_ends[i] > start


def refang(text: str, tlds: frozenset[str] | None = None) -> Refanged:
    """Replace every defanging token; ``tlds`` (lower case) guards the ``evil . org`` form."""
    out = Refanged(text="", original=text)
    matches = list(DEFANG.finditer(text))
    if " [.] " in text:      # the wide form replaces the "[.]" match inside it
        wide = list(SPACED_BRACKET_DOT.finditer(text))
        inner = {m.start() + 1 for m in wide}
        matches = [m for m in matches if m.start() not in inner] + wide
        matches.sort(key=lambda m: m.start())
    if " . " in text:
        matches += SPACED_DOT.finditer(text)
        matches.sort(key=lambda m: m.start())
    if not matches:
        out.text = text
        return out
    parts: list[str] = []
    last = 0
    shift = 0      # refanged offset minus original offset so far
    for match in matches:
        token = match.group(0)
        key = token.lower()
        if key == " . " and tlds is not None:
            word_end = match.end()
            while word_end < len(text) and text[word_end].isalpha():
                word_end += 1
            if text[match.end():word_end] not in tlds:
                continue
        repl = _REPLACEMENTS.get(key)
        if repl is None:
            continue      # mismatched brackets ("[.)", found by fuzzing): no defanging convention, left as written
        parts.append(text[last:match.start()])
        parts.append(repl)
        ref_start = match.start() + shift
        out.ref_starts.append(ref_start)
        out.ref_ends.append(ref_start + len(repl))
        out.orig_starts.append(match.start())
        out.orig_ends.append(match.end())
        shift += len(repl) - len(token)
        last = match.end()
    if not parts:
        out.text = text
        return out
    parts.append(text[last:])
    out.text = "".join(parts)
    return out
