"""The fault scenario (``scripts/faults.py``) on PostgreSQL, with real processes: nothing accepted is lost.

A smaller run than the documented one (300 jobs, 30 clients) so CI stays fast; the script kills a busy
worker with SIGKILL, terminates every database connection, starts a second API on the same database
and port, and restarts the API, then checks that every accepted run ended, none twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve.conftest import _pg_reachable, _require

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.faults
@pytest.mark.postgres
def test_fault_scenario_loses_nothing(tmp_path: Path) -> None:
    if not _pg_reachable():
        _require("HAL9_REQUIRE_POSTGRES", "PostgreSQL")
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "faults.py"),
        "--jobs", "300", "--clients", "30", "--rate", "15", "--timeout", "300",
        "--workdir", str(tmp_path), "--json",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HAL9_DATABASE_URL")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    assert done.returncode in (0, 1), done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["accepted"] == 300, figures
    assert figures["stuck"] == 0 and figures["lost"] == 0 and figures["duplicated"] == 0, figures
    assert figures["succeeded"] + figures["failed"] == 300, figures
    # failures may only have stated, non-interrupt reasons (a run lost its worker too often)
    assert all("interrupted" not in reason for reason in figures["failed_reasons"]), figures
    events = "\n".join(figures["events"])
    assert "SIGKILL worker" in events and "terminated" in events and "API started again" in events
    assert "second API on the same database" in events
    assert figures["retried"] >= 1  # the killed worker's job ran again
    assert done.returncode == 0


@pytest.mark.faults
@pytest.mark.postgres
def test_sigterm_hands_the_running_job_back(fresh_pg_url: str, tmp_path: Path) -> None:
    """A real `hal9 worker` process gets SIGTERM mid-job: the run goes back to the queue, not failed."""
    import signal
    import time

    from fastapi.testclient import TestClient
    from sqlalchemy import select, text

    from hal9.serve import JobLimits, create_app
    from hal9.serve.db import runs
    from tests.serve.conftest import Api, make_settings

    limits = JobLimits(_env_file=None, max_neurons=2_000, max_steps=200_000)
    settings = make_settings(fresh_pg_url, tmp_path, f"sqlite:///{tmp_path}/mlflow.db", limits=limits)
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HAL9_DATABASE_URL")},
        "DATABASE_URL": fresh_pg_url,
        "HAL9_ENVIRONMENT": "test",
        "HAL9_SECRET_KEY": settings.secret_bytes.decode(),
        "HAL9_WORKER_SHUTDOWN_GRACE_S": "1",
        "HAL9_WORKER_HEARTBEAT_S": "0.5",
        "HAL9_WORKER_STALLED_AFTER_S": "3",
        "HAL9_MAX_STEPS": "200000",
        "HAL9_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "HAL9_DATA_DIR": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }
    with TestClient(create_app(settings)) as client:
        api = Api(client)
        user = api.user()
        r = client.post(
            "/api/v1/runs/simulation", json={"neurons": 100, "steps": 200_000}, headers=user.headers
        )
        assert r.status_code == 202, r.text
        run_id = r.json()["id"]
        worker = subprocess.Popen([sys.executable, "-m", "hal9.cli.main", "worker"], env=env, cwd=ROOT)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if client.get(f"/api/v1/runs/{run_id}", headers=user.headers).json()["status"] == "running":
                    break
                time.sleep(0.2)
            else:
                raise AssertionError("the worker never started the job")
            time.sleep(1.0)
            t0 = time.monotonic()
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=60)
            stopped_after = time.monotonic() - t0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
        assert code == 0 and stopped_after < 1 + 5 + 5  # grace + hard margin + slack, not the job's length
        with api.services.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).one()
            job = conn.execute(
                text("SELECT status FROM procrastinate_jobs WHERE id = :j"), {"j": row.queue_job_id}
            ).scalar_one()
        assert row.status == "queued" and row.retries == 1 and row.error is None and row.stalls == 0
        assert job == "todo"  # back in the queue for the next worker


def _descendants(pid: int) -> set[int]:
    """Live descendants of ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _nice(pid: int) -> int:
    """Niceness of ``pid`` (field 19 of ``/proc/PID/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


@pytest.mark.faults
@pytest.mark.postgres
@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_serve_with_worker_leaves_no_orphans(fresh_pg_url: str, tmp_path: Path, stop: str) -> None:
    """`hal9 serve --with-worker 1`: SIGTERM stops its workers; after SIGKILL they stop by themselves."""
    import secrets
    import signal
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HAL9_DATABASE_URL")},
        "DATABASE_URL": fresh_pg_url,
        "HAL9_SECRET_KEY": secrets.token_urlsafe(48),
        "HAL9_LOG_LEVEL": "WARNING",
        "HAL9_WORKER_SHUTDOWN_GRACE_S": "2",
        "HAL9_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
    }
    cmd = [sys.executable, "-m", "hal9.cli.main", "serve", "--port", str(port), "--with-worker", "1"]
    serve = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            raise AssertionError("hal9 serve --with-worker 1 never became ready (no worker seen?)")
        family = _descendants(serve.pid)
        assert family, "no worker process was started"
        # the job process (not its supervisor) runs niced: HAL9_WORKER_NICE unset -> 10
        niceness = {pid: _nice(pid) for pid in family}
        assert sorted(niceness.values()) == [0, 10], niceness
        serve.send_signal(signal.SIGTERM if stop == "SIGTERM" else signal.SIGKILL)
        code = serve.wait(timeout=60)
        # SIGTERM: a graceful stop that ends the workers itself and exits 0 (not killed by the signal)
        assert code == (0 if stop == "SIGTERM" else -signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(family), f"processes left after {stop}: {_alive(family)}"
    finally:
        if serve.poll() is None:
            serve.kill()
        for pid in _alive(_descendants(serve.pid)):
            os.kill(pid, signal.SIGKILL)
