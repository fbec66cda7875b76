"""Citations of other stored reports inside a stored analysis, withheld from a web reader who may not read them.

Every web reader of a stored analysis (report page and JSON, exports, TAXII) goes through
:func:`withhold_citations`: the reader's clearance applied by :func:`threadline.store.citations.withhold` (see
there for what is left out, and why the reader is not told), with the cited reports' markings read from the store.
"""

from __future__ import annotations

from typing import Any

from threadline.store.citations import stored_markings, withhold
from threadline.store.repository import Store
from threadline.web.tlp import Principal


def withhold_citations(store: Store, who: Principal, analysis: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """The analysis as ``who`` may read it: every piece of evidence citing a stored report the reader may not read
    left out; and the ids withheld (for a cache key). An administrator, who may read every marking, gets the
    analysis as it is."""
    return withhold(analysis, who.clearance, stored_markings(store))
