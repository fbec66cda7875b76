"""Atheris harness of the text target (tests/fuzz/targets.py): `python fuzz/fuzz_text.py CORPUS`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import main

if __name__ == "__main__":
    main("text")
