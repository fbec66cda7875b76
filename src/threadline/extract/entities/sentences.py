"""Sentences for entity and claim extraction: the shared splitter's output, cut again at paragraph breaks.

A sentence that ends with a full stop followed by a blank line and a Markdown heading ("... separately.\n\n##
Cluster three: Turla") comes out of the splitter as one sentence; evidence must never join two paragraphs, and a
claim in one paragraph must never pick up an actor from the next heading.
"""

from __future__ import annotations

import re
from dataclasses import replace

from threadline.errors import InputError
from threadline.extract.sentences import split_sentences
from threadline.model import Document, Evidence, Sentence

# Blank lines, a Markdown heading, a front-matter fence or a "field: value" line start a new piece.
_BREAK = re.compile(r"\n[ \t]*\n\s*|\n(?=[ \t]*#{1,6}\s)|(?<=^---)\n|\n(?=---[ \t]*(?:\n|$))|"
                    r"\n(?=[A-Za-z][\w -]{0,30}:[ \t]+\S)")


def refine(sentences: list[Sentence]) -> list[Sentence]:
    """Cut every sentence at blank lines and before Markdown headings; offsets stay document offsets."""
    out: list[Sentence] = []
    for sentence in sentences:
        if "\n" not in sentence.text:
            out.append(sentence)
            continue
        start = 0
        for m in _BREAK.finditer(sentence.text):
            _emit(out, sentence, start, m.start())
            start = m.end()
        _emit(out, sentence, start, len(sentence.text))
    return out


def _emit(out: list[Sentence], sentence: Sentence, a: int, b: int) -> None:
    piece = sentence.text[a:b]
    stripped = piece.strip()
    if stripped:
        lead = len(piece) - len(piece.lstrip())
        begin = sentence.start + a + lead
        out.append(Sentence(stripped, begin, begin + len(stripped)))


def report_sentences(text: str, sentences: list[Sentence] | None = None, *,
                     where: str | None = None) -> list[Sentence]:
    """The sentences to work on: given ones (refined) or the shared splitter's. Not text, or sentences that are
    not this text's, is a one-line :class:`InputError`."""
    if not isinstance(text, str):
        raise InputError(f"entity extraction needs text, not {type(text).__name__}", where=where)
    if sentences is None:
        return refine(split_sentences(text))
    for s in sentences:
        if text[s.start:s.end] != s.text:
            raise InputError(f"sentence at {s.start}-{s.end} does not match the text it was given with",
                             where=where)
    return refine(sentences)


def locate(evidence: list[Evidence], document: Document | None) -> list[Evidence]:
    """Evidence with the document's sha256 and the page of each sentence, when the document is known."""
    if document is None:
        return evidence
    return [replace(e, page=document.page_at(e.start), document=document.sha256) for e in evidence]
