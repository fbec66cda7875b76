"""ATT&CK techniques in report text: the shipped models, how they are trained, and extraction with evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from threadline.lazy import lazy_attributes

# Names are imported on first use, so that importing one module of the package (signals, train) does not load the
# models' code and scikit-learn with it.
if TYPE_CHECKING:
    from threadline.extract.techniques.extractor import (
        MODEL_DIR,
        TechniqueHit,
        TechniqueModel,
        extract_techniques,
        runtime_model,
        shipped_model,
    )

_LAZY = {"MODEL_DIR": "extractor", "TechniqueHit": "extractor", "TechniqueModel": "extractor",
         "extract_techniques": "extractor", "runtime_model": "extractor", "shipped_model": "extractor"}

__all__ = ["MODEL_DIR", "TechniqueHit", "TechniqueModel", "extract_techniques", "runtime_model", "shipped_model"]


__getattr__ = lazy_attributes(__name__, _LAZY)
