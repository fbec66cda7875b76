"""Structures derived from the knowledge base (attribution profiles, the name lexicon, the software matcher),
cached on disk beside the index so that a fresh process loads them instead of rebuilding them (about a second of
a cold `threadline analyze`).

A derived cache is keyed by the knowledge base's own cache key (the bundle's content, the galaxies' version and
the knowledge code) and by a digest of Threadline's whole source and of the data packages the builders read: any
code change rebuilds it, so a cached structure is always what the current code would build. A knowledge base
that did not come from the index cache (built in a test, or with ``use_cache=False``) has no key: its structures
are built every time, as before. A missing, stale or corrupt file is rebuilt, never a crash; writes are atomic.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TypeVar

from threadline import settings
from threadline.knowledge.base import KnowledgeBase

T = TypeVar("T")
# Packages whose data a builder reads: their version is part of the key (english-words: the lexicon's tiers;
# tldextract: its bundled Public Suffix List).
_DATA_PACKAGES = ("english-words", "pyahocorasick", "pymispgalaxies", "tldextract")
_keys: dict[int, tuple[KnowledgeBase, str]] = {}


def remember(kb: KnowledgeBase, key: str) -> None:
    """Record the index cache key of a knowledge base loaded by :func:`threadline.knowledge.index.load_kb`."""
    _keys[id(kb)] = (kb, key)


@lru_cache(maxsize=1)
def code_digest() -> str:
    """Digest of every Python module of the package (about 1 MB: a few milliseconds) and of the data packages."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256(f"{sys.version_info[:2]}".encode())
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    for name in _DATA_PACKAGES:
        try:
            digest.update(f"|{name}={package_version(name)}".encode())
        except PackageNotFoundError:
            digest.update(f"|{name}=none".encode())
    return digest.hexdigest()[:24]


def cache_file(kb: KnowledgeBase | None, name: str, extra: str = "") -> Path | None:
    """Where the structure ``name`` of this knowledge base (None: of no knowledge base, only of the code and the
    data packages) is cached; None when the knowledge base has no key. ``extra``: more that the structure depends
    on (e.g. the files it is read from), part of the key."""
    known = _keys.get(id(kb)) if kb is not None else (None, "")
    if known is None or known[0] is not kb:
        return None
    key = hashlib.sha256(f"{known[1]}|{code_digest()}{'|' + extra if extra else ''}".encode()).hexdigest()[:24]
    return Path(settings.get("cache_dir")) / f"derived-{name}-{key}.pickle"


def keep(enabled: bool) -> None:
    """Move every object the collector tracks to its permanent generation (``gc.freeze``) after a cache is loaded
    with the collector paused: the loaded graph (hundreds of thousands of objects, kept for the whole process by
    the caches that hold it) would otherwise sit in the youngest generation and be walked by the next collections
    of each generation in turn, about 0.4 s of CPU in a cold ``threadline analyze``. Reference counting still frees
    frozen objects; only a reference cycle already garbage at that moment is never collected."""
    if enabled:
        gc.freeze()


def _read(path: Path, kind: type[T]) -> T | None:
    enabled = gc.isenabled()
    gc.disable()        # as for the index: the collector would walk the half-built graph again and again
    try:
        with path.open("rb") as handle:
            found = pickle.load(handle)
    except Exception:   # missing, truncated, corrupt or from another version: rebuild
        return None
    else:
        keep(enabled)
    finally:
        if enabled:
            gc.enable()
    return found if isinstance(found, kind) else None


KEEP = 3     # versions of one structure kept in the cache folder


def _age(path: Path) -> float:
    try:
        return -path.stat().st_mtime
    except OSError:
        return 0.0


def _write(path: Path, value: object, name: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".derived-{name}-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        # The newest few versions are kept, the rest are stale: two installs (a release and a checkout, two
        # virtual environments) sharing the cache folder would otherwise delete each other's file on every run.
        versions = sorted(path.parent.glob(f"derived-{name}-*.pickle"), key=_age)
        for old in [v for v in versions if v != path][KEEP - 1:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass   # a read-only cache folder only costs speed


def read(path: Path, kind: type[T]) -> T | None:
    """The structure cached in ``path`` (from :func:`cache_file`), None when missing, stale or corrupt."""
    return _read(path, kind)


def write(path: Path, value: object, name: str) -> None:
    """Cache ``value`` in ``path`` (from :func:`cache_file` for ``name``), atomically; errors only cost speed."""
    _write(path, value, name)


def cached(kb: KnowledgeBase | None, name: str, kind: type[T], build: Callable[[], T]) -> T:
    """The structure ``name`` of ``kb``: read from its cache file, else built by ``build`` (and cached)."""
    path = cache_file(kb, name)
    if path is None:
        return build()
    found = _read(path, kind)
    if found is None:
        found = build()
        _write(path, found, name)
    return found
