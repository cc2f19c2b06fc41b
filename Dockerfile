# hal9 service image: the API (`hal9 serve`, the default command) and the job worker (`hal9 worker`), one
# process per container. Built by scripts/container/build.sh, which prepares the wheelhouse build/wheels
# (this tree's wheel, torch, and the pinned, hashed runtime lock requirements/runtime.lock).
#
#   BASE_IMAGE   a Debian 12 image with apt (default debian:bookworm-slim; build.sh uses a local
#                debootstrap import, localhost/debian:bookworm-minbase, where no registry is reachable)
#   TORCH_INDEX  empty: torch from the wheelhouse (CPU build); an index URL that carries torch 2.13 for
#                CUDA, e.g. https://download.pytorch.org/whl/cu128, installs torch from there with its
#                nvidia-* libraries (the CUDA variant, several GB)
#   VERSION, REVISION, CREATED   OCI labels (build.sh: package version, git revision, build time)
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG TORCH_INDEX=""
ARG TORCH_VERSION=2.13.0
# Debian packages are not pinned (DL3008): bookworm's security updates replace the old versions on the
# mirror, so a pin would break rebuilds exactly when an update matters; the base image fixes the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY build/wheels /wheels
COPY requirements/runtime.lock /tmp/runtime.lock
# A CA bundle for pip behind an intercepting proxy comes as a build secret (never stored in a layer).
# torch first (its own build: CPU from the wheelhouse, or CUDA from TORCH_INDEX), then the hashed lock
# (--require-hashes: a changed file fails the build), then hal9 itself without dependencies: the lock
# has mlflow-skinny (the tracking client) for hal9's mlflow, so `pip check` may name only that. pip
# writes the bytecode at install time (the root filesystem may be read-only at run time). Removed: pip,
# torch's C++ test binaries and protoc (not used at run time; 134 MB).
RUN --mount=type=secret,id=pip_cert,required=false \
    python3 -m venv /opt/hal9 \
    && if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi \
    && if [ -n "$TORCH_INDEX" ]; then \
        /opt/hal9/bin/pip install --no-cache-dir --index-url "$TORCH_INDEX" "torch==${TORCH_VERSION}"; \
    else \
        /opt/hal9/bin/pip install --no-cache-dir --no-deps --no-index --find-links /wheels "torch==${TORCH_VERSION}"; \
    fi \
    && /opt/hal9/bin/pip install --no-cache-dir --no-index --find-links /wheels --require-hashes \
        -r /tmp/runtime.lock \
    && /opt/hal9/bin/pip install --no-cache-dir --no-index --find-links /wheels --no-deps hal9-research \
    && { /opt/hal9/bin/pip check >/tmp/pip-check.txt \
        || ! grep -v "requires mlflow, which is not installed" /tmp/pip-check.txt | grep .; } \
    && /opt/hal9/bin/python -c "import hal9.serve.app, hal9.serve.workerproc, hal9.tracking, mlflow.tracking" \
    && sp=/opt/hal9/lib/python3.11/site-packages \
    && rm -rf "$sp/pip" /opt/hal9/bin/pip* "$sp/torch/test" "$sp"/torch/bin/*Test "$sp"/torch/bin/test_* \
        "$sp"/torch/bin/protoc*

FROM ${BASE_IMAGE}
ARG VERSION=0+unknown
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="hal9" \
      org.opencontainers.image.description="hal9 research service: API (hal9 serve) and job worker (hal9 worker)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT"
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 tini ca-certificates \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && groupadd --system --gid 10001 hal9 \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/hal9 --no-create-home \
        --shell /usr/sbin/nologin hal9 \
    && install -d -o hal9 -g hal9 -m 0750 /var/lib/hal9
COPY --from=build /opt/hal9 /opt/hal9
# Writable paths (the root filesystem may be read-only): /tmp (Prometheus multiprocess files, scratch)
# and /var/lib/hal9 (MLflow's local store and artifacts when HAL9_TRACKING_URI is a file/sqlite URI).
ENV PATH=/opt/hal9/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/hal9 \
    MPLCONFIGDIR=/tmp/matplotlib \
    HAL9_HOST=0.0.0.0 \
    HAL9_PORT=8000 \
    HAL9_LOG_JSON=true \
    HAL9_TRACKING_URI=sqlite:////var/lib/hal9/mlflow.db \
    OMP_WAIT_POLICY=PASSIVE
VOLUME ["/tmp", "/var/lib/hal9"]
WORKDIR /var/lib/hal9
USER 10001:10001
EXPOSE 8000
# The API's liveness; a worker container has no HTTP port: run it with --no-healthcheck (Kubernetes
# ignores HEALTHCHECK and uses the probes of deploy/k8s).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('HAL9_PORT', '8000'), timeout=4)"]
# tini is PID 1: it forwards SIGTERM to hal9 (graceful stop) and reaps zombies.
ENTRYPOINT ["/usr/bin/tini", "--", "hal9"]
CMD ["serve"]
