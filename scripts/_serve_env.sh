# shellcheck shell=bash
# Shared set-up of scripts/loadtest.sh and scripts/soak.sh: sourced, not run.
#
# The approach of scripts/bench_serve.sh: a throwaway PostgreSQL database, migrated, with one user,
# one API key and 5 finished runs; one `hal9 serve` on 127.0.0.1 (a free port); every process this
# file starts is stopped by its PID, and the database is dropped, when the calling script exits.
#
# Environment (all optional):
#   HAL9_LOAD_PG          admin URL of PostgreSQL (default postgresql://postgres@127.0.0.1:5432/postgres)
#   HAL9_LOAD_REDIS       REDIS_URL of the server (default redis://127.0.0.1:6379/0)
#   HAL9_LOAD_HAL9        hal9 executable (default .venv/bin/hal9)
#   HAL9_LOAD_PYTHON      python with locust (default .venv/bin/python)
#   HAL9_LOAD_LOCUST      locust executable (default .venv/bin/locust)
#   HAL9_LOAD_SERVE_ARGS  arguments of `hal9 serve` (default "--workers 2 --with-worker 1": on PostgreSQL
#                         jobs run in `hal9 worker` processes and /ready fails without one; --host/--port
#                         are added)
#   HAL9_LOAD_LOGS        copy the server's and locust's logs and CSV files into this folder at exit
#   HAL9_LOAD_PREWARM_JOBS  jobs run before the load (default 8; none when HAL9_LOAD_SUBMIT_EVERY=0)
#   HAL9_JOB_RATE_PER_PRINCIPAL, HAL9_JOB_USER_LIMIT, HAL9_*   passed to the server; the two limits
#                         default to 1000000 and 10000 here: one account stands for every simulated user

# Run from the repository root, whatever the caller's directory.
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

se_pg="${HAL9_LOAD_PG:-postgresql://postgres@127.0.0.1:5432/postgres}"
se_hal9="${HAL9_LOAD_HAL9:-.venv/bin/hal9}"
se_py="${HAL9_LOAD_PYTHON:-.venv/bin/python}"
se_locust="${HAL9_LOAD_LOCUST:-.venv/bin/locust}"
read -r -a se_serve_args <<<"${HAL9_LOAD_SERVE_ARGS:---workers 2 --with-worker 1}"
se_db="hal9_load_$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
se_db_url="${se_pg%/*}/$se_db"
se_work="$(mktemp -d)"
se_pids=()     # every process started here, stopped in this order at exit
se_server=""   # PID of `hal9 serve`
se_port=""
se_db_made=""
se_key=""
se_run_id="$(printf '%s' 1 | md5sum | cut -d' ' -f1)"  # the run seeded as md5('1')

se_alive() {  # se_alive PID: running (a zombie that is not reaped yet does not count)
    local state
    state=$(cut -d')' -f2 "/proc/$1/stat" 2>/dev/null | awk '{print $1}') || return 1
    [[ -n $state && $state != Z ]]
}

se_descendants() {  # se_descendants PID: its children, grandchildren, ... (one PID a line)
    local kid
    for kid in $(pgrep -P "$1" 2>/dev/null || true); do
        echo "$kid"
        se_descendants "$kid"
    done
}

se_stop() {  # se_stop PID [SECONDS]: SIGTERM, wait (bounded), then SIGKILL it and what it left behind
    local pid=$1 limit=${2:-45} kids i kid  # 45 s: the job workers' grace is 30 s
    kids=$(se_descendants "$pid")
    if se_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < limit * 10; i++)); do
            se_alive "$pid" || break
            sleep 0.1
        done
        if se_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    wait "$pid" 2>/dev/null || true
    for kid in $kids; do  # the parent normally stops its workers; these are left-overs only
        if se_alive "$kid"; then kill -KILL "$kid" 2>/dev/null || true; fi
    done
    return 0
}

