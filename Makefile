# Threadline: every developer and CI task is a target here; each creates .venv itself when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest model calibrate bench docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres]'
	touch $(STAMP)

## demo: install, then run the main job on the bundled example report
demo: $(STAMP)
	$(BIN)/threadline analyze examples/operation-dianxun.md
	@echo
	@echo "Briefing: $(BIN)/threadline brief examples/operation-dianxun.md   Site: $(BIN)/threadline publish --out site"

## test: install, then lint, type-check and run the whole test suite
test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

## docs: regenerate the generated parts of the docs (settings table)
docs: $(STAMP)
	$(BIN)/threadline settings --markdown > docs/settings.md

## model: retrain the shipped ATT&CK technique models (deterministic; about 5 minutes on 2 cores)
model: $(STAMP)
	$(BIN)/threadline train techniques --jobs 2

## calibrate: refit the attribution engine's calibration on ATT&CK leave-one-out cases
calibrate: $(STAMP)
	$(BIN)/python bench/attribution.py --fit

## bench: every benchmark (the anchors of bench/iocs.py come from the 'bench' extra); figures go to BENCHMARKS.md
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/kb.py
	$(BIN)/python bench/iocs.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/techniques.py --jobs 2 --predictions .bench-tram-oof.jsonl
	$(BIN)/python bench/entities.py
	$(BIN)/python bench/attribution.py
	$(BIN)/python bench/attribution_real.py --predictions .bench-tram-oof.jsonl
	$(BIN)/python bench/export_bench.py
	$(BIN)/python bench/publish.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .bench-tram-oof.jsonl
