#!/usr/bin/env bash
# Soak test of `hal9 serve`: a steady mixed load (reads and job submissions) for a long time, with
# the memory of the server's processes and its PostgreSQL connections sampled every 10 s.
#
# Usage: scripts/soak.sh [DURATION] [RATE]
#   DURATION  seconds, or locust's syntax: 600, 10m, 1h (default 600)
#   RATE      requests per second in total (default 300): RATE/HAL9_LOAD_USER_RPS locust users
#
# Environment (optional; see also scripts/_serve_env.sh and scripts/locustfile.py):
#   HAL9_LOAD_SERVE_ARGS        `hal9 serve` arguments (default "--workers 2 --with-worker 1")
#   HAL9_LOAD_SUBMIT_EVERY      one request in N (on average) submits a small metrics job (default 50 here)
#   HAL9_LOAD_USER_RPS          requests per second of each user (default 1)
#   HAL9_LOAD_REFUSED_OK=1      count submissions answered 429/503 apart, as "(refused)", not as errors
#   HAL9_SOAK_RSS_MAX_GROWTH    fail above this RSS growth, in % (default 10)
#   HAL9_SOAK_CONN_SLACK        fail if PostgreSQL connections grow by more than this over the second half
#                               of the run (default 4): pools open connections lazily up to their size,
#                               so early growth is expected; a leak keeps growing
#   HAL9_SOAK_CONN_BOUND        fail if the connections ever exceed this (default 2 API processes x
#                               (HAL9_DB_POOL_SIZE 20 + HAL9_DB_LEAN_POOL_SIZE 8) + 10 for the worker = 66)
#   HAL9_SOAK_WORKER_PATTERN    regex of job workers' command lines (default "hal9(\.cli\.main)? worker":
#                               `hal9 worker` and what `hal9 serve --with-worker` starts)
#   HAL9_LOAD_LOGS              keep the logs, locust's CSV files and the samples (soak_samples.csv) here
#
# Samples, every 10 s while the load runs: "api" RSS, VmRSS summed over `hal9 serve` and all its
# descendants (uvicorn's parent and workers) except job workers; "worker" RSS, summed over processes
# whose command line matches HAL9_SOAK_WORKER_PATTERN and whose environment names this run's
# database (0 when there are none); "pg conns", the connections to the throwaway database; and
# "backlog", its runs queued or running; "probe ms", one GET /api/v1/runs?limit=10 by curl (outside
# locust; -1: not 200); "locust cores", the CPU locust used since the previous sample (near 1.0, one
# locust process is saturated and its latencies are inflated). The last three are reported, not
# judged. Warm-up ends at min(60 s, 10 % of DURATION): each series is compared between the first
# sample at or after that and the last one. Before the load, 8 small jobs run (HAL9_LOAD_PREWARM_JOBS)
# so that each process that runs jobs has loaded MLflow (about 200 MiB) before the first sample.
# Exit 1 if any request failed, an RSS grew more than HAL9_SOAK_RSS_MAX_GROWTH %, the connections
# exceeded HAL9_SOAK_CONN_BOUND or grew by more than HAL9_SOAK_CONN_SLACK over the second half of the run,
# or the set-up or locust failed. At the end the connections are listed by application_name
# (hal9-api, hal9-api-lean, hal9-worker, hal9-worker-queue): which pool holds how many. Server stopped by PID, database dropped.
set -euo pipefail

case ${1:-} in -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
duration="${1:-600}"
rate="${2:-300}"
export HAL9_LOAD_SUBMIT_EVERY="${HAL9_LOAD_SUBMIT_EVERY:-50}"
rss_max="${HAL9_SOAK_RSS_MAX_GROWTH:-10}"
conn_slack="${HAL9_SOAK_CONN_SLACK:-4}"
conn_bound="${HAL9_SOAK_CONN_BOUND:-66}"
worker_pattern="${HAL9_SOAK_WORKER_PATTERN:-hal9(\.cli\.main)? worker}"

# shellcheck source=scripts/_serve_env.sh
source "$(dirname "$0")/_serve_env.sh"