se_cleanup() {
    local rc=$? i
    set +e
    trap - EXIT INT TERM
    if [[ $rc != 0 ]]; then
        for f in "$se_work"/*.log; do [[ -f $f ]] && { echo "== $f (tail)" >&2; tail -20 "$f" >&2; }; done
    fi
    for ((i = ${#se_pids[@]} - 1; i >= 0; i--)); do se_stop "${se_pids[i]}"; done
    if [[ -n ${HAL9_LOAD_LOGS:-} ]]; then
        mkdir -p "$HAL9_LOAD_LOGS" && cp "$se_work"/*.log "$se_work"/*.csv "$HAL9_LOAD_LOGS"/ 2>/dev/null
    fi
    if [[ -n $se_db_made ]]; then
        psql -q "$se_pg" -c "DROP DATABASE IF EXISTS $se_db WITH (FORCE)" >/dev/null 2>&1 ||
            echo "warning: could not drop database $se_db" >&2
    fi
    rm -rf "$se_work"
    exit "$rc"
}
trap se_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

se_fail() { echo "error: $*" >&2; exit 1; }
[[ -x $se_locust ]] || se_fail "locust not found at $se_locust: pip install -e '.[load]' (or set HAL9_LOAD_LOCUST)"

# The server's environment (exported: `hal9 serve` and the admin commands read it).
unset HAL9_DATABASE_URL HAL9_REDIS_URL
export DATABASE_URL="$se_db_url"
export REDIS_URL="${HAL9_LOAD_REDIS:-redis://127.0.0.1:6379/0}"
export HAL9_ENVIRONMENT=production
HAL9_SECRET_KEY="$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
export HAL9_SECRET_KEY
export OMP_WAIT_POLICY=PASSIVE
export HAL9_LOG_LEVEL="${HAL9_LOG_LEVEL:-WARNING}" HAL9_LOG_JSON=true
export HAL9_AUTO_MIGRATE=false
export HAL9_JOB_RATE_PER_PRINCIPAL="${HAL9_JOB_RATE_PER_PRINCIPAL:-1000000}"
export HAL9_JOB_USER_LIMIT="${HAL9_JOB_USER_LIMIT:-10000}"
export HAL9_RATE_LIMIT_PREFIX="hal9:rl:$se_db"  # the Redis may be shared: keys of this run only
# Job tracking (MLflow) and its fallback folder in the throwaway folder, not in the repository.
export HAL9_DATA_DIR="$se_work/data"
export HAL9_TRACKING_URI="${HAL9_LOAD_TRACKING_URI:-sqlite:///$se_work/mlflow.db}"
# Only the login that creates the key hashes a password: no need for the production cost.
export HAL9_ARGON2_TIME_COST=1 HAL9_ARGON2_MEMORY_KIB=8192 HAL9_ARGON2_PARALLELISM=1

se_setup_db() {  # create, migrate and seed the throwaway database (user `load`, 5 succeeded runs)
    [[ -x $se_hal9 ]] || se_fail "$se_hal9 not found (HAL9_LOAD_HAL9)"
    psql -q "$se_pg" -c "CREATE DATABASE $se_db" >/dev/null || se_fail "cannot create database on $se_pg"
    se_db_made=1
    "$se_hal9" serve migrate >"$se_work/migrate.log" 2>&1 || se_fail "migration failed"
    echo 'load password 0123' | "$se_hal9" serve create-user --username load --password-stdin \
        >>"$se_work/migrate.log" 2>&1 || se_fail "create-user failed"
    psql -q "$se_db_url" -v ON_ERROR_STOP=1 -v user=load -f scripts/seed_runs.sql >/dev/null \
        || se_fail "seeding runs failed"
    # MLflow creates its SQLite schema on first use: do it now, not in two server processes at once.
    if [[ $HAL9_TRACKING_URI == sqlite:* ]]; then
        "$se_py" -c 'import mlflow, sys; mlflow.set_tracking_uri(sys.argv[1]); mlflow.search_experiments()' \
            "$HAL9_TRACKING_URI" >"$se_work/mlflow-init.log" 2>&1 || se_fail "cannot initialise $HAL9_TRACKING_URI"
    fi
}

se_ticks() {  # se_ticks PID...: user + system CPU time of these processes, in clock ticks
    local total=0 pid f st
    for pid in "$@"; do
        f=$(cut -d')' -f2 "/proc/$pid/stat" 2>/dev/null) || continue
        read -r -a st <<<"$f"
        total=$((total + st[11] + st[12]))
    done
    echo "$total"
}

se_start_server() {  # start `hal9 serve` on a free port; wait for /ready and for its workers to settle
    local i t0 t1 idle=0
    se_port=$("$se_py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$se_hal9" serve "${se_serve_args[@]}" --host 127.0.0.1 --port "$se_port" >"$se_work/server.log" 2>&1 &
    se_server=$!
    se_pids+=("$se_server")
    for ((i = 0; i < 240; i++)); do  # at most 2 min
        se_alive "$se_server" || se_fail "hal9 serve exited during start-up"
        curl -sf --max-time 2 "http://127.0.0.1:$se_port/ready" >/dev/null && break
        sleep 0.5
    done
    ((i < 240)) || se_fail "hal9 serve not ready after 2 min: $(curl -s --max-time 5 "http://127.0.0.1:$se_port/ready")"
    # /ready answers as soon as one worker is up; the others may still be importing (and a worker
    # that starts late would miss the connections the load opens now): wait until the whole process
    # tree has used less than 2 ticks of CPU in each of 4 half-seconds in a row (at most 60 s).
    for ((i = 0; i < 60 && idle < 4; i++)); do
        # shellcheck disable=SC2046
        t0=$(se_ticks "$se_server" $(se_descendants "$se_server"))
        sleep 0.5
        # shellcheck disable=SC2046
        t1=$(se_ticks "$se_server" $(se_descendants "$se_server"))
        if ((t1 - t0 < 2)); then idle=$((idle + 1)); else idle=0; fi
    done
    ((idle >= 4)) || echo "warning: hal9 serve still busy 60 s after /ready; starting anyway" >&2
}

se_create_key() {  # log in as `load`, create an API key with scopes read and run: sets se_key
    local b="http://127.0.0.1:$se_port/api/v1" token n
    token=$(curl -sf --max-time 30 "$b/auth/login" -H 'content-type: application/json' \
        -d '{"username":"load","password":"load password 0123"}' |
        sed -E 's/.*"access_token":"([^"]+)".*/\1/') || se_fail "login failed"
    se_key=$(curl -sf --max-time 30 "$b/keys" -H "Authorization: Bearer $token" \
        -H 'content-type: application/json' -d '{"name":"load","scopes":["read","run"]}' |
        sed -E 's/.*"key":"([^"]+)".*/\1/') || se_fail "API key creation failed"
    [[ $se_key == hal9_* ]] || se_fail "unexpected API key answer"
    for _ in 1 2 3 4; do  # warm up; check that the key lists the 5 seeded runs
        n=$(curl -sf --max-time 10 "$b/runs?limit=10" -H "X-API-Key: $se_key" | grep -o '"id"' | wc -l)
        [[ $n == 5 ]] || se_fail "GET /runs listed $n runs, expected 5"
        curl -sf --max-time 10 "$b/runs/$se_run_id" -H "X-API-Key: $se_key" >/dev/null ||
            se_fail "GET /runs/$se_run_id failed"
    done
}

