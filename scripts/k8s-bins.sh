#!/usr/bin/env bash
# Builds the binaries of a real Kubernetes control plane for the tests (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd, and kwok for nodes that run no
# containers) from the Go module proxy, and prints the directory that holds them. It also builds
# the kubelet of the real-node tests (see "kubelet" below), linked into that directory.
#
# The binaries live in ~/.cache/cortex/k8s/<key>/ ($CORTEX_K8S_CACHE/<key>), where key is the sha256 of the bin-module's go.mod and
# go.sum, the Go version, the build flags and the kwok version: a second run with the same inputs
# builds nothing. A cold build takes about 8 minutes on two free cores (16 when they are shared)
# and needs about 650 MB of module downloads and 2.3 GB of memory for the linker.
#
# The bin-module (test/k8s/bin-module) has its own go.mod so that the project's go.mod never
# carries k8s.io/kubernetes. Its go.mod and go.sum are committed as the first build rewrote them,
# so builds run with -mod=readonly; set K8S_BINS_UPDATE=1 to let a build rewrite them (after a
# version bump) and commit the result.
#
# With --cached it only prints the directory of a complete cache (exit 1 when there is none).
# Progress goes to stderr; stdout is the directory alone, for BIN_DIR=$(scripts/k8s-bins.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mod=test/k8s/bin-module

k8s_version=v1.33.13
kwok_version=v0.7.0
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${k8s_version} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=33"
bins="kube-apiserver kube-controller-manager kube-scheduler kubectl etcd"

modflag=-mod=readonly
if [ "${K8S_BINS_UPDATE:-}" = 1 ]; then modflag=-mod=mod; fi

key_of() {
  { cat "$mod/go.mod" "$mod/go.sum" 2>/dev/null; go version; echo "$ldflags"; echo "$bins"; echo "kwok $kwok_version"; } |
    sha256sum | cut -c1-16
}

# Outside the work tree by default, so that every clone on the machine (CI clones the repository
# afresh for each run) shares one build.
cache=${CORTEX_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cortex/k8s}
key=$(key_of)
dir=$cache/$key
complete() { for b in $bins kwok; do [ -x "$1/$b" ] || return 1; done; }

# The kubelet (real-node tests) has a module and a cache key of its own (test/k8s/bin-module/kubelet:
# the bin-module's pins plus the go.sum lines the kubelet's packages need), so that adding it left
# the control plane's key, and every CI cache of it, unchanged. It is linked into the control
# plane's directory as "kubelet" (complete() does not require it: --cached works without it).
kmod=$mod/kubelet
kubelet_key_of() {
  { cat "$kmod/go.mod" "$kmod/go.sum" 2>/dev/null; go version; echo "$ldflags"; echo kubelet; } |
    sha256sum | cut -c1-16
}
kdir=$cache/kubelet-$(kubelet_key_of)
link_kubelet() {
  if [ -x "$kdir/kubelet" ] && [ "$(readlink "$1/kubelet" 2>/dev/null)" != "$kdir/kubelet" ]; then
    ln -sfn "$kdir/kubelet" "$1/kubelet.tmp" && mv -T "$1/kubelet.tmp" "$1/kubelet"
  fi
}
build_kubelet() {
  [ -x "$kdir/kubelet" ] && return 0
  local ktmp kstart
  ktmp=$(mktemp -d "$cache/.build-kubelet.XXXXXX")
  kstart=$(date +%s)
  echo "k8s-bins: building the kubelet ($k8s_version) into $kdir (cold: about 6 min of CPU on two free cores, 1.6 GB of memory; warm Go build cache: under 1 min)" >&2
  if ! (cd "$kmod" && GOFLAGS="$modflag -buildvcs=false" go build -ldflags "$ldflags" -o "$ktmp/kubelet" .) >&2; then
    rm -rf "$ktmp"; return 1
  fi
  kdir=$cache/kubelet-$(kubelet_key_of)
  rm -rf "$kdir" && mv "$ktmp" "$kdir"
  echo "k8s-bins: kubelet built in $(( $(date +%s) - kstart ))s" >&2
}

if complete "$dir"; then
  if [ "${1:-}" != --cached ]; then
    mkdir -p "$cache"; exec 9>"$cache/.lock"; flock 9
    build_kubelet
  fi
  link_kubelet "$dir"
  echo "$dir"; exit 0
fi
# --cached: report a warm cache only (the Go test harness uses it; it never starts a build).
if [ "${1:-}" = --cached ]; then echo "k8s-bins: not built; run scripts/k8s-bins.sh" >&2; exit 1; fi

mkdir -p "$cache"
# One build at a time: a second caller waits for the first and then finds the cache warm.
exec 9>"$cache/.lock"
flock 9
key=$(key_of); dir=$cache/$key
if complete "$dir"; then build_kubelet; link_kubelet "$dir"; echo "$dir"; exit 0; fi

tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "k8s-bins: building the control plane ($k8s_version) into $dir (cold: about 8-16 min)" >&2
(
  cd "$mod"
  # shellcheck disable=SC2086
  GOFLAGS="$modflag -buildvcs=false" go build -ldflags "$ldflags" -o "$tmp/" $(printf './%s ' $bins)
) >&2
echo "k8s-bins: building kwok $kwok_version" >&2
# kwok is built from its own module graph (go install pkg@version), not the bin-module's:
# its k8s.io dependencies are older than the control plane's and need not match them.
GOFLAGS=-buildvcs=false GOBIN="$tmp" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$kwok_version" >&2
# The first build under K8S_BINS_UPDATE=1 may have rewritten go.mod/go.sum: key on the result.
key=$(key_of); dir=$cache/$key
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "k8s-bins: built in $(( $(date +%s) - start ))s" >&2
build_kubelet
link_kubelet "$dir"
echo "$dir"
