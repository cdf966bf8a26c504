#!/usr/bin/env bash
# `make test`'s test run (after lint, type check and import contracts); CI runs exactly this.
#
#   KAFKA_BOOTSTRAP_SERVERS set  every suite on that broker, one after the other (someone else's;
#                                idempotent producers on; the fault suite skips: it restarts its broker)
#   java and mvn on PATH         every suite but the end-to-end and fault suites on Tansu, then
#                                those two on Apache Kafka (VISITOR_BROKER=kafka; jars fetched once
#                                into .cache/kafka/ by Maven). The end-to-end suite runs once, on
#                                the broker the product ships with; Tansu still carries every
#                                other broker test and `make run`'s stack test
#   otherwise                    every suite on Tansu; the Apache Kafka runs are skipped, and why
#                                is printed
# Extra arguments go to every pytest run; TEST_WORKERS sets the workers of the first run (2).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

if [ -n "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  echo "make test: every suite on the broker at KAFKA_BOOTSTRAP_SERVERS=$KAFKA_BOOTSTRAP_SERVERS"
  exec "$PY" -m pytest "$@"
fi

# Everything but the end-to-end and fault suites runs on two workers (pytest-xdist; each worker
# starts its own Tansu). Those two run alone: each starts the whole stack and wants both cores,
# and on one shared broker two stacks' consumer groups would take each other's partitions.
PARALLEL=(-n "${TEST_WORKERS:-2}" --ignore=tests/e2e --ignore=tests/faults)

if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  "$PY" -m pytest "${PARALLEL[@]}" "$@"
  "$PY" -m pytest tests/e2e tests/faults "$@"
  echo "make test: SKIPPED the Apache Kafka runs of tests/e2e and tests/faults: they need a JDK" \
    "(17+) and Maven on PATH (java: $(command -v java || echo missing), mvn:" \
    "$(command -v mvn || echo missing)); tests/e2e ran on Tansu above"
  exit 0
fi
"$PY" -m pytest "${PARALLEL[@]}" "$@"
echo "make test: tests/e2e and tests/faults on Apache Kafka"
"$PY" -m devstack.kafka --fetch-only
VISITOR_BROKER=kafka "$PY" -m pytest tests/e2e "$@"
# The fault suite in a run of its own: the e2e suite's stack lives until the end of its session,
# and the fault suite wants the two cores for its own stack. Its figures: .devstack/reports/faults.json
VISITOR_BROKER=kafka "$PY" -m pytest tests/faults "$@"
