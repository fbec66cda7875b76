"""Each extraction family is a package whose entry points keep their dotted names, loaded on first use."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

FAMILIES = {
    "threadline.extract.techniques": "threadline.extract.techniques.extractor",
    "threadline.extract.iocs": "threadline.extract.iocs.extractor",
    "threadline.extract.entities": "threadline.extract.entities.extractor",
}


@pytest.mark.parametrize("package", sorted(FAMILIES))
def test_every_public_name_is_the_object_its_module_defines(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__
    for name in module.__all__:
        value = getattr(module, name)
        home = importlib.import_module(value.__module__ if callable(value) else FAMILIES[package])   # MODEL_DIR
        assert getattr(home, name) is value, f"{package}.{name}"


def test_the_entry_points_keep_their_names() -> None:
    from threadline.extract.entities import extract_claims, extract_entities
    from threadline.extract.iocs import document_iocs, extract_iocs
    from threadline.extract.techniques import extract_techniques

    assert [f.__module__ for f in (extract_techniques, document_iocs, extract_iocs, extract_entities, extract_claims)] \
        == ["threadline.extract.techniques.extractor", "threadline.extract.iocs.extractor",
            "threadline.extract.iocs.extractor", "threadline.extract.entities.extractor",
            "threadline.extract.entities.claims"]


@pytest.mark.parametrize(("module", "unloaded"), [
    ("threadline.extract.techniques.signals", "sklearn"),
    ("threadline.extract.iocs.patterns", "tldextract"),
    ("threadline.extract.entities.places", "threadline.extract.entities.claims"),
])
def test_a_module_of_a_family_loads_without_the_rest_of_it(module: str, unloaded: str) -> None:
    code = f"import sys, {module}\nprint({unloaded!r} in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "False"
