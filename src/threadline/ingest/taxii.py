"""TAXII 2.1 collections as a source: ``taxii+https://server/api-root/collections/ID/`` pages through the
collection's objects (``limit``/``next``, as the server says ``more``) under the SSRF-safe fetcher, and the objects
are imported as STIX knowledge, exactly as a STIX bundle file would be. ``taxii_token`` (THREADLINE_TAXII_TOKEN)
is sent as a Bearer token when set."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from threadline import settings
from threadline.errors import InputError

PREFIX = "taxii+"
ACCEPT = "application/taxii+json;version=2.1"
PAGE = 1000
MAX_PAGES = 1000              # a server that always says "more" cannot keep us forever


def is_taxii(source: str) -> bool:
    return source.lower().startswith(("taxii+https://", "taxii+http://"))


def collection_bundle(source: str, *, allow_private: bool = False) -> tuple[dict[str, Any], bytes]:
    """Every object of the collection as one STIX bundle, and the bytes the bundle's import is keyed by."""
    from threadline.ingest.url import fetch_document

    base = source[len(PREFIX):]
    base = base if base.endswith("/") else base + "/"
    if "/collections/" not in base:
        raise InputError("a TAXII source is the URL of a collection (…/collections/ID/)", where=source)
    headers = {"Accept": ACCEPT}
    token = settings.get("taxii_token")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    objects: list[dict[str, Any]] = []
    query: dict[str, str] = {"limit": str(PAGE)}
    for _ in range(MAX_PAGES):
        fetched = fetch_document(f"{base}objects/?{urlencode(query)}", allow_private=allow_private, headers=headers)
        try:
            envelope = json.loads(fetched.body)
        except ValueError:
            raise InputError("the TAXII server did not answer with JSON", where=source) from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("objects", []), list):
            raise InputError("not a TAXII 2.1 envelope (no \"objects\" list)", where=source)
        objects += [o for o in envelope.get("objects", []) if isinstance(o, dict)]
        if not envelope.get("more") or not envelope.get("next"):
            break
        query = {"limit": str(PAGE), "next": str(envelope["next"])}
    else:
        raise InputError(f"the collection still had more after {MAX_PAGES} pages", where=source)
    unique = list({(o.get("id"), o.get("modified")): o for o in objects}.values())
    data = json.dumps(unique, sort_keys=True).encode("utf-8")
    return {"type": "bundle", "id": "bundle--taxii", "objects": unique}, data
