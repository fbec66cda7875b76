"""TLP 2.0 in one place: the levels in order, how a word reads as a level, the stricter of two, and who may read
what. Every reader and writer of a marking (the store, ingest, attribution evidence, exports and briefings, the
static site, the web app and TAXII, the CLI options) goes through here, so that none can read a word otherwise.

- :data:`LEVELS` runs from the least restricted (``clear``) to the most (``red``).
- :func:`recognise` reads a word: case, a ``TLP:`` prefix and white space do not matter, ``white`` is TLP 1.0's
  name of ``clear`` and ``amber-strict`` a spelling of ``amber+strict``; anything else is no level (None).
- :func:`normalise` reads a marking that is already on something (a document, an analysis, a row): absent (None or
  empty) is ``clear``, the default marking of a report; any word that is not a level is ``red``, so that a marking
  nobody can read is never leaked.
- :func:`parse_option` reads a level someone asks for (``--tlp``, ``--clearance``, a form, a setting): an unknown
  word is a one-line :class:`~threadline.errors.InputError`.
- :func:`stricter`, :func:`may_read` and :func:`readable` compare levels.
"""

from __future__ import annotations

from typing import Final, Literal, TypeGuard, get_args

from threadline.errors import InputError

Level = Literal["clear", "green", "amber", "amber+strict", "red"]
LEVELS: Final[tuple[Level, ...]] = get_args(Level)        # increasing restriction
CLEAR: Final[Level] = "clear"
RED: Final[Level] = "red"
ALIASES: Final[dict[str, Level]] = {"white": "clear", "amber-strict": "amber+strict"}
_RANK: Final[dict[str, int]] = {level: n for n, level in enumerate(LEVELS)}


def is_level(word: object) -> TypeGuard[Level]:
    """Whether ``word`` is a level as stored (lower case, no prefix)."""
    return isinstance(word, str) and word in _RANK


def recognise(word: str) -> Level | None:
    """The level a word names (``TLP:AMBER+STRICT``, ``amber+strict``, `` White ``), else None."""
    text = word.strip().lower().removeprefix("tlp:").strip()
    text = ALIASES.get(text, text)
    return text if is_level(text) else None


def normalise(word: object) -> Level:
    """The level of a marking found on something: absent (None, empty) is clear; a word that names no level, or a
    value that is no word at all, is red (the strictest: never leaked)."""
    if word is None or word == "":
        return CLEAR
    return (recognise(word) if isinstance(word, str) else None) or RED


def parse_option(word: str | None, where: str = "--tlp") -> Level:
    """A level someone asks for: absent is clear; a word that names no level is a one-line InputError."""
    if not word:
        return CLEAR
    level = recognise(word)
    if level is None:
        raise InputError(f"unknown TLP level {word!r} (expected one of {', '.join(LEVELS)})", where=where)
    return level


def rank(level: Level) -> int:
    """0 (clear) to 4 (red)."""
    return _RANK[level]


def stricter(a: Level, b: Level) -> Level:
    """The more restricted of two levels."""
    return a if _RANK[a] >= _RANK[b] else b


def strictest(*markings: object) -> Level:
    """The most restricted of the markings found on one or several things (each read by :func:`normalise`, so an
    absent one is clear); clear if there are none."""
    out: Level = CLEAR
    for word in markings:
        out = stricter(out, normalise(word))
    return out


def may_read(clearance: Level, marking: object) -> bool:
    """Whether a reader cleared for ``clearance`` may read something marked ``marking``. The marking is read by
    :func:`normalise`, except that a missing one (None, empty) counts as red here: a row without a marking is
    never shown to anyone short of red."""
    level = RED if marking is None or marking == "" else normalise(marking)
    return _RANK[level] <= _RANK[clearance]


def readable(clearance: Level) -> tuple[Level, ...]:
    """Every level a reader cleared for ``clearance`` may read, least restricted first."""
    return LEVELS[:_RANK[clearance] + 1]


def label(level: Level) -> str:
    """How a level is written for people: ``TLP:AMBER+STRICT``."""
    return f"TLP:{level.upper()}"


__all__ = ["ALIASES", "CLEAR", "LEVELS", "RED", "Level", "is_level", "label", "may_read", "normalise",
           "parse_option", "rank", "readable", "recognise", "stricter", "strictest"]
