#!/usr/bin/env bash
# Render every kustomize overlay under deploy/k8s/overlays and validate each rendered object against the
# Kubernetes JSON schemas (strict: unknown fields are errors) with kubernetes-validate, offline.
#
#   scripts/k8s_validate.sh                  # all overlays
#   scripts/k8s_validate.sh staging          # some of them
#   K8S_VERSION=1.31.0 scripts/k8s_validate.sh
#   K8S_OVERLAYS_DIR=/elsewhere/overlays scripts/k8s_validate.sh
#
# Needs kubectl (>= 1.27, for `kubectl kustomize` with kustomize v5) or a standalone kustomize, and the
# PyPI package kubernetes-validate in the project venv (.venv/bin/pip install kubernetes-validate).
# One line per overlay; exit status 1 when any overlay fails to render or validate, 2 on a missing tool.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
overlays_dir="${K8S_OVERLAYS_DIR:-$root/deploy/k8s/overlays}"
version="${K8S_VERSION:-1.32.0}"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python="python3"; fi
fi

if [[ -n "${KUBECTL:-}" ]] || command -v kubectl >/dev/null 2>&1; then
    render=("${KUBECTL:-kubectl}" kustomize)
elif command -v kustomize >/dev/null 2>&1; then
    render=(kustomize build)
else
    echo "k8s_validate: neither kubectl nor kustomize found on PATH" >&2
    exit 2
fi
if ! "$python" -c "import kubernetes_validate" 2>/dev/null; then
    echo "k8s_validate: $python lacks kubernetes-validate (.venv/bin/pip install kubernetes-validate)" >&2
    exit 2
fi

if [[ $# -gt 0 ]]; then
    names=("$@")
else
    names=()
    for dir in "$overlays_dir"/*/; do
        [[ -f "$dir/kustomization.yaml" ]] && names+=("$(basename "$dir")")
    done
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failed=0
for name in "${names[@]}"; do
    start=${EPOCHREALTIME/,/.}
    out="$tmp/$name.yaml"
    if ! "${render[@]}" "$overlays_dir/$name" >"$out" 2>"$tmp/$name.err"; then
        printf 'FAIL %-12s render: %s\n' "$name" "$(tr '\n' ' ' <"$tmp/$name.err")"
        failed=1
        continue
    fi
    objects=$(grep -c '^kind: ' "$out" || true)
    # --quiet prints only problems: ERROR (invalid), WARN (no schema for a kind: also a failure here).
    if report=$("$python" -m kubernetes_validate -k "$version" --strict --quiet "$out" 2>&1) && [[ -z "$report" ]]; then
        printf 'ok   %-12s %2d objects valid against Kubernetes %s (strict), %s s\n' \
            "$name" "$objects" "$version" "$(awk "BEGIN {printf \"%.2f\", ${EPOCHREALTIME/,/.} - $start}")"
    else
        printf 'FAIL %-12s %d objects, invalid against Kubernetes %s:\n' "$name" "$objects" "$version"
        # shellcheck disable=SC2001  # a prefix on every line of a multi-line report
        sed "s#$out#$name#; s/^/     /" <<<"$report"
        failed=1
    fi
done
exit "$failed"
