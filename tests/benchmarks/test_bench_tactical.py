"""L4 coordinator: whole simulations and single scheduling rounds, hal9's auction vs the baselines, same run.

* ``test_simulation``: 100 000 tasks (10 000 goals of layered DAGs) on 1 000 random units, 5 % of task
  attempts failing (re-planned), seed 0; submit + run timed once per scheduler (goal: ≤ 60 s on this CPU):
  the default ``auto`` (exact Hungarian for small rounds, ε-auction for large ones), ``auction`` forced on
  every round, and the baseline greedy earliest-deadline-first (``edf``), same run.
* ``test_scheduler_quality``: 20 000 tasks on 200 units, 5 % failures, every scheduler; makespan, latency,
  deadline misses, fairness and their ratios to the exact per-round Hungarian.
* ``test_round``: one scheduling round — cost matrix build + assignment — of 10 000 ready tasks onto 1 000
  units that each have room for one more task, via :func:`hal9.tactical.policies.plan_round` (goal: ≤ 1 s
  on this CPU); auction vs hungarian (auto = auction at this size); and, marked ``gpu``, 100 000 × 10 000
  on CUDA (goal ≤ 1 s on an H100).

Figures go to ``benchmark.extra_info`` and ``outputs/bench_tactical.json``. Run with::

    .venv/bin/python -m pytest tests/benchmarks/test_bench_tactical.py --benchmark-only -p no:cacheprovider -s
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from hal9.experiments.tactical import TacticalRunConfig, build_units, make_workload
from hal9.tactical import SCHEDULERS, SimulationConfig, TacticalSimulation
from hal9.tactical.policies import RoundProblem, plan_round

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "outputs" / "bench_tactical.json"
_FIGURES: dict[str, Any] = {}


def _record(key: str, info: dict[str, Any]) -> None:
    _FIGURES[key] = info
    report = json.loads(OUT.read_text()) if OUT.exists() else {}
    report.update(_FIGURES)
    report["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_average_1_5_15_min": list(os.getloadavg()),
    }
    report["command"] = " ".join(["python -m pytest", *sys.argv[1:]])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))


def _simulate(n_tasks: int, n_units: int, scheduler: str) -> tuple[float, float, dict[str, Any]]:
    """Returns (submit + run seconds, workload generation seconds, summary)."""
    t0 = time.perf_counter()
    # random units, offered load 0.9 of the estimated capacity (hal9.experiments.tactical.arrival_rate)
    cfg = TacticalRunConfig(tasks=n_tasks, units=n_units, tasks_per_goal=10, load=0.9, seed=0)
    units, _ = build_units(cfg)
    goals = make_workload(units, cfg)
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim = TacticalSimulation(units, SimulationConfig(scheduler=scheduler, failure_rate=0.05, seed=0))  # type: ignore[arg-type]
    for g in goals:
        sim.submit(g)
    res = sim.run()
    seconds = time.perf_counter() - t0
    return seconds, gen, res.summary()


@pytest.mark.parametrize("scheduler", ["auto", "auction", "edf"])
def test_simulation(benchmark: Any, scheduler: str) -> None:
    out: dict[str, Any] = {}

    def go() -> None:
        out["seconds"], out["gen"], out["summary"] = _simulate(100_000, 1_000, scheduler)

    benchmark.pedantic(go, rounds=1, iterations=1)
    s = out["summary"]
    info = {
        "tasks": 100_000,
        "units": 1_000,
        "failure_rate": 0.05,
        "seconds_submit_and_run": out["seconds"],
        "seconds_workload_generation": out["gen"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counts": s["counts"],
        "metrics": s["metrics"],
        "goal_s": 60.0,
        "goal_met": out["seconds"] <= 60.0,
    }
    benchmark.extra_info.update(info)
    _record(f"simulation_100k_{scheduler}", info)
    assert s["counts"]["lost"] == 0


def test_simulation_ratio() -> None:
    e = _FIGURES.get("simulation_100k_edf")
    if not e:
        pytest.skip("needs the simulations of this run")
    ratios = {}
    for name in ("auto", "auction"):
        a = _FIGURES.get(f"simulation_100k_{name}")
        if a:
            ratios[f"time_{name}_over_edf"] = a["seconds_submit_and_run"] / e["seconds_submit_and_run"]
            ratios[f"makespan_{name}_over_edf"] = a["metrics"]["makespan"] / e["metrics"]["makespan"]
            ratios[f"latency_{name}_over_edf"] = a["metrics"]["latency_mean"] / e["metrics"]["latency_mean"]
    _record("simulation_100k_ratios", ratios)


# the exact per-round Hungarian first: the others' ratios refer to it
@pytest.mark.parametrize("scheduler", ["hungarian", *(s for s in SCHEDULERS if s != "hungarian")])
def test_scheduler_quality(benchmark: Any, scheduler: str) -> None:
    out: dict[str, Any] = {}

    def go() -> None:
        out["seconds"], _, out["summary"] = _simulate(20_000, 200, scheduler)

    benchmark.pedantic(go, rounds=1, iterations=1)
    m = out["summary"]["metrics"]
    info = {"seconds": out["seconds"], "counts": out["summary"]["counts"], "metrics": m}
    ref = _FIGURES.get("quality_20k_hungarian")
    if ref:
        for key in ("makespan", "latency_mean", "latency_p95", "deadline_miss_rate"):
            denom = ref["metrics"][key]
            info[f"{key}_over_hungarian"] = m[key] / denom if denom else None
    benchmark.extra_info.update(info)
    _record(f"quality_20k_{scheduler}", info)


def _round_problem(k: int, u: int, device: str) -> RoundProblem:
    rng = np.random.default_rng(0)
    return RoundProblem(
        work=rng.uniform(1, 10, k),
        priority=rng.integers(1, 6, k).astype(float),
        slack=rng.uniform(5, 50, k),
        required=rng.uniform(0, 1, (k, 2)),
        demand=rng.uniform(0.6, 1, (k, 2)),  # with free ∈ [1, 1.2) each unit has room for one task
        speed=rng.uniform(0.5, 2, u),
        capability=rng.uniform(0, 1, (u, 2)),
        free=rng.uniform(1, 1.2, (u, 2)),
        alive=np.ones(u, dtype=bool),
    )


def _time_round(method: str, k: int, u: int, device: str) -> tuple[float, int]:
    kw = {"mismatch_weight": 1.0, "priority_weight": 0.5, "urgency_weight": 0.0, "device": device}
    plan_round(method, _round_problem(min(k, 500), min(u, 100), device), **kw)  # warm-up
    p = _round_problem(k, u, device)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    rows, _ = plan_round(method, p, **kw)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, int(rows.size)


@pytest.mark.parametrize("method", ["auction", "hungarian", "auto"])
def test_round(benchmark: Any, method: str) -> None:
    out: dict[str, Any] = {}

    def go() -> None:
        out["seconds"], out["placed"] = _time_round(method, 10_000, 1_000, "cpu")

    benchmark.pedantic(go, rounds=3, iterations=1)
    stats = benchmark.stats.stats
    info = {"median_s": stats.median, "placed": out["placed"], "goal_s": 1.0, "goal_met": stats.median <= 1.0}
    benchmark.extra_info.update(info)
    _record(f"round_10k_x_1k_{method}", info)


@pytest.mark.gpu
def test_round_cuda_100k_x_10k(benchmark: Any) -> None:
    out: dict[str, Any] = {}

    def go() -> None:
        out["seconds"], out["placed"] = _time_round("auction", 100_000, 10_000, "cuda")

    benchmark.pedantic(go, rounds=3, iterations=1)
    info = {"median_s": benchmark.stats.stats.median, "placed": out["placed"], "goal_s": 1.0}
    benchmark.extra_info.update(info)
    _record("round_100k_x_10k_cuda_auction", info)
