"""The web app and JSON API (``threadline serve``): FastAPI views that render a page or the same data as JSON,
accounts and TLP clearance, background analysis of submitted reports, the review loop and a TAXII 2.1 server.

Nothing here re-implements a stage: briefings come from :mod:`threadline.publish`, exports from
:mod:`threadline.export`, analyses from :mod:`threadline.analysis`, rows from :mod:`threadline.store`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.lazy import lazy_attributes

if TYPE_CHECKING:
    from threadline.web.app import create_app

_LAZY = {"create_app": "app"}

__all__ = ["create_app"]


__getattr__ = lazy_attributes(__name__, _LAZY)
