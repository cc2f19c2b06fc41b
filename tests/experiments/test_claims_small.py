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

    started, _, _ = _start_ray(None)
    yield
    if started:
        ray.shutdown()


def test_there_is_a_small_version_of_each_experiment() -> None:
    recipes = {load_sweep_config(p).recipe for p in SMALL}
    assert {"ratio", "ratio_task", "emergent", "scaling", "l4_failures", "hal9_table"} <= recipes


@pytest.fixture(scope="module")
def sweeps_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the small sweeps write (shared: the report test reads them all)."""
    return tmp_path_factory.mktemp("claims")


@pytest.mark.parametrize("path", SMALL, ids=[p.stem for p in SMALL])
def test_small_experiment_runs_end_to_end(path: Path, sweeps_dir: Path, local_ray: None) -> None:
    cfg = load_sweep_config(path)
    uri = f"sqlite:///{sweeps_dir / 'mlflow.db'}"
    s = run_sweep(cfg, out=sweeps_dir / "sweeps", tracking_uri=uri, progress=False)
    assert s["failed"] == 0, [r.get("error") for r in s["trials"]]
    assert s["done"] == s["planned"] >= 2
    assert s["aggregate"] and all(row["metrics"] for row in s["aggregate"])
    for row in s["aggregate"]:
        assert all(math.isfinite(m["mean"]) for m in row["metrics"].values()), row["params"]
    assert s["parent_run_id"] is not None
    assert len(child_runs(s["parent_run_id"], tracking_uri=uri)) == s["planned"]


def test_claims_report_reads_every_small_sweep(sweeps_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """experiments/claims_report.py (the tables of docs/experiments.md) on the small sweeps above."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "experiments" / "claims_report.py"
    spec = importlib.util.spec_from_file_location("claims_report", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not (sweeps_dir / "sweeps").is_dir():
        pytest.skip("the small sweeps did not run (run the whole module)")
    assert module.main([str(sweeps_dir / "sweeps")]) == 0
    out = capsys.readouterr().out
    assert "(no sweep folder" not in out
    assert (
        out.count("### ") == 6
        and "peak at e?" in out
        and "Peak test at e: accuracy" in out
        and "largest tasks_lost over all of them: 0" in out
    )
    assert "| auto | 30% |" in out and "| round_robin | 0% |" in out  # the L4 table has its rows
    figures = sweeps_dir / "figures"
    assert module.main([str(sweeps_dir / "sweeps"), "--figures", str(figures)]) == 0
    assert {p.name for p in figures.glob("*.png")} == {
        "claims_ratio_e.png",
        "claims_emergent.png",
        "claims_scaling.png",
        "claims_l4_failures.png",
        "claims_hal9_table.png",
    }
