"""Paraphrase vectors (techniques/paraphrase.py): words seen in the same contexts land near each other, so a sentence
in other words than the labelled ones still comes closest to its technique's prototype; the file round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from threadline.extract.techniques.paraphrase import build_paraphraser, load_paraphraser, save_paraphraser

# "camera" and "webcam" share their contexts (record, video, images), as "keyboard" and "keystrokes" share theirs;
# only "webcam" and "keystrokes" sentences are labelled.
CORPUS = [
    *["the implant can record video from the webcam of the victim"] * 6,
    *["the implant can record video and images from the camera of the victim"] * 6,
    *["the spyware takes images from the camera and uploads the video"] * 6,
    *["the spyware takes images from the webcam and uploads the video"] * 6,
    *["the module logs every keystroke typed on the keyboard of the user"] * 6,
    *["the module captures keystrokes typed on the keyboard and saves them"] * 6,
    *["the stealer captures what the user typed on the keyboard in a log file"] * 6,
]
LABELLED = [("the implant can record video from the webcam of the victim", ["T1125"]),
            ("the module captures keystrokes typed on the keyboard and saves them", ["T1056.001"])]


def test_a_paraphrase_comes_closest_to_its_technique(tmp_path: Path) -> None:
    model = build_paraphraser(CORPUS, LABELLED, dim=4)
    assert model.labels == ["T1056", "T1125"]
    texts = ["the spyware takes images from the camera of the victim",
             "the stealer captures what the user typed on the keyboard",
             "short line"]
    feats = model.features(texts, np.ones(len(texts), dtype=bool))
    assert feats["T1125"][2] == 0 and feats["T1056"][2] == 1     # the row of each technique's best sentence
    save_paraphraser(tmp_path / "p.npz", model)
    again = load_paraphraser(tmp_path / "p.npz")
    assert again.labels == model.labels and again.vocab == model.vocab
    assert again.features(texts, np.ones(len(texts), dtype=bool)).keys() == feats.keys()


def test_unusable_sentences_are_never_compared() -> None:
    model = build_paraphraser(CORPUS, LABELLED, dim=4)
    texts = ["the spyware takes images from the camera of the victim"]
    assert model.features(texts, np.zeros(1, dtype=bool)) == {}
