""":func:`hal9.core.run` against the torch loop a user would write by hand, on the same CSR matrix.

The baseline (issue 14): the hierarchy's CSR weights, a ``(batch, N)`` rate state, and per step
``torch.sparse.mm(W, r.T).T``, the L1 input added in place and ``r ← r + (dt/τ)(tanh(d + b) − r)``. hal9
runs the same tanh rate model through ``run``, once with its default ``layer_means`` and once with
``means=False`` (the same work as the loop). Each size and batch runs the three interleaved in one
process; after each case the module prints the medians so far and the ratios ``hal9 / loop`` and writes
``outputs/bench_run_vs_loop.json``. Final rates must be identical to the loop's (bitwise).

Run with::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest tests/benchmarks/test_bench_run_vs_loop.py \\
        --benchmark-only -s -p no:cacheprovider

Memory bandwidth: the same run measures a STREAM-like copy (``b.copy_(a)`` of 256 MiB on CPU, 1 GiB on
CUDA; bytes counted as read + write) and reports hal9's step (``means=False``) as the fraction of that
bandwidth it uses for the bytes a rate step cannot avoid moving (``bytes_per_step`` of
``test_bench_dynamics.py``, docs/benchmarks.md "Byte model"); on CUDA also the fraction of the card's
peak HBM bandwidth.

``HAL9_BENCH_RUN_SIZES`` (comma-separated neuron counts, default ``10000,100000,1000000``) and
``HAL9_BENCH_RUN_STEPS`` (default 50) change the cases; ``HAL9_BENCH_RUN_COMPILE=1`` adds
``run(..., compile=True)`` (compiled once in the warm-up, outside the timings); the device is
``--bench-device`` (conftest).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from hal9.core import (
    ConnectivityConfig,
    HierarchyConfig,
    Network,
    RateConfig,
    build_network,
    rate_params,
    run,
    sizes_for_total,
)
from tests.benchmarks.test_bench_dynamics import _peak_bandwidth, bytes_per_step

SIZES = tuple(int(v) for v in os.environ.get("HAL9_BENCH_RUN_SIZES", "10000,100000,1000000").split(","))
STEPS = int(os.environ.get("HAL9_BENCH_RUN_STEPS", "50"))
COMPILE = os.environ.get("HAL9_BENCH_RUN_COMPILE", "0") == "1"
BATCHES = (1, 16)
ROUNDS = 5
_RESULTS: dict[str, dict[str, Any]] = {}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _cases(n: int, batch: int, device: torch.device) -> tuple[dict[str, Callable[[], Tensor]], Network]:
    cfg = HierarchyConfig(
        sizes=sizes_for_total(n, 9, math.e), connectivity=ConnectivityConfig(fan_in_policy="clip")
    )
    net = build_network(cfg, seed=0, device=device)
    p = rate_params(RateConfig(tau=10.0), net.sizes, device=device)
    gen = torch.Generator(device=device).manual_seed(1)
    x = torch.randn((STEPS, batch, net.sizes[0]), generator=gen, device=device)
    weight, n1 = net.weight, net.sizes[0]

    def loop() -> Tensor:
        r = torch.zeros((batch, net.n_neurons), device=device)
        a = p.dt / p.tau
        for t in range(STEPS):
            d = torch.sparse.mm(weight, r.T).T
            d[:, :n1] += x[t]
            r = r + a * (torch.tanh(d + p.bias) - r)
        return r

    cases = {
        "loop": loop,
        "hal9": lambda: run(net, p, x).final_state.x,
        "hal9_no_means": lambda: run(net, p, x, means=False).final_state.x,
    }
    if COMPILE:
        cases["hal9_compiled"] = lambda: run(net, p, x, compile=True).final_state.x
    return cases, net


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("n", SIZES)
def test_bench_run_vs_hand_written_loop(
    benchmark: Any, bench_device: torch.device, n: int, batch: int
) -> None:
    cases, net = _cases(n, batch, bench_device)
    nnz = net.n_synapses
    outs = {name: f() for name, f in cases.items()}  # warm-up, and the results to compare
    for name in ("hal9", "hal9_no_means"):
        assert torch.equal(outs[name], outs["loop"]), name
    if COMPILE:  # inductor may fuse a multiply-add: equal to rounding, not bitwise
        torch.testing.assert_close(outs["hal9_compiled"], outs["loop"])
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):  # interleaved: A B C A B C ...
        for name, f in cases.items():
            _sync(bench_device)
            t0 = time.perf_counter()
            f()
            _sync(bench_device)
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(v) for name, v in times.items()}
    copy_gbs = _stream_copy_gbs(bench_device)
    step_bytes = bytes_per_step(net, batch)  # the compulsory traffic (docs/benchmarks.md, "Byte model")
    achieved_gbs = step_bytes * STEPS / med["hal9_no_means"] / 1e9
    peak = _peak_bandwidth(bench_device)
    # pytest-benchmark records one more timing of hal9's default run (its table and JSON)
    benchmark.pedantic(cases["hal9"], rounds=1, iterations=1)
    key = f"{n}-{batch}"
    _RESULTS[key] = {
        "neurons": n,
        "batch": batch,
        "steps": STEPS,
        "synapses": nnz,
        "ms_per_step": {name: 1e3 * m / STEPS for name, m in med.items()},
        "ratio_hal9_over_loop": med["hal9"] / med["loop"],
        "ratio_no_means_over_loop": med["hal9_no_means"] / med["loop"],
        **({"ratio_compiled_over_loop": med["hal9_compiled"] / med["loop"]} if COMPILE else {}),
        "synaptic_updates_per_s_hal9": nnz * batch * STEPS / med["hal9"],
        "stream_copy_gb_per_s": copy_gbs,
        "min_bytes_per_step": step_bytes,
        "achieved_gb_per_s_no_means": achieved_gbs,
        "fraction_of_copy_bandwidth": achieved_gbs / copy_gbs,
        **({"fraction_of_peak_bandwidth": achieved_gbs / peak} if peak else {}),
    }
    benchmark.extra_info.update(_RESULTS[key])
    _report(bench_device)


def _stream_copy_gbs(device: torch.device, repeats: int = 5) -> float:
    """Median GB/s of ``b.copy_(a)`` over ``repeats`` copies (bytes read + written), like STREAM's
    Copy kernel: 256 MiB on CPU, 1 GiB on CUDA (far beyond the caches)."""
    numel = 2**28 if device.type == "cuda" else 2**26
    a = torch.ones(numel, device=device)
    b = torch.empty_like(a)
    b.copy_(a)
    rates = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        b.copy_(a)
        _sync(device)
        rates.append(2 * a.numel() * a.element_size() / (time.perf_counter() - t0) / 1e9)
    return statistics.median(rates)


def _report(bench_device: torch.device) -> None:
    """Print the table of the cases so far and write ``outputs/bench_run_vs_loop.json``."""
    name = torch.cuda.get_device_name(bench_device) if bench_device.type == "cuda" else "cpu"
    threads = torch.get_num_threads()
    print(f"\nrun vs the hand-written loop ({name}, {threads} threads, {STEPS} steps, medians of {ROUNDS})")
    head = (
        "neurons",
        "batch",
        "loop ms/step",
        "hal9",
        "no means",
        "hal9/loop",
        "no means/loop",
        "GB/s",
        "of copy",
    )
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (9, 5, 12, 8, 9, 9, 13, 6, 8), strict=True)))
    for r in _RESULTS.values():
        ms = r["ms_per_step"]
        print(
            f"{r['neurons']:>9} {r['batch']:>5} {ms['loop']:>12.3f} {ms['hal9']:>8.3f}"
            f" {ms['hal9_no_means']:>9.3f} {r['ratio_hal9_over_loop']:>9.2f}"
            f" {r['ratio_no_means_over_loop']:>13.2f} {r['achieved_gb_per_s_no_means']:>6.1f}"
            f" {r['fraction_of_copy_bandwidth']:>8.2f}"
        )
        if "ratio_compiled_over_loop" in r:
            ratio = r["ratio_compiled_over_loop"]
            print(f"{'':>15} compiled: {ms['hal9_compiled']:.3f} ms/step, {ratio:.2f}x loop")
    last = list(_RESULTS.values())[-1]
    print(f"STREAM-like copy: {last['stream_copy_gb_per_s']:.1f} GB/s (read + write)")
    out = Path(__file__).resolve().parents[2] / "outputs" / "bench_run_vs_loop.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"device": name, "threads": threads, "cases": list(_RESULTS.values())}, indent=2)
    )
