"""Atheris harness of the feed target (tests/fuzz/targets.py): `python fuzz/fuzz_feed.py CORPUS`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import main

if __name__ == "__main__":
    main("feed")
