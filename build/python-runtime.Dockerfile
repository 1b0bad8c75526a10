# syntax=docker/dockerfile:1
# The runtime image of `python` handlers, for machines with Docker and a registry:
#
#   docker build -f build/python-runtime.Dockerfile -t registry.example.com/cortex-python-runtime:v1.2.3 .
#
# scripts/build-images.sh builds an equivalent image without a daemon, from the same Debian
# packages unpacked into an empty root (no CI runs this file, docs/kubernetes.md "Images").
# Debian's python3.11, waitress (the runtime's HTTP server, at the version requirements-dev.txt
# pins, from its wheel on PyPI, checked against its sha256) and the runtime script
# internal/workload/local/runtime/serve.py, run as the non-root user 65532. The image writes
# nothing (no byte-code caches), so the pod can run it with a read-only root filesystem.
#
# A handler that needs more packages (numpy, scikit-learn, ...) gets an image of its own:
#   FROM registry.example.com/cortex-python-runtime:v1.2.3
#   USER 0
#   RUN apt-get update && apt-get install -y --no-install-recommends python3-pip \
#    && pip install --break-system-packages --no-cache-dir scikit-learn==1.9.1
#   USER 65532:65532
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && ln -sf python3.11 /usr/bin/python3 \
 && echo 'nonroot:x:65532:65532:nonroot:/nonexistent:/sbin/nologin' >> /etc/passwd \
 && echo 'nonroot:x:65532:' >> /etc/group
ADD --checksum=sha256:c56d67fd6e87c2ee598b76abdd4e96cfad1f24cacdea5078d382b1f9d7b5ed2e \
    https://files.pythonhosted.org/packages/py3/w/waitress/waitress-3.0.2-py3-none-any.whl /tmp/waitress-3.0.2-py3-none-any.whl
RUN mkdir -p /usr/lib/python3/dist-packages \
 && python3 -m zipfile -e /tmp/waitress-3.0.2-py3-none-any.whl /usr/lib/python3/dist-packages \
 && rm /tmp/waitress-3.0.2-py3-none-any.whl
COPY internal/workload/local/runtime/serve.py /opt/cortex/serve.py
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CORTEX_PORT=8080
EXPOSE 8080
LABEL org.opencontainers.image.title=cortex-python-runtime \
      org.opencontainers.image.source=https://github.com/cortexlabs-go/cortex
USER 65532:65532
ENTRYPOINT ["/usr/bin/python3", "/opt/cortex/serve.py"]
