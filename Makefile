# Two set-up commands (see README): `make run` and `make test`. Each creates or reuses .venv.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages the project needs: a CJK TrueType font for PDFs, poppler for PDF checks.
system-deps:
	@bash scripts/system-deps.sh

run: $(STAMP) system-deps
	$(BIN)/dabiao serve --demo

# Style (ruff) and types (mypy) over the packages; part of `make test`.
lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/mypy

test: $(STAMP) system-deps lint
	$(BIN)/dabiao standards lint
	$(BIN)/python -m pytest

bench: $(STAMP)
	PYTHONPATH=. $(BIN)/python bench/run_all.py
