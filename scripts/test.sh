#!/usr/bin/env bash
# Runs every test: Go (unit, integration against moto, end-to-end) and the Python client's pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# The Kubernetes control plane of the backend tests (built once, about 8-16 min; cached).
CORTEX_K8S_BIN_DIR=$(./scripts/k8s-bins.sh)
export CORTEX_K8S_BIN_DIR
echo "== go vet"
go vet ./...
echo "== go test"
go test -count=1 -timeout 12m ./...
echo "== fuzz (short)"
go test -run '^$' -fuzz FuzzVerify -fuzztime 10s ./internal/identity
if [ -d python/tests ]; then
  echo "== pytest"
  PATH="$PWD/bin:$PATH" .venv/bin/python -m pytest -q python/tests
fi
