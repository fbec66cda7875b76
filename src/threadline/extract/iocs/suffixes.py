"""The Public Suffix List lookup of plain host names, without importing tldextract.

tldextract imports requests (and urllib3, ssl, http) at import time although Threadline never lets it fetch
anything: about 0.1 s of a cold ``threadline analyze``, a sixth of what remains once the models are loaded. This
module reads tldextract's own bundled snapshot (found without importing the package) and walks it with tldextract's
algorithm (``_PublicSuffixListTLDExtractor.suffix_index`` with private domains, and ``_extract_netloc``) for the
host names the scanner produces: dot-separated ASCII labels of letters, digits and hyphens. Anything else
(punycode labels, which tldextract decodes with idna; ports, user info, brackets, empty labels) is not answered
here: :func:`split` returns None and the caller asks tldextract itself. ``tests/extract/iocs/test_suffixes.py``
compares both on every rule of the list and on the hosts of every test document.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.util import find_spec
from pathlib import Path

from threadline.errors import ThreadlineError

# tldextract.suffix_list's own pattern and separator: the same rules, in the same order.
_RULE = re.compile(r"^(?P<suffix>[.*!]*\w[\S]*)", re.UNICODE | re.MULTILINE)
_PRIVATE_START = "// ===BEGIN PRIVATE DOMAINS==="
_PLAIN_HOST = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*", re.ASCII)
_END, _PRIVATE = 1, 2         # flags of a node: a rule ends here; that rule is a private domain


class Rules:
    """The list as a flat map from each node of tldextract's trie (labels joined right to left, ``"uk.co"``) to its
    flags; a node that only leads to longer rules has flags 0."""

    def __init__(self, public: list[str], private: list[str]) -> None:
        self.tlds = frozenset(public + private)      # what tldextract's ``TLDExtract.tlds`` lists, with private
        self.nodes: dict[str, int] = {}
        # tldextract builds its trie from a frozenset of the public rules and then the private ones; a rule in both
        # lists ends up private, as there. Within one list the order does not matter.
        for rules, flags in ((frozenset(public), _END), (frozenset(private), _END | _PRIVATE)):
            for rule in rules:
                path = ""
                for label in reversed(rule.split(".")):
                    path = _child(path, label)
                    self.nodes.setdefault(path, 0)
                self.nodes[path] = flags


def _snapshot() -> str:
    """tldextract's bundled copy of the list (what ``TLDExtract(suffix_list_urls=())`` reads)."""
    spec = find_spec("tldextract")      # locates the package without running it (that would import requests)
    if spec is None or not spec.submodule_search_locations:
        raise ThreadlineError("the tldextract package is not installed (its Public Suffix List is needed)")
    return (Path(next(iter(spec.submodule_search_locations))) / ".tld_set_snapshot").read_text(encoding="utf-8")


def _parse() -> Rules:
    public_text, _, private_text = _snapshot().partition(_PRIVATE_START)
    return Rules([m.group("suffix") for m in _RULE.finditer(public_text)],
                 [m.group("suffix") for m in _RULE.finditer(private_text)])


@cache
def rules() -> Rules:
    """The parsed list, cached on disk with the knowledge base's derived structures (parsing takes 20 ms, reading
    the cache 3 ms; the cache key holds tldextract's version)."""
    from threadline.knowledge import derived

    return derived.cached(None, "public-suffixes", Rules, _parse)


def _child(path: str, label: str) -> str:
    return f"{path}.{label}" if path else label


def split(host: str) -> tuple[str, str] | None:
    """``(domain, suffix)`` as tldextract (private domains included) splits a plain host name: ``"a.evil.co.uk"`` ->
    ``("evil", "co.uk")``; the suffix is ``""`` when no rule matches. None when ``host`` is not a plain name of
    ASCII letters, digits and hyphens in non-empty labels, or has a punycode label: ask tldextract then."""
    if not _PLAIN_HOST.fullmatch(host):
        return None
    labels = host.split(".")
    lowered = [label.lower() for label in labels]
    if any(label.startswith("xn--") for label in lowered):
        return None
    nodes = rules().nodes
    path = ""
    public_index = count = len(labels)
    index = count
    for label in reversed(lowered):
        flags = nodes.get(_child(path, label))
        if flags is not None:
            index -= 1
            path = _child(path, label)
            if flags & _END:
                public_index = index
            continue
        if _child(path, "*") in nodes:
            # A wildcard rule (``*.ck``): this label is part of the suffix unless an exception (``!www.ck``) says not.
            public_index = index if _child(path, "!" + label) in nodes else index - 1
        break
    if public_index == count:
        return labels[-1], ""
    return (labels[public_index - 1] if public_index > 0 else ""), ".".join(labels[public_index:])
