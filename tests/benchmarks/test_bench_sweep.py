"""Sweep overhead: a 64-trial sweep of small simulations on a local Ray vs the same trials run one after
another in one process.

The trials: the ``demo`` recipe (a designed 9-layer rate hierarchy, ``HAL9_BENCH_SWEEP_NEURONS`` neurons,
default 5,000, ``HAL9_BENCH_SWEEP_STEPS`` steps, default 1,000, no figures, no MLflow), 64 seeds
(``HAL9_BENCH_SWEEP_TRIALS``). Contenders, interleaved for ``HAL9_BENCH_SWEEP_ROUNDS`` rounds (default 3):

* **sequential**: this process runs each trial's config through the recipe, one torch thread (the same
  per-trial work as a Ray trial with ``cpus: 1``);
* **ray**: :func:`hal9.experiments.sweep.run_sweep` with ``cpus: 1`` per trial, starting a local Ray with
  the machine's cores and stopping it (both inside the timing), MLflow off;
* **ray + mlflow**: the same with a parent and 64 child runs logged to a fresh SQLite MLflow store.

* **ray, small**: the same as **ray** with a quarter of the trials.

Reported (medians): wall times, the speed-up ``sequential / ray``, Ray's start-up alone, the cost of a
trial on a slot from the slope between the two sweep sizes ``(ray − ray small) · slots / (64 − 16)``, the
overhead per trial (that slope minus the mean trial time measured inside the workers), and the fixed
cost ``ray − 64 · slope / slots`` (start-up and shutdown, each worker importing torch and hal9, the
aggregate and its figure). Run with::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest tests/benchmarks/test_bench_sweep.py \\
        --benchmark-only -s -p no:cacheprovider

Writes ``outputs/bench_sweep.json``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import torch

ray = pytest.importorskip("ray")

from hal9.experiments.sweep import SweepConfig, expand_trials, run_sweep  # noqa: E402
from hal9.experiments.sweep.recipes import TrialContext, get_recipe  # noqa: E402

NEURONS = int(os.environ.get("HAL9_BENCH_SWEEP_NEURONS", "5000"))
STEPS = int(os.environ.get("HAL9_BENCH_SWEEP_STEPS", "1000"))
TRIALS = int(os.environ.get("HAL9_BENCH_SWEEP_TRIALS", "64"))
ROUNDS = int(os.environ.get("HAL9_BENCH_SWEEP_ROUNDS", "3"))
SMALL = max(1, TRIALS // 4)  # a smaller sweep: the slope between the two sizes is the per-trial cost
OUT = Path(__file__).resolve().parents[2] / "outputs" / "bench_sweep.json"


def _config(name: str, trials: int = TRIALS) -> SweepConfig:
    from hal9.core import sizes_for_total

    return SweepConfig(
        name=name,
        recipe="demo",
        base={
            "steps": STEPS,
            "record_every": 1,
            "hierarchy": {"sizes": list(sizes_for_total(NEURONS, 9, 2.718281828459045))},
        },
        seeds=list(range(trials)),
        resources={"cpus": 1},
    )


def _sequential(cfg: SweepConfig) -> float:
    recipe = get_recipe(cfg.recipe)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t0 = time.perf_counter()
        for trial in expand_trials(cfg):
            out = recipe.run(recipe.config_type.model_validate(trial.config), TrialContext(trial_id=trial.id))
            assert out["metrics"]["run_s"] > 0
        return time.perf_counter() - t0
    finally:
        torch.set_num_threads(before)


def _ray(cfg: SweepConfig, folder: Path, mlflow: bool) -> tuple[float, float, list[float]]:
    t0 = time.perf_counter()
    s = run_sweep(
        cfg,
        out=folder,
        mlflow=mlflow,
        tracking_uri=f"sqlite:///{folder / 'mlflow.db'}",
        progress=False,
    )
    wall = time.perf_counter() - t0
    assert s["done"] == s["planned"] == len(cfg.seeds) and s["failed"] == 0
    return wall, s["wall_s"], [r["wall_s"] for r in s["trials"]]


def _startup() -> float:
    from hal9.experiments.sweep.runner import _start_ray

    t0 = time.perf_counter()
    started, _, _ = _start_ray(None)
    ray.get(ray.remote(lambda: 1).options(num_cpus=1).remote())
    took = time.perf_counter() - t0
    if started:
        ray.shutdown()
    return took


def test_bench_sweep_overhead(benchmark: Any) -> None:
    slots = os.cpu_count() or 1
    times: dict[str, list[float]] = {
        "sequential": [],
        "ray": [],
        "ray_mlflow": [],
        "ray_small": [],
        "startup": [],
    }
    worker_trial_s: list[float] = []
    _sequential(_config("warm"))  # imports, first-call costs
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(ROUNDS):
            times["sequential"].append(_sequential(_config(f"seq{r}")))
            wall, _, trial_s = _ray(_config(f"ray{r}"), Path(tmp) / f"r{r}", mlflow=False)
            times["ray"].append(wall)
            worker_trial_s.extend(trial_s)
            wall, _, _ = _ray(_config(f"rml{r}"), Path(tmp) / f"m{r}", mlflow=True)
            times["ray_mlflow"].append(wall)
            wall, _, _ = _ray(_config(f"rsm{r}", SMALL), Path(tmp) / f"s{r}", mlflow=False)
            times["ray_small"].append(wall)
            times["startup"].append(_startup())
    med = {k: statistics.median(v) for k, v in times.items()}
    mean_trial = statistics.fmean(worker_trial_s)
    # per-trial cost from the slope between the two sweep sizes; the rest of the wall time is fixed
    # (Ray's start-up and shutdown, each worker importing torch and hal9, the aggregate and its figure)
    marginal = (med["ray"] - med["ray_small"]) * slots / (TRIALS - SMALL)
    overhead = marginal - mean_trial
    fixed = med["ray"] - TRIALS * marginal / slots
    row = {
        "trials": TRIALS,
        "neurons": NEURONS,
        "steps": STEPS,
        "rounds": ROUNDS,
        "slots": slots,
        "median_s": med,
        "times_s": times,
        "speedup_sequential_over_ray": med["sequential"] / med["ray"],
        "speedup_sequential_over_ray_mlflow": med["sequential"] / med["ray_mlflow"],
        "mean_trial_in_worker_s": mean_trial,
        "mean_trial_sequential_s": med["sequential"] / TRIALS,
        "small_trials": SMALL,
        "marginal_per_trial_slot_s": marginal,
        "overhead_per_trial_s": overhead,
        "fixed_s": fixed,
        "mlflow_per_trial_s": (med["ray_mlflow"] - med["ray"]) / TRIALS,
        "machine": {
            "cpus": slots,
            "torch": torch.__version__,
            "ray": ray.__version__,
            "python": platform.python_version(),
            "load_average_1_5_15_min": list(os.getloadavg()),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        },
    }
    benchmark.extra_info.update(row)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(row, indent=1))
    print(
        f"\nsweep of {TRIALS} demo trials ({NEURONS} neurons, {STEPS} steps), {slots} slots, "
        f"medians of {ROUNDS}:"
    )
    print(
        f"  sequential {med['sequential']:.2f} s | ray {med['ray']:.2f} s | "
        f"ray+mlflow {med['ray_mlflow']:.2f} s | ray start-up {med['startup']:.2f} s"
    )
    print(
        f"  speed-up sequential/ray {row['speedup_sequential_over_ray']:.2f}x"
        f" (with MLflow {row['speedup_sequential_over_ray_mlflow']:.2f}x);"
        f" trial {mean_trial * 1e3:.0f} ms in a worker, {med['sequential'] / TRIALS * 1e3:.0f} ms sequential"
    )
    print(
        f"  per trial (slope {SMALL}→{TRIALS} trials) {marginal * 1e3:.0f} ms of a slot, overhead "
        f"{overhead * 1e3:.0f} ms; fixed {fixed:.2f} s; "
        f"MLflow {row['mlflow_per_trial_s'] * 1e3:.0f} ms per trial"
    )
