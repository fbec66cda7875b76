"""Dates and periods in report text, normalised to ISO 8601 as precisely as the text states them, with the event
they date (the clause around them: "first activity observed").

Handled: ISO dates ("2020-08-14", "2020-08"), "14 August 2020", "August 14, 2020", "August 2020", "early May
2020", "mid-2021", "Q3 2020", "the third quarter of 2020", year ranges ("2019–2021", "between 2019 and 2021"),
month ranges ("March–May 2020") and bare years after a preposition ("in 2019", "since 2017"). Periods are ISO
intervals ("2019/2021"). A sentence that dates itself by the one before ("This was followed by ...") gets an
open interval after the earlier date ("2020-09/..") and ``relative_to``. A date in the title or a heading ("what
our sensors saw in Q2 2023") dates the report, not an event in it: its event is ``REPORT_PERIOD`` (``REPORT_DATE``
for a day). So does a labelled date line near the top ("Date: 2024-03-18", "Published: March 18, 2024", "Posted
on ..."): :func:`report_date` reads it for the document's date, and its event is ``REPORT_DATE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

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
# (?<!\s): a match starts where a run of whitespace starts, as the leftmost match always did; without it every
# position inside a long run was tried again, quadratic in the run (bench/regex_worst.py, issue 18)
_RELATIVE_END = re.compile(r"(?<!\s)\s+(?:followed|came\s+(?:next|later)|(?:was|were)\s+next)\s*[.!]?$",
                           re.IGNORECASE)
_LABEL = re.compile(r"^\s*([A-Za-z][\w -]{0,30}):\s*$")      # "published: 2021-03-18", "Date: ..."
_PREPOSITION = re.compile(r"\b(?:in|on|since|during|until|throughout|as early as|as of|from|between|by|around|"
                          r"circa|starting|beginning|back)\s*$", re.IGNORECASE)
_AUX = re.compile(r"\b(?:was|were|has been|have been|had been|is|are|being)\s+", re.IGNORECASE)
# (?<!\s) as above; "[;:—]\s*" alone for a mark right after a match that took the whitespace before it (", ;")
_CLAUSE_SPLIT = re.compile(r"(?<!\s)\s*[;:—]\s*|[;:—]\s*|,\s+|(?<!\s)\s+(?:and|but|while|whereas)\s+")
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
    # Imported here: the lexicon loads the knowledge package, which ingest (a report_date user) does not need.
    from threadline.extract.entities.lexicon import is_english_word

    # "Activities related to ..." -> "activities ...", but "RedDelta ..." stays
    low = first.lower()
    if first.istitle() and any(is_english_word(w) for w in (low, low.removesuffix("s"), re.sub(r"ies$", "y", low))):
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


# A report's own date line, as advisories, blogs and e-mailed notes carry it in their first lines.
_PUBLISH_LABELS = (r"date|dated|report date|published(?: on| at)?|publication date|date published|first published|"
                   r"originally published|posted(?: on)?|released(?: on)?|release date|issued(?: on)?|issue date")
_UPDATE_LABELS = r"(?:last )?(?:updated|revised|modified)(?: on)?|revision date"
_EMPHASIS = r"(?:\*\*|__|\*|_)?"
_DATE_LINE = re.compile(rf"^[ \t>#|-]*{_EMPHASIS}(?P<label>{_PUBLISH_LABELS}|{_UPDATE_LABELS}){_EMPHASIS}"
                        rf"(?:[ \t]*[:|–—-][ \t]*|[ \t]+){_EMPHASIS}[ \t]*(?P<value>[^\n]{{4,120}})$",
                        re.IGNORECASE | re.MULTILINE)
_WEEKDAY = re.compile(r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\.?,?\s+", re.IGNORECASE)
_NUMERIC_DAY = re.compile(r"^(?:(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})|"
                          r"(?P<d2>\d{1,2})\.(?P<m2>\d{1,2})\.(?P<y2>\d{4}))(?![\d.])")
_WRITTEN_DAY = tuple(p for name, p in _PATTERNS if name in ("dmy", "mdy"))
# The head of a report: its title and header block, up to the first line of prose (a line of 12 words or more,
# other than the first line and headings), at most 25 lines. A date line further down is part of the report (a
# quoted e-mail's "Date:"), not its date.
_HEAD_LINES = 25
_HEAD_CHARS = 5000
_PROSE_WORDS = 12


@dataclass(frozen=True, slots=True)
class DateLine:
    """A labelled date line at the top of a report: the day it states, the label, and the line's offsets."""

    date: str            # YYYY-MM-DD
    label: str
    start: int
    end: int
    update: bool         # "Updated: ..." dates the report too, but a publication date is preferred


def parse_day(value: str) -> str | None:
    """``YYYY-MM-DD`` from a value that starts with a full date: ``2024-03-18``, ``2024-03-18T10:00Z``,
    ``2024/03/18``, ``18.03.2024``, ``March 18, 2024``, ``18 March 2024``, ``Mon, 18 Mar 2024 10:00 +0000``.
    Ambiguous forms (``03/04/2024``) and partial dates are None: a report's date must be a day."""
    value = _WEEKDAY.sub("", value.strip().strip("*_` "))
    numeric = _NUMERIC_DAY.match(value)
    if numeric:
        g = numeric.groupdict()
        parts = (g["y"], g["m"], g["d"]) if g["y"] else (g["y2"], g["m2"], g["d2"])
        year, month, day = (int(x) for x in parts)
    else:
        written = next((m for m in (p.match(value) for p in _WRITTEN_DAY) if m), None)
        if written is None:
            return None
        year, month, day = int(written["y"]), _month(written["m"]), int(written["d"])
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def date_lines(text: str) -> list[DateLine]:
    """The labelled date lines among the first lines of a text (``Date: 2024-03-18``, ``Posted on ...``)."""
    head = text[:_HEAD_CHARS]
    cut = 0
    for count, line in enumerate(re.finditer(r"[^\n]*\S[^\n]*", head)):
        if count and len(line.group().split()) >= _PROSE_WORDS and not _HEADING.match(line.group()) \
                and not _DATE_LINE.fullmatch(line.group()):
            break
        cut = line.end()
        if count + 1 >= _HEAD_LINES:
            break
    out: list[DateLine] = []
    for match in _DATE_LINE.finditer(head, 0, cut):
        day = parse_day(match["value"])
        if day is not None:
            label = " ".join(match["label"].lower().split())
            update = re.fullmatch(_UPDATE_LABELS, label) is not None
            out.append(DateLine(day, label, match.start(), match.end(), update))
    return out


def report_date(text: str) -> str | None:
    """The day a report's own date line states near its top (a publication date before an update date)."""
    lines = date_lines(text)
    chosen = next((line for line in lines if not line.update), lines[0] if lines else None)
    return chosen.date if chosen else None


def find_dates(text: str, sentences: list[Sentence], *, title: str | None = None) -> list[tuple[DateHit, Sentence]]:
    """Every date in the text, with the sentence it is in; ``title`` is the document's, when known."""
    out: list[tuple[DateHit, Sentence]] = []
    own = [(line.start, line.end) for line in date_lines(text)]
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
            dates_report = heading or any(x <= sentence.start + a < y for x, y in own)
            event = (REPORT_DATE if len(iso) == 10 else REPORT_PERIOD) if dates_report else \
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
