"""Event-driven vs dense propagation of spikes: where the crossover lies (the basis of
:data:`hal9.core.EVENT_DENSITY_THRESHOLD`).

For one hierarchy (default 100k neurons, ~2.2 M synapses) and spike vectors of given densities, times
:func:`hal9.core.event_drive` and :func:`hal9.core.synaptic_drive` interleaved in one process and
prints the ratio ``event / dense`` per density and batch; the results must be equal (bitwise on CPU).
Writes ``outputs/bench_propagation.json``.

Run with::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest tests/benchmarks/test_bench_propagation.py \\
        --benchmark-only -s -p no:cacheprovider

``HAL9_BENCH_PROP_N`` (default 100000) sets the size; the device is ``--bench-device``.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from hal9.core import (
    EVENT_DENSITY_THRESHOLD,
    ConnectivityConfig,
    HierarchyConfig,
    build_network,
    event_drive,
    sizes_for_total,
    synaptic_drive,
)

N = int(os.environ.get("HAL9_BENCH_PROP_N", "100000"))
DENSITIES = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
BATCHES = (1, 16)
ROUNDS = 15
_ROWS: list[dict[str, Any]] = []


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@pytest.fixture(scope="module")
def network(bench_device: torch.device) -> Any:
    cfg = HierarchyConfig(
        sizes=sizes_for_total(N, 9, math.e), connectivity=ConnectivityConfig(fan_in_policy="clip")
    )
    return build_network(cfg, seed=0, device=bench_device)


@pytest.mark.parametrize("batch", BATCHES)
def test_bench_event_vs_dense(benchmark: Any, bench_device: torch.device, network: Any, batch: int) -> None:
    plan = network.event_plan()
    gen = torch.Generator(device=bench_device).manual_seed(0)
    for density in DENSITIES:
        s = (torch.rand((network.n_neurons, batch), generator=gen, device=bench_device) < density).float().T
        dense, event = synaptic_drive(network.weight, s), event_drive(plan, s)  # warm-up
        if bench_device.type == "cpu":
            assert torch.equal(event, dense)
        else:
            torch.testing.assert_close(event, dense)
        times: dict[str, list[float]] = {"dense": [], "event": []}
        for _ in range(ROUNDS):
            for name, f in (("dense", synaptic_drive), ("event", None)):
                _sync(bench_device)
                t0 = time.perf_counter()
                out = f(network.weight, s) if f is not None else event_drive(plan, s)
                _sync(bench_device)
                times[name].append(time.perf_counter() - t0)
                del out
        med = {k: statistics.median(v) for k, v in times.items()}
        _ROWS.append(
            {
                "neurons": network.n_neurons,
                "synapses": network.n_synapses,
                "batch": batch,
                "density": density,
                "ms": {k: 1e3 * v for k, v in med.items()},
                "event_over_dense": med["event"] / med["dense"],
            }
        )
    benchmark.pedantic(lambda: event_drive(plan, s), rounds=1, iterations=1)
    _report(bench_device)


def _report(device: torch.device) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    threads = torch.get_num_threads()
    print(f"\nevent-driven vs dense propagation ({name}, {threads} threads, medians of {ROUNDS})")
    print(f"{'batch':>5} {'density':>8} {'dense ms':>9} {'event ms':>9} {'event/dense':>12}")
    for r in _ROWS:
        print(
            f"{r['batch']:>5} {r['density']:>8.3f} {r['ms']['dense']:>9.3f} {r['ms']['event']:>9.3f}"
            f" {r['event_over_dense']:>12.2f}"
        )
    print(f"(run's 'auto' propagates events below density {EVENT_DENSITY_THRESHOLD})")
    out = Path(__file__).resolve().parents[2] / "outputs" / "bench_propagation.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"device": name, "threads": threads, "threshold": EVENT_DENSITY_THRESHOLD, "rows": _ROWS}
    out.write_text(json.dumps(payload, indent=2))