secs=$(se_seconds "$duration")
((secs >= 30)) || se_fail "DURATION must be at least 30 s"
[[ $rate =~ ^[0-9]+([.][0-9]+)?$ ]] || se_fail "RATE must be a number"
users=$(awk -v r="$rate" -v u="${HAL9_LOAD_USER_RPS:-1}" 'BEGIN { n = r / u; n = (n == int(n)) ? n : int(n) + 1; print n }')
((users >= 1)) || se_fail "RATE too small"
warm=$((secs / 10 < 60 ? secs / 10 : 60))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

rss_kib() {  # rss_kib PID: VmRSS in KiB (empty if the process is gone)
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}
is_worker() {  # is_worker PID: a job worker of this run (command line and environment)
    local cmd
    cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
    [[ $cmd =~ $worker_pattern ]] && grep -qaF -- "$se_db" "/proc/$1/environ" 2>/dev/null
}
sample() {  # sample T: CSV line t,api_rss_kib,api_procs,worker_rss_kib,worker_procs,pg_conns,backlog,probe_ms
    local api=0 napi=0 wrk=0 nwrk=0 p r workers conns backlog probe
    workers=" "
    for p in $(pgrep -f -- "$worker_pattern" || true); do
        is_worker "$p" || continue
        r=$(rss_kib "$p")
        [[ -n $r ]] || continue
        wrk=$((wrk + r)) nwrk=$((nwrk + 1)) workers+="$p "
    done
    for p in "$se_server" $(se_descendants "$se_server"); do
        [[ $workers == *" $p "* ]] && continue
        r=$(rss_kib "$p")
        [[ -n $r ]] || continue
        api=$((api + r)) napi=$((napi + 1))
    done
    conns=$(psql -qAt "$se_pg" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$se_db'")
    backlog=$(psql -qAt "$se_db_url" -c "SELECT count(*) FROM runs WHERE status IN ('queued', 'running')")
    probe=$(se_probe | awk '{ printf "%.1f", ($1 == 200 ? $2 * 1000 : -1) }')
    echo "$1,$api,$napi,$wrk,$nwrk,$conns,$backlog,$probe"
}

echo "soak: ${secs}s at $rate req/s ($users users x ${HAL9_LOAD_USER_RPS:-1} req/s), 1 submission per" \
    "$HAL9_LOAD_SUBMIT_EVERY requests; hal9 serve ${se_serve_args[*]}; warm-up ${warm}s"
se_setup_db
se_start_server
se_create_key
se_prewarm_jobs
echo "server pid $se_server on port $se_port; database $se_db; $(se_machine)"

samples="$se_work/soak_samples.csv"
echo "t_s,api_rss_kib,api_procs,worker_rss_kib,worker_procs,pg_conns,backlog,probe_ms,locust_cores" >"$samples"
echo "$(sample 0),0" >>"$samples"
start=$(date +%s)
se_run_locust "$secs" "$users" "$users"
hz=$(getconf CLK_TCK)
lt=0 lt_t=$(date +%s.%N)
for ((t = 10; t <= secs - 2; t += 10)); do  # samples while the load runs (not in locust's stop)
    now=$(date +%s)
    ((start + t > now)) && sleep $((start + t - now))
    se_alive "$se_locust_pid" || break
    se_alive "$se_server" || se_fail "hal9 serve died after ${t}s"
    line=$(sample "$t")
    lt1=$(se_tree_ticks "$se_locust_pid") lt1_t=$(date +%s.%N)
    ((lt1 >= lt)) || lt1=$lt  # locust exited meanwhile
    cores=$(awk -v a="$lt" -v b="$lt1" -v t0="$lt_t" -v t1="$lt1_t" -v hz="$hz" \
        'BEGIN { printf "%.2f", (b - a) / hz / (t1 - t0) }')
    lt=$lt1 lt_t=$lt1_t
    echo "$line,$cores" >>"$samples"
done
se_wait_locust
se_alive "$se_server" || se_fail "hal9 serve died during the run"

echo "== locust, whole run (ramp-up included)"
se_locust_summary text
echo "runs by status: $(se_run_statuses)"
se_server_log_summary
locust_warn=$(se_locust_warnings)
[[ -z $locust_warn ]] || { echo "locust log:"; echo "$locust_warn"; }
se_machine
echo "== samples (every 10 s)"
echo "connections by pool (application_name, state, count):"
psql -qAt "$se_pg" -c "SELECT application_name, state, count(*) FROM pg_stat_activity
    WHERE datname = '$se_db' GROUP BY 1, 2 ORDER BY 1, 2" | sed 's/^/  /' || true
"$se_py" - "$samples" "$se_work/locust_stats.csv" "$warm" "$rss_max" "$conn_slack" "$conn_bound" <<'PY'
import csv, sys

samples_file, stats_file = sys.argv[1:3]
warm, rss_max, conn_slack = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
conn_bound = int(sys.argv[6])
rows = [{k: float(v) if "." in v else int(v) for k, v in r.items()} for r in csv.DictReader(open(samples_file, newline=""))]
print(f"{'t s':>6} {'api MiB':>9} {'procs':>5} {'worker MiB':>10} {'procs':>5} {'pg conns':>8} {'backlog':>7}"
      f" {'probe ms':>8} {'locust cores':>12}")
for r in rows:
    print(f"{r['t_s']:>6} {r['api_rss_kib'] / 1024:>9.1f} {r['api_procs']:>5} "
          f"{r['worker_rss_kib'] / 1024:>10.1f} {r['worker_procs']:>5} {r['pg_conns']:>8} {r['backlog']:>7}"
          f" {r['probe_ms']:>8} {r['locust_cores']:>12}")
agg = next((r for r in csv.DictReader(open(stats_file, newline="")) if r["Name"] == "Aggregated"), None)
problems = []
if agg is None or int(agg["Request Count"]) == 0:
    problems.append("locust made no requests")
else:
    failures = int(agg["Failure Count"])
    print(f"\nrequests {agg['Request Count']}, {float(agg['Requests/s']):.1f} req/s, errors {failures}, "
          f"P50 {agg['50%']} ms, P95 {agg['95%']} ms, P99 {agg['99%']} ms, max {float(agg['Max Response Time']):.0f} ms")
    if failures:
        problems.append(f"{failures} failed requests")
loaded = [r for r in rows if r["t_s"] > 0]
after = [r for r in loaded if r["t_s"] >= warm]
if len(after) < 2:
    problems.append(f"fewer than 2 samples after the warm-up ({warm} s)")
else:
    first, last = after[0], after[-1]
    print(f"\n{'series':<16} {'warm':>10} {'end':>10} {'growth':>8}   (warm: t={first['t_s']} s, end: t={last['t_s']} s)")
    for key, label, unit, scale in (
        ("api_rss_kib", "api RSS", "MiB", 1024),
        ("worker_rss_kib", "worker RSS", "MiB", 1024),
        ("pg_conns", "pg connections", "", 1),
        ("backlog", "backlog (runs)", "", 1),
    ):
        a, b = first[key], last[key]
        growth = (b - a) / a * 100 if a else None
        gtext = "n/a" if growth is None else f"{growth:+.1f} %"
        fmt = (lambda v: f"{v / scale:.1f} {unit}") if scale > 1 else (lambda v: str(v))
        print(f"{label:<16} {fmt(a):>10} {fmt(b):>10} {gtext:>8}")
        if key.endswith("rss_kib") and growth is not None and growth > rss_max:
            problems.append(f"{label} grew {growth:.1f} % (> {rss_max:g} %)")
        if key.endswith("rss_kib") and a == 0 and b > 0:
            print(f"  note: {label} was 0 after the warm-up and {b / 1024:.1f} MiB at the end")
        if key == "pg_conns":
            mid = after[len(after) // 2]
            peak = max(r["pg_conns"] for r in loaded)
            print(f"  connections: {mid['pg_conns']} at mid-run (t={mid['t_s']} s), peak {peak}, bound {conn_bound}")
            if b - mid["pg_conns"] > conn_slack:
                problems.append(f"PostgreSQL connections grew by {b - mid['pg_conns']} in the second half (> {conn_slack:g})")
            if peak > conn_bound:
                problems.append(f"PostgreSQL connections reached {peak} (> bound {conn_bound})")
        if key == "api_rss_kib" and first["api_procs"] != last["api_procs"]:
            print(f"  note: {first['api_procs']} API processes after the warm-up, {last['api_procs']} at the end")
print()
if problems:
    print("SOAK FAILED: " + "; ".join(problems))
    sys.exit(1)
print("SOAK PASSED")
PY
