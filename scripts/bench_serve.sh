#!/usr/bin/env bash
# Benchmark the authenticated read path of `hal9 serve` on PostgreSQL: lean path vs SQLAlchemy Core.
#
# Usage: scripts/bench_serve.sh [DURATION]        (default 10s per wrk run)
#   HAL9_BENCH_PG   admin URL of a PostgreSQL server (default postgresql://postgres@127.0.0.1:5432/postgres)
#   HAL9_BENCH_HAL9 the hal9 executable (default .venv/bin/hal9)
#
# Creates a throwaway database, migrates it, seeds one user, one API key (read scope) and 5 runs, then
# starts two servers at once, each `hal9 serve --workers 2`: "lean" (HAL9_DB_LEAN_READS=true, the
# default) and "core" (HAL9_DB_LEAN_READS=false, the previous path). Only one is loaded at a time; the
# runs alternate between them (key, JWT, /health), so background load affects both alike. Each run is
# `wrk -t2 -c32 -d$DURATION` and prints req/s, P50, P90, P95, P99, wrk errors, and the CPU time per
# request of the server's processes (srv) and of its PostgreSQL backends (pg), from /proc: a figure
# that other processes on the machine disturb far less than req/s and latency. Servers are stopped by PID and the
# database is dropped at the end.
set -euo pipefail

duration="${1:-10s}"
pg="${HAL9_BENCH_PG:-postgresql://postgres@127.0.0.1:5432/postgres}"
hal9="${HAL9_BENCH_HAL9:-.venv/bin/hal9}"
db="hal9_bench_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
db_url="${pg%/*}/$db"
work="$(mktemp -d)"
pids=()

