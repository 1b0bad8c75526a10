#!/usr/bin/env bash
# Installs everything the build, the tests and the quickstart need on a fresh machine:
# Go modules, the cortex binary (bin/cortex) and a Python venv (.venv) with waitress (the HTTP
# server of the python-handler runtime), moto, pytest,
# botocore and scikit-learn. Safe to run again.
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

echo "setup: Go modules"
go mod download
echo "setup: building bin/cortex"
go build -o bin/cortex ./cmd/cortex

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements-dev.txt python/pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python packages into .venv (waitress, moto, pytest, botocore, scikit-learn)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  if [ -f python/pyproject.toml ]; then
    .venv/bin/pip install -q --disable-pip-version-check -e ./python
  fi
  echo "$want" > "$stamp"
fi
echo "setup: done"
