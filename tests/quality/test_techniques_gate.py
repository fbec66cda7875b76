"""Quality gate: per-document F1 of the gate model on the 20 TRAM2 reports it was not trained on.

It reads the TRAM2 reports the package ships, the files `threadline train techniques` trains from:
``src/threadline/data/tram/tram2-reports.jsonl.gz`` and ``tram2-classes.txt`` (a byte-for-byte copy of
``../shared/data/tram/``), so it runs for everyone with a clone, not only where the shared data is present.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import numpy as np

from threadline.extract.techniques import MODEL_DIR, TechniqueModel, extract_techniques
from threadline.extract.techniques.build import GATE_DIR, is_gate_holdout
from threadline.extract.techniques.stack import doc_f1
from threadline.extract.techniques.train import gold_matrix, load_tram, revoked_classes, to_class
from threadline.knowledge.index import load_kb

TRAM = Path(str(files("threadline") / "data" / "tram"))   # shipped with the package
FLOORS = Path(__file__).resolve().parent / "floors.json"


def test_gate_model_f1_stays_above_the_floor() -> None:
    floor = float(json.loads(FLOORS.read_text(encoding="utf-8"))["techniques"]["doc_f1"])
    reports, classes = load_tram(TRAM)
    held = [r for i, r in enumerate(reports) if is_gate_holdout(i)]
    model = TechniqueModel.load(MODEL_DIR / GATE_DIR)
    # The gate is only honest if the model never saw these reports: its provenance lists them as held out.
    assert model.info["holdout_ids"] == [r.id for r in held]
    index = {c: i for i, c in enumerate(classes)}
    kb = load_kb(progress=False)
    renamed = revoked_classes(classes, kb.current_technique_id)     # T1574.002 is reported as T1574.001 now
    pred = np.zeros((len(held), len(classes)), dtype=bool)
    for d, report in enumerate(held):
        for hit in extract_techniques(report.text, kb=kb, model=model, infer=False):
            assert hit.evidence, f"{hit.id} reported without a supporting sentence"
            cls = to_class(hit.id, classes, renamed)
            if cls in index:
                pred[d, index[cls]] = True
    f1 = doc_f1(pred, gold_matrix(held, classes))
    assert f1 >= floor, f"per-document F1 {f1:.3f} fell below the floor {floor:.3f}"
