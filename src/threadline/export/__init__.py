"""Exports the ecosystem reads (STIX 2.1, MISP, ATT&CK Navigator, CSV, Sigma), registered by format name.

Every exporter has the same signature, ``(analysis, kb=None, *, tlp="clear") -> str``, and returns the whole
file as text, so the CLI can write it atomically and a test can compare two runs byte for byte. The registry
follows pySigma's backend registry: a name maps to a small descriptor, and adding a format is one entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Protocol

from threadline.errors import InputError


class Exporter(Protocol):
    def __call__(self, analysis: dict[str, Any], kb: Any = None, *, tlp: str = "clear") -> str: ...


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """One output format: where its exporter lives, what it produces, whether it reads the knowledge base."""

    name: str
    module: str
    function: str
    extension: str
    media_type: str
    uses_kb: bool
    help: str

    def exporter(self) -> Exporter:
        # Imported on first use: stix2 and pymisp take a moment to import and each export needs one of them.
        fn: Callable[..., str] = getattr(import_module(self.module), self.function)
        return fn


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (
    ExportFormat("stix", "threadline.export.stix", "export_stix", ".json", "application/stix+json;version=2.1",
                 True, "STIX 2.1 bundle with TLP 2.0 markings"),
    ExportFormat("misp", "threadline.export.misp", "export_misp", ".json", "application/json", True,
                 "MISP event JSON"),
    ExportFormat("navigator", "threadline.export.navigator", "export_navigator", ".json", "application/json",
                 False, "ATT&CK Navigator layer 4.5"),
    ExportFormat("csv", "threadline.export.csv_export", "export_csv", ".csv", "text/csv", False,
                 "CSV of indicators"),
    ExportFormat("sigma", "threadline.export.sigma", "export_sigma", ".yml", "application/yaml", False,
                 "Sigma rules for network and file indicators"),
)}


def get_format(name: str) -> ExportFormat:
    """The registered format for a name; a one-line error listing the known ones otherwise."""
    fmt = FORMATS.get(name.strip().lower())
    if fmt is None:
        raise InputError(f"unknown export format {name!r} (expected one of {', '.join(FORMATS)})", where="--format")
    return fmt


def export(analysis: dict[str, Any], fmt: str, kb: Any = None, *, tlp: str = "clear") -> str:
    """Export an analysis in a registered format and return the file's text."""
    return get_format(fmt).exporter()(analysis, kb, tlp=tlp)


__all__ = ["FORMATS", "ExportFormat", "Exporter", "export", "get_format"]
