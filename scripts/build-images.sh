#!/usr/bin/env bash
# Builds cortex's container images without a Docker daemon or a registry, as OCI image archives
# (an OCI layout in a tar, plus Docker's manifest.json) that `ctr -n k8s.io images import`
# accepts (as `docker load` should; not tried):
#
#   cortex:<version>                 the cortex binary (static), non-root, from scratch
#   cortex-python-runtime:<version>  Debian's python3.11 + waitress + the python-handler runtime
#   cortex-pause:<n>                 the pod sandbox image (containerd's sandbox_image)
#   cortex-testserver:<n>            a tiny static HTTP server answering JSON (real-node tests)
#
# The archives, their names and digests (images.json) go to .cache/images/ (downloaded .debs and
# wheels to .cache/images/downloads/, whatever --out says). Same inputs, same digest; a rerun with
# unchanged inputs rebuilds nothing. docs/kubernetes.md ("Images") has more.
#
#   ./scripts/build-images.sh [--out DIR] [--no-python] [--version V]
#
# Environment: VERSION (default: git describe), SOURCE_DATE_EPOCH (image and file times, default 0),
# CA_BUNDLE (the CA certificates put in the images, default the build machine's
# /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail

# Everything is in main, which bash reads whole before running it: editing this file while it
# runs cannot change what the running build does.
main() {
cd "$(dirname "$0")/.."
repo=$PWD

out=.cache/images
python=true
version=${VERSION:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --no-python) python=false; shift ;;
    --version) version=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-images: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$version" ]; then
  version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
