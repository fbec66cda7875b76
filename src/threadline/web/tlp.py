"""TLP 2.0 clearance: which markings each role may read. Every query of the web app and the TAXII server takes
its allowed levels from here, so that a page, a search, a count and an export cannot disagree.

Anonymous visitors read TLP:CLEAR only; a viewer also TLP:GREEN (community); an analyst also TLP:AMBER and
TLP:AMBER+STRICT (inside the organisation); TLP:RED (named recipients) only an administrator.
"""

from __future__ import annotations

from dataclasses import dataclass

from threadline.export.common import TLP_LEVELS

ROLES = ("viewer", "analyst", "admin")
CLEARANCE: dict[str, tuple[str, ...]] = {
    "anonymous": ("clear",),
    "viewer": ("clear", "green"),
    "analyst": ("clear", "green", "amber", "amber+strict"),
    "admin": tuple(TLP_LEVELS),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a user name (None when anonymous) and a role; what they may read follows from the role."""

    name: str | None = None
    role: str = "anonymous"

    @property
    def levels(self) -> tuple[str, ...]:
        return CLEARANCE.get(self.role, CLEARANCE["anonymous"])

    def may_read(self, level: str | None) -> bool:
        return (level or "red") in self.levels       # an unmarked row is treated as the strictest, never leaked

    @property
    def can_submit(self) -> bool:
        return self.role in ("analyst", "admin")

    @property
    def can_review(self) -> bool:
        return self.role in ("analyst", "admin")


ANONYMOUS = Principal()
