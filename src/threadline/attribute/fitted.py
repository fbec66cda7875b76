"""Fitted parameters shipped as JSON with the package (calibration, ranker): one reader and one writer for both."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar, cast

from threadline.errors import KnowledgeError

T = TypeVar("T")
_shipped: dict[str, object] = {}     # the shipped files, read once per process


def shipped_path(name: str) -> Path:
    """Where the package keeps a fitted file (``bench/attribution.py --fit`` writes it)."""
    return Path(str(files("threadline") / "data" / "attribution" / name))


def load_fitted(name: str, parse: Callable[[dict[str, Any]], T], default: Callable[[], T], what: str,
                path: Path | None = None) -> T:
    """Parameters from ``path`` or the shipped file; ``default()`` when there is none, an error when unusable."""
    if path is None and name in _shipped:
        return cast(T, _shipped[name])
    chosen = path or shipped_path(name)
    if not chosen.is_file():
        value = default()
    else:
        try:
            value = parse(json.loads(chosen.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KnowledgeError(f"unusable {what} ({exc.__class__.__name__})", where=str(chosen)) from None
    if path is None:
        _shipped[name] = value
    return value


def save_fitted(name: str, data: dict[str, object], path: Path | None = None) -> Path:
    """Write fitted parameters as indented JSON (to the shipped file unless ``path`` is given)."""
    chosen = path or shipped_path(name)
    chosen.parent.mkdir(parents=True, exist_ok=True)
    chosen.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return chosen
