"""One document through every stage: indicators, techniques, entities, claims, independent attribution.

Each stage is a plain function of typed input, so this module is what the CLI, a web server and a worker all
call; it never prints and never touches the store (see :mod:`threadline.store` for that).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from threadline.knowledge.base import KnowledgeBase
from threadline.limits import stage
from threadline.model import Document

if TYPE_CHECKING:
    from threadline.attribute.known import Known

SCHEMA_VERSION = 1


def _walk_evidence(node: Any, document: Document) -> None:
    """Give every evidence item the page that holds it (for paginated sources) and the document's hash."""
    if isinstance(node, dict):
        if "start" in node and "text" in node and "end" in node and isinstance(node["start"], int):
            if document.pages and node.get("page") is None:
                node["page"] = document.page_at(node["start"])
            node.setdefault("document", document.sha256)
        for value in node.values():
            _walk_evidence(value, document)
    elif isinstance(node, list):
        for value in node:
            _walk_evidence(value, document)


@dataclass(slots=True)
class _Citations:
    """Every citation's name; the citations by URL (without its trailing slash, lower case); and all descriptions,
    lower-cased with their spaces folded, joined by newlines (which a folded text never holds) with where each one
    starts: a title is looked for once in the joined text, not in ~10,000 descriptions one after another."""

    names: list[str]
    by_url: dict[str, list[int]]
    joined: str
    starts: list[int]


_citations: dict[int, tuple[KnowledgeBase, _Citations]] = {}


def _citation_keys(kb: KnowledgeBase) -> _Citations:
    """The knowledge base's citations, prepared once per knowledge base: folding ~10,000 descriptions took 6 ms of
    every report's analysis."""
    found = _citations.get(id(kb))
    if found is None or found[0] is not kb:
        names: list[str] = []
        by_url: dict[str, list[int]] = {}
        described: list[str] = []
        for n, c in enumerate(kb.attack.citations.values()):
            names.append(c.source_name)
            if c.url:
                by_url.setdefault(c.url.rstrip("/").lower(), []).append(n)
            described.append(" ".join((c.description or "").lower().split()))
        starts = list(accumulate((len(d) + 1 for d in described[:-1]), initial=0)) if described else []
        found = _citations[id(kb)] = (kb, _Citations(names, by_url, "\n".join(described), starts))
    return found[1]


def sources_citing(document: Document, kb: KnowledgeBase) -> list[str]:
    """Knowledge-base citations that are this very document (same URL, or its title, of more than 20 characters,
    within the citation's description), in the knowledge base's order, to exclude them from its own attribution:
    otherwise the report would confirm itself (circular reporting)."""
    cited = _citation_keys(kb)
    url = document.source.rstrip("/").lower() if "://" in document.source else None
    title = " ".join((document.title or "").lower().split())
    found: set[int] = set(cited.by_url.get(url, ())) if url else set()
    if len(title) > 20:
        at = cited.joined.find(title)
        while at >= 0:
            n = bisect_right(cited.starts, at) - 1
            found.add(n)
            # on to the next description: one hit names its citation, whatever else is in it
            after = cited.starts[n + 1] if n + 1 < len(cited.starts) else len(cited.joined)
            at = cited.joined.find(title, after)
    return [cited.names[n] for n in sorted(found)]


def _document_part(document: Document, published: str, date_basis: str) -> dict[str, Any]:
    """What the analysis says about the document itself; ``published`` is always a real day (see ingest.dating)."""
    part: dict[str, Any] = {"title": document.title, "source": document.source, "sha256": document.sha256,
                            "published": published, "date_basis": date_basis, "media_type": document.media_type}
    tlp = document.metadata.get("tlp")
    if isinstance(tlp, str):
        part["tlp"] = tlp     # from the report's own front matter: the default marking of its brief and exports
    return part


def analyze_document(document: Document, kb: KnowledgeBase, *, exclude_sources: Iterable[str] = (),
                     known: Known | None = None) -> dict[str, Any]:
    """The full analysis of one document, as plain JSON-ready data (docs/analysis.schema.json); ``known``: links
    to groups beyond ATT&CK for the attribution (attribute/known.py), the document's own stored analysis left out."""
    from threadline.attribute import attribute, observations_from_analysis
    from threadline.extract.entities import extract_entities
    from threadline.extract.iocs import document_iocs
    from threadline.extract.sentences import split_sentences
    from threadline.extract.techniques import extract_techniques
    from threadline.ingest.dating import document_date

    text = document.text
    where = document.source
    published, date_basis = document_date(document)
    # Each stage is bounded in time and memory (settings stage_timeout, stage_max_memory): a hostile document
    # stops with a one-line error naming it and the stage, and a batch goes on with the next one.
    with stage("sentences", where):
        sentences = split_sentences(text)
    with stage("entities", where):
        found = extract_entities(text, kb, sentences=sentences, document=document)
    entities = found.to_dict()
    with stage("techniques", where):
        techniques = [t.to_dict() for t in extract_techniques(text, sentences=sentences, kb=kb,
                                                               pages=document.pages)]
    with stage("iocs", where):
        iocs = [i.to_dict() for i in document_iocs(document)]
    result: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "document": _document_part(document, published, date_basis),
        **{k: v for k, v in entities.items() if k != "claims"},
        "techniques": techniques,
        "iocs": iocs,
        "claims": [claim.to_dict() for claim in found.claims],
    }
    excluded = list(dict.fromkeys([*exclude_sources, *sources_citing(document, kb)]))
    with stage("attribution", where):
        observations = observations_from_analysis(result, kb)
        attribution = attribute(observations, kb, exclude_sources=excluded,
                                known=known.for_document(document.sha256, result["document"].get("tlp"))
                                if known else None, text=text).to_dict()   # text: off unless setting text_weight
    attribution["excluded_sources"] = excluded
    result["attribution"] = attribution
    _walk_evidence(result, document)
    return result


LEFT_OUT = "left out; the input's other documents go on"   # said after each line analyze_each leaves out


def analyze_each(documents: list[Document], kb: KnowledgeBase, *, exclude_sources: Iterable[str] = (),
                 known: Known | None = None, progress: Callable[[int, int], None] | None = None
                 ) -> tuple[list[Document], list[dict[str, Any]], list[str]]:
    """Every document of one input analysed: (the documents analysed, their analyses, one line per document left
    out). A feed or a MISP event with several reports is a batch of its own: one entry that stops at a stage limit
    is left out with its reason and the others go on (losing 49 good entries to one hostile one is what an analyst
    would not expect). An input of one document, or one whose every document fails, raises the first error, as
    before, so that nothing of it is stored."""
    from threadline.errors import ThreadlineError

    kept: list[Document] = []
    analyses: list[dict[str, Any]] = []
    skipped: list[str] = []
    first: ThreadlineError | None = None
    for n, document in enumerate(documents, 1):
        if progress is not None:
            progress(n, len(documents))
        try:
            analyses.append(analyze_document(document, kb, exclude_sources=exclude_sources, known=known))
        except ThreadlineError as exc:
            first = first or exc
            skipped.append(exc.one_line())
            continue
        kept.append(document)
    if first is not None and not kept:
        raise first
    return kept, analyses, skipped
