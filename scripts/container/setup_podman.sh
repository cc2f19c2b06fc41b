#!/usr/bin/env bash
# Install podman, buildah, debootstrap and runc (Debian) and, where none exists, a system-wide
# containers.conf that uses runc and explicit ulimits (crun and podman's default ulimits fail in some
# sandboxes, this project's machine among them). Idempotent; needs root. See docs/operations.md.
set -euo pipefail
packages=(podman buildah debootstrap runc curl)
if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null || ! command -v runc >/dev/null ||
    ! command -v curl >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q "${packages[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q "${packages[@]}" >/dev/null; }
fi
if [[ ! -s /etc/containers/containers.conf ]]; then
    mkdir -p /etc/containers
    cat >/etc/containers/containers.conf <<'CONF'
[engine]
runtime = "runc"

[containers]
default_ulimits = ["nofile=4096:4096", "nproc=8192:8192"]
CONF
fi
podman --version
