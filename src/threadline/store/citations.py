"""Citations of other stored reports inside a stored analysis, withheld from a reader cleared below them.

An analysis made with the store's earlier analyses cites them as attribution evidence ("stored analysis: <title>
(<first 12 hex digits of its id>)", attribute/known.py). The analysis was filed when the cited report was as
readable as it (a report never uses a stricter-marked one), but the cited report's marking may be raised later:
its title then stays in the older analysis's evidence. Whoever shows a stored analysis to a reader cleared below
red (the web app's pages, exports and TAXII objects; ``threadline publish --clearance``) goes through
:func:`withhold`, which drops every piece of evidence that cites a report the reader may not read, by its id: a
string naming it is left out of its list, and an evidence item left without a source, or holding such a string in
a field of its own, is left out of its list. The reader is not told that something was left out (that would tell
them a stricter report exists).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from threadline.store.models import AnalysisRow
from threadline.store.repository import Store
from threadline.tlp import RED, Level, label, may_read

CITATION = "stored analysis:"
_ID = re.compile(r"\(([0-9a-f]{12,64})\)")

# (cited ids) -> the (document id, marking) of every report whose id starts with one of them.
Markings = Callable[[set[str]], Iterable[tuple[str, str]]]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def cited_ids(analysis: Any) -> set[str]:
    """The report ids (12+ hex digits) that strings citing a stored analysis name."""
    return {m for s in _strings(analysis) if CITATION in s for m in _ID.findall(s)}


def stored_markings(store: Store) -> Markings:
    """The markings of the store's analyses whose ids start with the cited ids (one SELECT per call)."""
    def markings(ids: set[str]) -> list[tuple[str, str]]:
        if not ids:
            return []
        with Session(store.engine) as session:
            return [(doc, level) for doc, level in session.execute(
                select(AnalysisRow.document_id, AnalysisRow.tlp)
                .where(or_(*(AnalysisRow.document_id.startswith(i, autoescape=True) for i in ids))))]
    return markings


def hidden_among(ids: set[str], markings: Iterable[tuple[str, str]], clearance: Level) -> set[str]:
    """Of the cited ids, those a reader cleared for ``clearance`` may not read: an id matching none of the
    (document id, marking) pairs, or any one the reader may not read (a prefix shared by a readable and an
    unreadable report counts as unreadable)."""
    found: dict[str, list[str]] = {i: [] for i in ids}
    for doc, level in markings:
        for i in ids:
            if doc.startswith(i):
                found[i].append(level)
    return {i for i, levels in found.items() if not levels or not all(may_read(clearance, t) for t in levels)}


def hidden_ids(store: Store, clearance: Level, ids: set[str]) -> set[str]:
    """:func:`hidden_among` the store's analyses."""
    return hidden_among(ids, stored_markings(store)(ids), clearance) if ids else set()


def _cites_hidden(text: str, hidden: set[str]) -> bool:
    if CITATION not in text:
        return False
    ids = _ID.findall(text)
    # A citation whose id cannot be read is withheld as well: what it names cannot be checked.
    return not ids or any(i in hidden for i in ids)


def _walk(value: Any, hidden: set[str], dropped: list[int]) -> tuple[Any, bool]:
    """(the value without hidden citations, whether the value itself must go); ``dropped[0]`` counts the pieces of
    evidence left out (an item, or a source string whose item stays)."""
    if isinstance(value, str):
        return value, _cites_hidden(value, hidden)
    if isinstance(value, list):
        kept = []
        gone = 0
        for item in value:
            new, drop = _walk(item, hidden, dropped)
            if drop:
                gone += 1
            else:
                kept.append(new)
        # A list of strings (an item's sources) emptied by the withholding takes its item with it.
        emptied = bool(value) and not kept and all(isinstance(item, str) for item in value)
        if not emptied:
            dropped[0] += gone
        return kept, emptied
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            new, drop = _walk(item, hidden, dropped)
            if drop and not isinstance(item, dict):
                return value, True          # a string field (or the only sources) of this item: the item goes
            if not drop:
                out[key] = new
        return out, False
    return value, False


def withhold(analysis: dict[str, Any], clearance: Level, markings: Markings) -> tuple[dict[str, Any], set[str]]:
    """The analysis as a reader cleared for ``clearance`` may read it: every piece of evidence citing a report the
    reader may not read left out (``markings`` says how the cited reports are marked); and the ids withheld (for
    a cache key; ``{"?"}`` when only citations without an id were). A reader cleared for red gets the analysis as
    it is; the analysis passed in is never changed in place."""
    if clearance == RED:
        return analysis, set()
    strings = list(_strings(analysis))
    if not any(CITATION in s for s in strings):
        return analysis, set()
    ids = cited_ids(analysis)
    hidden = hidden_among(ids, markings(ids), clearance) if ids else set()
    if not any(_cites_hidden(s, hidden) for s in strings):
        return analysis, set()
    new, _ = _walk(analysis, hidden, [0])
    return new, hidden or {"?"}


def withhold_counted(analysis: dict[str, Any], clearance: Level,
                     markings: Markings) -> tuple[dict[str, Any], int]:
    """:func:`withhold`, and how many pieces of evidence it left out (an output that says so: a briefing or an
    export marked ``clearance``, whose reader knows the marking of what they hold)."""
    if clearance == RED or not any(CITATION in s for s in _strings(analysis)):
        return analysis, 0
    ids = cited_ids(analysis)
    hidden = hidden_among(ids, markings(ids), clearance) if ids else set()
    if not any(_cites_hidden(s, hidden) for s in _strings(analysis)):
        return analysis, 0
    dropped = [0]
    new, _ = _walk(analysis, hidden, dropped)
    return new, dropped[0]


def cites_any(analysis: Any) -> bool:
    """Whether any string of the analysis cites a stored analysis (with or without a readable id)."""
    return any(CITATION in s for s in _strings(analysis))


def withheld_line(count: int, level: Level) -> str:
    """What an output marked ``level`` says when evidence citing reports above it was left out of it."""
    pieces = "1 piece of evidence was" if count == 1 else f"{count} pieces of evidence were"
    return f"{pieces} withheld: {'it cites' if count == 1 else 'they cite'} reports above {label(level)}"
