# `make demo` and `make test` are all a new machine needs (Debian/Ubuntu, Python 3.11+).
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup demo test lint typecheck migrations-check pytest

# Detection's per-scan code is compiled with mypyc (tem/compiled.py); TEM_PURE_PYTHON=1 runs it as Python.
setup: $(VENV)/.installed
	@$(BIN)/python scripts/compile-detection

$(VENV)/.installed: pyproject.toml
	@scripts/ensure-venv "$(PYTHON)" "$(VENV)"
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# `make demo PORT=8100`: the demo's stamps and printed addresses use the port it serves on.
PORT ?= 8000
demo: setup
	$(BIN)/tem demo --port $(PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy crypto printing detection identity epcis issuer chain alerts resolver inspector ministry reports portal tem templates loadtests

migrations-check: setup
	$(BIN)/python scripts/check-migrations

# The whole suite on the embedded default, then again on PostgreSQL + Redis when their URLs are set
# (and on Redis Cluster when TEM_REDIS_CLUSTER_URL is set: scripts/ensure-redis-cluster starts one).
# The fault drills (tests/faults) start their own redis-server and PostgreSQL: they run in the first pass only.
pytest: setup
	env -u TEM_DATABASE_URL -u TEM_REDIS_URL -u TEM_REDIS_CLUSTER_URL $(BIN)/pytest
	@if [ -n "$$TEM_DATABASE_URL$$TEM_REDIS_URL$$TEM_REDIS_CLUSTER_URL" ]; then \
		echo "== again on TEM_DATABASE_URL=$$TEM_DATABASE_URL TEM_REDIS_URL=$$TEM_REDIS_URL TEM_REDIS_CLUSTER_URL=$$TEM_REDIS_CLUSTER_URL"; \
		$(BIN)/pytest --ignore=tests/faults; \
	fi

test: lint typecheck migrations-check pytest
