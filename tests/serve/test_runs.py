"""Jobs: every kind runs to completion with an MLflow run id; owners only; bounded queue; failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from hal9.serve import JobContext, JobKind, JobRegistry, JobResult, default_registry
from hal9.serve.db import audit_log, runs
from tests.serve.conftest import Api

JOBS = {
    "simulation": {"neurons": 60, "steps": 10},
    "organize": {"neurons": 60, "k": 4},
    "metrics": {"A": [[0.4, 0.1, 0.0], [0.2, 0.3, 0.1], [0.0, 0.1, 0.5]], "measure": "wms"},
    "tactical": {"tasks": 50, "units": 4},
}


def test_every_kind_runs_and_is_tracked(api: Api) -> None:
    user = api.user()
    submitted = {}
    for kind, config in JOBS.items():
        r = api.client.post(f"/api/v1/runs/{kind}", json=config, headers=user.headers)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "queued"
        submitted[kind] = r.json()["id"]
    for run_id in submitted.values():
        run = api.wait(run_id, user.headers)
        assert run["status"] == "succeeded", run["error"]
        assert run["mlflow_run_id"] and run["started_at"] and run["finished_at"]
        assert run["result"]
    assert api.wait(submitted["simulation"], user.headers)["result"]["neurons"] <= 60
    assert api.wait(submitted["metrics"], user.headers)["result"]["value_nats"] >= 0
    listed = api.client.get("/api/v1/runs", headers=user.headers).json()
    assert {r["id"] for r in listed} == set(submitted.values()) and "result" not in listed[0]
    only = api.client.get("/api/v1/runs", params={"kind": "metrics"}, headers=user.headers).json()
    assert [r["id"] for r in only] == [submitted["metrics"]]
    kinds = api.client.get("/api/v1/job-kinds", headers=user.headers).json()
    assert [k["name"] for k in kinds] == ["simulation", "organize", "metrics", "tactical"]
    assert kinds[0]["config_schema"]["properties"]["neurons"]["maximum"] == 2_000  # bound from settings


def test_runs_are_private(api: Api) -> None:
    alice, bob = api.user(), api.user()
    run_id = api.client.post(
        "/api/v1/runs/simulation", json=JOBS["simulation"], headers=alice.headers
    ).json()["id"]
    assert api.client.get(f"/api/v1/runs/{run_id}", headers=bob.headers).status_code == 404
    assert api.client.get("/api/v1/runs", headers=bob.headers).json() == []
    assert api.wait(run_id, alice.headers)["status"] == "succeeded"


class _GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fail: bool = False
    n: int = Field(1, ge=1, le=10)


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def _gated_registry(gate: threading.Event) -> JobRegistry:
    def run(cfg: _GateConfig, ctx: JobContext) -> JobResult:
        gate.wait(30)
        if cfg.fail:
            raise ValueError("asked to fail")
        return JobResult(summary={"n": cfg.n}, metrics={"n": float(cfg.n)})

    registry = default_registry()
    registry.register(JobKind("gate", "waits for the test", lambda limits: _GateConfig, run))
    return registry


def test_queue_limit_answers_503_and_writes_nothing(
    fresh_database_url: str, api_factory: Callable[..., Api], gate: threading.Event
) -> None:
    api = api_factory(
        registry=_gated_registry(gate), job_workers=1, job_queue_limit=1, database_url=fresh_database_url
    )
    user = api.user()
    first = api.client.post("/api/v1/runs/gate", json={}, headers=user.headers)
    # one job running (waiting for the gate), the next one queued: the limit of 1 queued is reached
    _wait_status(api, first.json()["id"], user.headers, "running")
    second = api.client.post("/api/v1/runs/gate", json={"n": 2}, headers=user.headers)
    assert first.status_code == second.status_code == 202
    full = api.client.post("/api/v1/runs/gate", json={"n": 3}, headers=user.headers)
    assert full.status_code == 503 and full.headers["retry-after"] == "10"
    assert full.headers["content-type"] == "application/problem+json"
    with api.services.engine.connect() as conn:
        n_runs = conn.execute(
            select(func.count()).select_from(runs).where(runs.c.owner_id == user.id)
        ).scalar_one()
        n_audit = conn.execute(
            select(func.count())
            .select_from(audit_log)
            .where(audit_log.c.user_id == user.id, audit_log.c.event == "run_submitted")
        ).scalar_one()
    assert n_runs == n_audit == 2
    gate.set()
    assert api.wait(first.json()["id"], user.headers)["status"] == "succeeded"
    assert api.wait(second.json()["id"], user.headers)["result"] == {"n": 2}
    assert api.client.post("/api/v1/runs/gate", json={}, headers=user.headers).status_code == 202


def _wait_status(api: Api, run_id: str, headers: dict[str, str], status: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if api.client.get(f"/api/v1/runs/{run_id}", headers=headers).json()["status"] == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} never reached {status}")


def test_failed_job_is_recorded(api_factory: Callable[..., Api], gate: threading.Event) -> None:
    gate.set()
    api = api_factory(registry=_gated_registry(gate))
    user = api.user()
    run_id = api.client.post("/api/v1/runs/gate", json={"fail": True}, headers=user.headers).json()["id"]
    run = api.wait(run_id, user.headers)
    assert run["status"] == "failed" and run["error"] == "ValueError: asked to fail"
    assert run["result"] is None and run["mlflow_run_id"] is None


def test_job_submissions_rate_limited_per_principal(
    api_factory: Callable[..., Api], gate: threading.Event
) -> None:
    gate.set()
    api = api_factory(registry=_gated_registry(gate), job_rate_per_principal=2)
    alice, bob = api.user(), api.user()
    codes = [
        api.client.post("/api/v1/runs/gate", json={}, headers=alice.headers).status_code for _ in range(3)
    ]
    assert codes == [202, 202, 429]
    assert api.client.post("/api/v1/runs/gate", json={}, headers=bob.headers).status_code == 202
    assert len(api.client.get("/api/v1/runs", headers=alice.headers).json()) == 2
