"""The CI size of each HAL9-claim experiment (experiments/sweeps/*_small.yaml) run end to end through
:func:`hal9.experiments.sweep.run_sweep` on one local Ray (loopback), logged to a temporary MLflow store:
every trial finishes, every aggregated metric is finite, and the parent run has one child per trial."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from hal9.experiments.sweep import load_sweep_config, run_sweep  # noqa: E402
from hal9.tracking import child_runs  # noqa: E402

SMALL = sorted((Path(__file__).resolve().parents[2] / "experiments" / "sweeps").glob("*_small.yaml"))


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One local Ray for the module (each sweep would otherwise start and stop its own)."""
    from hal9.experiments.sweep.runner import _start_ray

    started, _ = _start_ray(None)
    yield
    if started:
        ray.shutdown()


def test_there_is_a_small_version_of_each_experiment() -> None:
    recipes = {load_sweep_config(p).recipe for p in SMALL}
    assert {"ratio", "emergent", "scaling", "l4_failures", "hal9_table"} <= recipes


@pytest.mark.parametrize("path", SMALL, ids=[p.stem for p in SMALL])
def test_small_experiment_runs_end_to_end(path: Path, tmp_path: Path, local_ray: None) -> None:
    cfg = load_sweep_config(path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    s = run_sweep(cfg, out=tmp_path / "sweeps", tracking_uri=uri, progress=False)
    assert s["failed"] == 0, [r.get("error") for r in s["trials"]]
    assert s["done"] == s["planned"] >= 2
    assert s["aggregate"] and all(row["metrics"] for row in s["aggregate"])
    for row in s["aggregate"]:
        assert all(math.isfinite(m["mean"]) for m in row["metrics"].values()), row["params"]
    assert s["parent_run_id"] is not None
    assert len(child_runs(s["parent_run_id"], tracking_uri=uri)) == s["planned"]
