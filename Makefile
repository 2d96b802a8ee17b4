# The one entry point for people and CI. Every target creates/uses .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: venv demo test unit lint typecheck docs format clean bench bench-smoke bench-local

$(STAMP): pyproject.toml setup.py
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "pysoa_like needs Python 3.10+; set PYTHON=python3.x")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[testing]'
	# Conformity pins attrs<22 in its metadata but runs on current attrs: install it without its pins.
	$(BIN)/python -m pip install -q --no-deps 'conformity>=1.26'
	touch $(STAMP)

venv: $(STAMP)

# make demo REDIS_URL=redis://host:port/0 uses an existing Redis instead of an embedded one.
REDIS_URL ?=
demo: $(STAMP)
	$(BIN)/python examples/demo.py $(if $(REDIS_URL),--redis-url $(REDIS_URL))

lint: $(STAMP)
	$(BIN)/ruff check pysoa_like tests examples benchmarks
	$(BIN)/ruff format --check pysoa_like tests examples benchmarks
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/sphinx-build -q -W --keep-going -b html docs docs/_build/html

unit: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test: lint docs unit

# Side-by-side benchmark (floor, pysoa_like, PySOA 1.4.9); see docs/performance.rst. Never part of `test`.
bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# A call through the full in-process pipeline (local transport), no Redis.
bench-local: $(STAMP)
	$(BIN)/python -m benchmarks.local

bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks.run --smoke --output benchmarks/results/smoke.json

format: $(STAMP)
	$(BIN)/ruff format pysoa_like tests examples benchmarks
	$(BIN)/ruff check --fix pysoa_like tests examples benchmarks

clean:
	rm -rf $(VENV) docs/_build .mypy_cache .pytest_cache .ruff_cache build *.egg-info
