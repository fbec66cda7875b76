"""One root error that says where a problem is and what it is (``report.pdf: page 3: ...``)."""

from __future__ import annotations


class ThreadlineError(Exception):
    """Root of every error Threadline raises on purpose; ``str()`` is one line that names the input."""

    def __init__(self, message: str, *, where: str | None = None, page: int | None = None) -> None:
        self.message = message
        self.where = where
        self.page = page
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.where, f"page {self.page}" if self.page else None) if p]
        text = " ".join(self.message.split())  # never a multi-line message
        return ": ".join([*parts, text])


class InputError(ThreadlineError):
    """The input (file, URL, JSON line) cannot be read or is not what it claims to be."""


class NotFoundError(ThreadlineError):
    """A name or identifier is not in the knowledge base or the store."""


class KnowledgeError(ThreadlineError):
    """The knowledge base or one of its sources is unusable."""


class StoreError(ThreadlineError):
    """The database cannot be opened or migrated."""


class LimitError(ThreadlineError):
    """A document's stage went past its time or memory limit (settings stage_timeout, stage_max_memory)."""
