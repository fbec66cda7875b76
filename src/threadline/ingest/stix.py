"""STIX 2.x bundles imported as knowledge: every object validated with stix2, stored by id with its JSON."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.errors import InputError
from threadline.ingest.source import read_source
from threadline.store.records import ImportResult, KnowledgeItem

if TYPE_CHECKING:
    from threadline.store import Store  # the store module loads SQLAlchemy: only where a store is used


def load_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except UnicodeDecodeError:
        raise InputError("JSON that is not UTF-8", where=where) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not valid JSON ({str(exc).splitlines()[0][:120]})", where=where) from None


def canonical_hash(obj: Any) -> str:
    """SHA-256 of the canonical JSON of an import, so the same content has the same source_document."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def _version(bundle: dict[str, Any], obj: dict[str, Any]) -> str:
    # STIX 2.0 bundles carry spec_version on the bundle, 2.1 on each object (SCOs may omit it).
    return str(obj.get("spec_version") or ("2.0" if bundle.get("spec_version") == "2.0" else "2.1"))


def stix_objects(objects: list[Any], where: str) -> list[dict[str, Any]]:
    """The bundle's objects, each checked to be a JSON object with a "type" and an "id"."""
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not isinstance(obj.get("type"), str):
            raise InputError(f"object {index}: not a STIX object (needs \"type\" and \"id\")", where=where)
    return objects


def stix_items(bundle: Any, where: str) -> list[KnowledgeItem]:
    """Validate a bundle (or a single object) with stix2 and turn each object into a KnowledgeItem."""
    import stix2  # imported here: only STIX imports need it

    if isinstance(bundle, dict) and bundle.get("type") != "bundle" and "id" in bundle:
        bundle = {"type": "bundle", "id": "bundle--single", "objects": [bundle]}
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise InputError("not a STIX bundle (no \"type\": \"bundle\")", where=where)
    objects = bundle.get("objects") or []
    if not isinstance(objects, list):
        raise InputError("STIX bundle \"objects\" is not a list", where=where)
    items: list[KnowledgeItem] = []
    for obj in stix_objects(objects, where):
        try:
            stix2.parse(obj, allow_custom=True, version=_version(bundle, obj))
        except Exception as exc:   # stix2 and stix2-patterns fail in many ways on hostile objects: all "invalid"
            # (an empty indicator pattern raised UnboundLocalError, found by hypothesis: tests/data/fuzz/stix-*)
            reason = " ".join(str(exc).split())[:200]
            raise InputError(f"invalid STIX object {obj['id']}: {reason}", where=where) from None
        name = obj.get("name") or obj.get("value") or obj.get("pattern")
        modified = obj.get("modified") or obj.get("created")
        items.append(KnowledgeItem(id=obj["id"], type=obj["type"], data=obj,
                                   name=str(name) if name is not None else None,
                                   modified=str(modified) if modified else None))
    if not items:
        raise InputError("STIX bundle has no objects", where=where)
    return items


def json_source(source: str | Path | dict[str, Any] | bytes, *, allow_private: bool,
                label: str) -> tuple[Any, str, str]:
    """(parsed JSON, where it came from, SHA-256 of its bytes) for a path, URL, bytes or an already parsed dict."""
    if isinstance(source, dict):
        return source, str(source.get("id") or label), canonical_hash(source)
    if isinstance(source, bytes):
        data, where = source, "<bytes>"
    else:
        raw = read_source(str(source), allow_private=allow_private)
        data, where = raw.data, raw.source
    return load_json(data, where), where, hashlib.sha256(data).hexdigest()


def import_stix(source: str | Path | dict[str, Any] | bytes, store: Store, *,
                allow_private: bool = False) -> ImportResult:
    """Import a STIX 2.x bundle (path, URL, bytes or parsed dict) as knowledge; all objects or none."""
    bundle, where, digest = json_source(source, allow_private=allow_private, label="<bundle>")
    return store.save_knowledge(stix_items(bundle, where), origin="stix", source=where, source_document=digest)
