# Entry points. Each target installs what it needs first (scripts/bootstrap.sh), so on a fresh
# machine `make run` and `make test` are the only two commands you need.
.DEFAULT_GOAL := help
PY := .venv/bin/python
BOOTSTRAP := scripts/bootstrap.sh
# Some machines set PYTHONDONTWRITEBYTECODE=1; then every process (a test stack starts eight)
# compiles every module it imports from source again. Bytecode caches are kept here instead.
export PYTHONDONTWRITEBYTECODE :=

.PHONY: help bootstrap run kafka test test-fast lint typecheck contracts bench docs clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

bootstrap: ## install pinned uv and sync .venv from uv.lock
	@$(BOOTSTRAP)

run: bootstrap ## the whole local stack (broker, emulators, every service, the pages; data kept in .devstack/); Ctrl-C stops it
	@$(PY) -m devstack

kafka: bootstrap ## Apache Kafka (KRaft, jars from Maven Central) on 127.0.0.1:9092; Ctrl-C stops it
	@$(PY) -m devstack.kafka

test: bootstrap lint typecheck contracts ## lint, type check, import contracts, every test; e2e and faults on Kafka when java+mvn exist
	@scripts/ensure-browser.sh
	@scripts/test.sh

test-fast: bootstrap ## the inner loop: unit tests only (no broker, no running stack)
	@$(PY) -m pytest -q -n auto libs services -m "not broker and not e2e and not integration and not mongodb"

lint: bootstrap ## ruff check and format check
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .

typecheck: bootstrap ## mypy over every package
	@.venv/bin/mypy libs/*/src services/*/src tools/emulators/src tools/devstack/src

contracts: bootstrap ## import-linter: services never import each other, libs/common imports no service
	@.venv/bin/lint-imports

bench: bootstrap ## sync latency p50/p99 and confirmations/s against a raw-broker baseline
	@$(PY) -m devstack.bench

docs: bootstrap ## regenerate the README's configuration table and docs/asyncapi.json from the code
	@$(PY) -m devstack.configdoc --write README.md
	@$(PY) -m visitor_common.asyncapi --write docs/asyncapi.json

clean: ## remove the environments and caches
	rm -rf .venv .venv-tools .pytest_cache .mypy_cache .ruff_cache .cache
