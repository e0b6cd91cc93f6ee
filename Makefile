# priorauth — every target installs what it needs; `make run` and `make test` work from a clean clone.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
# durable-rules does not import on 3.13: take the newest supported interpreter on PATH.
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
             v=$$(command -v $$p >/dev/null && $$p -c 'import sys; print(sys.version_info[:2] in ((3,11),(3,12)))' 2>/dev/null); \
             [ "$$v" = True ] && { echo $$p; break; }; done)
STAMP := $(VENV)/.installed
# Debian packages the project needs, installed with apt-get (as root or through sudo) when missing:
# chromium for the browser tests (Playwright drives it; its own browser download cannot work here);
# pango and fonts for WeasyPrint (packets; fontconfig's fc-match finds the stamps' font); ghostscript
# for fax TIFFs; tesseract for faxed replies; poppler-utils (pdftotext, pdftoppm, pdffonts) and
# libtiff-tools (tiffinfo) to read packets back in tests.
DEBIAN_PACKAGES := chromium ghostscript tesseract-ocr tesseract-ocr-eng poppler-utils libtiff-tools \
                   fonts-dejavu-core fontconfig libpango-1.0-0 libpangoft2-1.0-0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# browser libraries for the admin pages (CodeMirror), from the npm registry, never copied in
ASSETS := admin/assets/node_modules/.package-lock.json
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install system assets run demo test lint typecheck unit bench clean

help:
	@echo "make run    start the web app on http://$(HOST):$(PORT)/ (PORT=8080 make run to move it)"
	@echo "make demo   evaluate the example cases against the shipped rulesets, in the terminal"
	@echo "make test   lint, type-check and run the whole test suite"
	@echo "make bench  run the benchmarks: the engine, then the work queue (see benchmarks/)"

$(STAMP): pyproject.toml
	@[ -n "$(PYTHON)" ] || { echo "priorauth needs Python 3.11 or 3.12 on PATH (durable-rules does not import on 3.13)"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# asks dpkg each time (a few milliseconds) and installs only what is missing
system:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    command -v apt-get >/dev/null || { echo "priorauth: install these Debian packages: $$missing"; exit 1; }; \
	    echo "priorauth: installing Debian packages:" $$missing; \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(ASSETS): admin/assets/package.json admin/assets/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm; }
	cd admin/assets && npm ci --no-audit --no-fund --loglevel=error
	@touch $(ASSETS)

assets: $(ASSETS)

install: $(STAMP) system assets

run: $(STAMP) system $(ASSETS)
	@$(BIN)/priorauth db upgrade
	@$(BIN)/priorauth forms push forms --publish
	@$(BIN)/priorauth templates push forms/packets --publish
	@$(BIN)/priorauth rulesets push rulesets --publish
	@# a synthetic demo practice (admin/demo.py), only while the store has no cases at all
	@$(BIN)/priorauth demo seed --if-empty
	$(BIN)/priorauth serve --host $(HOST) --port $(PORT)

demo: $(STAMP)
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

unit: $(STAMP) system $(ASSETS)
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP) system
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/queue.py
	$(BIN)/python benchmarks/packets.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis test-artifacts admin/assets/node_modules
