#!/usr/bin/env bash
# Load test of `hal9 serve` with locust: many API-key clients at a constant rate each.
#
# Usage: scripts/loadtest.sh [--json] [USERS] [DURATION] [SPAWN_RATE]
#   USERS       simulated clients, each at 1 request/s (default 1000: a 1000 req/s target)
#   DURATION    locust's -t: 60, 60s, 2m ... (default 60s), ramp-up included
#   SPAWN_RATE  users started per second (default USERS: all within about a second)
#   --json      print the summary as one JSON object instead of a table
#
# Environment (optional; see also scripts/_serve_env.sh):
#   HAL9_LOAD_SERVE_ARGS       `hal9 serve` arguments (default "--workers 2 --with-worker 1")
#   HAL9_LOAD_SUBMIT_EVERY     one request in N (on average) submits a small metrics job (default 200; 0: none)
#   HAL9_LOAD_USER_RPS         requests per second of each user (default 1)
#   HAL9_LOAD_PACING           timer (default: each user on its own clock, random phase) or throughput
#                              (locust's constant_throughput, whose phases lock; see scripts/locustfile.py)
#   HAL9_LOAD_TRACE            write [start, latency ms] of every request to this JSON file
#   HAL9_LOAD_REFUSED_OK=1     count submissions answered 429/503 apart, as "(refused)", not as failures
#   HAL9_LOAD_LOCUST_PROCESSES fork locust N times (--processes N) when one locust process is CPU-bound
#   HAL9_LOAD_LOGS             keep the server/locust logs and CSV files in this folder
#
# Creates a throwaway PostgreSQL database (migrated; user, API key with scopes read+run, 5 finished
# runs), starts `hal9 serve` on 127.0.0.1 (free port; REDIS_URL, HAL9_ENVIRONMENT=production, random
# HAL9_SECRET_KEY, OMP_WAIT_POLICY=PASSIVE, HAL9_LOG_LEVEL=WARNING), waits for /ready and for its
# processes to settle and runs 8 small jobs (HAL9_LOAD_PREWARM_JOBS: what runs jobs loads MLflow
# now, not under load), then runs locust headless with --reset-stats: the figures cover the time after
# all users were spawned. Prints requests, req/s, failures, P50/P95/P99 (ms) overall and per endpoint,
# the job runs by status, the server's warning/error log lines and the machine (cores, CPU, load).
# Exits non-zero if the set-up fails or locust does not run to its end (failed requests do not change
# the exit status: read the failures column). The server is stopped by PID, the database dropped.
set -euo pipefail

json=""
pos=()
for arg in "$@"; do
    case $arg in
        --json) json=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) pos+=("$arg") ;;
    esac
done
users="${pos[0]:-1000}"
duration="${pos[1]:-60s}"
spawn_rate="${pos[2]:-$users}"

# shellcheck source=scripts/_serve_env.sh
source "$(dirname "$0")/_serve_env.sh"

[[ $users =~ ^[1-9][0-9]*$ ]] || se_fail "USERS must be a positive integer"
[[ $spawn_rate =~ ^[0-9]+([.][0-9]+)?$ ]] || se_fail "SPAWN_RATE must be a number"
secs=$(se_seconds "$duration")
((secs >= 5)) || se_fail "DURATION must be at least 5 s"
# Each locust user keeps a connection open: raise the soft limit of open files for locust and the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < users + 200)); then
    echo "warning: open-file limit $(ulimit -n) is low for $users users" >&2
fi

say() { if [[ -n $json ]]; then echo "$*" >&2; else echo "$*"; fi; }

say "loadtest: $users users x ${HAL9_LOAD_USER_RPS:-1} req/s, ${secs}s, spawn rate $spawn_rate/s;" \
    "hal9 serve ${se_serve_args[*]}; 1 submission per ${HAL9_LOAD_SUBMIT_EVERY:-200} requests"
se_setup_db
se_start_server
se_create_key
se_prewarm_jobs
kids0=$(se_descendants "$se_server" | sort | tr '\n' ' ')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "server pid $se_server (processes: $kids0) on port $se_port; database $se_db; load average $load_before"

