# The two commands of this project (both create or reuse the virtualenv .venv themselves):
#
#   make demo   start the SmartlyQ emulator, run the example DAGs with `airflow dags test`
#               under a temporary AIRFLOW_HOME, print a summary, stop the emulator
#   make test   ruff check, ruff format --check, mypy, mkdocs build --strict, pytest (what CI runs)
#
# Every target delegates to scripts/dev.py (standard library only), so `python3 scripts/dev.py
# demo|test` does the same where make is missing. PYTHON picks the interpreter for .venv.

PYTHON ?= python3
DEV := $(PYTHON) scripts/dev.py

.PHONY: help demo test venv lint docs format serve-docs clean bench

help:
	@echo "make demo        run the example DAGs against the emulator and print a summary"
	@echo "make test        lint, types, docs build and the test suite (what CI runs)"
	@echo "make lint        ruff check, ruff format --check and mypy only"
	@echo "make docs        mkdocs build --strict only"
	@echo "make format      apply ruff fixes and formatting"
	@echo "make serve-docs  serve the docs on http://127.0.0.1:8000"
	@echo "make bench       run the benchmarks against peers (~10 min; not part of make test)"
	@echo "make venv        create or update .venv only"
	@echo "make clean       remove .venv and build/cache directories"
	@echo "Pass pytest arguments with: make test PYTEST_ARGS='-k health -x'"

demo:
	$(DEV) demo

test:
	$(DEV) test $(PYTEST_ARGS)

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
	rm -rf .venv site dist build .pytest_cache .mypy_cache .ruff_cache
