"""Entities and claims in report text: actors, software, campaigns, victims, lures and attributions, with evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.lazy import lazy_attributes

# Names are imported on first use, so that ingest (dates reads the lexicon's English words) and attribute (places'
# sector names) do not load the whole family.
if TYPE_CHECKING:
    from threadline.extract.entities.claims import Claim, extract_claims
    from threadline.extract.entities.extractor import Entities, Item, extract_entities

_LAZY = {"Claim": "claims", "extract_claims": "claims", "Entities": "extractor", "Item": "extractor",
         "extract_entities": "extractor"}

__all__ = ["Claim", "Entities", "Item", "extract_claims", "extract_entities"]


__getattr__ = lazy_attributes(__name__, _LAZY)