fi
if ! [[ "$version" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
  echo "build-images: version $version is not a valid image tag" >&2; exit 2
fi
epoch=${SOURCE_DATE_EPOCH:-0}
ca_bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [ ! -s "$ca_bundle" ]; then
  echo "build-images: no CA bundle at $ca_bundle (apt-get install ca-certificates, or set CA_BUNDLE)" >&2
  exit 1
fi

# Tags of the images whose content does not follow cortex's version: bump them when
# tools/imagebuild/cmd/pause or cmd/testserver change.
pause_version=1
testserver_version=1
# The runtime's HTTP server: the version pinned in requirements-dev.txt, and its wheel's sha256 on
# PyPI (pip refuses a wheel with another hash; update both together).
waitress_pin=$(grep -E '^waitress==' requirements-dev.txt)
waitress_sha256=c56d67fd6e87c2ee598b76abdd4e96cfad1f24cacdea5078d382b1f9d7b5ed2e
# Debian packages of the Python runtime's root filesystem: python3.11 and the shared libraries its
# standard library loads. Left out on purpose (their modules do not import): readline, ncurses
# (curses), Berkeley DB (dbm.ndbm), libnsl/libtirpc (nis), tzdata, media-types.
python_debs=(libc6 libgcc-s1 zlib1g libexpat1 libssl3 libffi8 libbz2-1.0 liblzma5 libsqlite3-0
  libuuid1 libcrypt1 libpython3.11-minimal python3.11-minimal libpython3.11-stdlib)

mkdir -p "$out"/bin "$out"/stage
out=$(cd "$out" && pwd)
start=$(date +%s)

# The builder and the two tiny programs, static, from their own module (tools/imagebuild).
(cd tools/imagebuild && CGO_ENABLED=0 go build -trimpath -o "$out/bin/" . ./cmd/pause ./cmd/testserver)
builder_sum=$(sha256sum "$out/bin/imagebuild" | cut -d' ' -f1)

# stage_base DIR: an empty root filesystem with /etc/passwd, /etc/group (root and nonroot 65532,
# from build/rootfs) and the CA bundle.
stage_base() {
  rm -rf "$1" && mkdir -p "$1/etc/ssl/certs"
  install -m 0644 build/rootfs/etc/passwd build/rootfs/etc/group "$1/etc/"
  install -m 0644 "$ca_bundle" "$1/etc/ssl/certs/ca-certificates.crt"
}

# content_key DIR ARGS...: a hash of everything that goes into an image: the builder, its
# arguments and every staged file's path, type, mode, link target and content.
content_key() {
  local dir=$1; shift
  {
    echo "$builder_sum"
    printf '%s\n' "$@"
    (cd "$dir" && find . -printf '%p %y %m %l\n' | LC_ALL=C sort)
    (cd "$dir" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
  } | sha256sum | cut -d' ' -f1
}

images_json=()
# build_image ROLE STAGE_DIR IMAGEBUILD_ARGS...: builds $out/ROLE.tar unless its key is unchanged.
build_image() {
  local role=$1 dir=$2; shift 2
  local args=(-rootfs "$dir" -out "$out/$role.tar" -epoch "$epoch" "$@")
  local key
  key=$(content_key "$dir" "${args[@]}")
  if [ -f "$out/$role.tar" ] && [ "$(cat "$out/$role.key" 2>/dev/null)" = "$key" ]; then
    echo "build-images: $role up to date ($(cat "$out/$role.digest"))"
  else
    "$out/bin/imagebuild" "${args[@]}" > "$out/$role.digest"
    echo "$key" > "$out/$role.key"
    echo "build-images: $role built ($(cat "$out/$role.digest"), $(du -h "$out/$role.tar" | cut -f1))"
  fi
  local name
  name=$(printf '%s\n' "$@" | sed -n '/^-name$/{n;p}')
  images_json+=("$(printf '"%s": {"name": "%s", "digest": "%s", "archive": "%s"}' \
    "$role" "$name" "$(cat "$out/$role.digest")" "$out/$role.tar")")
}

labels=(-label "org.opencontainers.image.source=https://github.com/cortexlabs-go/cortex"
  -label "org.opencontainers.image.version=$version")

# 1. cortex: the static binary at /cortex.
stage=$out/stage/cortex
stage_base "$stage"
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/cortexlabs-go/cortex/internal/buildinfo.Version=$version" \
  -o "$stage/cortex" ./cmd/cortex
build_image cortex "$stage" -name "cortex:$version" -user 65532:65532 -entrypoint '["/cortex"]' \
  "${labels[@]}" -label "org.opencontainers.image.title=cortex"

# 2. The pause image and the test server.
stage=$out/stage/pause
stage_base "$stage"
install -m 0755 "$out/bin/pause" "$stage/pause"
build_image pause "$stage" -name "cortex-pause:$pause_version" -user 65532:65532 -entrypoint '["/pause"]' \
  -label "org.opencontainers.image.title=cortex-pause"

stage=$out/stage/testserver
stage_base "$stage"
install -m 0755 "$out/bin/testserver" "$stage/testserver"
build_image testserver "$stage" -name "cortex-testserver:$testserver_version" -user 65532:65532 \
  -entrypoint '["/testserver"]' -env PORT=8080 -expose 8080/tcp -label "org.opencontainers.image.title=cortex-testserver"

# 3. The Python runtime: Debian's own packages, unpacked (no maintainer scripts run), plus the
# waitress wheel and the runtime script.
if $python; then
  debs=$repo/.cache/images/downloads/debs wheels=$repo/.cache/images/downloads/wheels
  mkdir -p "$debs" "$wheels"
  missing=()
  # apt's candidate versions, in one call (apt-cache takes a second or more per call).
  local -A candidate=()
  local p v
  while read -r p v; do candidate[$p]=$v; done < <(apt-cache policy "${python_debs[@]}" |
    awk '/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) } /^ +Candidate:/ { print p, $2 }')
  for p in "${python_debs[@]}"; do
    v=${candidate[$p]:-}
    if [ -z "$v" ] || [ "$v" = "(none)" ]; then echo "build-images: apt has no candidate for $p (apt-get update?)" >&2; exit 1; fi
    ls "$debs/${p}_"*.deb >/dev/null 2>&1 && [ -f "$debs/$p.version" ] && [ "$(cat "$debs/$p.version")" = "$v" ] && continue
    rm -f "$debs/${p}_"*.deb
    missing+=("$p=$v")
    echo "$v" > "$debs/$p.version"
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "build-images: apt-get download ${missing[*]}"
    (cd "$debs" && apt-get download -q=2 "${missing[@]}")
  fi
  if ! ls "$wheels"/waitress-*.whl >/dev/null 2>&1 || ! echo "$waitress_sha256  $(ls "$wheels"/waitress-*.whl)" | sha256sum -c --quiet - 2>/dev/null; then
    rm -f "$wheels"/*.whl
    pip=(python3 -m pip)
    [ -x .venv/bin/pip ] && pip=(.venv/bin/pip)
    "${pip[@]}" download -q --disable-pip-version-check --no-deps --only-binary=:all: --require-hashes \
      -r <(echo "$waitress_pin --hash=sha256:$waitress_sha256") -d "$wheels"
  fi

  stage=$out/stage/python-runtime
  stage_base "$stage"
  deb_labels=()
  for p in "${python_debs[@]}"; do
    dpkg-deb -x "$(ls "$debs/${p}_"*.deb)" "$stage"
    deb_labels+=("$p=$(cat "$debs/$p.version")")
  done
  # Documentation, manuals and the Debian packaging metadata are not needed to run.
  rm -rf "$stage"/usr/share/doc "$stage"/usr/share/man "$stage"/usr/share/lintian "$stage"/usr/share/locale \
    "$stage"/usr/share/info "$stage"/usr/lib/python3.11/test "$stage"/usr/lib/python3.11/idlelib \
    "$stage"/usr/lib/python3.11/tkinter "$stage"/usr/lib/python3.11/turtledemo "$stage"/usr/lib/python3.11/lib2to3/tests
  ln -s python3.11 "$stage/usr/bin/python3"
  mkdir -p "$stage/usr/lib/python3/dist-packages" "$stage/opt/cortex"
  python3 -m zipfile -e "$(ls "$wheels"/waitress-*.whl)" "$stage/usr/lib/python3/dist-packages"
  install -m 0644 internal/workload/local/runtime/serve.py "$stage/opt/cortex/serve.py"
  # Byte-compile nothing and keep no caches: the root filesystem is read-only in the pod.
  build_image python-runtime "$stage" -name "cortex-python-runtime:$version" -user 65532:65532 \
    -entrypoint '["/usr/bin/python3", "/opt/cortex/serve.py"]' \
    -env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    -env PYTHONDONTWRITEBYTECODE=1 -env PYTHONUNBUFFERED=1 -env CORTEX_PORT=8080 -expose 8080/tcp \
    "${labels[@]}" -label "org.opencontainers.image.title=cortex-python-runtime" \
    -label "dev.cortexlabs.debian-packages=${deb_labels[*]}" -label "dev.cortexlabs.python-wheels=$waitress_pin"
fi

{
  echo "{"
  for i in "${!images_json[@]}"; do
    sep=,; [ "$i" -eq $((${#images_json[@]} - 1)) ] && sep=
    echo "  ${images_json[$i]}$sep"
  done
  echo "}"
} > "$out/images.json.tmp" && mv "$out/images.json.tmp" "$out/images.json"
echo "build-images: done in $(($(date +%s) - start)) s; $out/images.json lists the archives"
}

main "$@"