se_machine() {  # one line: cores, CPU model, load average
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs);" \
        "load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

se_run_statuses() {  # runs by status in the throwaway database, one line
    psql -qAt "$se_db_url" -c \
        "SELECT coalesce(string_agg(status || '=' || n, ' ' ORDER BY status), 'none')
         FROM (SELECT status, count(*) AS n FROM runs GROUP BY status) s"
}

se_server_log_summary() {  # the server's warning/error lines, counted by message (at most 8)
    "$se_py" - "$se_work/server.log" <<'PY'
import collections, json, sys
counts = collections.Counter()
for line in open(sys.argv[1], errors="replace"):
    try:
        rec = json.loads(line)
        key = f"{rec.get('level', '?')} {rec.get('logger', '')}: {rec.get('message', '')}"
        if rec.get("exc_type"):
            key += f" ({rec['exc_type']})"
    except ValueError:
        key = "raw: " + line.strip()[:120]
    counts[key] += 1
print(f"server log: {sum(counts.values())} lines" + (":" if counts else ""))
for key, n in counts.most_common(8):
    print(f"  {n:6d}  {key[:160]}")
PY
}

se_seconds() {  # se_seconds DURATION: locust's -t syntax (90, 90s, 2m, 1h30m) in whole seconds
    local d=$1 total=0 n unit
    [[ $d =~ ^[0-9]+$ ]] && { echo "$d"; return; }
    [[ $d =~ ^([0-9]+[hms])+$ ]] || se_fail "bad duration '$d' (e.g. 60, 60s, 2m, 1h30m)"
    while [[ $d =~ ^([0-9]+)([hms])(.*)$ ]]; do
        n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
        case $unit in h) total=$((total + n * 3600)) ;; m) total=$((total + n * 60)) ;; s) total=$((total + n)) ;; esac
    done
    echo "$total"
}

se_run_locust() {  # se_run_locust SECONDS USERS SPAWN_RATE [LOCUST ARGS...]: headless run, bounded in time
    local secs=$1 users=$2 rate=$3 rc=0 pid
    shift 3
    local args=(-f scripts/locustfile.py --headless -u "$users" -r "$rate" -t "${secs}s"
        --host "http://127.0.0.1:$se_port" --csv "$se_work/locust" --only-summary
        --exit-code-on-error 0 --stop-timeout 5 --loglevel WARNING "$@")
    [[ -n ${HAL9_LOAD_LOCUST_PROCESSES:-} ]] && args+=(--processes "$HAL9_LOAD_LOCUST_PROCESSES")
    HAL9_LOAD_API_KEY="$se_key" HAL9_LOAD_RUN_ID="$se_run_id" \
        timeout -k 10 $((secs + 60)) "$se_locust" "${args[@]}" >"$se_work/locust.log" 2>&1 &
    pid=$!
    se_pids+=("$pid")
    se_locust_pid=$pid
}

