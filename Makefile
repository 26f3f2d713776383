# Two commands from a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-postgres bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## set up and run the app with demo data on http://127.0.0.1:5000
	$(BIN)/triage run

test: $(STAMP)  ## set up and run the whole test suite
	$(BIN)/pytest

bench: $(STAMP)  ## print throughput and latency figures (see bench/README.md)
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/ruff check triage workers tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) instance .pytest_cache
