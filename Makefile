# Pantau — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/pytest
PYTEST_ARGS ?=

.PHONY: help install servers bootstrap up down status lint format test test-unit \
	test-integration test-e2e bench-intake clean

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: no python3.11+ found on PATH" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || \
		{ echo "error: Pantau needs Python >= 3.11; $(PYTHON) is older (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## create .venv with Pantau, its dependencies and the `pantau` command

servers: ## start (or reuse) the local Kafka broker and ClickHouse server
	deploy/kafka.sh start
	deploy/clickhouse.sh start

bootstrap: install servers ## create the topics and apply the ClickHouse schema
	$(BIN)/pantau bootstrap

up: install ## run the whole stack on this machine and print its URLs
	deploy/stack.sh up

down: ## stop everything `make up` started
	deploy/stack.sh down

status: ## show what is running
	deploy/stack.sh status

lint: install ## ruff (with the complexity check) and mypy strict over code, tests and benchmarks (never rewrites files)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install ## rewrite files with ruff's formatter and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install servers lint ## everything the tests need, then every test tier and the fault suite
	$(PYTEST) tests --ignore=tests/faults $(PYTEST_ARGS)
	$(PYTEST) tests/faults $(PYTEST_ARGS)

test-unit: install ## the pure-core unit tests only (no servers)
	$(PYTEST) tests/unit $(PYTEST_ARGS)

test-integration: install servers ## tests against the real Kafka broker and ClickHouse server
	$(PYTEST) tests/integration $(PYTEST_ARGS)

test-e2e: install servers ## tests of the running stack over HTTP and Kafka
	$(PYTEST) tests/e2e $(PYTEST_ARGS)

.PHONY: faults
faults: install servers ## fault suite alone: kill -9 (also of a cluster broker and a ClickHouse replica), stops, freezes, overload, bad traffic (8-13 min)
	$(PYTEST) tests/faults $(PYTEST_ARGS)

.PHONY: bench-recovery
bench-recovery: install servers ## tracker memory and recovery after kill -9 with 1,000,000 open cases (~25 min)
	PANTAU_BENCH_OPEN_CASES=$${PANTAU_BENCH_OPEN_CASES:-1000000} $(BIN)/python benchmarks/bench_stack.py --recovery-only

.PHONY: bench-latency
bench-latency: install servers ## 202 -> alert latency at 200 and 1,000 events/s and the sustained rate, alone (~1-2 min)
	$(BIN)/python benchmarks/bench_stack.py --latency-only

.PHONY: bench-sink
bench-sink: install servers ## sink rows/s into ClickHouse next to a bulk clickhouse-client insert
	$(BIN)/python benchmarks/bench_sink.py

.PHONY: bench-lookup
bench-lookup: install servers ## the sink's chain-head lookup (a cache miss) against the stored history's size, then a live sink over 6,000,000 stored events (~3 min)
	$(BIN)/python benchmarks/bench_head_lookup.py
	$(BIN)/python benchmarks/bench_sink_history.py

bench-intake: install servers ## intake events/s (single and batch, real broker) next to bare FastAPI
	$(BIN)/python benchmarks/bench_intake.py

.PHONY: bench-tracker
QUIX_STAMP := .venv-quix/.installed
$(QUIX_STAMP): pyproject.toml
	$(PYTHON) -m venv .venv-quix
	.venv-quix/bin/pip install -q --upgrade pip
	.venv-quix/bin/pip install -q -e . 'quixstreams>=3.20,<4'
	@touch $(QUIX_STAMP)

bench-tracker: install servers $(QUIX_STAMP) ## tracker events/s (all rules, RocksDB) next to a bare consumer and a Quix Streams peer, median of 3 rounds (~9 min)
	$(BIN)/python benchmarks/bench_tracker.py --rounds 3

.PHONY: bench-tracker-load
bench-tracker-load: install servers ## tracker CPU per event at steady offered loads, next to idle and a backlog (~4 min)
	$(BIN)/python benchmarks/bench_tracker_load.py

.PHONY: count-instructions
count-instructions: install ## the tracker's per-record work counted in instructions (callgrind), this tree next to AGAINST (a git revision; HEAD by default) (~5 min)
	$(BIN)/python benchmarks/count_instructions.py --against $(or $(AGAINST),HEAD)

.PHONY: bench
bench: install servers $(QUIX_STAMP) ## the whole stack next to same-run baselines (~10 min; PANTAU_BENCH_SCALE=0.1 for a quick run)
	$(BIN)/python benchmarks/bench_stack.py

.PHONY: bench-traffic replay-wabo replay-roadtraffic
bench-traffic: install servers ## simulate and replay ~100,000 events: generation vs publish, next to a bare producer
	$(BIN)/python benchmarks/bench_traffic.py

replay-wabo: install ## replay the WABO receipt log into a stack run with PANTAU_CATALOG=deploy/replay/with-wabo
	PANTAU_CATALOG=deploy/replay/with-wabo $(BIN)/pantau replay ../shared/data/wabo-receipt.csv \
		--mapping deploy/replay/wabo/mapping.yaml

replay-roadtraffic: install ## replay the road-traffic-fine log into a stack run with PANTAU_CATALOG=deploy/replay/with-roadtraffic
	PANTAU_CATALOG=deploy/replay/with-roadtraffic $(BIN)/pantau replay \
		../shared/data/roadtraffic100traces.csv --mapping deploy/replay/roadtraffic/mapping.yaml

clean: ## remove caches (keeps .local with the Kafka jars and server data)
	rm -rf .mypy_cache .ruff_cache .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
