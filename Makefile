# Two commands set everything up: `make demo` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DAG ?= flights_daily
START ?=
END ?=

.PHONY: demo test lint typecheck unit airflow backfill seed status docs lock clean bench bench-smoke

# The development environment: the dev lock (the tools, on top of the runtime lock it includes) and
# the project itself, editable.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/etl demo

seed: $(STAMP)
	$(BIN)/etl seed

status: $(STAMP)
	$(BIN)/etl status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/pyright

test: lint typecheck
	$(BIN)/python -m pytest

# The unit tests need neither PostgreSQL nor Airflow's metadata database (tests/unit/conftest.py refuses both).
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# A local Airflow 3 (api-server, scheduler, dag-processor, triggerer) on this repository.
airflow: $(STAMP)
	$(BIN)/etl airflow standalone

# A DAG-level backfill, executed by the running scheduler of `make airflow`.
backfill: $(STAMP)
	@test -n "$(START)" -a -n "$(END)" || { echo "usage: make backfill DAG=flights_daily START=YYYY-MM-DD END=YYYY-MM-DD"; exit 2; }
	$(BIN)/etl backfill $(DAG) --start $(START) --end $(END) --scheduler

# documentation/data-schemas.md is generated from the Pydantic models and the DDL.
docs: $(STAMP)
	$(BIN)/etl docs

# The partition benchmark (long: minutes per size): bench/results.json and documentation/benchmarks.md.
bench: $(STAMP)
	$(BIN)/etl seed
	$(BIN)/etl bench --sizes 100000,1000000,5000000 --repeats 3

# The same at a tiny size with one repeat, written to a temporary directory: proves it works.
bench-smoke: $(STAMP)
	$(BIN)/etl seed
	out=$$(mktemp -d) && $(BIN)/etl bench --sizes 2000 --repeats 1 --output $$out/results.json --doc $$out/benchmarks.md

# Rewrites both locks from the versions installed in .venv, upgrading nothing (a package new in a .in
# file is first installed at its newest release):
# - requirements.txt: requirements.in and everything it needs, installed into a scratch venv with
#   .venv's versions as constraints, then `pip freeze`: what the pipelines need to run (Dockerfile);
# - requirements-dev.txt: `-r requirements.txt` plus every other package of .venv: the tools of
#   requirements-dev.in and what only they need.
# To upgrade a package: .venv/bin/python -m pip install --upgrade NAME, then make lock.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-dev.in
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BIN)/python -m pip freeze --exclude-editable > "$$tmp/all.txt"; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --upgrade pip; \
	"$$tmp/venv/bin/python" -m pip install --quiet -r requirements.in -c "$$tmp/all.txt"; \
	{ echo "# Exact lock of the runtime packages (direct ones are in requirements.in); the image installs it. Regenerate: make lock"; \
	  "$$tmp/venv/bin/python" -m pip freeze; } > requirements.txt; \
	{ echo "# Exact lock of the development tools (direct ones are in requirements-dev.in) on top of the runtime lock. Regenerate: make lock"; \
	  echo "-r requirements.txt"; \
	  grep -vxF -f requirements.txt "$$tmp/all.txt"; } > requirements-dev.txt

clean:
	rm -rf .local .pytest_cache .ruff_cache
