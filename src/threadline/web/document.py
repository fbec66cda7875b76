"""The document beside its briefing: the text cut into plain and marked segments, every extracted item linked to
the sentence that supports it. Segments are data, escaped by the template; the text is defanged on screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from threadline.store.analyses import finding_key

SHOWN_CHARS = 300_000           # a larger document is shown up to here, with a note (exports carry it all)
# (analysis key, kind shown, how to name an item) of what the items table lists, in this order.
_ITEMS: tuple[tuple[str, str], ...] = (
    ("actors", "actor"), ("campaigns", "campaign"), ("software", "software"), ("techniques", "technique"),
    ("iocs", "indicator"), ("sectors", "sector"), ("countries", "country"), ("regions", "region"),
    ("claims", "claim"), ("dates", "date"),
)


def item_key(kind: str, item: dict[str, Any]) -> str:
    """The key a review refers to an item by: the store's finding key (the store calls an indicator "ioc")."""
    return finding_key("ioc" if kind == "indicator" else kind, item)


def item_label(kind: str, item: dict[str, Any]) -> str:
    if kind == "technique":
        return f"{item.get('id')} {item.get('name') or ''}".strip()
    if kind == "indicator":
        return str(item.get("value"))
    if kind == "claim":
        return f"{item.get('strength') or ''} {item.get('actor') or 'no actor'}".strip()
    if kind == "date":
        return f"{item.get('date')} {item.get('event') or ''}".strip()
    if kind == "country":           # its role is what an analyst most often corrects
        return f"{item.get('name') or item.get('code')} ({item.get('role') or 'targeted'})"
    return str(item.get("name") or item.get("code") or item.get("text") or "")


def _evidence(kind: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    if kind == "indicator":
        sentence = item.get("sentence")
        return [sentence] if isinstance(sentence, dict) else []
    return [e for e in item.get("evidence") or [] if isinstance(e, dict)]


def items_of(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """Every extracted item with its key, label, whether it was inferred, and the offsets of its evidence."""
    out = []
    for field, kind in _ITEMS:
        for item in analysis.get(field) or []:
            if not isinstance(item, dict):
                continue
            spans = [(int(e["start"]), int(e["end"])) for e in _evidence(kind, item)
                     if isinstance(e.get("start"), int) and isinstance(e.get("end"), int)]
            out.append({"kind": kind, "key": item_key(kind, item), "label": item_label(kind, item),
                        "inferred": bool(item.get("inferred")), "review": item.get("review"),
                        "spans": sorted(set(spans)), "sentence": (_evidence(kind, item) or [{}])[0].get("text")})
    return out


def document_view(text: str, analysis: dict[str, Any], defang: Callable[[str], str]) -> dict[str, Any]:
    """Segments of the (defanged) text, evidence sentences marked with ids, and the items linking to them."""
    items = items_of(analysis)
    limit = min(len(text), SHOWN_CHARS)
    spans = sorted({s for item in items for s in item["spans"] if 0 <= s[0] < s[1] <= limit})
    marks: list[tuple[int, int]] = []
    for start, end in spans:                    # overlapping sentences merge into the first mark
        if marks and start < marks[-1][1]:
            marks[-1] = (marks[-1][0], max(end, marks[-1][1]))
        else:
            marks.append((start, end))
    segments: list[dict[str, Any]] = []
    pos = 0
    for start, end in marks:
        if start > pos:
            segments.append({"text": defang(text[pos:start]), "mark": None})
        segments.append({"text": defang(text[start:end]), "mark": f"s{start}"})
        pos = end
    if pos < limit:
        segments.append({"text": defang(text[pos:limit]), "mark": None})

    def anchor(span: tuple[int, int]) -> str | None:
        for start, end in marks:
            if start <= span[0] < end:
                return f"s{start}"
        return None

    for item in items:
        item["label"] = defang(item["label"])
        item["sentence"] = defang(item["sentence"]) if item["sentence"] else None
        item["anchors"] = [a for a in dict.fromkeys(anchor(s) for s in item["spans"]) if a]
    return {"segments": segments, "items": items, "truncated": len(text) - limit}
