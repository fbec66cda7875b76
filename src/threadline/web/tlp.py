"""TLP 2.0 clearance of the web app's readers: which markings each role may read. Every query of the web app and
the TAXII server takes its allowed levels from here, so that a page, a search, a count and an export cannot
disagree; the levels and their order are :mod:`threadline.tlp`'s.

Anonymous visitors read TLP:CLEAR only; a viewer also TLP:GREEN (community); an analyst also TLP:AMBER and
TLP:AMBER+STRICT (inside the organisation); TLP:RED (named recipients) only an administrator.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadline.tlp import RED, Level, may_read, readable

ROLES = ("viewer", "analyst", "admin")
# The most restricted level each role may read (every level below it too).
ROLE_CLEARANCE: dict[str, Level] = {"anonymous": "clear", "viewer": "green", "analyst": "amber+strict",
                                   "admin": RED}
CLEARANCE: dict[str, tuple[Level, ...]] = {role: readable(level) for role, level in ROLE_CLEARANCE.items()}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a user name (None when anonymous) and a role; what they may read follows from the role."""

    name: str | None = None
    role: str = "anonymous"

    @property
    def clearance(self) -> Level:
        """The most restricted marking this reader may read (an unknown role is anonymous)."""
        return ROLE_CLEARANCE.get(self.role, ROLE_CLEARANCE["anonymous"])

    @property
    def levels(self) -> tuple[Level, ...]:
        return readable(self.clearance)

    def may_read(self, level: str | None) -> bool:
        return may_read(self.clearance, level)      # an unmarked row is treated as the strictest, never leaked

    @property
    def can_submit(self) -> bool:
        return self.role in ("analyst", "admin")

    @property
    def can_review(self) -> bool:
        return self.role in ("analyst", "admin")


ANONYMOUS = Principal()
