#!/usr/bin/env bash
# Installs what the gateway benchmark compares against (not needed by CI or the tests):
# nginx (Debian package) and wrk.
set -euo pipefail
if command -v nginx >/dev/null && command -v wrk >/dev/null; then exit 0; fi
if ! command -v apt-get >/dev/null; then echo "bench/setup.sh: install nginx and wrk with your package manager" >&2; exit 1; fi
sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light wrk >/dev/null
