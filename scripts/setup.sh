#!/usr/bin/env bash
# Installs everything the build, the tests and the quickstart need on a fresh machine:
# Go modules, the cortex binary (bin/cortex), staticcheck (.cache/bin, pinned), a C compiler for
# go test -race, and a Python venv (.venv) with waitress (the HTTP server of the python-handler
# runtime), moto, pytest, botocore, scikit-learn and mypy.
# Safe to run again: what is already there at the pinned version is not rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }

if ! need go; then echo "setup: Go is required (https://go.dev/dl/)" >&2; exit 1; fi
if ! need python3; then
  if need apt-get; then apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null; else
    echo "setup: python3 is required" >&2; exit 1; fi
fi
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1 && need apt-get; then
  apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
fi

# go test -race needs cgo, so a C compiler.
if ! need "$(go env CC)"; then
  if need apt-get; then apt-get update -qq && apt-get install -y -qq gcc libc6-dev >/dev/null; else
    echo "setup: a C compiler is required for go test -race" >&2; exit 1; fi
fi

echo "setup: Go modules"
go mod download
echo "setup: building bin/cortex"
go build -o bin/cortex ./cmd/cortex

# staticcheck, pinned (a version that supports this Go), built once into a repo-local dir.
STATICCHECK_VERSION=v0.8.2
if [ "$(cat .cache/bin/staticcheck.version 2>/dev/null)" != "$STATICCHECK_VERSION" ] || [ ! -x .cache/bin/staticcheck ]; then
  echo "setup: building staticcheck $STATICCHECK_VERSION into .cache/bin"
  mkdir -p .cache/bin
  GOBIN="$PWD/.cache/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
  echo "$STATICCHECK_VERSION" > .cache/bin/staticcheck.version
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements-dev.txt python/pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv (waitress, moto, pytest, botocore, scikit-learn, mypy)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  if [ -f python/pyproject.toml ]; then
    .venv/bin/pip install -q --disable-pip-version-check -e ./python
  fi
  echo "$want" > "$stamp"
fi
echo "setup: done"
