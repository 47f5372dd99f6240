# Haven — the two commands a newcomer needs: `make run` and `make test`.
# Everything is installed by these targets; nothing relies on a shell's history.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: run test unit integration install prereqs clean-data help

help:
	@echo "make run    start PostgreSQL, Kafka and the three services with demo data (Ctrl-C stops)"
	@echo "make test   install everything and run the whole test suite"
	@echo "make unit   only the fast unit tests"

prereqs:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: Python 3.11 is required ('$(PYTHON)' not found on PATH; set PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || { echo "error: Python 3.11 is required ('$(PYTHON)' is $$($(PYTHON) --version 2>&1))"; exit 1; }
	@command -v java >/dev/null 2>&1 || [ -n "$$KAFKA_BOOTSTRAP_SERVERS" ] || { echo "error: Java 17 is required for the embedded Kafka broker ('java' not found on PATH)"; exit 1; }
	@command -v mvn >/dev/null 2>&1 || [ -n "$$KAFKA_BOOTSTRAP_SERVERS" ] || { echo "error: Maven is required to fetch Apache Kafka from Maven Central ('mvn' not found on PATH)"; exit 1; }

install: prereqs $(STAMP)

$(STAMP): pyproject.toml
	@echo "==> creating the virtual environment in $(VENV)"
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@echo "==> installing dependencies (the first run downloads torch, several GB: a few minutes)"
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -e '.[test]'
	@touch $(STAMP)
	@echo "==> dependencies installed"

run: install
	$(PY) -m services.devrun

test: install
	@echo "==> running the test suite (starts its own PostgreSQL and Kafka unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set)"
	$(PY) -m pytest

unit: install
	$(PY) -m pytest tests/unit

clean-data:
	@echo "removes ./.haven (all local posts, users and the Kafka log)"; rm -rf .haven

# Moderation throughput: the worker beside raw Detoxify.predict, fp32 and int8 (bench/run.py; never part of
# `make test`). `make bench QUICK=1` takes a couple of minutes; results go to bench/results/<date>.json.
.PHONY: bench
bench: install
	QUICK=$(QUICK) $(PY) bench/run.py
