"""Ingest stage: text/Markdown, HTML, PDF, URLs (SSRF-safe), RSS/Atom feeds -> Documents; STIX and MISP ->
knowledge in the store.

``ingest(source)`` is the entry point for documents, ``ingest_into(store, source)`` stores whatever the source
is, and ``fetch(url)`` is the SSRF-safe fetcher other stages reuse. Names are imported on first use, so that
``from threadline.ingest import fetch`` does not load pymisp, stix2 or trafilatura.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.lazy import lazy_attributes

if TYPE_CHECKING:
    from threadline.ingest.misp import import_misp
    from threadline.ingest.pipeline import Outcome, documents_from, ingest, ingest_into
    from threadline.ingest.source import read_source, sniff
    from threadline.ingest.stix import import_stix
    from threadline.ingest.url import fetch, fetch_document

_LAZY = {
    "import_misp": "misp", "Outcome": "pipeline", "documents_from": "pipeline", "ingest": "pipeline",
    "ingest_into": "pipeline", "read_source": "source", "sniff": "source", "import_stix": "stix",
    "fetch": "url", "fetch_document": "url",
}

__all__ = ["Outcome", "documents_from", "fetch", "fetch_document", "import_misp", "import_stix", "ingest",
           "ingest_into", "read_source", "sniff"]


__getattr__ = lazy_attributes(__name__, _LAZY)
