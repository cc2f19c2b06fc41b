#!/usr/bin/env bash
# Smoke test of the hal9 image with podman against the host's PostgreSQL (127.0.0.1), from outside:
# migrate (a one-off container), API container + worker container (read-only root filesystems, host
# network on loopback), then /health (version), /ready, login, one small job to `succeeded` through the
# worker, /metrics, and SIGTERM of both with a clean exit (code 0) within the grace period.
#
# Usage: scripts/container/smoke.sh [IMAGE]   (default hal9:VERSION, the tag build.sh also sets)
#   HAL9_SMOKE_PG   admin URL of the PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres)
#   CONTAINER_ENGINE podman (default) or docker
# Prints each step with its time; exits non-zero at the first failure (the containers' logs are shown).
# Containers are removed and the throwaway database dropped at the end, whatever happened.
set -euo pipefail
cd "$(dirname "$0")/../.."
engine="${CONTAINER_ENGINE:-podman}"
version="$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
image="${1:-hal9:$version}"
pg="${HAL9_SMOKE_PG:-postgresql://postgres@127.0.0.1:5432/postgres}"
db="hal9_smoke_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
db_url="postgresql+psycopg://${pg#postgresql://}"
db_url="${db_url%/*}/$db"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
api="hal9-smoke-api-$$" worker="hal9-smoke-worker-$$"
t_start=$(date +%s.%N)

step() { printf '[%6.1f s] %s\n' "$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$*"; }
fail() {
    echo "smoke: FAILED: $*" >&2
    for c in "$api" "$worker"; do
        echo "== logs of $c" >&2
        "$engine" logs --tail 30 "$c" >&2 2>&1 || true
    done
    exit 1
}
cleanup() {
    "$engine" rm -f -v "$api" "$worker" >/dev/null 2>&1 || true
    psql -q "$pg" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$engine" image inspect "$image" >/dev/null 2>&1 || fail "image $image not found (scripts/container/build.sh)"
secret="$(head -c 48 /dev/urandom | base64 | tr -d '\n/+=')"
env=(-e "DATABASE_URL=$db_url" -e "HAL9_SECRET_KEY=$secret" -e HAL9_ENVIRONMENT=production
    -e HAL9_ADMIN_USERNAME=smoke -e "HAL9_ADMIN_PASSWORD=smoke password 0123" -e "HAL9_PORT=$port"
    -e HAL9_LOG_LEVEL=INFO -e HAL9_WORKER_SHUTDOWN_GRACE_S=10 -e HAL9_HOST=127.0.0.1)
run=(--network host --read-only --user 10001:10001 --cap-drop ALL --security-opt no-new-privileges)

psql -q "$pg" -c "CREATE DATABASE $db" >/dev/null
step "database $db created"
"$engine" run --rm "${run[@]}" "${env[@]}" --no-healthcheck "$image" serve migrate >/dev/null ||
    fail "migration container failed"
step "migrated (hal9 serve migrate in a one-off container)"
"$engine" run -d --name "$api" "${run[@]}" "${env[@]}" "$image" serve --workers 2 >/dev/null
"$engine" run -d --name "$worker" "${run[@]}" "${env[@]}" --no-healthcheck "$image" worker >/dev/null
b="http://127.0.0.1:$port"
for _ in $(seq 240); do
    curl -sf -o /dev/null --max-time 2 "$b/ready" && break
    sleep 0.5
done
curl -sf -o /dev/null --max-time 5 "$b/ready" || fail "/ready never answered 200 (API up, worker seen?)"
step "API and worker up: /ready 200"
health="$(curl -sf --max-time 5 "$b/health")" || fail "/health did not answer"
[[ $health == *"\"version\":\"$version\""* ]] || fail "/health answered $health, expected version $version"
step "/health: $health"
token="$(curl -sf --max-time 30 "$b/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"smoke","password":"smoke password 0123"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')" ||
    fail "login failed"
[[ -n $token && $token != "{"* ]] || fail "login failed"
step "login: access token received"
run_id="$(curl -sf --max-time 30 "$b/api/v1/runs/metrics" -H "Authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"A": [[0.5, 0.1], [0.0, 0.4]], "measure": "mi"}' |
    sed -E 's/.*"id":"([0-9a-f]{32})".*/\1/')" || fail "job submission failed"
[[ $run_id =~ ^[0-9a-f]{32}$ ]] || fail "job submission failed"
status=""
for _ in $(seq 240); do
    status="$(curl -sf --max-time 5 "$b/api/v1/runs/$run_id" -H "Authorization: Bearer $token" |
        sed -E 's/.*"status":"([a-z]+)".*/\1/')" || status=""  # one slow poll is not a failure
    [[ $status == succeeded || $status == failed || $status == cancelled ]] && break
    sleep 0.5
done
[[ $status == succeeded ]] || fail "job $run_id ended '$status', expected succeeded"
step "job $run_id (metrics, through the worker container): succeeded"
metrics="$(curl -sf --max-time 10 "$b/metrics" -H "Authorization: Bearer $token")" || fail "/metrics did not answer"
for name in hal9_http_requests_total hal9_queue_workers hal9_runs; do
    grep -q "^$name" <<<"$metrics" || fail "/metrics lacks $name"
done
step "/metrics: $(grep -c '^hal9_' <<<"$metrics") hal9 samples"
for c in "$api" "$worker"; do
    t0=$(date +%s.%N)
    "$engine" stop -t 40 "$c" >/dev/null
    code="$("$engine" inspect --format '{{.State.ExitCode}}' "$c")"
    secs="$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
    [[ $code == 0 ]] || fail "$c exited $code after SIGTERM (expected 0)"
    step "SIGTERM $c: exit 0 after $secs s"
done
step "smoke PASSED ($image)"
