#!/usr/bin/env bash
# Build the hal9 image (Dockerfile) with podman: the base image (once), the wheelhouse, the image.
#
# Usage: scripts/container/build.sh [--size]
#   --size   also print the compressed size (podman save | gzip | wc -c; a minute or two more)
#
# Environment:
#   CONTAINER_ENGINE  podman (default) or docker
#   BASE_IMAGE        default localhost/debian:bookworm-minbase, made here when missing with debootstrap
#                     from DEBIAN_MIRROR (default: the first URI in /etc/apt/sources.list.d/debian.sources);
#                     elsewhere use debian:bookworm-slim (or python:3.11-slim-bookworm) from a registry
#   TORCH_INDEX       empty: CPU torch from the wheelhouse; e.g. https://download.pytorch.org/whl/cu128
#                     for the CUDA variant (torch and its nvidia-* libraries come from that index)
#   TORCH_CPU_INDEX   where the wheelhouse takes CPU torch from (default: the index pip is set up for,
#                     which on this project's machines holds the CPU wheel; elsewhere PyPI's Linux torch is
#                     the CUDA build, so use https://download.pytorch.org/whl/cpu)
#   IMAGE             image name (default hal9); tags VERSION-GITSHA and VERSION
#
# The wheelhouse build/wheels holds this tree's wheel, torch==2.13.0 (CPU) and every wheel pinned in
# requirements/runtime.lock (pip downloads them with the package index it is set up for; the build
# installs with --no-index and --require-hashes). Prints the image name, its size and the build time.
set -euo pipefail
cd "$(dirname "$0")/../.."
size=""
for arg in "$@"; do
    case $arg in
        --size) size=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done
engine="${CONTAINER_ENGINE:-podman}"
base="${BASE_IMAGE:-localhost/debian:bookworm-minbase}"
image="${IMAGE:-hal9}"
python="${PYTHON:-python3}"
torch_version=2.13.0
t0=$(date +%s)

# Rebuilt when older than BASE_MAX_AGE_DAYS (default 14), so Debian's security updates get in.
max_age_days="${BASE_MAX_AGE_DAYS:-14}"
if [[ $base == localhost/debian:bookworm-minbase ]] && "$engine" image inspect "$base" >/dev/null 2>&1; then
    created="$("$engine" image inspect --format '{{.Created.Unix}}' "$base" 2>/dev/null || echo 0)"
    if (($(date +%s) - created > max_age_days * 86400)); then
        echo "base image $base is older than $max_age_days days: rebuilding it"
        "$engine" rmi -f "$base" >/dev/null
    fi
fi
if [[ $base == localhost/debian:bookworm-minbase ]] && ! "$engine" image inspect "$base" >/dev/null 2>&1; then
    mirror="${DEBIAN_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null)}"
    mirror="${mirror:-http://deb.debian.org/debian}"
    root="$(mktemp -d /var/tmp/hal9-base.XXXXXX)"
    trap 'rm -rf "$root" "$root.log"' EXIT
    echo "base image $base: debootstrap --variant=minbase bookworm from $mirror (about 2 minutes)"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 ||
        { tail -20 "$root.log" >&2; exit 1; }
    # apt's caches and package lists stay out of the image (121 MB instead of 204 MB)
    tar -C "$root" --exclude=./var/cache/apt/archives --exclude=./var/lib/apt/lists -c . |
        "$engine" import - "$base" >/dev/null
    rm -rf "$root" "$root.log"
fi

version="$("$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
revision="$(git rev-parse --short=7 HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]] || revision="$revision-dirty"
tag="$version-$revision"

wheels=build/wheels
rm -rf "$wheels"
mkdir -p "$wheels"
"$python" -m pip wheel -q --no-deps --no-build-isolation -w "$wheels" . 2>/dev/null ||
    "$python" -m pip wheel -q --no-deps -w "$wheels" .
platform=(--only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform linux_x86_64 --platform any)
if [[ -z ${TORCH_INDEX:-} ]]; then
    index=()
    [[ -n ${TORCH_CPU_INDEX:-} ]] && index=(--index-url "$TORCH_CPU_INDEX")
    "$python" -m pip download -q --no-deps "${platform[@]}" "${index[@]}" "torch==$torch_version" -d "$wheels"
    compgen -G "$wheels/torch-$torch_version+cpu-*.whl" >/dev/null || {
        echo "the torch wheel fetched is not the CPU build ($(cd "$wheels" && ls torch-*)): set" \
            "TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu" >&2
        exit 1
    }
fi
"$python" -m pip download -q --no-deps "${platform[@]}" --require-hashes -r requirements/runtime.lock -d "$wheels"

args=(build -f Dockerfile -t "$image:$tag" -t "$image:$version"
    --build-arg "BASE_IMAGE=$base" --build-arg "TORCH_INDEX=${TORCH_INDEX:-}"
    --build-arg "VERSION=$version" --build-arg "REVISION=$revision"
    --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
[[ -n ${PIP_CERT:-} && -f ${PIP_CERT:-} ]] && args+=(--secret "id=pip_cert,src=$PIP_CERT")
"$engine" "${args[@]}" . >build/image-build.log 2>&1 || { tail -30 build/image-build.log >&2; exit 1; }
t1=$(date +%s)
echo "image: $image:$tag (also $image:$version); built in $((t1 - t0)) s"
"$engine" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$image:$tag"
if [[ -n $size ]]; then
    echo "compressed (save | gzip): $("$engine" save "$image:$tag" | gzip | wc -c) bytes"
fi
