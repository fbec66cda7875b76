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
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import techniques_real  # the evaluation this script varies (bench/ is on sys.path for a script)
from threadline.extract.techniques import TechniqueModel, shipped_model, train
from threadline.extract.techniques.build import negative_sentences, train_blended_model
from threadline.extract.techniques.model import Featurizer, LinearBank, load, save
from threadline.extract.techniques.paraphrase import PER_LABEL, load_paraphraser
from threadline.extract.techniques.phrases import PhraseMatcher, mine_phrases
from threadline.extract.techniques.train import ReportConfig, annoctr_sentences, load_tram, train_procedure_model
from threadline.knowledge.base import KnowledgeBase
from threadline.knowledge.index import load_kb

ROOT = Path(__file__).resolve().parents[1]
TRAM = ROOT / "src" / "threadline" / "data" / "tram"
FOLDS = 4



def _fold_model(cache: Path | None, k: int,
                train: Callable[[], tuple[Featurizer, LinearBank]]) -> tuple[Featurizer, LinearBank]:
    """Fold ``k``'s procedure model, trained, or read from ``cache`` when a previous run saved it there."""
    if cache is None:
        return train()
    path = cache / f"procedure-fold{k}"
    if (cache / f"procedure-fold{k}.npz").is_file():
        feat, bank, _ = load(path)
        return feat, bank
    feat, bank = train()
    cache.mkdir(parents=True, exist_ok=True)
    save(path, feat, bank, {})
    return feat, bank


def fold_models(kb: KnowledgeBase, *, annoctr: bool, jobs: int = 1, cache: Path | None = None,
                blend: bool = False) -> list[TechniqueModel[Any, Any]]:
    """Fold k's model: the shipped one with the procedure model and the phrase table learnt without fold k's
    AnnoCTR reports (``annoctr``: with the other folds' reports; else from ATT&CK alone, and no phrase table), and
    the paraphrase vectors of bench/techniques_paraphrase.py when ``cache`` holds the fold's."""
    path = techniques_real.ANNOCTR / "annoctr-train.jsonl.gz"
    negatives, shipped = negative_sentences(TRAM), shipped_model()
    tram, classes = load_tram(TRAM)
    models = []
    for k in range(FOLDS):
        def other_folds(i: int, k: int = k) -> bool:
            return i % FOLDS != k

        extra = annoctr_sentences(path, kb, other_folds) if annoctr else None
        procedure = _fold_model(cache, k, partial(train_procedure_model, kb, negatives, jobs=jobs, extra=extra))
        # the phrase table too is mined from the other folds only (the shipped one has seen every train report)
        phrases = PhraseMatcher(mine_phrases(path, kb, other_folds)) if annoctr else None
        paraphrase = cache / f"paraphrase-fold{k}-{PER_LABEL}.npz" if cache is not None else None
        model = TechniqueModel(shipped.report, procedure, shipped.info, shipped.ensemble, shipped.blend,
                               shipped.tools, phrases, None,
                               load_paraphraser(paraphrase) if paraphrase and paraphrase.is_file() else None)
        if blend and extra is not None:
            feat, bank, blended = train_blended_model(tram, classes, kb, ReportConfig(jobs=jobs), log=print,
                                                      extra=extra)
            model = TechniqueModel((feat, bank), procedure, shipped.info, None, blended, shipped.tools,
                                   phrases)
        models.append(model)
        print(f"fold {k + 1}/{FOLDS} model ready ({len(extra[0]) if extra else 0} AnnoCTR sentences)", flush=True)
    return models


def cross_validate(reports: list[techniques_real.Report], models: list[TechniqueModel[Any, Any]],
                   kb: KnowledgeBase) -> dict[str, Any]:
    """Every report predicted by the model of its fold (report i is in fold i mod FOLDS), scored as on dev."""
    preds: list[techniques_real.Prediction | None] = [None] * len(reports)
    for k, model in enumerate(models):
        test = [i for i in range(len(reports)) if i % FOLDS == k]
        for i, pred in zip(test, techniques_real.predict([reports[i] for i in test], kb, model=model), strict=True):
            preds[i] = pred
    result = techniques_real.evaluate(reports, [p for p in preds if p is not None], kb)
    result["split"], result["left_out"] = "train (4-fold CV)", {}
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--annoctr", action="store_true", help="add the other folds' AnnoCTR sentences to training")
    ap.add_argument("--blend", action="store_true", help="add them to the blend's procedure bank too (retrains the "
                    "report model and its blend on TRAM in each fold)")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--cache", type=Path, default=None, metavar="DIR",
                    help="keep each fold's procedure model in DIR and reuse it (to vary only the decision rule)")
    ap.add_argument("--description-sentences", type=int, default=train.DESCRIPTION_SENTENCES,
                    help="sentences of each technique description as training text (0: all)")
    args = ap.parse_args()
    train.DESCRIPTION_SENTENCES = args.description_sentences or None
    kb = load_kb(progress=False)
    reports, _ = techniques_real.load_reports(techniques_real.ANNOCTR / "annoctr-train.jsonl.gz", kb)
    models = fold_models(kb, annoctr=args.annoctr, jobs=args.jobs, cache=args.cache, blend=args.blend)
    print(techniques_real.table(cross_validate(reports, models, kb)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