cleanup() {
    rc=$?
    if [[ $rc != 0 ]]; then
        for f in "$work"/*.log; do [[ -f $f ]] && { echo "== $f" >&2; tail -20 "$f" >&2; }; done
    fi
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    psql -q "$pg" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/report.lua" <<'LUA'
done = function(summary, latency, requests)
    local s = summary.duration / 1e6
    io.write(string.format("RESULT %.0f %.1f %.1f %.1f %.1f %d %d\n", summary.requests / s,
        latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(95) / 1e3,
        latency:percentile(99) / 1e3,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
        + summary.errors.timeout, summary.requests))
end
LUA

export HAL9_ENVIRONMENT=production
HAL9_SECRET_KEY="$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
export HAL9_SECRET_KEY
export DATABASE_URL="$db_url"
export HAL9_ARGON2_TIME_COST=1 HAL9_ARGON2_MEMORY_KIB=8192 HAL9_ARGON2_PARALLELISM=1
export HAL9_LOG_LEVEL=INFO HAL9_LOG_JSON=true

psql -q "$pg" -c "CREATE DATABASE $db" >/dev/null
"$hal9" serve migrate >/dev/null 2>&1
echo 'bench password 0123' | "$hal9" serve create-user --username bench --password-stdin >/dev/null 2>&1
psql -q "$db_url" -v ON_ERROR_STOP=1 -v user=bench -f scripts/seed_runs.sql >/dev/null

start() {  # start NAME PORT LEAN
    HAL9_DB_LEAN_READS="$3" HAL9_AUTO_MIGRATE=false \
        "$hal9" serve --workers 2 --port "$2" >"$work/$1.log" 2>&1 &
    pids+=("$!")
}
start lean 8791 true
start core 8792 false
for name in lean core; do  # wait until both workers of both servers have started (at most 5 min)
    for _ in $(seq 600); do
        [[ $(grep -c 'Application startup complete' "$work/$name.log") -ge 2 ]] && break
        sleep 0.5
    done
done

b=http://127.0.0.1:8791/api/v1
token=$(curl -sf "$b/auth/login" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"bench password 0123"}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
key=$(curl -sf "$b/keys" -H "Authorization: Bearer $token" -H 'content-type: application/json' \
    -d '{"name":"bench","scopes":["read"]}' | sed -E 's/.*"key":"([^"]+)".*/\1/')
for port in 8791 8792; do  # warm up both, and check that each answers 5 runs
    n=$(curl -sf "http://127.0.0.1:$port/api/v1/runs" -H "X-API-Key: $key" | grep -o '"id"' | wc -l)
    [[ "$n" == 5 ]] || { echo "server on $port listed $n runs, expected 5" >&2; exit 1; }
    curl -sf "http://127.0.0.1:$port/api/v1/runs" -H "Authorization: Bearer $token" >/dev/null
done

for port in 8791 8792; do  # open the connection pools (a backend start is not what we measure)
    wrk -t2 -c32 -d3s -H "X-API-Key: $key" "http://127.0.0.1:$port/api/v1/runs" >/dev/null
    wrk -t2 -c32 -d2s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/runs" >/dev/null
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "before: $(uptime)"
printf '%-5s %-24s %7s %7s %7s %7s %7s %5s %9s %9s\n' path request 'req/s' 'P50 ms' 'P90 ms' 'P95 ms' \
    'P99 ms' errs 'srv us/rq' 'pg us/rq'
ticks() {  # ticks PID...: user + system CPU of these processes, in clock ticks
    local total=0 pid f
    for pid in "$@"; do
        f=$(cut -d')' -f2 "/proc/$pid/stat" 2>/dev/null) || continue
        read -r -a st <<<"$f"
        total=$((total + st[11] + st[12]))
    done
    echo "$total"
}
server_pids() {  # server_pids PID: the server and its worker processes
    echo "$1" $(pgrep -P "$1" || true)
}
pg_pids() {  # the PostgreSQL backends connected to the benchmark database
    psql -qAt "$pg" -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db'" | tr '\n' ' '
}
hz=$(getconf CLK_TCK)
bench() {  # bench PATHNAME SERVER_PID PORT LABEL URLPATH [HEADER]
    local args=(-t2 -c32 -d"$duration" --latency -s "$work/report.lua")
    [[ $# -ge 6 ]] && args+=(-H "$6")
    local line spids ppids s0 p0 s1 p1
    spids=$(server_pids "$2")
    ppids=$(pg_pids)
    s0=$(ticks $spids) p0=$(ticks $ppids)
    line=$(wrk "${args[@]}" "http://127.0.0.1:$3$5" | grep '^RESULT')
    # a backend opened during the run started at 0 ticks: count it after the run only
    s1=$(ticks $spids) p1=$(ticks $(echo $ppids $(pg_pids) | tr ' ' '\n' | sort -u))
    read -r _ rps p50 p90 p95 p99 errs n <<<"$line"
    printf '%-5s %-24s %7s %7s %7s %7s %7s %5s %9s %9s\n' "$1" "$4" "$rps" "$p50" "$p90" "$p95" "$p99" \
        "$errs" "$(((s1 - s0) * 1000000 / hz / n))" "$(((p1 - p0) * 1000000 / hz / n))"
}
run_id=$(printf '%s' 1 | md5sum | cut -d' ' -f1)
declare -A port=([lean]=8791 [core]=8792) pid=([lean]=${pids[0]} [core]=${pids[1]})
for what in key jwt one health; do
    for name in lean core; do
        args=("$name" "${pid[$name]}" "${port[$name]}")
        case $what in
            key) bench "${args[@]}" "GET /runs (API key)" /api/v1/runs "X-API-Key: $key" ;;
            jwt) bench "${args[@]}" "GET /runs (JWT)" /api/v1/runs "Authorization: Bearer $token" ;;
            one) bench "${args[@]}" "GET /runs/{id} (API key)" "/api/v1/runs/$run_id" "X-API-Key: $key" ;;
            health) bench "${args[@]}" "GET /health" /health ;;
        esac
    done
done
echo "after:  $(uptime)"
for name in lean core; do  # uvicorn restarts a worker that misses its 5 s health check (then CPU/req is off)
    echo "$name: $(grep -c 'Started server process' "$work/$name.log") worker starts (2 expected)," \
        "$(grep -ci 'died\|terminated\|killed\|Traceback' "$work/$name.log") restart/error lines"
done
if [[ -n "${HAL9_BENCH_LOGS:-}" ]]; then cp "$work"/*.log "$HAL9_BENCH_LOGS"/; fi
