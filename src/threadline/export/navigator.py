"""ATT&CK Navigator layer (format 4.5) of the techniques an analysis found, each with its evidence.

Decisions: one entry per (technique, tactic) so a multi-tactic technique is scored in each of its columns; the
score is the extractor's confidence on 0-100; the comment is the first evidence sentence (defanged, truncated);
``metadata`` lists every evidence sentence with its offsets and page, and ``links`` point to the ATT&CK page and,
for a web source, to the evidence itself with a text fragment (``#:~:text=``) so a click lands on the sentence.

The layer is checked against mitreattack-python, the library that reads, filters and renders layers:
- no ``filters`` object: an empty platform list is refused there (and hides every technique in the Navigator),
  and leaving it out means "all platforms of the domain";
- metadata items are numbered (``evidence 1``, ``location 1``) rather than separated by ``divider`` entries,
  which the format allows but the library skips with a warning for every technique;
- the name is short and free of ``: \\ / ? * [ ]``, because it becomes the sheet name of the Excel export
  (at most 31 characters, none of those); the full title is in the description.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from threadline.export.common import (
    Analysis,
    Defanger,
    attack_url,
    evidence_sentences,
    marking,
    truncate,
)
from threadline.knowledge.base import KnowledgeBase

LAYER_VERSION = "4.5"
NAVIGATOR_VERSION = "5.1.0"
ATTACK_VERSION = "18"
DOMAIN = "enterprise-attack"
COMMENT_LIMIT = 300
NAME_LIMIT = 31           # an Excel sheet name's limit: mitreattack-python's to_xlsx names the sheet after the layer
_SHEET_FORBIDDEN = re.compile(r"[:\\/?*\[\]]+")
FRAGMENT_WORDS = 8        # words of the sentence used in a text-fragment link: enough to be unique, still short


def _score(value: Any) -> int | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return round(value * 100) if value <= 1 else round(min(float(value), 100.0))


def _fragment_link(source: str, sentence: str) -> str | None:
    if not source.startswith(("http://", "https://")) or not sentence.strip():
        return None
    words = sentence.split()
    start = " ".join(words[:FRAGMENT_WORDS])
    end = " ".join(words[-3:]) if len(words) > FRAGMENT_WORDS + 3 else ""
    fragment = quote(start, safe="") + (f",{quote(end, safe='')}" if end else "")
    return f"{source.split('#', 1)[0]}#:~:text={fragment}"


def _entries(tech: dict[str, Any], source: str, defang: Defanger,
             kb: KnowledgeBase | None) -> list[dict[str, Any]]:
    tid = tech["id"].upper()
    tactics = [t for t in tech.get("tactics") or [] if isinstance(t, str)]
    if not tactics and kb is not None:
        found = kb.technique(tid)
        tactics = list(found[0].tactics) if found else []
    sentences = [defang(s) for s in evidence_sentences(tech)]
    metadata: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = [{"label": f"ATT&CK {tid}", "url": attack_url(tid)}]
    for n, ev in enumerate((e for e in tech.get("evidence") or [] if isinstance(e, dict)), 1):
        text = defang(str(ev.get("text") or ""))
        metadata.append({"name": f"evidence {n}", "value": text})
        where = f"characters {ev.get('start')}-{ev.get('end')}"
        metadata.append({"name": f"location {n}",
                         "value": where + (f", page {ev['page']}" if ev.get("page") else "")})
        link = _fragment_link(source, str(ev.get("text") or ""))
        if link:
            links.append({"label": f"Evidence {n} in the source", "url": link})
    if tech.get("inferred"):
        metadata.append({"name": "inferred", "value": "yes: implied by the text, not stated"})
    entry: dict[str, Any] = {"techniqueID": tid, "enabled": True, "color": "",
                             "comment": truncate(sentences[0], COMMENT_LIMIT) if sentences else "",
                             "metadata": metadata, "links": links, "showSubtechniques": False}
    score = _score(tech.get("score"))
    if score is not None:
        entry["score"] = score
    if not tactics:
        return [entry]
    return [{**entry, "tactic": t} for t in tactics]


def _show_subtechniques(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open the parent of every sub-technique found (``showSubtechniques``), adding an unscored parent entry where
    the report did not name the parent: renderers such as mitreattack-python's SVG and Excel exporters hide a
    sub-technique under a closed parent, whatever the layout's ``expandedSubtechniques`` says."""
    def key(entry: dict[str, Any]) -> tuple[str, str | None]:
        return str(entry["techniqueID"]), entry.get("tactic")

    present = {key(e): e for e in entries}
    added: list[dict[str, Any]] = []
    for entry in entries:
        parent_id, dot, _ = entry["techniqueID"].partition(".")
        if not dot:
            continue
        parent = {"techniqueID": parent_id, **({"tactic": entry["tactic"]} if "tactic" in entry else {})}
        found = present.get(key(parent))
        if found is None:
            found = {**parent, "enabled": True, "color": "", "comment": "", "metadata": [], "links": [],
                     "showSubtechniques": True}
            present[key(parent)] = found
            added.append(found)
        found["showSubtechniques"] = True
    return entries + added


def layer_name(title: str) -> str:
    """A layer name that is also a valid Excel sheet name: forbidden characters become " - ", at most 31 long."""
    clean = " ".join(_SHEET_FORBIDDEN.sub(" - ", title).replace("'", "’").split()).strip(" -")
    return truncate(clean, NAME_LIMIT) or "Threadline layer"


def layer_of(analysis: Analysis, kb: KnowledgeBase | None = None, *, tlp: str = "clear") -> dict[str, Any]:
    """The Navigator layer as a dict (the layer format 4.5 object)."""
    doc = analysis["document"]
    iocs: list[dict[str, Any]] = analysis.get("iocs") or []
    source = str(doc.get("source") or "")
    defang = Defanger(iocs)
    title = defang(doc.get("title") or source or "Threadline analysis")
    techniques = _show_subtechniques([e for t in analysis.get("techniques") or []
                                      for e in _entries(t, source, defang, kb)])
    layer_links = [{"label": "Source report", "url": source}] if source.startswith(("http://", "https://")) else []
    return {
        "name": layer_name(title),
        "versions": {"attack": ATTACK_VERSION, "navigator": NAVIGATOR_VERSION, "layer": LAYER_VERSION},
        "domain": DOMAIN,
        "description": f"ATT&CK techniques found in “{title}”, each with the sentence that supports it. "
                       f"TLP:{tlp.upper()}.",
        "sorting": 3,    # by score, descending
        "layout": {"layout": "side", "aggregateFunction": "max", "showID": True, "showName": True,
                   "showAggregateScores": False, "countUnscored": False, "expandedSubtechniques": "annotated"},
        "hideDisabled": False,
        "techniques": techniques,
        "gradient": {"colors": ["#ffe766ff", "#ff6666ff"], "minValue": 0, "maxValue": 100},
        "legendItems": [],
        "metadata": [{"name": "source", "value": source}, {"name": "sha256", "value": str(doc.get("sha256") or "")},
                     {"name": "tlp", "value": f"TLP:{tlp.upper()}"}],
        "links": layer_links,
        "showTacticRowBackground": False,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": True,
        "selectSubtechniquesWithParent": False,
        "selectVisibleTechniques": False,
    }


def export_navigator(analysis: Analysis, kb: KnowledgeBase | None = None, *, tlp: str = "clear") -> str:
    """The layer as JSON text, ready for the Navigator's "Open Existing Layer"."""
    return json.dumps(layer_of(analysis, kb, tlp=marking(analysis, tlp)), ensure_ascii=False, indent=2) + "\n"
