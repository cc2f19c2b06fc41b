"""Durable jobs through the API: cancellation, idempotency, per-user limits, readiness, hand-back, recovery.

Each test runs on SQLite (in-process execution with leases) and PostgreSQL (procrastinate queue and a
queue worker on a thread), unless it is about one of them. Real process kills are in ``test_faults.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, insert, select, text, update

from hal9.serve import JobContext, JobKind, JobRegistry, JobResult, default_registry
from hal9.serve.db import runs, utcnow
from tests.serve.conftest import Api


class _LoopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seconds: float = 30.0


def _looping_registry(started: threading.Event, checkpoints: list[int]) -> JobRegistry:
    """Default kinds plus ``loop``: calls ``ctx.checkpoint()`` every 10 ms for ``seconds``."""

    def run(cfg: Any, ctx: JobContext) -> JobResult:
        started.set()
        deadline = time.monotonic() + cfg.seconds
        n = 0
        while time.monotonic() < deadline:
            ctx.checkpoint()
            n += 1
            checkpoints.append(n)
            time.sleep(0.01)
        return JobResult(summary={"checkpoints": n})

    registry = default_registry()
    registry.register(JobKind("loop", "checkpoints until told to stop", lambda limits: _LoopConfig, run))
    return registry


@pytest.fixture
def started() -> Iterator[threading.Event]:
    yield threading.Event()


def _row(api: Api, run_id: str) -> Any:
    with api.services.engine.connect() as conn:
        return conn.execute(select(runs).where(runs.c.id == run_id)).one()


def _until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


METRICS_BODY = {"A": [[0.5, 0.1], [0.0, 0.4]], "measure": "mi"}


def test_cancel_running_job_stops_at_a_checkpoint(
    api_factory: Callable[..., Api], started: threading.Event
) -> None:
    checkpoints: list[int] = []
    api = api_factory(registry=_looping_registry(started, checkpoints))
    owner, other = api.user(), api.user()
    run_id = api.client.post("/api/v1/runs/loop", json={}, headers=owner.headers).json()["id"]
    assert started.wait(30)
    # another user cannot see (404) nor cancel it
    assert api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=other.headers).status_code == 404
    r = api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=owner.headers)
    assert r.status_code == 202 and r.json()["cancel_requested"] is True and r.json()["status"] == "running"
    t0 = time.monotonic()
    body = api.wait(run_id, owner.headers, timeout_s=20)
    assert body["status"] == "cancelled" and body["error"] == "cancelled by request"
    assert time.monotonic() - t0 < 10  # long before the 30 s the job would run
    n = len(checkpoints)
    time.sleep(0.3)
    assert len(checkpoints) == n  # it really stopped
    # an ended run cannot be cancelled again
    again = api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=owner.headers)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"


def test_cancelled_queued_job_never_starts(fresh_database_url: str, api_factory: Callable[..., Api]) -> None:
    # PostgreSQL: no worker yet; SQLite: zero free threads is impossible, so block the only one.
    gate_started = threading.Event()
    checkpoints: list[int] = []
    api = api_factory(
        registry=_looping_registry(gate_started, checkpoints),
        database_url=fresh_database_url,
        worker=False,
        job_workers=1,
    )
    user, admin = api.user(), api.user(admin=True)
    blocker = None
    if not api.services.settings.uses_queue:
        blocker = api.client.post("/api/v1/runs/loop", json={}, headers=user.headers).json()["id"]
        assert gate_started.wait(30)
    run_id = api.client.post("/api/v1/runs/metrics", json=METRICS_BODY, headers=user.headers).json()["id"]
    # an admin may cancel another user's run
    r = api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=admin.headers)
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    if blocker is not None:
        api.client.post(f"/api/v1/runs/{blocker}/cancel", headers=user.headers)
    else:
        from hal9.serve.workerproc import ThreadedWorker

        with api.services.engine.connect() as conn:
            job = conn.execute(
                text("SELECT status FROM procrastinate_jobs WHERE args->>'run_id' = :r"), {"r": run_id}
            ).scalar_one()
        assert job == "cancelled"
        api.worker = ThreadedWorker(api.services.settings, api.services.registry).start()
    time.sleep(1.5)
    row = _row(api, run_id)
    assert row.status == "cancelled" and row.attempts == 0 and row.started_at is None
    if api.worker is not None:
        api.worker.stop()


def test_idempotency_key_returns_the_original_run(api: Api) -> None:
    user = api.user()
    headers = {**user.headers, "Idempotency-Key": "sweep-7/trial-3"}
    first = api.client.post("/api/v1/runs/metrics", json=METRICS_BODY, headers=headers)
    again = api.client.post("/api/v1/runs/metrics", json=METRICS_BODY, headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == first.json()["id"]
    other = api.client.post("/api/v1/runs/metrics", json={**METRICS_BODY, "measure": "wms"}, headers=headers)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    # keys are per user: another user's same key makes a new run
    bob = api.user()
    theirs = api.client.post(
        "/api/v1/runs/metrics",
        json=METRICS_BODY,
        headers={**bob.headers, "Idempotency-Key": "sweep-7/trial-3"},
    )
    assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]
    with api.services.engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(runs).where(runs.c.owner_id == user.id)
        ).scalar_one()
    assert n == 1
    assert api.wait(first.json()["id"], user.headers)["status"] == "succeeded"


def test_per_user_limit_is_429_and_spares_other_users(
    api_factory: Callable[..., Api], started: threading.Event
) -> None:
    api = api_factory(registry=_looping_registry(started, []), job_user_limit=2, worker=False)
    greedy, other = api.user(), api.user()
    ids = [
        api.client.post("/api/v1/runs/loop", json={"seconds": 0.1}, headers=greedy.headers).json()["id"]
        for _ in range(2)
    ]
    third = api.client.post("/api/v1/runs/loop", json={"seconds": 0.1}, headers=greedy.headers)
    assert third.status_code == 429 and third.headers["retry-after"] == "10"
    assert "limit 2" in third.json()["detail"]
    assert (
        api.client.post("/api/v1/runs/metrics", json=METRICS_BODY, headers=other.headers).status_code == 202
    )
    for run_id in ids:
        api.client.post(f"/api/v1/runs/{run_id}/cancel", headers=greedy.headers)
    assert (
        api.client.post("/api/v1/runs/metrics", json=METRICS_BODY, headers=greedy.headers).status_code == 202
    )


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_run_row_and_queue_entry_commit_together(
    pg_url: str, api_factory: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = api_factory(database_url=pg_url, worker=False)
    user = api.user()

    def count() -> tuple[int, int]:
        with api.services.engine.connect() as conn:
            n_runs = conn.execute(select(func.count()).select_from(runs)).scalar_one()
            n_jobs = conn.execute(text("SELECT count(*) FROM procrastinate_jobs")).scalar_one()
        return n_runs, n_jobs

    before = count()
    ok = api.client.post("/api/v1/runs/metrics", json=METRICS_BODY, headers=user.headers)
    assert ok.status_code == 202
    assert count() == (before[0] + 1, before[1] + 1)
    with api.services.engine.connect() as conn:
        job_id = conn.execute(select(runs.c.queue_job_id).where(runs.c.id == ok.json()["id"])).scalar_one()
        args = conn.execute(
            text("SELECT args FROM procrastinate_jobs WHERE id = :j"), {"j": job_id}
        ).scalar_one()
    assert args == {"run_id": ok.json()["id"]}

    # a failure after the queue entry was written rolls both back
    import hal9.serve.routes.runs as runs_routes

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit failed")

    monkeypatch.setattr(runs_routes, "audit", boom)
    failed = api.client.post("/api/v1/runs/metrics", json=METRICS_BODY, headers=user.headers)
    assert failed.status_code == 500
    assert count() == (before[0] + 1, before[1] + 1)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_ready_names_each_check(pg_url: str, api_factory: Callable[..., Api]) -> None:
    lonely = api_factory(database_url=pg_url, worker=False, ready_worker_window_s=1.0)
    time.sleep(1.2)  # workers of earlier tests are older than the window
    r = lonely.client.get("/ready")
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["checks"]["database"]["ok"] is True and body["checks"]["queue"]["ok"] is False
    assert body["checks"]["queue"]["workers"] == 0 and "queue check failed" in body["detail"]
    relaxed = api_factory(database_url=pg_url, worker=False, ready_requires_workers=False)
    assert relaxed.client.get("/ready").status_code == 200
    served = api_factory(database_url=pg_url)
    body = served.client.get("/ready").json()
    assert body["status"] == "ready" and body["checks"]["queue"]["workers"] >= 1


def test_subnormal_bandwidth_is_rejected(api: Api) -> None:
    user = api.user()
    body = {"neurons": 40, "k": 3, "kernel": "gaussian", "bandwidth": 2.2e-311}
    r = api.client.post("/api/v1/runs/organize", json=body, headers=user.headers)
    assert r.status_code == 422 and "bandwidth" in r.text


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_worker_shutdown_hands_running_job_back(
    fresh_pg_url: str, api_factory: Callable[..., Api], started: threading.Event
) -> None:
    registry = _looping_registry(started, [])
    api = api_factory(registry=registry, database_url=fresh_pg_url, worker_shutdown_grace_s=0.5)
    user = api.user()
    run_id = api.client.post("/api/v1/runs/loop", json={"seconds": 4}, headers=user.headers).json()["id"]
    assert started.wait(30)
    assert api.worker is not None
    t0 = time.monotonic()
    api.worker.stop()  # SIGTERM of a worker: grace 0.5 s, then hand back at the next checkpoint
    assert time.monotonic() - t0 < 5
    row = _row(api, run_id)
    assert row.status == "queued" and row.retries == 1 and row.stalls == 0 and row.error is None
    from hal9.serve.workerproc import ThreadedWorker

    api.worker = ThreadedWorker(api.services.settings, registry).start()
    body = api.wait(run_id, user.headers, timeout_s=30)
    assert body["status"] == "succeeded" and body["attempts"] == 2 and body["retries"] == 1
    api.worker.stop()


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_stalled_jobs_are_retried_then_failed(fresh_pg_url: str, api_factory: Callable[..., Api]) -> None:
    from hal9.serve.queue import recover_stalled

    api = api_factory(database_url=fresh_pg_url, worker=False, job_max_attempts=2)
    user = api.user()
    run_id = api.client.post("/api/v1/runs/metrics", json=METRICS_BODY, headers=user.headers).json()["id"]
    engine = api.services.engine

    def take_and_die() -> None:
        """What a worker killed mid-job leaves: job 'doing' on a worker whose heartbeat stopped."""
        with engine.begin() as conn:
            wid = conn.execute(text("SELECT worker_id FROM procrastinate_register_worker_v1()")).scalar_one()
            conn.execute(
                text("SELECT * FROM procrastinate_fetch_job_v2(ARRAY['hal9']::varchar[], :w)"), {"w": wid}
            )
            conn.execute(
                text(
                    "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' "
                    "WHERE id = :w"
                ),
                {"w": wid},
            )
            conn.execute(
                update(runs).where(runs.c.id == run_id).values(status="running", attempts=runs.c.attempts + 1)
            )

    take_and_die()
    first = recover_stalled(engine, stalled_after_s=3.0, max_attempts=2)
    assert first.retried == (run_id,)
    row = _row(api, run_id)
    assert row.status == "queued" and row.stalls == 1 and row.retries == 1
    assert recover_stalled(engine, stalled_after_s=3.0, max_attempts=2).retried == ()  # nothing stalled now
    take_and_die()
    second = recover_stalled(engine, stalled_after_s=3.0, max_attempts=2)
    assert second.failed == (run_id,)
    row = _row(api, run_id)
    assert row.status == "failed" and row.stalls == 2 and "worker lost 2 times" in row.error
    with engine.connect() as conn:
        status = conn.execute(
            text("SELECT status FROM procrastinate_jobs WHERE args->>'run_id' = :r"), {"r": run_id}
        ).scalar_one()
    assert status == "failed"


def test_inprocess_adopts_runs_of_a_lost_process(
    fresh_database_url: str, api_factory: Callable[..., Api]
) -> None:
    api = api_factory(database_url=fresh_database_url, job_execution="inprocess")
    user = api.user()
    engine = api.services.engine
    now = utcnow()
    lost = {"worker": "api@gone:1", "lease_until": now - timedelta(seconds=5), "created_at": now}
    base = {"owner_id": user.id, "kind": "metrics", "config": METRICS_BODY}
    live = {"worker": "api@alive:2", "lease_until": now + timedelta(hours=1), "created_at": now}
    with engine.begin() as conn:
        conn.execute(insert(runs).values(id="a" * 32, status="queued", **base, **lost))
        conn.execute(insert(runs).values(id="b" * 32, status="running", attempts=1, **base, **lost))
        conn.execute(insert(runs).values(id="c" * 32, status="queued", **base, **live))
    _until(lambda: _row(api, "a" * 32).status == "succeeded" and _row(api, "b" * 32).status == "succeeded")
    b = _row(api, "b" * 32)
    assert b.stalls == 1 and b.retries == 1 and b.attempts == 2
    # a run held by a live lease (another instance) is never touched
    c = _row(api, "c" * 32)
    assert c.status == "queued" and c.worker == "api@alive:2" and c.attempts == 0


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_connections_cut_while_a_job_runs_outcome_is_recorded(
    fresh_pg_url: str, api_factory: Callable[..., Api], started: threading.Event
) -> None:
    api = api_factory(registry=_looping_registry(started, []), database_url=fresh_pg_url)
    user = api.user()
    run_id = api.client.post("/api/v1/runs/loop", json={"seconds": 2}, headers=user.headers).json()["id"]
    assert started.wait(30)
    import psycopg

    from tests.serve.conftest import PG_ADMIN_URL

    name = fresh_pg_url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s", (name,)
        ).fetchone()
    assert killed is not None and killed[0] >= 2  # the app's and the worker's pooled connections
    body = api.wait(run_id, user.headers, timeout_s=60)
    assert body["status"] == "succeeded" and body["attempts"] == 1 and body["retries"] == 0
    assert body["result"]["checkpoints"] > 0
    # the API answers again at once: pooled connections are checked before use
    assert api.client.get("/api/v1/runs", headers=user.headers).status_code == 200


def test_worker_priority_is_lowered_once_never_raised() -> None:
    """``lower_priority`` sets an absolute niceness (in a child process: it cannot be undone)."""
    import subprocess
    import sys

    code = (
        "import os; from hal9.serve.workerproc import lower_priority as p; "
        "print(os.getpriority(os.PRIO_PROCESS, 0), p(5), p(5), p(3), p(0))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    start, *after = map(int, out.stdout.split())
    assert after == [max(start, 5)] * 4  # repeated: still 5 (absolute, not added); never made less nice
