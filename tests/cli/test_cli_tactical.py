"""``hal9 tactical simulate`` end to end (subprocess)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import mlflow

from tests.cli.conftest import run_hal9


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_hal9(["tactical", "simulate", *args], cwd)


def test_compare_json_figures_and_mlflow(tmp_path: Path) -> None:
    proc = _run(
        ["--tasks", "300", "--units", "12", "--failure-rate", "0.05", "--compare", "--json", "--no-progress"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out["schedulers"]) == {"auction", "hungarian", "greedy", "edf", "round_robin"}
    for s in out["schedulers"].values():
        c = s["counts"]
        assert c["lost"] == 0 and c["completed"] + c["failed"] + c["cancelled"] == 300
        assert s["metrics"]["makespan"] > 0 and 0 < s["metrics"]["jain_fairness"] <= 1
        assert s["metrics"]["messages_award"] >= c["completed"]
    for f in ("gantt_auction.png", "cooperation_auction.png", "utilization_auction.png", "schedulers.png"):
        assert (tmp_path / "outputs" / f).stat().st_size > 1000
    ml = out["mlflow"]
    assert ml["fallback_path"] is None
    run = mlflow.MlflowClient(ml["tracking_uri"]).get_run(ml["run_id"])
    assert run.data.params["tasks"] == "300"
    assert run.data.metrics["auction.tasks_lost"] == 0.0
    assert run.data.metrics["edf.makespan"] == out["schedulers"]["edf"]["metrics"]["makespan"]


def test_units_from_selforg_single_scheduler(tmp_path: Path) -> None:
    args = ["--tasks", "100", "--units", "4", "--from-selforg", "1500", "--layers", "4", "--preemption"]
    proc = _run([*args, "--scheduler", "hungarian", "--json", "--no-progress", "--no-figures"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["unit_source"]["source"] == "selforg" and out["unit_source"]["layer"] == "L3"
    assert out["counts"]["lost"] == 0 and out["counts"]["completed"] == 100
    assert "attempts_preempted" in out["metrics"]


def test_bad_input(tmp_path: Path) -> None:
    proc = _run(["--tasks", "0"], tmp_path)
    assert proc.returncode == 2 and "--tasks:" in proc.stderr
    proc = _run(["--failure-rate", "1.5"], tmp_path)
    assert proc.returncode == 2 and "--failure-rate: Input should be less than 1, got 1.5" in proc.stderr
    proc = _run(["--from-selforg", "1500", "--units", "3", "--no-progress"], tmp_path)
    assert proc.returncode == 2 and "--layers" in proc.stderr
    proc = run_hal9(["tactical"], tmp_path)
    assert proc.returncode == 2 and "simulate" in proc.stdout
