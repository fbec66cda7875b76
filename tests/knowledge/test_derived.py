"""The derived-structure cache (knowledge.derived): what is read back from disk gives exactly the analysis that
freshly built structures give, on real documents; a code change or a corrupt file rebuilds, never a crash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from threadline.knowledge import KnowledgeBase, derived

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "examples" / "operation-dianxun.md", *sorted((REPO / "tests" / "data" / "reports").glob("*.md"))]
NAMES = ("profiles", "lexicon", "software-names")


def _forget(kb: KnowledgeBase) -> None:
    """Drop every in-process copy of the derived structures, as a fresh process starts."""
    from threadline.attribute import profiles
    from threadline.extract.entities import lexicon
    from threadline.extract.techniques import extractor

    profiles._static.pop(id(kb), None)
    profiles._cache.clear()
    lexicon._lexicons.pop(id(kb), None)
    extractor._MATCHERS.pop(id(kb), None)
    lexicon.english_words.cache_clear()
    lexicon.english_word_list.cache_clear()


def _analyses(kb: KnowledgeBase) -> list[dict[str, Any]]:
    from threadline.analysis import analyze_document
    from threadline.ingest import ingest

    out = []
    for path in DOCUMENTS:
        result = analyze_document(ingest(str(path))[0], kb)
        result.pop("analysed_at", None)
        out.append(result)
    return out


@pytest.fixture
def fresh(kb: KnowledgeBase) -> Iterator[KnowledgeBase]:
    _forget(kb)
    for name in (*NAMES, "english-words", "english-word-list"):
        path = derived.cache_file(kb if not name.startswith("english-") else None, name)
        assert path is not None, "the session's knowledge base comes from the index cache and has a key"
        path.unlink(missing_ok=True)
    yield kb
    _forget(kb)


def test_cached_structures_give_the_same_analyses_as_fresh_ones(fresh: KnowledgeBase,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from threadline.attribute import profiles
    from threadline.extract.entities import lexicon
    from threadline.extract.techniques import signals

    # Built in memory only (no key: nothing is read from or written to disk), as before the cache existed.
    with monkeypatch.context() as m:
        m.setattr(derived, "_keys", {})
        built = _analyses(fresh)
    assert not any(derived.cache_file(fresh, n).exists() for n in NAMES)  # type: ignore[union-attr]
    _forget(fresh)
    written = _analyses(fresh)          # builds them again and writes the cache files
    assert all(derived.cache_file(fresh, n).exists() for n in NAMES)  # type: ignore[union-attr]
    _forget(fresh)

    def refuse(*_: object) -> Any:
        raise AssertionError("built again although the cache file was there")

    # From disk only: any attempt to build fails the test.
    monkeypatch.setattr(profiles, "_derive", refuse)
    monkeypatch.setattr(lexicon, "_build", refuse)
    monkeypatch.setattr(lexicon, "_read_english_words", refuse)
    monkeypatch.setattr(signals, "_alternatives", refuse)
    read = _analyses(fresh)
    assert len(built) == len(DOCUMENTS) >= 5
    assert any(a["attribution"]["candidates"] for a in built)   # the profiles are really exercised
    assert read == built
    assert written == built


def test_a_corrupt_cache_file_is_rebuilt(fresh: KnowledgeBase) -> None:
    from threadline.attribute.profiles import build_profiles

    path = derived.cache_file(fresh, "profiles")
    assert path is not None
    expected = build_profiles(fresh)
    assert path.exists()
    _forget(fresh)
    path.write_bytes(path.read_bytes()[:1000])       # a killed writer or a full disk
    again = build_profiles(fresh)
    assert sorted(again.profiles) == sorted(expected.profiles)
    assert again.df == expected.df and again.avg_length == expected.avg_length
    assert path.stat().st_size > 1000                # rewritten whole


def test_the_key_follows_the_code(fresh: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    before = derived.cache_file(fresh, "lexicon")
    derived.code_digest.cache_clear()
    monkeypatch.setattr(derived, "_DATA_PACKAGES", (*derived._DATA_PACKAGES, "numpy"))   # as if code changed
    try:
        assert derived.cache_file(fresh, "lexicon") != before
    finally:
        derived.code_digest.cache_clear()


def test_a_knowledge_base_not_from_the_index_cache_has_no_derived_cache(fresh: KnowledgeBase) -> None:
    from copy import copy

    other = copy(fresh)          # same content, but not what load_kb returned: its key is unknown
    assert derived.cache_file(other, "profiles") is None


def test_the_compact_english_word_list_answers_as_the_set_does() -> None:
    """dates reads the word list through its compact form: the same answer as the set for every word, its
    neighbours in sort order and strings that are no words."""
    from threadline.extract.entities.lexicon import WordList, english_words

    words = english_words()
    compact = WordList(words)
    assert len(compact) == len(words) > 100_000
    assert all(word in compact for word in words)
    probes = {w + suffix for w in list(words)[::50] for suffix in ("s", "x", "zz", "\n", " ")} | {"", "a", "zzzzzz"}
    probes |= {w[:-1] for w in list(words)[::50]} | {w.upper() for w in list(words)[::500]}
    assert all((probe in compact) == (probe in words) for probe in probes)


def test_the_newest_few_versions_are_kept_and_older_ones_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two installs sharing a cache folder keep their own files (each used to delete the other's on every run);
    versions beyond the newest KEEP are stale and go."""
    import os
    import time

    written = [tmp_path / f"derived-lexicon-{n:024d}.pickle" for n in range(derived.KEEP + 2)]
    for n, path in enumerate(written):
        derived._write(path, {"version": n}, "lexicon")
        os.utime(path, (time.time() - 100 + n, time.time() - 100 + n))    # written one after another
    left = sorted(tmp_path.glob("derived-lexicon-*.pickle"))
    assert left == written[-derived.KEEP:]
    assert derived._read(written[-1], dict) == {"version": derived.KEEP + 1}
    assert not list(tmp_path.glob(".derived-*"))                         # no temporary file left behind


