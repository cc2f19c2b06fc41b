"""Throughput of :func:`hal9.core.run` (sparse CSR) against a dense ``torch.mm`` baseline.

Nine-layer hierarchies of ``N`` neurons with fan-in 32 (16 within the layer, 16 from the layer below;
clipped where a layer is smaller) run ``T`` steps of tanh rate dynamics. Every case records its
median time, synaptic updates per second (``nnz · batch · T / median``) and neuron-steps per second
(``N · batch · T / median``) in ``benchmark.extra_info``; ``conftest.py`` joins the sparse and dense
medians of the same run into ``outputs/bench_dynamics.json``.

The baseline is what a user would write without hal9: the same weights as a dense ``(N, N)`` matrix
and one ``torch.mm`` per step. It runs only at sizes where the dense matrix fits in free memory.

Run with ``scripts/bench.sh`` (docs/benchmarks.md). In the default test run (``--benchmark-skip``)
every benchmark here is skipped before any fixture is set up; only :func:`test_sparse_matches_dense`
runs, on a small network.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor

from hal9.core import (
    ConnectivityConfig,
    HierarchyConfig,
    Network,
    RateConfig,
    RateParams,
    RateState,
    build_network,
    rate_params,
    run,
    sizes_for_total,
)

STEPS = 20
FAN_IN_WITHIN = 16
FAN_IN_UP = 16
BATCHES = (1, 16)
SPARSE_SIZES = (10_000, 20_000, 40_000, 100_000, 1_000_000)
DENSE_SIZES = (10_000, 20_000, 40_000)
# Free memory the dense baseline needs beyond its N×N matrix (inputs, state, allocator slack).
DENSE_HEADROOM_BYTES = 1 << 30

# Peak HBM bandwidth (bytes/s) by substring of the CUDA device name, most specific first.
# Override with HAL9_BENCH_PEAK_GBPS for other cards.
PEAK_HBM_BYTES_PER_S: tuple[tuple[str, float], ...] = (
    ("H200", 4.8e12),
    ("H100 NVL", 3.9e12),
    ("H100 PCIe", 2.0e12),
    ("H100", 3.35e12),  # SXM5
    ("A100-SXM4-80GB", 2.039e12),
    ("A100 80GB PCIe", 1.935e12),
    ("A100", 1.555e12),
)


def _rounds(n: int, dense: bool) -> tuple[int, int]:
    """``(rounds, warmup_rounds)``: more rounds where one round is cheap."""
    return (3, 1) if dense or n >= 1_000_000 else (5, 1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def _peak_bandwidth(device: torch.device) -> float | None:
    """Peak memory bandwidth in bytes/s of a CUDA device, or ``None`` when unknown (and on CPU)."""
    if device.type != "cuda":
        return None
    override = os.environ.get("HAL9_BENCH_PEAK_GBPS")
    if override:
        return float(override) * 1e9
    name = torch.cuda.get_device_name(device)
    for key, peak in PEAK_HBM_BYTES_PER_S:
        if key in name:
            return peak
    return None


def _free_bytes(device: torch.device) -> int:
    """Memory available for new allocations on ``device`` (GPU free memory, or host MemAvailable)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil
    except ImportError:  # Linux without psutil
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    return int(psutil.virtual_memory().available)


def bytes_per_step(net: Network, batch: int, *, gather_reuse: bool = True) -> int:
    """Memory traffic of one sparse step in bytes (docs/benchmarks.md, "Byte model").

    CSR values, column indices and row pointers are read once; the drive is written once; the neuron
    step reads drive, ``x``, ``τ`` and ``b`` and writes the new ``x``; the L1 input slice is read once.
    The gather of presynaptic rates reads ``x`` once (``gather_reuse=True``: every value fetched from
    memory once, the compulsory minimum) or once per synapse (``False``: no cache reuse, an upper bound).
    """
    n, nnz, n1 = net.n_neurons, net.n_synapses, net.sizes[0]
    v = net.weight.values().element_size()
    i = net.weight.col_indices().element_size()
    csr = nnz * (v + i) + (n + 1) * net.weight.crow_indices().element_size()
    gather = (n if gather_reuse else nnz) * batch * v
    drive_write = n * batch * v
    step = 3 * n * batch * v + 2 * n * v  # read drive and x, write x; read τ and b
    return csr + gather + drive_write + step + n1 * batch * v


