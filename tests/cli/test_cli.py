"""End-to-end tests of the ``hal9`` console script (run as a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hal9.cli.main import main
from tests.cli.conftest import run_hal9


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_hal9(args, cwd)


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    from hal9 import __version__

    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip().startswith(f"hal9 {__version__}")
    assert main(["version", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["hal9"] == __version__ and "torch" in info
    assert main([]) == 0
    assert "demo" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0


def test_demo_json_end_to_end(tmp_path: Path) -> None:
    proc = _run(["demo", "--neurons", "3000", "--steps", "40", "--json", "--no-progress"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert len(summary["layers"]) == 9
    assert next(row["layer"] for row in summary["layers"]) == "L1 reflexive"
    assert abs(summary["neurons"] - 3000) <= 10
    assert summary["neurons"] == sum(row["size"] for row in summary["layers"])
    assert summary["pm1_violation"] == 0.0
    assert summary["steps"] == 40 and summary["run_s"] > 0
    assert summary["synaptic_updates_per_s"] == pytest.approx(summary["synapses"] * 40 / summary["run_s"])
    assert summary["layers"][0]["mean_abs_rate"] > 0  # L1 is driven
    for fig in summary["figures"]:
        assert (tmp_path / fig).stat().st_size > 1000
    # the run landed in the default local SQLite store, with params from the config and metrics
    assert (tmp_path / "mlflow.db").exists()
    assert summary["mlflow"]["fallback_path"] is None
    from mlflow import MlflowClient

    client = MlflowClient(summary["mlflow"]["tracking_uri"])
    run = client.get_run(summary["mlflow"]["run_id"])
    assert run.data.params["steps"] == "40"
    assert run.data.params["hierarchy.n_layers"] == "9"
    assert run.data.metrics["synapses"] == summary["synapses"]
    assert run.data.tags["hal9.version"] == summary["hal9_version"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"hierarchy.png", "activity.png"} <= artifacts


def test_demo_can_skip_figures_and_mlflow(tmp_path: Path) -> None:
    args = ["demo", "--neurons", "500", "--steps", "10", "--json", "--no-progress"]
    full_dir, bare_dir = tmp_path / "full", tmp_path / "bare"
    full_dir.mkdir()
    bare_dir.mkdir()
    full = _run(args, full_dir)
    bare = _run([*args, "--no-figures", "--no-mlflow"], bare_dir)
    assert full.returncode == 0 and bare.returncode == 0, full.stderr + bare.stderr
    a, b = json.loads(full.stdout), json.loads(bare.stdout)
    assert b["mlflow"] is None and b["figures"] == []
    assert a["mlflow"] is not None and len(a["figures"]) == 2
    assert not (bare_dir / "mlflow.db").exists() and not (bare_dir / "outputs").exists()
    assert "mlflow" not in bare.stderr.lower()  # MLflow was not even imported (it logs on first use)
    # skipping the figures and the MLflow run changes nothing that was simulated or measured
    assert [r["mean_abs_rate"] for r in a["layers"]] == [r["mean_abs_rate"] for r in b["layers"]]
    assert (a["neurons"], a["synapses"], a["pm1_violation"]) == (
        b["neurons"],
        b["synapses"],
        b["pm1_violation"],
    )
    text = _run(["demo", "--neurons", "500", "--steps", "10", "--no-progress", "--no-mlflow"], bare_dir)
    assert "MLflow                 not logged" in text.stdout and "hierarchy.png" in text.stdout


def test_demo_unreachable_backend_still_finishes(tmp_path: Path) -> None:
    proc = _run(
        ["demo", "--neurons", "500", "--steps", "5", "--no-progress", "--tracking-uri", "http://127.0.0.1:9"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "MLflow unreachable; results written to" in proc.stdout
    assert "Hal9TrackingWarning" in proc.stderr or "unreachable" in proc.stderr.lower()
    assert any((tmp_path / ".hal9_fallback").rglob("metrics.jsonl"))


@pytest.mark.parametrize(
    ("args", "match"),
    [(["--neurons", "5"], "--neurons"), (["--steps", "0"], "steps"), (["--device", "tpu"], "device")],
)
def test_demo_bad_input(args: list[str], match: str, tmp_path: Path) -> None:
    proc = _run(["demo", "--no-progress", *args], tmp_path)
    assert proc.returncode == 2
    assert match in proc.stderr


def test_experiment_script_reproduces_from_config(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[2] / "experiments" / "rate_hierarchy.py"
    config = script.parent / "configs" / "rate_hierarchy_small.json"
    env = {k: v for k, v in os.environ.items() if k not in ("HAL9_TRACKING_URI", "MLFLOW_TRACKING_URI")}
    outs = []
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, str(script), str(config), "--json"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(json.loads(proc.stdout))
    # same config + seed → the same measured activity, bitwise (CPU)
    assert [r["mean_abs_rate"] for r in outs[0]["layers"]] == [r["mean_abs_rate"] for r in outs[1]["layers"]]
    assert outs[0]["mlflow"]["run_id"] != outs[1]["mlflow"]["run_id"]
    assert (tmp_path / "outputs" / "rate_hierarchy_small" / "hierarchy.png").exists()
