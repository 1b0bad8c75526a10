#!/usr/bin/env bash
# Runs every test and check: gofmt, go vet, staticcheck, Go tests (unit, integration against moto,
# end to end; the concurrent packages under the race detector), a 15 s fuzz run, mypy --strict on
# the Python client and its pytest. CI (.ci/run) runs exactly this.
#
#   ./scripts/test.sh            everything
#   ./scripts/test.sh --quick    the inner loop: skips the slow suites (moto, end to end) with
#                                go test -short and CORTEX_TEST_QUICK=1 for pytest
set -euo pipefail
cd "$(dirname "$0")/.."

quick=false
for arg in "$@"; do
  case "$arg" in
    --quick) quick=true ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument $arg (use --quick or nothing)" >&2; exit 2 ;;
  esac
done
short=()
if $quick; then
  short=(-short)
  export CORTEX_TEST_QUICK=1
fi

./scripts/setup.sh
# The Kubernetes control plane of the backend tests (built once, about 8-16 min; cached).
CORTEX_K8S_BIN_DIR=$(./scripts/k8s-bins.sh)
export CORTEX_K8S_BIN_DIR
# The real-node tests (kubetest.Options.RealNode: TestRealNode, e2e TestKubernetesRealNode) need
# containerd, runc and the CNI plugins (Debian's packages, unpacked once) and the images they
# import (built once, cached; tools/imagebuild's tests check them below). They need root.
if ! $quick; then
  ./scripts/node-bins.sh >/dev/null
  ./scripts/build-images.sh
fi

# The packages with the most concurrency run their tests once, under the race detector.
race_pkgs=(./internal/identity/... ./internal/operator/... ./internal/gateway/... ./internal/workload/...
  ./internal/client/... ./internal/credentials/...)
mapfile -t race_list < <(go list "${race_pkgs[@]}")
mapfile -t other_pkgs < <(go list ./... | grep -vxF -f <(printf '%s\n' "${race_list[@]}"))

echo "== gofmt -l"
unformatted=$(find . -name '*.go' -not -path './.venv/*' -not -path './.cache/*' -print0 | xargs -0 gofmt -l)
if [ -n "$unformatted" ]; then
  echo "not gofmt-ed (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "== go vet"
go vet ./...
echo "== staticcheck"
.cache/bin/staticcheck ./...
echo "== go test${short[*]+ ${short[*]}}"
go test -count=1 ${short[@]+"${short[@]}"} -timeout 12m "${other_pkgs[@]}"
echo "== go test -race (concurrent packages)"
go test -count=1 -race ${short[@]+"${short[@]}"} -timeout 12m "${race_list[@]}"
echo "== images: tools/imagebuild's tests build them (scripts/build-images.sh) and check the archives"
(cd tools/imagebuild && go vet ./... && go test -count=1 ${short[@]+"${short[@]}"} -timeout 20m ./...)
echo "== fuzz (short): the token's fields, then its raw encoding"
# -fuzzminimizetime bounds the minimization of each new corpus entry (the default, 60 s each,
# stalls the run: docs/performance.md).
go test -run '^$' -fuzz '^FuzzVerifyFields$' -fuzztime 10s -fuzzminimizetime 10x ./internal/identity
go test -run '^$' -fuzz '^FuzzDecodeToken$' -fuzztime 5s -fuzzminimizetime 10x ./internal/identity
echo "== mypy --strict python/cortex"
.venv/bin/mypy --strict python/cortex
if [ -d python/tests ]; then
  echo "== pytest"
  PATH="$PWD/bin:$PATH" .venv/bin/python -m pytest -q python/tests
fi
