"""MISP event JSON imported as knowledge (pymisp): the event, its attributes, objects and galaxy clusters."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadline.errors import InputError
from threadline.ingest.stix import json_source
from threadline.store.records import ImportResult, KnowledgeItem

if TYPE_CHECKING:
    from threadline.store import Store  # the store module loads SQLAlchemy: only where a store is used


def _events(obj: Any, where: str) -> list[dict[str, Any]]:
    """Events of a MISP export: ``{"Event": {...}}``, ``{"response": [{"Event": ...}]}``, a list, or a bare event."""
    if isinstance(obj, list):
        return [event for item in obj for event in _events(item, where)]
    if isinstance(obj, dict):
        if isinstance(obj.get("response"), list):
            return _events(obj["response"], where)
        if isinstance(obj.get("Event"), dict):
            return [obj]
        if "info" in obj:
            return [{"Event": obj}]
    raise InputError("not a MISP event (expected an \"Event\" object)", where=where)


def _plain(entity: Any) -> dict[str, Any]:
    """Plain JSON of a pymisp entity (its to_dict() still holds MISPTag and other objects)."""
    out: dict[str, Any] = json.loads(entity.to_json())
    return out


def _stamp(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else (str(value) if value else None)


# Parts of an event that MISP writes as lists; pymisp keeps any other JSON there and fails later, when they are
# walked ("'bool' object is not iterable", found by fuzzing: tests/data/fuzz/misp-*-not-a-list.fuzz).
_LISTS = ("Attribute", "Object", "Galaxy", "Tag", "EventReport", "ShadowAttribute", "RelatedEvent")


def _event_items(raw: dict[str, Any], where: str) -> list[KnowledgeItem]:
    for key in _LISTS:
        value = raw["Event"].get(key)
        if value is not None and not isinstance(value, list):
            raise InputError(f"invalid MISP event (\"{key}\" is {type(value).__name__}, not a list)", where=where)
    try:
        return _walk_event(raw, where)
    except InputError:
        raise
    except Exception as exc:
        # Deeper parts of the wrong shape (an attribute that is a string, a tag pymisp cannot split: IndexError,
        # tests/data/fuzz/misp-tag-*): pymisp fails in many ways on hostile JSON, each is "invalid", as one line
        raise InputError(f"invalid MISP event ({exc.__class__.__name__}: {' '.join(str(exc).split())[:160]})",
                         where=where) from None


def _walk_event(raw: dict[str, Any], where: str) -> list[KnowledgeItem]:
    from pymisp import MISPEvent  # imported here: pymisp takes seconds to import and most runs never need it
    from pymisp.exceptions import PyMISPError

    event = MISPEvent()
    try:
        event.load(raw)
    except (PyMISPError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(f"invalid MISP event ({' '.join(str(exc).split())[:200]})", where=where) from None
    uuid = str(raw["Event"].get("uuid") or "")
    if not uuid:
        # pymisp would invent a random uuid: the same file would then import as new objects every time
        raise InputError(f"MISP event {event.info!r} has no uuid", where=where)
    event_uuid, info = uuid, str(event.info or "")
    data = _plain(event)
    attributes = data.pop("Attribute", []) or []
    objects = data.pop("Object", []) or []
    data["attribute_count"], data["object_count"] = len(attributes), len(objects)
    items = [KnowledgeItem(id=f"misp-event--{event_uuid}", type="misp-event", data=data, name=info,
                           modified=_stamp(event.timestamp) if hasattr(event, "timestamp") else None)]
    for attribute in event.attributes:
        adata = {**_plain(attribute), "event_uuid": event_uuid}
        items.append(KnowledgeItem(id=f"misp-attribute--{attribute.uuid}", type="misp-attribute", data=adata,
                                   name=f"{attribute.type}: {attribute.value}",
                                   modified=_stamp(getattr(attribute, "timestamp", None))))
    for obj in event.objects:
        odata = {**_plain(obj), "event_uuid": event_uuid}
        items.append(KnowledgeItem(id=f"misp-object--{obj.uuid}", type="misp-object", data=odata,
                                   name=str(obj.name), modified=_stamp(getattr(obj, "timestamp", None))))
    # Galaxy clusters are how MISP events attribute activity (threat actor, malware, ATT&CK technique).
    for galaxy in event.galaxies:
        for cluster in galaxy.clusters:
            cdata = {**_plain(cluster), "galaxy": getattr(galaxy, "type", None) or galaxy.name}
            items.append(KnowledgeItem(id=f"misp-galaxy-cluster--{cluster.uuid}", type="misp-galaxy-cluster",
                                       data=cdata, name=str(cluster.value)))
    return items


def misp_items(obj: Any, where: str) -> list[KnowledgeItem]:
    items: list[KnowledgeItem] = []
    for raw in _events(obj, where):
        items.extend(_event_items(raw, where))
    if not items:
        raise InputError("MISP export has no events", where=where)
    return items


def import_misp(source: str | Path | dict[str, Any] | bytes, store: Store, *,
                allow_private: bool = False) -> ImportResult:
    """Import a MISP event JSON (path, URL, bytes or parsed dict) as knowledge; all items or none."""
    obj, where, digest = json_source(source, allow_private=allow_private, label="<misp event>")
    if isinstance(source, dict):
        where = "<misp event>"   # an event's "id" is MISP's own number, not where it came from
    return store.save_knowledge(misp_items(obj, where), origin="misp", source=where, source_document=digest)
