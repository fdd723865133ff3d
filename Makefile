# nautilus-ai: every job a new user needs is one target here. `make help` lists them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= runs
DEMO_CATALOG ?= $(DEMO_OUT)/catalog

.DEFAULT_GOAL := help
.PHONY: help setup browser demo test lint bench clean

help: ## Show the targets and what each does
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@if [ ! -x $(PY) ]; then \
		PYTHON312=$$(scripts/find-python.sh) || exit 1; \
		echo "creating $(VENV) with $$PYTHON312"; \
		"$$PYTHON312" -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --progress-bar on -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP) ## Create the Python 3.12 virtual environment (if missing) and install nautilus-ai
	@$(BIN)/nautilus-ai --version

demo: setup ## Ingest the bundled real data and run the walk-forward demo; prints where the report is
	$(BIN)/nautilus-ai catalog ingest data/bars_daily data/bars_intraday --instruments data/instruments.toml --catalog $(DEMO_CATALOG) --update-instruments
	$(BIN)/nautilus-ai backtest walkforward --config configs/demo.toml --catalog $(DEMO_CATALOG) --out $(DEMO_OUT)

browser: ## Install headless Chromium + chromedriver if missing (for the report's browser test)
	@scripts/ensure-chromium.sh

test: setup browser ## Run the whole test suite (unit, integration, acceptance)
	$(PY) -m pytest

lint: setup ## ruff (lint + format check) and mypy
	$(BIN)/ruff check nautilus_ai tests benchmarks examples
	$(BIN)/ruff format --check nautilus_ai tests benchmarks examples
	$(BIN)/mypy

bench: setup ## Run the benchmarks and print their figures (see docs/benchmarks.md)
	$(PY) benchmarks/bench_walkforward.py
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_signal_latency.py
	$(PY) benchmarks/bench_risk.py
	$(PY) benchmarks/bench_risk_walkforward.py
	$(PY) benchmarks/bench_execution_shortfall.py --tune
	$(PY) benchmarks/bench_walkforward_scaling.py
	$(PY) benchmarks/bench_adversarial.py

clean: ## Remove demo outputs (never the virtual environment or data/)
	rm -rf $(DEMO_OUT)
