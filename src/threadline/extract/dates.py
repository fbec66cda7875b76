"""Dates and periods in report text, normalised to ISO 8601 as precisely as the text states them, with the event
they date (the clause around them: "first activity observed").

Handled: ISO dates ("2020-08-14", "2020-08"), "14 August 2020", "August 14, 2020", "August 2020", "early May
2020", "mid-2021", "Q3 2020", "the third quarter of 2020", year ranges ("2019–2021", "between 2019 and 2021"),
month ranges ("March–May 2020") and bare years after a preposition ("in 2019", "since 2017"). Periods are ISO
intervals ("2019/2021"). A sentence that dates itself by the one before ("This was followed by ...") gets an
open interval after the earlier date ("2020-09/..") and ``relative_to``. A date in the title or a heading ("what
our sensors saw in Q2 2023") dates the report, not an event in it: its event is ``REPORT_PERIOD`` (``REPORT_DATE``
for a day).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from threadline.extract.entities_lexicon import english_words
from threadline.model import Sentence

_MONTHS = {"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
           "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
           "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12}
# Month names are matched capitalised only: "may" is a modal verb, "march" a verb.
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December|" \
         r"Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|Dec\.?)"
_YEAR = r"(?:19[89]\d|20[0-4]\d)"
_QUAL = r"(?:(?P<qual>early|mid|late|the (?:beginning|start|middle|end) of|(?:the )?(?:beginning|end) of)[\s-]+)?"
_END = r"(?![\w-]|\.\d)"
_DASH = r"\s*(?:-|–|—|to|through|until)\s*"

_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((name, re.compile(p, re.IGNORECASE if ic else 0))
                                                           for name, p, ic in (
    ("iso", rf"(?<![\w-])(?P<y>{_YEAR})-(?P<m>0[1-9]|1[0-2])(?:-(?P<d>0[1-9]|[12]\d|3[01]))?{_END}", False),
    ("month_range", rf"(?<!\w)(?:(?P<m1>{_MONTH}){_DASH}|(?:[Bb]etween|[Ff]rom)\s+(?P<m1b>{_MONTH})\s+(?:and|to)\s+)"
                    rf"(?P<m2>{_MONTH}),?\s+(?P<y>{_YEAR}){_END}", False),
    ("span", rf"(?<!\w)(?:from|between)\s+(?P<m1>{_MONTH})\s+(?P<y1>{_YEAR})\s+(?:to|and|until|through)\s+"
             rf"(?P<m2>{_MONTH})\s+(?P<y2>{_YEAR}){_END}", False),
    ("dmy", rf"(?<!\w)(?P<d>[0-3]?\d)(?:st|nd|rd|th)?\s+(?P<m>{_MONTH}),?\s+(?P<y>{_YEAR}){_END}", False),
    ("mdy", rf"(?<!\w)(?P<m>{_MONTH})\s+(?P<d>[0-3]?\d)(?:st|nd|rd|th)?,?\s+(?P<y>{_YEAR}){_END}", False),
    ("month", rf"(?<!\w){_QUAL}(?P<m>{_MONTH})(?:\s+of)?,?\s+(?P<y>{_YEAR}){_END}", False),
    ("quarter", rf"(?<!\w)(?:Q(?P<q>[1-4])\s+(?P<y>{_YEAR})|(?P<y2>{_YEAR})\s+Q(?P<q2>[1-4])|the\s+(?P<qw>first|"
                rf"second|third|fourth|last)\s+quarter\s+of\s+(?P<y3>{_YEAR})){_END}", False),
    ("year_range", rf"(?<![\w-])(?:(?:from|between)\s+)?(?P<y1>{_YEAR})(?:\s*(?:-|–|—)\s*|\s+(?:to|and|until|"
                   rf"through)\s+)(?P<y2>{_YEAR}){_END}", True),
    ("year", rf"(?<!\w)(?:(?P<qual>early|mid|late)[\s-]+|(?:in|since|during|until|throughout|as early as|as of|"
             rf"from|before|after|by|around|circa|of|summer of|winter of|spring of|autumn of|fall of)\s+)"
             rf"(?P<y>{_YEAR}){_END}", True),
))
_YEARISH = re.compile(_YEAR)     # every pattern needs a year: most sentences are skipped after one cheap search
_QUARTERS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": 4}
_RELATIVE = re.compile(r"^[\s•*·●▪◦-]*(?:This|That|These|It|They)\s+(?:was|were)\s+(?:later\s+)?followed\s+by\s+|"
                       r"^[\s•*·●▪◦-]*(?:Later|Subsequently|Afterwards|After that|Then|Next),?\s+", re.IGNORECASE)
_RELATIVE_END = re.compile(r"\s+(?:followed|came\s+(?:next|later)|(?:was|were)\s+next)\s*[.!]?$", re.IGNORECASE)
_LABEL = re.compile(r"^\s*([A-Za-z][\w -]{0,30}):\s*$")      # "published: 2021-03-18", "Date: ..."
_PREPOSITION = re.compile(r"\b(?:in|on|since|during|until|throughout|as early as|as of|from|between|by|around|"
                          r"circa|starting|beginning|back)\s*$", re.IGNORECASE)
_AUX = re.compile(r"\b(?:was|were|has been|have been|had been|is|are|being)\s+", re.IGNORECASE)
_CLAUSE_SPLIT = re.compile(r"\s*[;:—]\s*|,\s+|\s+(?:and|but|while|whereas)\s+")
_HEADING = re.compile(r"^\s*#{1,6}\s")        # a Markdown heading line
REPORT_PERIOD = "the period the report covers"
REPORT_DATE = "the report's date"
_HAS_VERB = re.compile(r"\b(?:was|were|is|are|has|have|had|will|would|began|started|\w+ed)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DateHit:
    date: str            # ISO 8601: "2020", "2020-08", "2020-08-14", or an interval "2019/2021", "2020-09/.."
    text: str
    start: int
    end: int
    event: str
    qualifier: str | None = None
    relative_to: str | None = None


def _month(name: str) -> int:
    return _MONTHS[name.rstrip(".").lower()]


def _qualifier(q: str | None) -> str | None:
    if not q:
        return None
    q = q.lower()
    return "early" if ("beginning" in q or "start" in q or q == "early") else "late" if "end" in q or q == "late" \
        else "mid"


def _normalise(kind: str, m: re.Match[str]) -> tuple[str, str | None]:
    g = m.groupdict()
    if kind == "iso":
        return "-".join(x for x in (g["y"], g["m"], g["d"]) if x), None
    if kind in ("dmy", "mdy"):
        day = int(g["d"])
        if not 1 <= day <= 31:
            raise ValueError(day)
        return f"{g['y']}-{_month(g['m']):02d}-{day:02d}", None
    if kind == "month":
        return f"{g['y']}-{_month(g['m']):02d}", _qualifier(g.get("qual"))
    if kind == "month_range":
        first, last = _month(g["m1"] or g["m1b"]), _month(g["m2"])
        if last <= first:
            raise ValueError(m.group(0))
        return f"{g['y']}-{first:02d}/{g['y']}-{last:02d}", None
    if kind == "span":
        return f"{g['y1']}-{_month(g['m1']):02d}/{g['y2']}-{_month(g['m2']):02d}", None
    if kind == "quarter":
        year = g["y"] or g["y2"] or g["y3"]
        q = int(g["q"] or g["q2"] or _QUARTERS[g["qw"].lower()])
        return f"{year}-{3 * q - 2:02d}/{year}-{3 * q:02d}", None
    if kind == "year_range":
        if int(g["y2"]) <= int(g["y1"]):
            raise ValueError(m.group(0))
        return f"{g['y1']}/{g['y2']}", None
    return g["y"], _qualifier(g.get("qual"))


def _date_span(m: re.Match[str], kind: str) -> tuple[int, int]:
    """The date itself, without the preposition the pattern needed ("in 2019" -> "2019")."""
    if kind == "year" and m.group("qual") is None:
        return m.start("y"), m.end("y")
    return m.start(), m.end()


def _clauses(sentence: str, keep: tuple[tuple[int, int], ...] = ()) -> list[tuple[int, int]]:
    """Clause spans: split at ; : — , and at "and"/"but" only when a verb follows (a coordinated clause);
    never inside a date ("between April and June 2023")."""
    cuts = [0]
    for m in _CLAUSE_SPLIT.finditer(sentence):
        if any(a <= m.start() < b for a, b in keep):
            continue
        rest = sentence[m.end():]
        upto = re.split(r"[,;:]", rest, maxsplit=1)[0]
        if not _HAS_VERB.search(upto):
            continue     # a list ("the UN, Catholicism, and Tibet") or a phrase, not a new clause
        cuts.extend([m.start(), m.end()])
    cuts.append(len(sentence))
    return [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2) if cuts[i + 1] > cuts[i]]


def _tidy(text: str) -> str:
    text = _AUX.sub("", text)
    text = re.sub(r"\s+", " ", text).strip(" ,.;:–—-•*")
    text = re.sub(r"^[^\w\"“']+", "", text)
    text = re.sub(r"^(?:and|but|or|so|then)\s+", "", text)
    text = re.sub(r"\s+([,;:])", r"\1", text)
    text = re.sub(r"^(?:The|A|An)\s+", "", text)
    first = text.split(" ", 1)[0]
    words = english_words()
    # "Activities related to ..." -> "activities ...", but "RedDelta ..." stays
    low = first.lower()
    if first.istitle() and any(w in words for w in (low, low.removesuffix("s"), re.sub(r"ies$", "y", low))):
        return text[:1].lower() + text[1:]
    return text


def event_of(sentence: str, start: int, end: int, others: tuple[tuple[int, int], ...] = ()) -> str:
    """The clause a date dates, without the date, its preposition and any other date in it."""
    for a, b in others:      # blank other dates out (same length, so offsets hold)
        if (a, b) != (start, end):
            sentence = sentence[:a] + " " * (b - a) + sentence[b:]
    label = _LABEL.match(sentence[:start].rsplit("\n", 1)[-1])
    if label:
        return label.group(1).strip().lower()
    clauses = _clauses(sentence, ((start, end),))
    index = next((i for i, (a, b) in enumerate(clauses) if a <= start < b), 0)
    a, b = clauses[index]
    before = _PREPOSITION.sub("", sentence[a:start])
    event = _tidy(before + " " + _PREPOSITION.sub("", sentence[end:b]))
    if len(event.split()) < 2 and index + 1 < len(clauses):   # "In September 2020, the group moved to ..."
        a, b = clauses[index + 1]
        event = _tidy(sentence[a:b])
    return event


def _is_heading(sentence: str, title: str | None) -> bool:
    """A title or heading line: its clause is a headline ("Three clusters, one quarter"), not an event."""
    if _HEADING.match(sentence):
        return True
    return bool(title) and " ".join(sentence.split()).lower() == " ".join((title or "").split()).lower()


def find_dates(text: str, sentences: list[Sentence], *, title: str | None = None) -> list[tuple[DateHit, Sentence]]:
    """Every date in the text, with the sentence it is in; ``title`` is the document's, when known."""
    out: list[tuple[DateHit, Sentence]] = []
    previous: DateHit | None = None
    previous_index = -10
    for index, sentence in enumerate(sentences):
        found: list[tuple[int, int, str, str | None, str]] = []
        for kind, pattern in (_PATTERNS if _YEARISH.search(sentence.text) else ()):
            for m in pattern.finditer(sentence.text):
                a, b = _date_span(m, kind)
                if any(a < y and x < b for x, y, *_ in found):
                    continue
                try:
                    iso, qual = _normalise(kind, m)
                except (ValueError, KeyError):
                    continue
                found.append((a, b, iso, qual, kind))
        found.sort()
        spans = tuple((a, b) for a, b, *_ in found)
        heading = bool(found) and _is_heading(sentence.text, title)
        for a, b, iso, qual, _ in found:
            event = (REPORT_DATE if len(iso) == 10 else REPORT_PERIOD) if heading else \
                event_of(sentence.text, a, b, spans)
            hit = DateHit(iso, sentence.text[a:b], sentence.start + a, sentence.start + b, event, qual)
            out.append((hit, sentence))
            previous, previous_index = hit, index
        relative = _RELATIVE.match(sentence.text)
        tail = _RELATIVE_END.search(sentence.text)
        if not found and tail and not relative and previous is not None and index - previous_index <= 2:
            hit = DateHit(f"{previous.date.split('/')[-1]}/..", tail.group(0).strip(" ."),
                          sentence.start + tail.start(), sentence.end, _tidy(sentence.text[:tail.start()]),
                          relative_to=previous.text)
            out.append((hit, sentence))
        if not found and relative and previous is not None and index - previous_index <= 2:
            base = previous.date.split("/")[-1]
            cue_start = len(relative.group(0)) - len(relative.group(0).lstrip("\t •*·●▪◦-"))
            hit = DateHit(f"{base}/..", relative.group(0).strip("\t •*·●▪◦-,"), sentence.start + cue_start,
                          sentence.start + relative.end(), _tidy(sentence.text[relative.end():]),
                          relative_to=previous.text)
            out.append((hit, sentence))
    return out
