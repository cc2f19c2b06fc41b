"""JSON log lines carry the request id (also in job lines); /metrics exposes the hal9 metrics."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import pytest

from hal9.serve.logging import JsonFormatter
from tests.serve.conftest import Api


def test_request_id_in_access_and_job_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    user = api.user()
    caplog.set_level(logging.INFO, logger="hal9.serve")
    r = api.client.post(
        "/api/v1/runs/simulation",
        json={"neurons": 30, "steps": 5},
        headers={**user.headers, "X-Request-ID": "trace-42"},
    )
    assert r.status_code == 202 and r.headers["x-request-id"] == "trace-42"
    run_id = r.json()["id"]
    assert api.wait(run_id, user.headers)["status"] == "succeeded"
    access = [
        rec for rec in caplog.records if rec.name == "hal9.serve.access" and rec.request_id == "trace-42"
    ]  # type: ignore[attr-defined]
    assert len(access) == 1
    line = json.loads(JsonFormatter().format(access[0]))
    assert line["route"] == "/api/v1/runs/simulation" and line["status"] == 202 and line["method"] == "POST"
    assert line["principal"] == f"user:{user.id}" and line["duration_ms"] > 0
    deadline = time.monotonic() + 10  # "job finished" is logged just after the run row is updated
    while time.monotonic() < deadline:
        # (runs left queued by earlier tests on the shared database may be executed meanwhile)
        jobs = [
            rec
            for rec in caplog.records
            if rec.name == "hal9.serve.jobs" and getattr(rec, "run_id", None) == run_id
        ]
        if "job finished" in {rec.getMessage() for rec in jobs}:
            break
        time.sleep(0.05)
    assert {rec.getMessage() for rec in jobs} >= {"job started", "job finished"}
    assert all(rec.request_id == "trace-42" and rec.run_id == run_id for rec in jobs)  # type: ignore[attr-defined]
    # the route template, not the concrete path, is logged
    api.client.get(f"/api/v1/runs/{run_id}", headers={**user.headers, "X-Request-ID": "trace-43"})
    polled = [rec for rec in caplog.records if getattr(rec, "request_id", None) == "trace-43"]
    assert [rec.route for rec in polled] == ["/api/v1/runs/{run_id}"]  # type: ignore[attr-defined]


def test_no_secret_in_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    user = api.user()
    api.client.post("/api/v1/auth/login", json={"username": user.username, "password": "wrong-but-secret"})
    formatted = "\n".join(JsonFormatter().format(rec) for rec in caplog.records)
    assert (
        user.password not in formatted and "wrong-but-secret" not in formatted and user.token not in formatted
    )
    assert api.services.settings.secret_bytes.decode() not in formatted


def test_metrics_after_a_job(api: Api) -> None:
    user = api.user()
    assert api.client.get("/metrics").status_code == 401  # "token" is the default
    run_id = api.client.post(
        "/api/v1/runs/simulation", json={"neurons": 30, "steps": 5}, headers=user.headers
    ).json()["id"]
    assert api.wait(run_id, user.headers)["status"] == "succeeded"
    org = api.client.post("/api/v1/runs/organize", json={"neurons": 40, "k": 3}, headers=user.headers).json()[
        "id"
    ]
    assert api.wait(org, user.headers)["status"] == "succeeded"
    api.client.get("/api/v1/runs", headers={"Authorization": "Bearer bad"})
    text = api.client.get("/metrics", headers=user.headers).text
    # Queue figures come from the database, whichever process ran the jobs.
    assert "hal9_queue_oldest_queued_seconds " in text and "hal9_queue_retries_total " in text
    succeeded = next(ln for ln in text.splitlines() if ln.startswith('hal9_runs{status="succeeded"}'))
    assert float(succeeded.split()[1]) >= 2
    workers = next(ln for ln in text.splitlines() if ln.startswith("hal9_queue_workers "))
    if api.services.settings.uses_queue:
        assert float(workers.split()[1]) >= 1  # the test's queue worker heartbeats
    else:  # in-process: this process ran the jobs and counted them
        assert 'hal9_jobs_finished_total{kind="simulation",outcome="succeeded"} 1.0' in text
        assert 'hal9_jobs_running{kind="simulation"} 0.0' in text
        steps = next(ln for ln in text.splitlines() if ln.startswith("hal9_neuron_steps_simulated_total "))
        assert float(steps.split()[1]) >= 5 * 9
        assert 'hal9_job_duration_seconds_count{kind="simulation"} 1.0' in text
        assert "hal9_selforg_last_layer_count " in text
    assert 'hal9_auth_failures_total{reason="invalid_token"} 1.0' in text
    assert 'hal9_http_requests_total{method="POST",route="/api/v1/runs/simulation",status="202"} 1.0' in text
    assert "hal9_http_request_duration_seconds_bucket" in text


@pytest.mark.parametrize(("access", "status"), [("open", 200), ("off", 404)])
def test_metrics_access_setting(api_factory: Callable[..., Api], access: str, status: int) -> None:
    api = api_factory(metrics_access=access)
    assert api.client.get("/metrics").status_code == status
