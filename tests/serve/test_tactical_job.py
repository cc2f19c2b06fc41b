"""The ``tactical`` job kind: a bounded ``hal9 tactical simulate`` run as a job, tracked in MLflow."""

from __future__ import annotations

from tests.serve.conftest import Api


def test_tactical_job_runs_and_reports_counts_and_metrics(api: Api) -> None:
    user = api.user()
    config = {"tasks": 50, "units": 4, "scheduler": "auction", "failure_rate": 0.05, "seed": 3}
    r = api.client.post("/api/v1/runs/tactical", json=config, headers=user.headers)
    assert r.status_code == 202, r.text
    run = api.wait(r.json()["id"], user.headers, timeout_s=120)
    assert run["status"] == "succeeded", run["error"]
    assert run["mlflow_run_id"]
    result = run["result"]
    assert result["tasks"] == 50 and result["units"] == 4 and result["scheduler"] == "auction"
    assert set(result) >= {"counts", "metrics", "goals", "seconds"}
    assert sum(v for v in result["counts"].values() if isinstance(v, int)) >= 50
    assert result["metrics"]


def test_tactical_config_is_bounded(api: Api) -> None:
    user = api.user()
    limits = api.services.settings.limits
    bad = [
        {"tasks": limits.max_tactical_tasks + 1},
        {"units": limits.max_tactical_units + 1},
        {"units": 0},
        {"failure_rate": 1.0},
        {"scheduler": "magic"},
        {"unit_source": "selforg"},  # only random units: self-organization is its own, bounded kind
        {"crash_rate": 0.1},
    ]
    for body in bad:
        r = api.client.post("/api/v1/runs/tactical", json=body, headers=user.headers)
        assert r.status_code == 422, (body, r.text)
    kinds = api.client.get("/api/v1/job-kinds", headers=user.headers).json()
    assert "tactical" in {k["name"] for k in kinds}