se_wait_locust() {  # wait for the locust run; fail unless it ran to its end (failed requests are fine)
    local rc=0
    wait "$se_locust_pid" || rc=$?
    if [[ $rc == 124 || $rc == 137 ]]; then se_fail "locust did not stop in time (timeout)"; fi
    [[ $rc == 0 ]] || se_fail "locust exited with $rc (see $se_work/locust.log above)"
    [[ -s $se_work/locust_stats.csv ]] || se_fail "locust wrote no statistics"
}

se_locust_summary() {  # se_locust_summary text|json [EXTRA_JSON]: locust's CSV statistics, per endpoint
    "$se_py" - "$se_work/locust_stats.csv" "$se_work/locust_failures.csv" "$@" <<'PY'
import csv, json, sys

stats_file, failures_file, mode = sys.argv[1:4]
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}


def num(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def label(method, name):  # the locustfile's names carry their method already
    return name if not method or name.startswith(method + " ") else f"{method} {name}"


rows = []
with open(stats_file, newline="") as f:
    for r in csv.DictReader(f):
        rows.append({
            "name": label(r["Type"], r["Name"]),
            "requests": int(r["Request Count"]),
            "failures": int(r["Failure Count"]),
            "rps": num(r["Requests/s"]),
            "p50_ms": num(r["50%"]),
            "p95_ms": num(r["95%"]),
            "p99_ms": num(r["99%"]),
            "max_ms": num(r["Max Response Time"]),
        })
failures = []
try:
    with open(failures_file, newline="") as f:
        failures = [
            {"request": label(r["Method"], r["Name"]), "error": r["Error"], "count": int(r["Occurrences"])}
            for r in csv.DictReader(f)
        ]
except FileNotFoundError:
    pass
rows.sort(key=lambda r: (r["name"] == "Aggregated", r["name"]))
if mode == "json":
    print(json.dumps({"endpoints": rows, "failures": failures, **extra}, indent=2))
    sys.exit(0)
fmt = "{:<42} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}"
print(fmt.format("endpoint", "requests", "req/s", "failures", "P50 ms", "P95 ms", "P99 ms", "max ms"))
show = lambda v: "-" if v is None else f"{v:.0f}" if v >= 10 else f"{v:.1f}"
for r in rows:
    print(fmt.format(r["name"][:42], r["requests"], show(r["rps"]), r["failures"], show(r["p50_ms"]),
                     show(r["p95_ms"]), show(r["p99_ms"]), show(r["max_ms"])))
for fl in failures:
    print(f"failure: {fl['count']} x {fl['request']}: {fl['error'][:120]}")
PY
}

se_locust_warnings() {  # locust's own warnings (e.g. its CPU above 90 %: then its figures are off)
    grep -E '/(WARNING|ERROR|CRITICAL)/|CPU usage' "$se_work/locust.log" | sort | uniq -c | sort -rn | head -5 || true
}

se_tree_ticks() {  # se_tree_ticks PID: CPU ticks of PID and its descendants (0 when gone)
    # shellcheck disable=SC2046
    se_ticks "$1" $(se_descendants "$1")
}

se_probe() {  # se_probe: one GET /api/v1/runs?limit=10 by curl, outside locust: "HTTP_CODE SECONDS"
    curl -s -o /dev/null --max-time 10 -w '%{http_code} %{time_total}\n' -H "X-API-Key: $se_key" \
        "http://127.0.0.1:$se_port/api/v1/runs?limit=10" || echo "000 10"
}

se_prewarm_jobs() {  # a few jobs before the load, so that the first job of each server process (its
    # or job worker (MLflow import: ~200 MiB, seconds of CPU) is not in the measurement; none without jobs
    local b="http://127.0.0.1:$se_port/api/v1" i n job='{"A": [[0.5, 0.1], [0.0, 0.4]], "measure": "mi"}'
    [[ ${HAL9_LOAD_SUBMIT_EVERY:-200} != 0 ]] || return 0
    for ((i = 0; i < ${HAL9_LOAD_PREWARM_JOBS:-8}; i++)); do  # one connection each: spread over the workers
        curl -sf --max-time 30 -o /dev/null "$b/runs/metrics" -H "X-API-Key: $se_key" \
            -H 'content-type: application/json' -d "$job" || se_fail "job submission refused before the load"
    done
    for ((i = 0; i < 120; i++)); do  # at most 60 s
        n=$(psql -qAt "$se_db_url" -c "SELECT count(*) FROM runs WHERE status IN ('queued', 'running')")
        [[ $n == 0 ]] && break
        sleep 0.5
    done
    [[ $n == 0 ]] || echo "warning: $n warm-up jobs still unfinished after 60 s (no job worker?)" >&2
    n=$(psql -qAt "$se_db_url" -c "SELECT count(*) FROM runs WHERE status = 'failed'")
    [[ $n == 0 ]] || echo "warning: $n warm-up jobs failed" >&2
}