def test_the_runtime_technique_model_read_from_its_cache_scores_as_the_built_one(
        kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    from threadline.extract.techniques import extractor

    stamp = extractor._model_stamp(Path(str(extractor.MODEL_DIR)))
    assert stamp is not None
    path = derived.cache_file(None, "technique-model", stamp)
    assert path is not None
    path.unlink(missing_ok=True)
    extractor.runtime_model.cache_clear()
    try:
        built = extractor.runtime_model()
        assert path.exists()
        extractor.runtime_model.cache_clear()

        def refuse(*_: object) -> Any:
            raise AssertionError("built again although the cache file was there")

        monkeypatch.setattr(extractor, "_runtime_model", refuse)
        read = extractor.runtime_model()
        assert read is not built
        for document in DOCUMENTS[:3]:
            text = document.read_text(encoding="utf-8")
            assert (extractor.extract_techniques(text, kb=kb, model=read)
                    == extractor.extract_techniques(text, kb=kb, model=built))
    finally:
        extractor.runtime_model.cache_clear()


def test_the_runtime_model_key_follows_its_files(tmp_path: Path) -> None:
    import os

    from threadline.extract.techniques.extractor import _model_stamp

    (tmp_path / "report.npz").write_bytes(b"weights")
    before = _model_stamp(tmp_path)
    os.utime(tmp_path / "report.npz", ns=(1, 1))                 # a model file replaced
    assert _model_stamp(tmp_path) != before
    assert _model_stamp(tmp_path / "missing") is None             # no folder: no cache


def test_a_loaded_cache_is_moved_out_of_the_collectors_way(tmp_path: Path) -> None:
    import gc

    path = tmp_path / "derived-lexicon-0.pickle"
    derived._write(path, {"rows": [[n] for n in range(1000)]}, "lexicon")     # lists: tracked by the collector
    assert gc.isenabled()
    before = gc.get_freeze_count()
    loaded = derived._read(path, dict)
    assert loaded is not None and gc.get_freeze_count() >= before + 1000
    assert gc.isenabled()