def _network(n: int, device: torch.device) -> Network:
    cfg = HierarchyConfig(
        sizes=sizes_for_total(n),
        connectivity=ConnectivityConfig(
            fan_in_within=FAN_IN_WITHIN, fan_in_up=FAN_IN_UP, fan_in_policy="clip"
        ),
    )
    return build_network(cfg, seed=0, device=device)


def _inputs(net: Network, steps: int, batch: int, device: torch.device) -> Tensor:
    gen = torch.Generator(device=device)
    gen.manual_seed(1)
    return torch.randn((steps, batch, net.sizes[0]), generator=gen, device=device)


def sparse_run(net: Network, params: RateParams, inputs: Tensor) -> Tensor:
    """hal9's runner; returns the final rates ``(batch, N)``."""
    state = run(net, params, inputs).final_state
    assert isinstance(state, RateState)
    return state.x


def dense_run(weight: Tensor, params: RateParams, inputs: Tensor) -> Tensor:
    """The baseline written the plain way: dense ``W`` and one ``torch.mm`` per step.

    ``inputs`` is ``(T, batch, N)`` (zero outside L1). Returns the final rates ``(batch, N)``.
    """
    tau, b, dt = params.tau, params.bias, params.dt
    x = torch.zeros((inputs.shape[1], weight.shape[0]), device=weight.device, dtype=weight.dtype)
    for t in range(inputs.shape[0]):
        x = x + dt / tau * (torch.tanh(torch.mm(x, weight.T) + b + inputs[t]) - x)
    return x


def _padded(net: Network, inputs: Tensor) -> Tensor:
    full = torch.zeros((*inputs.shape[:2], net.n_neurons), device=inputs.device, dtype=inputs.dtype)
    full[:, :, : net.sizes[0]] = inputs
    return full


