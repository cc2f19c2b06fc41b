"""Exhaustive minimum-information-bipartition search: hal9 (batched) vs a NumPy loop, and heuristic gap.

* ``test_bench_wms_n14``: Φ_WMS MIB at ``n = 14`` (8 191 bipartitions) with hal9, and in the same run a
  straightforward NumPy loop over partitions (``np.linalg.slogdet`` per part); records both medians and
  the speed ratio (goal ≥ 100×) and checks both find the same value.
* ``test_bench_wms_n20``: hal9 alone at ``n = 20`` (524 287 bipartitions), one round (goal ≤ 60 s).
* ``test_bench_external_mib``: exhaustive MIB of Φ_G and Φ* at ``n = 8`` and ``10`` with the batched
  evaluators, and in the same run the previous search — one ``phi_geometric`` / ``phi_star`` call per
  bipartition — with the speed-up; both must find the same minimum.
* ``test_heuristic_gap_study``: 50 seeded random stable systems at ``n = 12`` and ``n = 16``; relative
  gap ``(Φ_heur − Φ_MIB)/|Φ_MIB|`` of the heuristic search and fraction of exact MIB hits.

Figures go to ``benchmark.extra_info`` and to ``outputs/bench_phi.json`` (merged per test; override the
path with ``$HAL9_BENCH_PHI_JSON``). Run with (``-o addopts=""`` lifts the default ``--benchmark-skip``)::

    .venv/bin/python -m pytest tests/benchmarks/test_bench_phi.py -o addopts="" --benchmark-only \
        --bench-device cpu -s

On the shared 2-core machine, prefix ``OMP_NUM_THREADS=1`` for stable timings: under load from other
processes the two OpenMP threads of a parallel region wait for each other (milliseconds per region).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.linalg import solve_discrete_lyapunov

from hal9.metrics.geometric import phi_geometric
from hal9.metrics.integration import integrated_information
from hal9.metrics.partitions import bipartition_masks, mask_to_partition
from hal9.metrics.star import phi_star

OUT = Path(
    os.environ.get("HAL9_BENCH_PHI_JSON")
    or Path(__file__).resolve().parents[2] / "outputs" / "bench_phi.json"
)
RATIO_GOAL = 100.0
N20_GOAL_S = 60.0


def random_system(n: int, gen: torch.Generator) -> torch.Tensor:
    """Sparse (30 %) Gaussian coupling plus self-coupling 0.3, rescaled to spectral radius in [0.5, 0.95)."""
    A = torch.randn(n, n, generator=gen, dtype=torch.float64)
    A = A * (torch.rand(n, n, generator=gen, dtype=torch.float64) < 0.3) + 0.3 * torch.eye(
        n, dtype=torch.float64
    )
    rho = 0.5 + 0.45 * float(torch.rand(1, generator=gen, dtype=torch.float64))
    return rho * A / torch.linalg.eigvals(A).abs().max()


def numpy_wms_mib(A: np.ndarray) -> float:
    """Reference: loop over all bipartitions, Φ_WMS from explicit sub-blocks with ``np.linalg.slogdet``."""
    n = A.shape[0]
    S = solve_discrete_lyapunov(A, np.eye(n))
    C = A @ S
    i_whole = 0.5 * (np.linalg.slogdet(S)[1] - np.linalg.slogdet(np.eye(n))[1])
    best = np.inf
    for code in range(1, 2 ** (n - 1)):
        total = 0.0
        for part in ([i for i in range(n) if code >> i & 1], [i for i in range(n) if not code >> i & 1]):
            Sk = S[np.ix_(part, part)]
            Ck = C[np.ix_(part, part)]
            cond = Sk - Ck @ np.linalg.solve(Sk, Ck.T)
            total += 0.5 * (np.linalg.slogdet(Sk)[1] - np.linalg.slogdet(cond)[1])
        best = min(best, i_whole - total)
    return float(best)


def _record(key: str, info: dict[str, Any]) -> None:
    report: dict[str, Any] = json.loads(OUT.read_text()) if OUT.exists() else {}
    report["machine"] = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average_1_5_15_min": list(os.getloadavg()),
    }
    report["command"] = " ".join(["python -m pytest", *sys.argv[1:]])
    report[key] = info
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")


def test_bench_wms_n14(benchmark: Any, bench_device: torch.device) -> None:
    n = 14
    A = random_system(n, torch.Generator().manual_seed(14))
    load_before = os.getloadavg()[0]
    res = benchmark.pedantic(
        lambda: integrated_information(A, measure="wms", device=bench_device),
        rounds=25,
        warmup_rounds=3,
        iterations=1,
    )
    times = []
    ref = np.nan
    for _ in range(3):
        t0 = time.perf_counter()
        ref = numpy_wms_mib(A.numpy())
        times.append(time.perf_counter() - t0)
    hal9_s = benchmark.stats.stats.median
    numpy_s = statistics.median(times)
    info = {
        "n": n,
        "n_partitions": res.n_partitions_evaluated,
        "device": str(bench_device),
        "hal9_median_s": hal9_s,
        "hal9_min_s": benchmark.stats.stats.min,
        "numpy_loop_median_s": numpy_s,
        "ratio": numpy_s / hal9_s,
        "ratio_goal": RATIO_GOAL,
        "phi_wms_mib": res.value,
        "load_1min_before": load_before,
    }
    benchmark.extra_info.update(info)
    _record("wms_n14", info)
    print(info)
    assert res.value == pytest.approx(ref, rel=1e-8, abs=1e-10)


def test_bench_wms_n20(benchmark: Any, bench_device: torch.device) -> None:
    n = 20
    A = random_system(n, torch.Generator().manual_seed(20))
    res = benchmark.pedantic(
        lambda: integrated_information(A, measure="wms", device=bench_device), rounds=1, iterations=1
    )
    info = {
        "n": n,
        "n_partitions": res.n_partitions_evaluated,
        "device": str(bench_device),
        "hal9_s": benchmark.stats.stats.median,
        "goal_s": N20_GOAL_S,
        "phi_wms_mib": res.value,
    }
    benchmark.extra_info.update(info)
    _record("wms_n20", info)
    print(info)
    assert res.n_partitions_evaluated == 2**19 - 1


EXTERNAL_CASES = [(8, "geometric"), (10, "geometric"), (8, "star"), (10, "star")]


@pytest.mark.parametrize(("n", "measure"), EXTERNAL_CASES)
def test_bench_external_mib(benchmark: Any, bench_device: torch.device, n: int, measure: str) -> None:
    A = random_system(n, torch.Generator().manual_seed(n))
    fn = phi_geometric if measure == "geometric" else phi_star
    load_before = os.getloadavg()[0]
    res = benchmark.pedantic(
        lambda: integrated_information(A, measure=measure, method="exhaustive", device=bench_device),
        rounds=3 if measure == "star" else 1,
        warmup_rounds=1,
        iterations=1,
    )
    masks = torch.cat(list(bipartition_masks(n)))
    t0 = time.perf_counter()
    loop = [fn(A.to(bench_device), None, mask_to_partition(m)) for m in masks]  # the previous search
    loop_s = time.perf_counter() - t0
    hal9_s = benchmark.stats.stats.median
    info = {
        "n": n,
        "measure": measure,
        "n_partitions": res.n_partitions_evaluated,
        "device": str(bench_device),
        "batched_median_s": hal9_s,
        "per_partition_loop_s": loop_s,
        "speedup": loop_s / hal9_s,
        "phi_mib": res.value,
        "load_1min_before": load_before,
    }
    benchmark.extra_info.update(info)
    _record(f"{measure}_mib_n{n}", info)
    print(info)
    assert res.value == pytest.approx(min(loop), abs=1e-9)


CASES = [(12, "wms", "min"), (12, "wms", "normalized"), (12, "r", "min"), (12, "si", "min")]
CASES += [(16, "wms", "min"), (16, "wms", "normalized")]


def _gap_study(n_systems: int = 50) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, measure, criterion in CASES:
        gen = torch.Generator().manual_seed(1000 + n)
        gaps, hits = [], 0
        for _ in range(n_systems):
            A = random_system(n, gen)
            kw: dict[str, Any] = {"measure": measure, "criterion": criterion}
            ex = integrated_information(A, method="exhaustive", **kw)
            he = integrated_information(A, method="heuristic", **kw)
            key = "normalized" if criterion == "normalized" else "value"
            e, h = getattr(ex, key), getattr(he, key)
            gaps.append((h - e) / abs(e))
            hits += he.partition == ex.partition
        out[f"n{n}_{measure}_{criterion}"] = {
            "systems": n_systems,
            "mean_rel_gap": float(np.mean(gaps)),
            "max_rel_gap": float(np.max(gaps)),
            "exact_mib_fraction": hits / n_systems,
        }
    return out


def test_heuristic_gap_study(benchmark: Any) -> None:
    study = benchmark.pedantic(_gap_study, rounds=1, iterations=1)
    benchmark.extra_info.update(study)
    _record("heuristic_gap", study)
    print(json.dumps(study, indent=1))
    for row in study.values():
        assert row["max_rel_gap"] >= -1e-9  # the heuristic can never beat the exhaustive optimum
