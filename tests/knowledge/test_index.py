"""The index is built once and loaded fast afterwards; a corrupt or stale one is rebuilt, never a crash."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from threadline.errors import KnowledgeError
from threadline.knowledge import index


def _small_bundle(path: Path, *, spec: str = "2.1") -> Path:
    """A real subset of the vendored bundle, rewritten as STIX 2.1 like the official attack-stix-data releases."""
    bundle = json.loads(gzip.decompress(index.vendored_bundle().read_bytes()))
    keep = [o for o in bundle["objects"] if o["type"] in ("attack-pattern", "x-mitre-tactic", "intrusion-set")]
    ids = {o["id"] for o in keep}
    keep += [o for o in bundle["objects"] if o["type"] == "relationship"
             and o["source_ref"] in ids and o["target_ref"] in ids]
    for obj in keep:
        obj["spec_version"] = spec
    path.write_text(json.dumps({"type": "bundle", "id": bundle["id"], "objects": keep}))
    return path


def test_warm_load_reuses_the_cache(kb) -> None:  # type: ignore[no-untyped-def]
    bundle = index.active_bundle()
    assert index.cache_path(bundle).is_file()
    index._loaded.clear()
    again = index.load_kb(progress=False)
    assert again.counts() == kb.counts()


@pytest.mark.parametrize("garbage", [b"", b"not a pickle at all", b"\x80\x05\x95truncated"])
def test_corrupt_index_is_rebuilt(kb, garbage: bytes) -> None:  # type: ignore[no-untyped-def]
    cache = index.cache_path(index.active_bundle())
    cache.write_bytes(garbage)
    index._loaded.clear()
    rebuilt = index.load_kb(progress=False)
    assert rebuilt.counts() == kb.counts()
    assert cache.stat().st_size > 1_000_000   # a good index was written back


def test_stale_index_is_ignored(kb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small = _small_bundle(tmp_path / "enterprise-attack-99.0.json")
    index._loaded.clear()
    other = index.load_kb(small, progress=False, use_cache=False)
    assert other.counts()["techniques"] == kb.counts()["techniques"]
    assert other.counts()["campaigns"] == 0
    assert index.cache_path(small) != index.cache_path(index.active_bundle())


def test_update_installs_a_newer_bundle_and_keeps_the_old_on_error(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("THREADLINE_DATA", str(tmp_path / "data"))
    assert index.active_bundle() == index.vendored_bundle()
    broken = tmp_path / "broken.json"
    broken.write_text("{\"type\": \"bundle\", \"objects\": [")
    with pytest.raises(KnowledgeError, match=r"broken\.json"):
        index.install_bundle(broken, label=broken.name)
    assert index.active_bundle() == index.vendored_bundle()
    small = _small_bundle(tmp_path / "enterprise-attack-19.0.json")
    target, version = index.install_bundle(small, label=small.name)
    assert version == "19.0"
    assert index.active_bundle() == target
    assert index.load_kb(progress=False).counts()["groups"] == 172


def test_missing_bundle_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="no such ATT&CK bundle"):
        index.load_kb(tmp_path / "nope.json")
