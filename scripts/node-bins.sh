#!/usr/bin/env bash
# Fetches the container runtime of the real-node tests from Debian's packages and prints the
# directory that holds it: containerd, containerd-shim-runc-v2, ctr, runc, and cni/ with the CNI
# plugins bridge, host-local and loopback (containernetworking-plugins). The .debs are downloaded
# once (apt-get download, no root needed) into .cache/images/downloads/containerd/debs and
# unpacked there (dpkg-deb -x): nothing is installed on the host.
#
# With --cached it only prints the directory of a complete download (exit 1 when there is none).
# $CORTEX_CONTAINERD_DIR, when set, is used as is (a directory laid out as above).
# Progress goes to stderr; stdout is the directory alone.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=$PWD/.cache/images/downloads/containerd
bin=$cache/bin
files="containerd containerd-shim-runc-v2 ctr runc cni/bridge cni/host-local cni/loopback"
complete() { for f in $files; do [ -x "$1/$f" ] || return 1; done; }

if [ -n "${CORTEX_CONTAINERD_DIR:-}" ]; then
  complete "$CORTEX_CONTAINERD_DIR" || { echo "node-bins: $CORTEX_CONTAINERD_DIR lacks one of: $files" >&2; exit 1; }
  echo "$CORTEX_CONTAINERD_DIR"; exit 0
fi
if complete "$bin"; then echo "$bin"; exit 0; fi
if [ "${1:-}" = --cached ]; then echo "node-bins: not downloaded; run scripts/node-bins.sh" >&2; exit 1; fi
for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "node-bins: $tool not found (Debian only; or set CORTEX_CONTAINERD_DIR)" >&2; exit 1; }
done

mkdir -p "$cache/debs"
exec 9>"$cache/.lock"
flock 9
if complete "$bin"; then echo "$bin"; exit 0; fi
for p in containerd runc containernetworking-plugins; do
  ls "$cache/debs/${p}_"*.deb >/dev/null 2>&1 && continue
  echo "node-bins: apt-get download $p" >&2
  (cd "$cache/debs" && apt-get download -q=2 "$p") >&2
done
unpacked=$(mktemp -d "$cache/.unpacked.XXXXXX")
tmp=$(mktemp -d "$cache/.bin.XXXXXX")
trap 'rm -rf "$unpacked" "$tmp"' EXIT
for deb in "$cache"/debs/*.deb; do dpkg-deb -x "$deb" "$unpacked"; done
mkdir -p "$tmp/cni"
for f in usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/ctr usr/sbin/runc; do
  mv "$unpacked/$f" "$tmp/"
done
for f in bridge host-local loopback; do mv "$unpacked/usr/lib/cni/$f" "$tmp/cni/"; done
rm -rf "$bin"
mv "$tmp" "$bin"
echo "$bin"
