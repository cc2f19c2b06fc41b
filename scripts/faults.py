"""Fault scenario of the job service on PostgreSQL: real processes killed and connections cut.

Usage::

    .venv/bin/python scripts/faults.py [--jobs 1000] [--clients 50] [--workers 2] [--json]

What it does (everything on 127.0.0.1, every process stopped by its pid, bounded in time):

1. creates a throwaway database on ``HAL9_FAULTS_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``),
   migrates it, creates a user and an API key;
2. starts ``hal9 serve --workers 2`` (the API) and ``--workers`` separate ``hal9 worker`` processes;
3. submits ``--jobs`` small metrics jobs from ``--clients`` concurrent clients at ``--rate`` per second
   in all, each with an ``Idempotency-Key`` and retried on connection errors, 429 and 5xx with the
   same key;
4. meanwhile: **SIGKILL** of one worker while it runs a job (a new worker is started), **termination of
   every database connection** (``pg_terminate_backend``), a **second API instance** on the same
   database and port (it cannot bind and exits) plus an extra worker, and a **restart of the API**
   (SIGTERM, start);
5. waits until every accepted run has ended, then prints: accepted, succeeded, retried, failed (with
   reasons), stuck (not ended at the deadline: must be 0), lost (accepted but no row: must be 0),
   duplicated (an idempotency key with more than one run: must be 0). Exit 1 if any of the three is not 0.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
HAL9 = [sys.executable, "-m", "hal9.cli.main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Scenario:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        admin = os.environ.get("HAL9_FAULTS_PG", "postgresql://postgres@127.0.0.1:5432/test")
        self.admin = admin
        self.db = f"hal9_faults_{secrets.token_hex(5)}"
        self.url = admin.rsplit("/", 1)[0] + "/" + self.db
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.work = Path(args.workdir or f"/tmp/{self.db}")
        self.work.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "DATABASE_URL": self.url,
            "HAL9_ENVIRONMENT": "production",
            "HAL9_SECRET_KEY": secrets.token_urlsafe(48),
            "HAL9_TRACKING_URI": f"sqlite:///{self.work}/mlflow.db",
            "HAL9_DATA_DIR": str(self.work / "data"),
            "HAL9_LOG_LEVEL": "WARNING",
            "HAL9_ARGON2_TIME_COST": "1",
            "HAL9_ARGON2_MEMORY_KIB": "8",
            "HAL9_ARGON2_PARALLELISM": "1",
            "HAL9_JOB_RATE_PER_PRINCIPAL": "1000000",
            "HAL9_JOB_USER_LIMIT": "1000000",
            "HAL9_WORKER_HEARTBEAT_S": "1",
            "HAL9_WORKER_STALLED_AFTER_S": "5",
            "HAL9_WORKER_POLL_S": "0.5",
            "HAL9_WORKER_SHUTDOWN_GRACE_S": "5",
            "HAL9_JOB_TORCH_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "OMP_WAIT_POLICY": "PASSIVE",
        }
        self.env.pop("REDIS_URL", None)
        self.api: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.events: list[str] = []
        self.t0 = time.monotonic()

    # -- processes -----------------------------------------------------------------------------
    def _spawn(self, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        out = open(self.work / log, "ab")
        return subprocess.Popen(HAL9 + argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

    def start_api(self) -> None:
        self.api = self._spawn(["serve", "--workers", "2", "--port", str(self.port)], "api.log")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("the API did not start; see api.log")

    def start_worker(self) -> None:
        self.workers.append(self._spawn(["worker"], f"worker-{len(self.workers)}.log"))

    def log(self, what: str) -> None:
        self.events.append(f"{time.monotonic() - self.t0:6.1f}s {what}")

    # -- setup / teardown ----------------------------------------------------------------------
    def setup(self) -> str:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.db)))
        subprocess.run([*HAL9, "serve", "migrate"], env=self.env, check=True, cwd=ROOT, capture_output=True)
        password = secrets.token_urlsafe(16)
        subprocess.run(
            [*HAL9, "serve", "create-user", "--username", "faults", "--password-stdin"],
            input=password.encode(),
            env=self.env,
            check=True,
            cwd=ROOT,
            capture_output=True,
        )
        self.start_api()
        token = httpx.post(
            f"{self.base}/api/v1/auth/login", json={"username": "faults", "password": password}, timeout=30
        ).json()["access_token"]
        key = httpx.post(
            f"{self.base}/api/v1/keys",
            json={"name": "faults", "scopes": ["read", "run"]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        ).json()["key"]
        for _ in range(self.args.workers):
            self.start_worker()
        return str(key)

    def teardown(self) -> None:
        procs = [p for p in [self.api, *self.workers] if p is not None]
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        with psycopg.connect(self.admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.db)))

    # -- faults --------------------------------------------------------------------------------
    def kill_busy_worker(self) -> None:
        """SIGKILL a worker process while it runs a job (found by ``runs.worker``)."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with psycopg.connect(self.url, autocommit=True) as conn:
                busy = {
                    int(w.rsplit(":", 1)[1])
                    for (w,) in conn.execute("SELECT worker FROM runs WHERE status = 'running'").fetchall()
                    if w
                }
            for p in self.workers:
                if p.poll() is None and p.pid in busy:
                    p.send_signal(signal.SIGKILL)
                    p.wait(timeout=10)
                    self.log(f"SIGKILL worker pid {p.pid} while it ran a job")
                    self.start_worker()
                    return
            time.sleep(0.05)
        self.log("no busy worker found to kill")

    def cut_connections(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            n = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (self.db,),
            ).fetchone()
        self.log(f"terminated {n[0] if n else 0} database connections")

    def second_instance(self) -> None:
        """Start a second API on the same database and port (it cannot bind) and a second worker."""
        twin = self._spawn(["serve", "--workers", "1", "--port", str(self.port)], "api-twin.log")
        try:
            code = twin.wait(timeout=90)
        except subprocess.TimeoutExpired:
            twin.kill()
            code = twin.wait(timeout=10)
        self.log(f"second API on the same database and port exited with {code}")
        self.start_worker()
        self.log("an extra worker joined")

    def restart_api(self) -> None:
        assert self.api is not None
        self.api.send_signal(signal.SIGTERM)
        self.api.wait(timeout=60)
        self.log("API stopped (SIGTERM)")
        self.start_api()
        self.log("API started again")

    # -- load ----------------------------------------------------------------------------------
    def submit_all(self, key: str) -> tuple[dict[str, str], Counter[str]]:
        """Submit every job (retrying with its idempotency key); returns key → run id, answer counts."""
        accepted: dict[str, str] = {}
        answers: Counter[str] = Counter()
        lock = threading.Lock()
        n = self.args.jobs
        body = {"A": [[0.5, 0.1], [0.0, 0.4]], "measure": "mi"}

        start = time.monotonic()

        def one(i: int) -> None:
            # Paced: job i goes out at start + i / rate, so the faults hit while jobs are submitted and run.
            time.sleep(max(0.0, start + i / self.args.rate - time.monotonic()))
            idem = f"faults-{i}"
            headers = {"X-API-Key": key, "Idempotency-Key": idem}
            deadline = time.monotonic() + 300
            with httpx.Client(base_url=self.base, timeout=30) as client:
                while time.monotonic() < deadline:
                    try:
                        r = client.post("/api/v1/runs/metrics", json=body, headers=headers)
                    except httpx.HTTPError as exc:
                        with lock:
                            answers[type(exc).__name__] += 1
                        time.sleep(0.5)
                        continue
                    with lock:
                        answers[str(r.status_code)] += 1
                    if r.status_code in (200, 202):
                        with lock:
                            accepted[idem] = r.json()["id"]
                        return
                    time.sleep(0.5)

        faults = [
            (0.25, self.kill_busy_worker),
            (0.5, self.cut_connections),
            (0.6, self.second_instance),
            (0.75, self.restart_api),
        ]

        def chaos() -> None:
            for fraction, fault in faults:
                while len(accepted) < fraction * n:
                    time.sleep(0.05)
                fault()

        chaos_thread = threading.Thread(target=chaos, daemon=True)
        chaos_thread.start()
        with ThreadPoolExecutor(self.args.clients) as pool:
            list(pool.map(one, range(n)))
        chaos_thread.join(timeout=120)
        return accepted, answers

    def wait_and_count(self, accepted: dict[str, str]) -> dict[str, Any]:
        deadline = time.monotonic() + self.args.timeout
        ids = list(accepted.values())
        while True:
            with psycopg.connect(self.url, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT id, status, retries, stalls, error FROM runs WHERE id = ANY(%s)", (ids,)
                ).fetchall()
                dup = conn.execute(
                    "SELECT count(*) FROM (SELECT idempotency_key FROM runs "
                    "WHERE idempotency_key IS NOT NULL GROUP BY idempotency_key HAVING count(*) > 1) d"
                ).fetchone()
            active = [r for r in rows if r[1] in ("queued", "running")]
            if not active or time.monotonic() > deadline:
                break
            time.sleep(1)
        statuses = Counter(r[1] for r in rows)
        reasons = Counter((r[4] or "")[:80] for r in rows if r[1] == "failed")
        return {
            "accepted": len(ids),
            "succeeded": statuses.get("succeeded", 0),
            "retried": sum(1 for r in rows if r[2] > 0),
            "stalls": sum(r[3] for r in rows),
            "failed": statuses.get("failed", 0),
            "failed_reasons": dict(reasons),
            "stuck": len(active),
            "lost": len(ids) - len(rows),
            "duplicated": int(dup[0]) if dup else 0,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=10.0, help="submissions per second, all clients")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for runs to end")
    parser.add_argument("--workdir", default=None, help="logs and MLflow store (default /tmp/<db>)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sc = Scenario(args)
    t0 = time.monotonic()
    try:
        key = sc.setup()
        accepted, answers = sc.submit_all(key)
        sc.log(f"all {len(accepted)} submissions accepted")
        figures = sc.wait_and_count(accepted)
    finally:
        sc.teardown()
    figures |= {
        "jobs": args.jobs,
        "clients": args.clients,
        "workers": args.workers,
        "answers": dict(answers),
        "events": sc.events,
        "seconds": round(time.monotonic() - t0, 1),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for event in sc.events:
            print(event)
        print(
            "accepted {accepted}  succeeded {succeeded}  retried {retried}  failed {failed}  "
            "stuck {stuck}  lost {lost}  duplicated {duplicated}  ({seconds} s)".format(**figures)
        )
        if figures["failed_reasons"]:
            print("failed:", figures["failed_reasons"])
        print("HTTP answers:", dict(answers))
    bad = figures["stuck"] or figures["lost"] or figures["duplicated"] or figures["accepted"] != args.jobs
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
