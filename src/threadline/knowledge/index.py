"""Build the knowledge base once, cache it, and load it fast afterwards.

The cache is a pickle keyed by the bundle's content hash, the galaxies' package version and
:data:`FORMAT`; a missing, stale, truncated or corrupt cache is rebuilt, never a crash. The cache is written
atomically (temporary file + rename) so that a killed build cannot leave half a file behind.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import re
import shutil
import sys
import tempfile
from contextlib import nullcontext
from importlib.metadata import version as package_version
from importlib.resources import files
from pathlib import Path
from typing import Any

from threadline import settings
from threadline.errors import KnowledgeError
from threadline.knowledge import derived
from threadline.knowledge.attack import load_attack
from threadline.knowledge.base import KnowledgeBase
from threadline.knowledge.galaxies import load_galaxies

FORMAT = 3   # bump when the pickled classes change shape or what is indexed (3: bare group names)
VENDORED_NAME = "enterprise-attack-18.1.json.gz"
_loaded: dict[str, KnowledgeBase] = {}


def vendored_bundle() -> Path:
    return Path(str(files("threadline") / "data" / "attack" / VENDORED_NAME))


def installed_bundle() -> Path:
    return Path(settings.get("data_dir")) / "attack" / "enterprise-attack.json"


def active_bundle(explicit: str | None = None) -> Path:
    """The bundle in force: an explicit path, else one installed by ``kb update``, else the vendored one."""
    chosen = settings.get("attack_bundle", explicit)
    if chosen:
        return Path(chosen).expanduser()
    installed = installed_bundle()
    return installed if installed.is_file() else vendored_bundle()


def bundle_version(path: Path) -> str | None:
    match = re.search(r"attack-(\d+(?:\.\d+)*)", path.name)
    if match:
        return match.group(1)
    stamp = path.with_suffix(".version")
    return stamp.read_text().strip() if stamp.is_file() else None


def _cache_key(bundle: Path) -> str:
    digest = hashlib.sha256()
    try:
        with bundle.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise KnowledgeError(f"cannot read the ATT&CK bundle ({exc.strerror})", where=str(bundle)) from None
    digest.update(f"|{FORMAT}|{package_version('pymispgalaxies')}|{sys.version_info[:2]}".encode())
    for module in sorted(Path(__file__).parent.glob("*.py")):   # code that shapes the index is part of its key
        digest.update(module.read_bytes())
    return digest.hexdigest()[:24]


def cache_path(bundle: Path) -> Path:
    return Path(settings.get("cache_dir")) / f"kb-{_cache_key(bundle)}.pickle"


def _read_cache(path: Path) -> KnowledgeBase | None:
    # The collector would walk the half-built object graph again and again while ~100k objects are created;
    # pausing it makes loading about twice as fast.
    enabled = gc.isenabled()
    gc.disable()
    try:
        with path.open("rb") as handle:
            kb = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception:   # truncated, corrupt or from another version: rebuild
        return None
    else:
        derived.keep(enabled)      # the loaded graph is never walked again by the collector
    finally:
        if enabled:
            gc.enable()
    return kb if isinstance(kb, KnowledgeBase) else None


def _write_cache(path: Path, kb: KnowledgeBase) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kb-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(kb, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        for old in path.parent.glob("kb-*.pickle"):   # one cache at a time; older ones are stale
            if old != path:
                old.unlink(missing_ok=True)
    except OSError:
        pass   # a read-only cache folder only costs speed


def build(bundle: Path, *, progress: bool = True) -> KnowledgeBase:
    """Parse ATT&CK and the galaxies and link them (a few seconds), showing a progress bar on a terminal."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    show = progress and sys.stderr.isatty()
    bar: Any = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                        transient=True, console=None) if show else nullcontext()
    with bar:
        task = bar.add_task("Building the knowledge base: ATT&CK", total=3) if show else None
        attack = load_attack(bundle, version=bundle_version(bundle))
        if show:
            bar.update(task, advance=1, description="Building the knowledge base: MISP galaxies")
        galaxies = load_galaxies()
        if show:
            bar.update(task, advance=1, description="Building the knowledge base: linking and indexing")
        kb = KnowledgeBase.build(attack, galaxies)
        if show:
            bar.update(task, advance=1)
    return kb


def load_kb(bundle: str | Path | None = None, *, progress: bool = True, use_cache: bool = True) -> KnowledgeBase:
    """The knowledge base for a bundle: from memory, else from the cache, else built (and cached)."""
    path = Path(bundle) if bundle else active_bundle()
    if not path.is_file():
        raise KnowledgeError("no such ATT&CK bundle", where=str(path))
    cache = cache_path(path)
    if use_cache and str(cache) in _loaded:
        return _loaded[str(cache)]
    kb = _read_cache(cache) if use_cache else None
    if kb is None:
        kb = build(path, progress=progress)
        if use_cache:
            _write_cache(cache, kb)
    if use_cache:   # its derived structures (profiles, lexicon) are cached under the same key
        derived.remember(kb, cache.stem)
    _loaded[str(cache)] = kb
    return kb


def install_bundle(source: Path, *, label: str, where: str | None = None) -> tuple[Path, str]:
    """Validate a newer official bundle (STIX 2.0 or 2.1) and make it the active one; returns (path, version).

    ``label`` is the file name the version is read from; ``where`` names the input in errors (default: ``label``).
    """
    # A one-line error before anything is replaced, naming the input the user gave (a URL is downloaded first).
    data = load_attack(source, where=where or label)
    target = installed_bundle()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".bundle-", suffix=".tmp")
    os.close(fd)
    shutil.copyfile(source, tmp)
    version = bundle_version(Path(label)) or data.version
    os.replace(tmp, target)
    target.with_suffix(".version").write_text(version + "\n")
    _loaded.clear()
    return target, version
