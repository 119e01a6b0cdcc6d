# deskbot — `make run` starts the desk on config.example.toml, `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
CONFIG ?= config.example.toml
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/deskbot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

run: $(BIN)/deskbot
	$(BIN)/deskbot --config $(CONFIG) db upgrade
	$(BIN)/deskbot --config $(CONFIG) run

test: $(BIN)/deskbot
	$(BIN)/pytest

lint: $(BIN)/deskbot
	$(BIN)/ruff check .
	$(BIN)/mypy core

bench: $(BIN)/deskbot
	$(BIN)/python bench/intake.py
	$(BIN)/python bench/sla.py
	$(BIN)/python bench/kb_quality.py ../shared/kb-sample ../shared/kb-sample/queries-dev.jsonl
	$(BIN)/python bench/kb_quality.py knowledge/starter bench/data/starter-queries.jsonl
	$(BIN)/python bench/kb_quality.py knowledge/starter bench/data/starter-queries-holdout.jsonl
	$(BIN)/python bench/kb_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache test-artifacts
