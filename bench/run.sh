#!/usr/bin/env bash
# Runs the gateway and local-provider benchmarks; results go to stdout as Markdown (paste them
# into the "Gateway and local provider" section of docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
./bench/setup.sh
echo "## gateway (go run ./bench/gateway -duration ${DURATION:-10s} -rounds ${ROUNDS:-3})"
go run ./bench/gateway -duration "${DURATION:-10s}" -rounds "${ROUNDS:-3}"
echo
echo "## local provider (go run ./bench/local -n ${N:-100})"
go run ./bench/local -n "${N:-100}"
