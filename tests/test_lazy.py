"""Lazy package attributes: a name loads its submodule on first use; an unknown name is an AttributeError."""

from __future__ import annotations

import pytest

import threadline.store


def test_a_known_name_loads_from_its_submodule() -> None:
    from threadline.store.records import SaveResult

    assert threadline.store.SaveResult is SaveResult


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"'threadline\.store' has no attribute 'Nope'"):
        threadline.store.Nope  # noqa: B018
