"""Indicators of compromise in report text: refanged, validated, typed and flagged when probably benign."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.lazy import lazy_attributes

# Names are imported on first use, so that importing one module of the package (patterns, refang) does not load
# the scanner's tldextract or the warninglists with it.
if TYPE_CHECKING:
    from threadline.extract.iocs.extractor import Indicator, document_iocs, extract_iocs

_LAZY = {"Indicator": "extractor", "document_iocs": "extractor", "extract_iocs": "extractor"}

__all__ = ["Indicator", "document_iocs", "extract_iocs"]


__getattr__ = lazy_attributes(__name__, _LAZY)
