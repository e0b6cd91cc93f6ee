# priorauth — every target installs what it needs; `make run` and `make test` work from a clean clone.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
# durable-rules does not import on 3.13: take the newest supported interpreter on PATH.
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
             v=$$(command -v $$p >/dev/null && $$p -c 'import sys; print(sys.version_info[:2] in ((3,11),(3,12)))' 2>/dev/null); \
             [ "$$v" = True ] && { echo $$p; break; }; done)
STAMP := $(VENV)/.installed

.PHONY: help install run test lint typecheck unit bench clean

help:
	@echo "make run    evaluate the example cases against the shipped rulesets"
	@echo "make test   lint, type-check and run the whole test suite"
	@echo "make bench  run the benchmarks (see benchmarks/)"

$(STAMP): pyproject.toml
	@[ -n "$(PYTHON)" ] || { echo "priorauth needs Python 3.11 or 3.12 on PATH (durable-rules does not import on 3.13)"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(BIN)/priorauth rulesets check rulesets --forms forms
	@for f in examples/cases/*.json; do \
	    echo "== $$f"; \
	    $(BIN)/priorauth evaluate --case "$$f" --rulesets rulesets --forms forms || exit 1; \
	done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
