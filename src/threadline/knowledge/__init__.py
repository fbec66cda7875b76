"""Knowledge: ATT&CK (vendored snapshot) and MISP galaxies, linked, with aliases as evidence."""

from threadline.knowledge.aliases import AliasAssertion, Resolution, normalise
from threadline.knowledge.base import KnowledgeBase
from threadline.knowledge.index import load_kb

__all__ = ["AliasAssertion", "KnowledgeBase", "Resolution", "load_kb", "normalise"]