class _NetworkCache:
    """Keeps the most recently built network only, so at most one large network is alive."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._key: int | None = None
        self._net: Network | None = None

    def __call__(self, n: int) -> Network:
        if self._key != n:
            self._net = None  # free the previous network before building the next
            self._net = _network(n, self.device)
            self._key = n
        assert self._net is not None
        return self._net


@pytest.fixture(scope="module")
def network_for(bench_device: torch.device) -> _NetworkCache:
    """Builds (lazily, inside benchmarks only) the fan-in-32 hierarchy of a given size."""
    return _NetworkCache(bench_device)


def _measure(
    benchmark: Any, fn: Callable[[], Tensor], device: torch.device, rounds: int, warmup: int
) -> tuple[float | None, Tensor, Tensor]:
    """Time ``fn`` with ``benchmark.pedantic``.

    Returns the median (s, ``None`` under ``--benchmark-disable``), the checksum of every output (which
    keeps all results live) and the last output.
    """
    checksum = torch.zeros((), dtype=torch.float64, device=device)
    last: list[Tensor] = []

    def target() -> None:
        nonlocal checksum
        x = fn()
        checksum = checksum + x.sum(dtype=torch.float64)
        last[:] = [x]
        _sync(device)

    benchmark.pedantic(target, rounds=rounds, warmup_rounds=warmup, iterations=1)
    assert bool(torch.isfinite(checksum)), "non-finite rates in the benchmark run"
    stats = benchmark.stats
    if stats:
        benchmark.extra_info["min_s"] = float(stats.stats.min)
    return (float(stats.stats.median) if stats else None), checksum, last[0]


def _record(
    benchmark: Any,
    results: dict[tuple[str, int, int], dict[str, Any]],
    kind: str,
    n_nominal: int,
    net: Network,
    batch: int,
    median: float | None,
    checksum: Tensor,
    device: torch.device,
) -> None:
    n, nnz = net.n_neurons, net.n_synapses
    info: dict[str, Any] = {
        "kind": kind,
        "n_nominal": n_nominal,
        "n_neurons": n,
        "batch": batch,
        "nnz": nnz,
        "steps": STEPS,
        "device": _device_name(device),
        "median_s": median,
        "min_s": benchmark.extra_info.get("min_s"),
        "checksum": float(checksum),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if median:
        info["synaptic_updates_per_s"] = nnz * batch * STEPS / median
        info["neuron_steps_per_s"] = n * batch * STEPS / median
        if kind == "sparse":
            moved = bytes_per_step(net, batch)
            upper = bytes_per_step(net, batch, gather_reuse=False)
            info["bytes_per_step"] = moved
            info["bytes_per_step_no_reuse"] = upper
            info["effective_bandwidth_GBps"] = moved * STEPS / median / 1e9
            info["effective_bandwidth_no_reuse_GBps"] = upper * STEPS / median / 1e9
            peak = _peak_bandwidth(device)
            if peak is not None:
                info["peak_bandwidth_GBps"] = peak / 1e9
                info["hbm_fraction"] = moved * STEPS / median / peak
                info["hbm_fraction_no_reuse"] = upper * STEPS / median / peak
    benchmark.extra_info.update(info)
    results[(kind, n_nominal, batch)] = info


@pytest.mark.parametrize(("n", "batch"), [(n, b) for n in SPARSE_SIZES for b in BATCHES])
def test_bench_sparse_run(
    benchmark: Any,
    network_for: _NetworkCache,
    bench_device: torch.device,
    bench_results: dict[tuple[str, int, int], dict[str, Any]],
    n: int,
    batch: int,
) -> None:
    """``run(net, p, inputs)``: T steps of sparse drive + tanh rate step."""
    benchmark.group = f"N={n:,} batch={batch}"
    net = network_for(n)
    params = rate_params(RateConfig(), net.sizes, device=bench_device)
    inputs = _inputs(net, STEPS, batch, bench_device)
    rounds, warmup = _rounds(n, dense=False)
    median, checksum, _ = _measure(
        benchmark, lambda: sparse_run(net, params, inputs), bench_device, rounds, warmup
    )
    _record(benchmark, bench_results, "sparse", n, net, batch, median, checksum, bench_device)


@pytest.mark.parametrize(("n", "batch"), [(n, b) for n in DENSE_SIZES for b in BATCHES])
def test_bench_dense_baseline(
    benchmark: Any,
    network_for: _NetworkCache,
    bench_device: torch.device,
    bench_results: dict[tuple[str, int, int], dict[str, Any]],
    n: int,
    batch: int,
) -> None:
    """Dense baseline on the same weights; skipped where the ``N × N`` matrix does not fit."""
    benchmark.group = f"N={n:,} batch={batch}"
    net = network_for(n)
    need = net.n_neurons**2 * net.weight.element_size() + DENSE_HEADROOM_BYTES
    if _free_bytes(bench_device) < need:
        pytest.skip(f"dense {net.n_neurons}² matrix needs {need / 2**30:.1f} GiB free")
    params = rate_params(RateConfig(), net.sizes, device=bench_device)
    inputs = _inputs(net, STEPS, batch, bench_device)
    full = _padded(net, inputs)
    weight = net.weight.to_dense()
    rounds, warmup = _rounds(n, dense=True)
    median, checksum, dense_x = _measure(
        benchmark, lambda: dense_run(weight, params, full), bench_device, rounds, warmup
    )
    # Same network, same inputs: the sparse runner must agree with the plain computation.
    torch.testing.assert_close(sparse_run(net, params, inputs), dense_x, rtol=1e-4, atol=1e-5)
    _record(benchmark, bench_results, "dense", n, net, batch, median, checksum, bench_device)


def test_sparse_matches_dense() -> None:
    """Not a benchmark: the sparse runner equals the dense baseline on a small hierarchy (CPU, < 0.1 s)."""
    device = torch.device("cpu")
    net = _network(2_000, device)
    params = rate_params(RateConfig(), net.sizes)
    inputs = _inputs(net, 5, 3, device)
    sparse = sparse_run(net, params, inputs)
    dense = dense_run(net.weight.to_dense(), params, _padded(net, inputs))
    assert sparse.abs().max() > 0.01  # the input actually propagated
    torch.testing.assert_close(sparse, dense, rtol=1e-5, atol=1e-6)
