"""``hal9 learn digits`` and ``hal9 learn compression`` end to end (subprocess, small sizes)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow

from tests.cli.conftest import run_hal9

ROOT = Path(__file__).resolve().parents[2]


def test_digits_json_figure_and_mlflow_curves(tmp_path: Path) -> None:
    args = ["learn", "digits", "--sizes", "64,48,24", "--seeds", "2", "--epochs", "2", "--steps", "8"]
    proc = run_hal9([*args, "--batch-size", "128", "--json", "--no-progress"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert [r["seed"] for r in out["seeds"]] == [0, 1]
    assert out["neurons"] == 136 and out["synapses"] > 0
    accs = [r["test_accuracy"] for r in out["seeds"]]
    assert 0.0 <= min(accs) and max(accs) <= 1.0
    assert abs(out["accuracy_mean"] - sum(accs) / 2) < 1e-12
    lo, hi = out["accuracy_ci95"]
    assert lo <= out["accuracy_mean"] <= hi
    assert (tmp_path / "outputs" / "digits_learning_curves.png").stat().st_size > 1000
    ml = out["mlflow"]
    client = mlflow.MlflowClient(ml["tracking_uri"])
    run = client.get_run(ml["run_id"])
    assert run.data.params["train.epochs"] == "2"
    history = client.get_metric_history(ml["run_id"], "seed1.test_accuracy")
    assert [m.step for m in history] == [0, 1]
    assert history[-1].value == out["seeds"][1]["test_accuracy"]


def test_digits_refuses_bad_sizes_with_one_line(tmp_path: Path) -> None:
    proc = run_hal9(["learn", "digits", "--sizes", "32,16", "--no-mlflow"], tmp_path)
    assert proc.returncode == 2
    assert "hal9 learn: error:" in proc.stderr and "--sizes must start with 64" in proc.stderr
    proc = run_hal9(["learn", "digits", "--lr", "0", "--no-mlflow"], tmp_path)
    assert proc.returncode == 2 and "lr" in proc.stderr


def test_compression_small_config_answers(tmp_path: Path) -> None:
    config = ROOT / "experiments" / "configs" / "learned_compression_small.json"
    proc = run_hal9(["learn", "compression", "--config", str(config), "--no-mlflow", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "learned keeps more than random" in out["answer"]
    args = ["learn", "compression", "--config", str(config), "--no-mlflow", "--no-figures"]
    proc = run_hal9(args, tmp_path)
    assert proc.returncode == 0 and "b1 (learned − random)" in proc.stdout
