"""Does training on real report sentences help? 4-fold cross-validation by report on AnnoCTR *train* only.

The procedure model (every Enterprise technique outside TRAM's 50 classes) is trained on ATT&CK's procedure examples
and technique descriptions, plus (``--annoctr``) the AnnoCTR train sentences holding a technique mention of the
three other folds (train.annoctr_sentences); the report model and its blend are the shipped ones (TRAM and ATT&CK
only, they never saw AnnoCTR). Each fold's reports go through the full extractor; the figures are those of
bench/techniques_real.py over the 68 out-of-fold reports. Dev is never read.

    .venv/bin/python bench/techniques_annoctr_cv.py [--annoctr] [--jobs 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import techniques_real  # the evaluation this script varies (bench/ is on sys.path for a script)
from threadline.extract.techniques import TechniqueModel, shipped_model
from threadline.extract.techniques.build import negative_sentences, train_blended_model
from threadline.extract.techniques.train import ReportConfig, annoctr_sentences, load_tram, train_procedure_model
from threadline.knowledge.index import load_kb

ROOT = Path(__file__).resolve().parents[1]
TRAM = ROOT / "src" / "threadline" / "data" / "tram"
FOLDS = 4



def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--annoctr", action="store_true", help="add the other folds' AnnoCTR sentences to training")
    ap.add_argument("--blend", action="store_true", help="add them to the blend's procedure bank too (retrains the "
                    "report model and its blend on TRAM in each fold)")
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    bench, kb = techniques_real, load_kb(progress=False)
    path = bench.ANNOCTR / "annoctr-train.jsonl.gz"
    reports, _ = bench.load_reports(path, kb)
    negatives, shipped = negative_sentences(TRAM), shipped_model()
    tram, classes = load_tram(TRAM)
    preds: list[techniques_real.Prediction | None] = [None] * len(reports)
    for k in range(FOLDS):
        def other_folds(i: int, k: int = k) -> bool:
            return i % FOLDS != k

        extra = annoctr_sentences(path, kb, other_folds) if args.annoctr else None
        procedure = train_procedure_model(kb, negatives, jobs=args.jobs, extra=extra)
        model = TechniqueModel(shipped.report, procedure, shipped.info, shipped.ensemble, shipped.blend)
        if args.blend and extra is not None:
            feat, bank, blend = train_blended_model(tram, classes, kb, ReportConfig(jobs=args.jobs), log=print,
                                                    extra=extra)
            model = TechniqueModel((feat, bank), procedure, shipped.info, None, blend)
        test = [i for i in range(len(reports)) if i % FOLDS == k]
        for i, pred in zip(test, bench.predict([reports[i] for i in test], kb, model=model), strict=True):
            preds[i] = pred
        print(f"fold {k + 1}/{FOLDS} done ({len(extra[0]) if extra else 0} AnnoCTR sentences)", flush=True)
    result = bench.evaluate(reports, [p for p in preds if p is not None], kb)   # every report is in one fold
    result["split"], result["left_out"] = "train (4-fold CV)", {}
    print(bench.table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
