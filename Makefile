# zart developer tasks. Everything runs from the project virtualenv .venv; no activation needed.
#
#   make test              lint + type-check + every test except the slow ones
#   make test-unit         unit tests only (no database)
#   make test-integration  integration and web tests (ZART_DATABASE_URL, else embedded PostgreSQL)
#   make lint              ruff + mypy
#   make demo              run examples/order_fulfilment.py
#   make bench             run the benchmarks (BENCH_ARGS="--full", "--smoke", "--only replay")
#   make clean             remove caches and build output (keeps .venv and .zart)
#
# Extra pytest arguments: make test PYTEST_ARGS="-x -k restart"
# Include the slow tests:   make test MARKERS=

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MARKERS ?= -m "not slow"
PYTEST_ARGS ?=

.DEFAULT_GOAL := test
.PHONY: venv demo test test-unit test-integration lint bench clean

# (Re)install only when the packaging metadata changed since the last install.
$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check --quiet --upgrade pip "setuptools>=68" wheel
	$(PY) -m pip install --disable-pip-version-check --quiet -e ".[test]"
	touch $@

venv: $(STAMP)

demo: venv
	$(PY) examples/order_fulfilment.py

lint: venv
	$(PY) -m ruff check zart tests examples benchmarks
	$(PY) -m mypy

test: lint
	$(PY) -m pytest -q $(MARKERS) $(PYTEST_ARGS) tests

test-unit: venv
	$(PY) -m pytest -q $(MARKERS) $(PYTEST_ARGS) tests/unit

test-integration: venv
	$(PY) -m pytest -q $(MARKERS) $(PYTEST_ARGS) tests/integration tests/faults tests/web tests/kit tests/examples

# The benchmarks' plots need matplotlib: the optional extra "bench", on top of the base install.
BENCH_STAMP := $(VENV)/.installed-bench
BENCH_ARGS ?=

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --disable-pip-version-check --quiet -e ".[bench]"
	touch $@

bench: $(BENCH_STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