read -r -a procs0 <<<"$kids0"
ticks0=$(se_ticks "$se_server" "${procs0[@]}")
t0=$(date +%s.%N)
se_run_locust "$secs" "$users" "$spawn_rate" --reset-stats
# While locust runs: once a second, one request by curl (a latency that locust's own CPU cannot
# distort) and the CPU time of locust; both only after the ramp-up (plus 1 s).
ramp_end=$(awk -v u="$users" -v r="$spawn_rate" -v t="$t0" 'BEGIN { printf "%.3f", t + (r > 0 ? u / r : 0) + 1 }')
load_end=$(awk -v t="$t0" -v s="$secs" 'BEGIN { printf "%.3f", t + s - 1 }')  # then locust stops and reports
probes="$se_work/probes.txt"
: >"$probes"
lt0="" lt0_t="" lt1="" lt1_t=""
while sleep 1 && se_alive "$se_locust_pid"; do
    now=$(date +%s.%N)
    awk -v n="$now" -v a="$ramp_end" -v b="$load_end" 'BEGIN { exit !(n >= a && n < b) }' || continue
    se_probe >>"$probes"
    lt1=$(se_tree_ticks "$se_locust_pid") lt1_t=$(date +%s.%N)
    [[ -n $lt0 ]] || lt0=$lt1 lt0_t=$lt1_t
done
se_wait_locust
t1=$(date +%s.%N)
kids1=$(se_descendants "$se_server" | sort | tr '\n' ' ')
read -r -a procs1 <<<"$kids1"
ticks1=$(se_ticks "$se_server" "${procs1[@]}")
se_alive "$se_server" || se_fail "hal9 serve died during the run"

hz=$(getconf CLK_TCK)
server_cpu=$(awk -v a="$ticks0" -v b="$ticks1" -v hz="$hz" -v t0="$t0" -v t1="$t1" \
    'BEGIN { printf "%.2f", (b - a) / hz / (t1 - t0) }')
restarted=$(comm -13 <(tr ' ' '\n' <<<"$kids0" | sort) <(tr ' ' '\n' <<<"$kids1" | sort) | grep -c . || true)
statuses=$(se_run_statuses)
machine="$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
locust_warn=$(se_locust_warnings)
locust_cpu=$(awk -v a="${lt0:-0}" -v b="${lt1:-0}" -v t0="${lt0_t:-0}" -v t1="${lt1_t:-0}" -v hz="$hz" \
    'BEGIN { if (t1 > t0) printf "%.2f", (b - a) / hz / (t1 - t0); else print "n/a" }')
# probes: count, non-200 answers, P50 and max in ms
read -r probe_n probe_bad probe_p50 probe_max < <("$se_py" -c '
import sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
ms = sorted(float(t) * 1000 for _, t in rows)
bad = sum(code != "200" for code, _ in rows)
print(len(ms), bad, f"{ms[(len(ms) - 1) // 2]:.1f}" if ms else "-", f"{ms[-1]:.1f}" if ms else "-")
' "$probes")

if [[ -n $json ]]; then
    extra=$("$se_py" -c '
import json, sys
def value(v):
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return v
print(json.dumps({k: value(v) for k, v in zip(sys.argv[1::2], sys.argv[2::2])}))' \
        users "$users" duration_s "$secs" spawn_rate "$spawn_rate" user_rps "${HAL9_LOAD_USER_RPS:-1}" \
        submit_every "${HAL9_LOAD_SUBMIT_EVERY:-200}" serve_args "${se_serve_args[*]}" \
        server_cpu_cores "$server_cpu" new_server_processes "$restarted" runs_by_status "$statuses" \
        machine "$machine" nproc "$(nproc)" load_before "$load_before" load_after "$load_after" \
        uptime "$(uptime)" locust_warnings "$locust_warn" locust_cpu_cores "$locust_cpu" \
        probe_requests "$probe_n" probe_non_200 "$probe_bad" probe_p50_ms "$probe_p50" probe_max_ms "$probe_max")
    se_locust_summary json "$extra"
    se_server_log_summary >&2
else
    echo "== locust, after ramp-up (--reset-stats); target $((users)) x ${HAL9_LOAD_USER_RPS:-1} req/s"
    se_locust_summary text
    echo "server: ${server_cpu} cores busy on average over the run (whole process tree);" \
        "$restarted server process(es) started during the run (worker restarts)"
    echo "probe (curl, 1/s, GET /api/v1/runs?limit=10, outside locust): $probe_n requests," \
        "$probe_bad not 200, P50 $probe_p50 ms, max $probe_max ms"
    echo "locust: $locust_cpu cores busy after the ramp-up"
    echo "runs by status: $statuses"
    se_server_log_summary
    [[ -z $locust_warn ]] || { echo "locust log:"; echo "$locust_warn"; }
fi
# One locust process runs on one core: near 1 core busy, its latencies include its own queueing.
if [[ $locust_cpu != n/a ]] && awk -v c="$locust_cpu" 'BEGIN { exit !(c >= 0.8) }'; then
    echo "warning: locust used $locust_cpu cores: the load generator is near saturation, its latencies" \
        "are inflated (compare the curl probe; HAL9_LOAD_LOCUST_PROCESSES=N forks more locust processes)" >&2
fi
if [[ -z $json ]]; then
    echo "machine: $machine"
    echo "uptime: $(uptime)"
fi
