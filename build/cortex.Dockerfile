# syntax=docker/dockerfile:1
# The cortex image, for machines with Docker (or any Dockerfile builder) and a registry:
#
#   docker build -f build/cortex.Dockerfile --build-arg VERSION=v1.2.3 -t registry.example.com/cortex:v1.2.3 .
#
# scripts/build-images.sh builds the same image without a daemon (that is what the tests use; no
# CI runs this file, docs/kubernetes.md "Images"). The result: a static binary at /cortex on an
# empty base, /etc/passwd and /etc/group naming the non-root user 65532, the CA certificates of
# the build stage (Debian's ca-certificates), and nothing else: no shell, no package manager, and
# nothing the container writes to, so the pod can run it with a read-only root filesystem.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/cortexlabs-go/cortex/internal/buildinfo.Version=${VERSION}" \
      -o /out/cortex ./cmd/cortex

FROM scratch
COPY build/rootfs/etc/passwd build/rootfs/etc/group /etc/
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/cortex /cortex
LABEL org.opencontainers.image.title=cortex \
      org.opencontainers.image.source=https://github.com/cortexlabs-go/cortex
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 65532:65532
ENTRYPOINT ["/cortex"]
