# The two commands of this project (both create or reuse the virtualenv .venv themselves):
#
#   make demo   start the SmartlyQ emulator, run the example DAGs with `airflow dags test`
#               under a temporary AIRFLOW_HOME, print a summary, stop the emulator
#   make test   what CI runs: ruff check, ruff format --check, mypy, import-linter, mkdocs build
#               --strict, pytest and the packaging check on the newest Airflow, then the version
#               matrix (unit tests and example DAGs on Airflow 3.1, 3.2 and 3.3, each on its own
#               Python)
#   make test-main     the same less the version matrix (quicker, for local work)
#   make test-matrix   the version matrix only (LANES='3.1' for one lane)
#
# Every target delegates to scripts/dev.py (standard library only), so `python3 scripts/dev.py
# demo|test` does the same where make is missing. PYTHON picks the interpreter for .venv.

PYTHON ?= python3
DEV := $(PYTHON) scripts/dev.py

.PHONY: help demo test test-main test-matrix venv lint docs format serve-docs clean bench

help:
	@echo "make demo        run the example DAGs against the emulator and print a summary"
	@echo "make test        what CI runs: lint, types, docs, tests, packaging, then the version matrix"
	@echo "make test-main   the same less the version matrix"
	@echo "make test-matrix unit tests and example DAGs on every supported Airflow (Python per lane)"
	@echo "make lint        ruff check, ruff format --check, mypy and import-linter only"
	@echo "make docs        build the docs into site/ (mkdocs --strict, raw-role check)"
	@echo "make format      apply ruff fixes and formatting"
	@echo "make serve-docs  serve the docs on http://127.0.0.1:8000"
	@echo "make bench       run the benchmarks against peers and baselines (~50 min with the request budget; not part of make test)"
	@echo "make venv        create or update .venv only"
	@echo "make clean       remove .venv and build/cache directories"
	@echo "Pass pytest arguments with: make test-main PYTEST_ARGS='-k health -x'"
	@echo "Run some lanes only with:   make test-matrix LANES='3.1'"

demo:
	$(DEV) demo

test:
	$(DEV) test $(PYTEST_ARGS)

test-main:
	$(DEV) test-main $(PYTEST_ARGS)

test-matrix:
	$(DEV) matrix $(LANES)

venv:
	$(DEV) venv

lint:
	$(DEV) lint

docs:
	$(DEV) docs

format:
	$(DEV) format

serve-docs:
	$(DEV) serve-docs

bench: venv
	.venv/bin/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf .venv .lanes site dist build .pytest_cache .mypy_cache .ruff_cache
