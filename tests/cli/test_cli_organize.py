"""``hal9 organize`` end to end (subprocess)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli.conftest import run_hal9


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_hal9(["organize", *args], cwd)


def test_organize_json(tmp_path: Path) -> None:
    proc = _run(
        ["--neurons", "1200", "--k", "8", "--null", "2", "--exact", "--json", "--no-progress"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["neurons"] == 1200 and out["edges"] == 1200 * 8
    assert 2 <= out["n_layers"] <= 9 and sum(r["size"] for r in out["layers"]) == 1200
    assert out["pm1_violation"] == 0.0
    assert "rewired/modularity" in out["null"]
    assert [e["kind"] for e in out["events"]][:2] == ["neurons_added", "discovery_done"]
    for f in ("emergent.png", "feature_space.png", "null_comparison.png"):
        assert (tmp_path / "outputs" / f).stat().st_size > 1000
    assert out["mlflow"]["fallback_path"] is None and out["peak_rss_mb"] > 0


def test_hal9_reference_count(tmp_path: Path) -> None:
    proc = _run(["--hal9-reference", "--neurons", "1000", "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["connections"] == 489_060  # the count HAL9's README prints for 1000 neurons
    assert out["timings_s"]["total"] > 0
    assert out["sweep"]["connections"] == 489_060 and out["sweep"]["agrees"] is True
    assert out["kernel"] == "eager"


def test_hal9_reference_text_reports_both_counts(tmp_path: Path) -> None:
    proc = _run(["--hal9-reference", "--neurons", "2000", "--pairs-kernel", "eager"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "1,957,240 connections" in lines[0] and "eager kernel" in lines[0]  # HAL9's README count at 2000
    assert "sweep: 1,957,240 connections" in lines[1] and "same count" in lines[1]
    bad = _run(["--hal9-reference", "--pairs-kernel", "jit"], tmp_path)
    assert bad.returncode == 2 and "--pairs-kernel" in bad.stderr


def test_bad_input(tmp_path: Path) -> None:
    proc = _run(["--neurons", "5", "--k", "8"], tmp_path)
    assert proc.returncode == 2 and "k" in proc.stderr
