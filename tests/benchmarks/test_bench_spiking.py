"""Spiking models (issue 14): hal9's LIF :func:`~hal9.core.run` vs the hand-written torch loop and Brian2.

The network is the hierarchy of ``test_bench_run_vs_loop.py`` (``sizes_for_total(n, 9, e)``, fan-in
policy ``clip``; 100,001 neurons and 2,188,512 synapses at ``n = 100_000``) with the weight gain
:data:`GAIN`, LIF neurons :data:`LIF` and Poisson input into L1: each L1 neuron receives an event of
amplitude :data:`INPUT_AMPLITUDE` with probability :data:`INPUT_RATE` per step (``inputs[0] = 0``, see
:mod:`._brian2_lif`). That is a sparse regime, ≈ 2 % of the neurons spiking per step, every layer active.

Contenders, same network (one CSR matrix), same inputs, batch 1, ``T`` steps, interleaved rounds:

* ``hal9``: ``run(net, params, inputs)`` (default; also ``propagation="dense"`` and ``"event"`` when
  :func:`~hal9.core.run` has that keyword);
* ``loop``: the torch loop a user would write: ``torch.sparse.mm(W, s.T).T``, the L1 input added in
  place and the LIF update of :func:`hal9.core.neurons.lif.lif_step`;
* ``brian2``: Brian2 with the Cython runtime (``NeuronGroup`` + ``Synapses`` ``on_pre: v_post += α w``,
  schedule and refractoriness set to hal9's step, see :mod:`._brian2_lif`), float32 like hal9, in a
  worker process; ``brian2`` is its main-loop time, ``brian2_run`` the whole ``Network.run`` call (both
  after a first untimed run that compiled the code, the network restored to its initial state).

Checks: hal9's (dense/default) spike trains equal the loop's (final ``v``, refractory counters and spikes
bitwise, spike counts of every layer at every step); Brian2's spike counts agree with hal9's within
noise: ``|c_brian − c_hal9| ≤ Z_MAX · √(c_brian + c_hal9)`` for the total and each layer, a tolerance
that the float64 run of the same hal9 model (which differs only by rounding) must pass too. In float64
Brian2 and hal9 give identical spike trains (``test_brian2_spike_trains_equal_hal9``).

Run with::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest tests/benchmarks/test_bench_spiking.py \\
        --benchmark-only -s -p no:cacheprovider

``HAL9_BENCH_SPIKING_SIZES`` (default ``10000,100000``), ``HAL9_BENCH_SPIKING_STEPS`` (default 1000),
``HAL9_BENCH_SPIKING_ROUNDS`` (default 5), ``HAL9_BENCH_SPIKING_THREADS`` (torch threads; Brian2's
Cython runtime uses one), ``HAL9_BRIAN2_PYTHON`` (an interpreter with Brian2 ≥ 2.10
and Cython; Brian2 is skipped without one) and ``--bench-device`` (hal9 and the loop; Brian2 runs on
the CPU). Writes ``outputs/bench_spiking.json`` (or ``$HAL9_BENCH_SPIKING_JSON``).
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from hal9.core import (
    ConnectivityConfig,
    HierarchyConfig,
    LIFConfig,
    LIFParams,
    Network,
    RunResult,
    build_network,
    lif_params,
    run,
    sizes_for_total,
)
from tests.benchmarks._brian2_lif import Brian2LIF, Brian2Run, LIFSpec, brian2_python, input_events

SIZES = tuple(int(v) for v in os.environ.get("HAL9_BENCH_SPIKING_SIZES", "10000,100000").split(","))
STEPS = int(os.environ.get("HAL9_BENCH_SPIKING_STEPS", "1000"))
ROUNDS = int(os.environ.get("HAL9_BENCH_SPIKING_ROUNDS", "5"))
OUT = Path(
    os.environ.get("HAL9_BENCH_SPIKING_JSON")
    or Path(__file__).resolve().parents[2] / "outputs" / "bench_spiking.json"
)

#: τ_m = 20 steps (α = 0.05), refractory 2 steps, threshold 1, bias 0.85 (just below threshold).
LIF = LIFConfig(tau_mem=20.0, v_rest=0.0, v_reset=0.0, v_th=1.0, refractory=2.0, bias=0.85, dt=1.0)
GAIN = 12.0  # weights N(0, 1) · GAIN / √fan-in: a spike moves v by α · w, w ~ ±12/√32 ≈ ±2.1
INPUT_AMPLITUDE = 10.0  # an input event moves v by α · 10 = 0.5
INPUT_RATE = 0.02  # events per L1 neuron per step
Z_MAX = 5.0  # spike counts agree when |a − b| ≤ Z_MAX √(a + b)
_RESULTS: dict[int, dict[str, Any]] = {}


# --------------------------------------------------------------------------------------------------
# The network, the inputs and the hand-written loop


def spiking_network(n: int, device: torch.device, dtype: torch.dtype = torch.float32) -> Network:
    """The benchmark hierarchy of about ``n`` neurons (9 layers, ratio e, weight gain :data:`GAIN`)."""
    cfg = HierarchyConfig(
        sizes=sizes_for_total(n, 9, math.e),
        connectivity=ConnectivityConfig(fan_in_policy="clip", gain=GAIN),
    )
    return build_network(cfg, seed=0, device=device, dtype=dtype)


def poisson_inputs(
    n1: int, steps: int, *, seed: int, device: torch.device, dtype: torch.dtype = torch.float32
) -> Tensor:
    """``(steps, 1, n1)`` input: :data:`INPUT_AMPLITUDE` with probability :data:`INPUT_RATE`, else 0;
    step 0 is all zeros (Brian2 delivers an input event one step after emitting it)."""
    if steps < 1 or n1 < 1:
        raise ValueError(f"steps and n1 must be positive, got steps={steps}, n1={n1}")
    gen = torch.Generator(device=device).manual_seed(seed)
    events = torch.rand((steps, 1, n1), generator=gen, device=device) < INPUT_RATE
    x = events.to(dtype) * INPUT_AMPLITUDE
    x[0] = 0
    return x


class LoopResult(NamedTuple):
    """Final ``v``, ``refractory``, ``spikes`` ``(batch, N)``; ``counts`` ``(T, batch, K)`` int64 spikes per
    layer and step (``None`` unless the loop was given the layer sizes)."""

    v: Tensor
    refractory: Tensor
    spikes: Tensor
    counts: Tensor | None


def hand_loop(
    weight: Tensor, p: LIFParams, inputs: Tensor, sizes: tuple[int, ...] | None = None
) -> LoopResult:
    """The torch loop a user writes for hal9's LIF network (no hal9 code).

    Per step ``t``: ``d = W s + x_t`` (``torch.sparse.mm``, ``x_t`` into L1); for a neuron that is not
    refractory ``v ← v + (dt/τ_m)(v_rest − v + d + b)``, else ``v ← v_reset``; it spikes when
    ``v ≥ v_th``, then ``v ← v_reset`` and the counter is set to ``R``, else the counter counts down.
    ``weight``: ``(N, N)`` CSR (row = postsynaptic); ``inputs``: ``(T, batch, n_1)``.
    """
    steps, batch, n1 = inputs.shape
    n, dev, dtype = weight.shape[0], inputs.device, inputs.dtype
    v = torch.full((batch, n), p.v_rest, device=dev, dtype=dtype)
    ref = torch.zeros((batch, n), device=dev, dtype=dtype)
    s = torch.zeros((batch, n), device=dev, dtype=dtype)
    a = p.dt / p.tau_mem
    counts = None
    if sizes is not None:
        counts = torch.zeros((steps, batch, len(sizes)), device=dev, dtype=torch.int64)
        bounds = np.cumsum([0, *sizes]).tolist()
    for t in range(steps):
        d = torch.sparse.mm(weight, s.T).T
        d[:, :n1] += inputs[t]
        active = ref <= 0
        v = torch.where(active, v + a * (p.v_rest - v + d + p.bias), p.v_reset)
        fired = active & (v >= p.v_th)
        v = torch.where(fired, p.v_reset, v)
        ref = torch.where(fired, float(p.refractory_steps), (ref - 1).clamp_min(0))
        s = fired.to(dtype)
        if counts is not None:
            for k in range(len(bounds) - 1):
                counts[t, :, k] = fired[:, bounds[k] : bounds[k + 1]].sum(1)
    return LoopResult(v, ref, s, counts)


def counts_of(result: RunResult, sizes: tuple[int, ...]) -> Tensor:
    """``(T, batch, K)`` int64 spikes per layer and step from a run's ``layer_means`` (mean × size)."""
    size_t = torch.tensor(sizes, device=result.layer_means.device, dtype=torch.float64)
    return torch.round(result.layer_means.double() * size_t).to(torch.int64)


def agreement(reference: list[int], other: list[int], sizes: tuple[int, ...], steps: int) -> dict[str, Any]:
    """Spike counts of two runs of the same model: relative difference of the totals, per-layer mean rates
    (spikes per neuron per step) and the largest ``z = |a − b| / √(a + b)`` over the total and the layers."""
    if len(reference) != len(sizes) or len(other) != len(sizes):
        raise ValueError(f"reference and other need one count per layer ({len(sizes)})")
    a, b = sum(reference), sum(other)
    pairs = [(a, b), *zip(reference, other, strict=True)]
    z = [abs(x - y) / math.sqrt(x + y) if x + y else 0.0 for x, y in pairs]
    return {
        "total_reference": a,
        "total_other": b,
        "total_rel_diff": (b - a) / a if a else math.inf,
        "rate_reference": [c / (s * steps) for c, s in zip(reference, sizes, strict=True)],
        "rate_other": [c / (s * steps) for c, s in zip(other, sizes, strict=True)],
        "z_total": z[0],
        "z_max": max(z),
        "agree": max(z) <= Z_MAX,
    }


def csr_synapses(net: Network) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pre, post, weight)`` of the network's CSR matrix (row ``post``, column ``pre``) as NumPy arrays."""
    w = net.weight.to("cpu")
    crow, col = w.crow_indices().numpy(), w.col_indices().numpy()
    post = np.repeat(np.arange(w.shape[0]), np.diff(crow))
    return col.copy(), post, w.values().double().numpy()


def lif_spec(p: LIFParams) -> LIFSpec:
    """The scalar :class:`LIFSpec` of uniform hal9 LIF params (Brian2 gets the same constants)."""
    tau, bias = p.tau_mem.unique(), p.bias.unique()
    if tau.numel() != 1 or bias.numel() != 1:
        raise ValueError("tau_mem and bias must be uniform for the Brian2 copy")
    return LIFSpec(float(tau), p.v_rest, p.v_reset, p.v_th, float(bias), p.refractory_steps, p.dt)


def _brian2(net: Network, p: LIFParams, x: Tensor, python: str, **kwargs: Any) -> Brian2LIF:
    pre, post, w = csr_synapses(net)
    return Brian2LIF(
        pre=pre,
        post=post,
        weight=w,
        sizes=net.sizes,
        spec=lif_spec(p),
        inputs=x[:, 0].cpu().double().numpy(),
        python=python,
        **kwargs,
    )


# --------------------------------------------------------------------------------------------------
# Correctness of the pieces (default run, fast)


@settings(max_examples=25, deadline=None)
@given(
    refractory=st.integers(0, 4),
    bias=st.floats(0.0, 1.5),
    seed=st.integers(0, 2**16),
)
def test_hand_loop_equals_hal9_run(refractory: int, bias: float, seed: int) -> None:
    """The loop is hal9's math: bitwise-equal final state and equal per-layer counts at every step."""
    device = torch.device("cpu")
    net = spiking_network(600, device)
    p = lif_params(LIF.model_copy(update={"refractory": float(refractory), "bias": bias}), net.sizes)
    x = poisson_inputs(net.sizes[0], 40, seed=seed, device=device)
    res = run(net, p, x)
    loop = hand_loop(net.weight, p, x, net.sizes)
    assert loop.counts is not None
    assert torch.equal(counts_of(res, net.sizes), loop.counts)
    for name in ("v", "refractory", "spikes"):
        assert torch.equal(getattr(res.final_state, name), getattr(loop, name)), name


def test_regime_is_sparse_and_every_layer_spikes() -> None:
    """At 10k neurons the benchmark regime has 0.5–4 % of the neurons spiking per step, all layers active."""
    device = torch.device("cpu")
    net = spiking_network(10_000, device)
    p = lif_params(LIF, net.sizes)
    res = run(net, p, poisson_inputs(net.sizes[0], 200, seed=1, device=device))
    counts = counts_of(res, net.sizes)[100:, 0]  # after the transient
    fraction = counts.sum(1).double().mean().item() / net.n_neurons
    assert 0.005 < fraction < 0.04, fraction
    assert (counts.sum(0) > 0).all(), counts.sum(0)


def test_poisson_inputs_rate_and_determinism() -> None:
    device = torch.device("cpu")
    x = poisson_inputs(5_000, 50, seed=3, device=device)
    assert torch.equal(x, poisson_inputs(5_000, 50, seed=3, device=device))
    assert not torch.equal(x, poisson_inputs(5_000, 50, seed=4, device=device))
    assert x[0].abs().sum() == 0
    assert set(torch.unique(x).tolist()) == {0.0, INPUT_AMPLITUDE}
    rate = (x[1:] > 0).double().mean().item()  # 245,000 Bernoulli(0.02) draws: σ ≈ 2.8e-4
    assert abs(rate - INPUT_RATE) < 5 * math.sqrt(INPUT_RATE * (1 - INPUT_RATE) / x[1:].numel())
    with pytest.raises(ValueError, match="steps and n1"):
        poisson_inputs(0, 5, seed=0, device=device)


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 12), st.integers(1, 9)),
    p=st.floats(0.0, 1.0),
    amplitude=st.floats(0.1, 50.0),
    seed=st.integers(0, 2**16),
)
def test_input_events_round_trip(shape: tuple[int, int], p: float, amplitude: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = (rng.random(shape) < p) * amplitude
    x[0] = 0
    steps, neurons, a = input_events(x)
    back = np.zeros(shape)
    back[steps, neurons] = a
    np.testing.assert_array_equal(back, x)
    assert np.all(np.diff(steps * shape[1] + neurons) > 0)  # sorted by (step, neuron), as Brian2 wants


def test_input_events_and_spec_refuse_bad_values() -> None:
    with pytest.raises(ValueError, match=r"\(T, n_1\)"):
        input_events(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="one nonzero value"):
        input_events(np.array([[0.0, 0.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match=r"inputs\[0\] must be zero"):
        input_events(np.array([[1.0, 0.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="NaN"):
        input_events(np.array([[0.0, 0.0], [np.nan, 0.0]]))
    good = {
        "tau_mem": 20.0,
        "v_rest": 0.0,
        "v_reset": 0.0,
        "v_th": 1.0,
        "bias": 0.0,
        "refractory_steps": 2,
        "dt": 1.0,
    }
    for field, bad in (
        ("tau_mem", 0.0),
        ("dt", -1.0),
        ("v_th", -1.0),
        ("refractory_steps", -1),
        ("bias", math.nan),
    ):
        with pytest.raises(ValueError, match=field):
            LIFSpec(**{**good, field: bad})
    args = {"pre": np.zeros(1, int), "post": np.zeros(1, int), "weight": np.ones(1), "sizes": (2,)}
    common = {"spec": LIFSpec(**good), "inputs": np.zeros((3, 2)), "python": "unused"}
    with pytest.raises(ValueError, match="target"):
        Brian2LIF(**args, **common, target="cpp_standalone")
    with pytest.raises(ValueError, match="dtype"):
        Brian2LIF(**args, **common, dtype="float16")
    with pytest.raises(ValueError, match="neuron indices"):
        Brian2LIF(**{**args, "post": np.array([2])}, **common)


def test_agreement_hand_computed() -> None:
    got = agreement([100, 0], [120, 0], (10, 5), 4)
    assert got["total_rel_diff"] == pytest.approx(0.2)
    assert got["z_max"] == pytest.approx(20 / math.sqrt(220))  # 1.348…
    assert got["rate_reference"] == [2.5, 0.0] and got["agree"]
    assert not agreement([100], [200], (10,), 1)["agree"]  # z = 100 / √300 = 5.77


def test_brian2_spike_trains_equal_hal9() -> None:
    """In float64, Brian2 (numpy target, no compilation) and hal9 give the same spikes, neuron by neuron and
    step by step; a Brian2 copy with one more refractory step does not (the comparison can fail)."""
    python = brian2_python()
    if python is None:
        pytest.skip("no interpreter with Brian2 and Cython (set HAL9_BRIAN2_PYTHON)")
    device = torch.device("cpu")
    net = spiking_network(2_000, device, torch.float64)
    p = lif_params(LIF, net.sizes, dtype=torch.float64)
    x = poisson_inputs(net.sizes[0], 150, seed=2, device=device, dtype=torch.float64)
    res = run(net, p, x, record=range(net.n_layers))
    spikes = torch.cat([res.recordings[k][:, 0] for k in range(net.n_layers)], 1)
    hal9 = set(map(tuple, torch.nonzero(spikes).tolist()))
    assert len(hal9) > 1_000
    for refractory, same in ((p.refractory_steps, True), (p.refractory_steps + 1, False)):
        bp = p._replace(refractory_steps=refractory)
        with _brian2(net, bp, x, python, target="numpy", dtype="float64", record=True) as brian:
            out = brian.run()
        assert out.spike_steps is not None and out.spike_neurons is not None
        got = set(zip(out.spike_steps.tolist(), out.spike_neurons.tolist(), strict=True))
        assert (got == hal9) is same, (refractory, len(got ^ hal9))


# --------------------------------------------------------------------------------------------------
# The benchmark


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _hal9_cases(net: Network, p: LIFParams, x: Tensor) -> dict[str, Callable[[], RunResult]]:
    cases: dict[str, Callable[[], RunResult]] = {"hal9": functools.partial(run, net, p, x)}
    if "propagation" in inspect.signature(run).parameters:  # the event-driven path, once it exists
        for mode in ("dense", "event"):
            cases[f"hal9_{mode}"] = functools.partial(run, net, p, x, propagation=mode)
    return cases


def _check_hal9(name: str, res: RunResult, loop: LoopResult, sizes: tuple[int, ...]) -> dict[str, Any]:
    """hal9 vs the loop: identical trains are required, except for the event path whose summation order may
    differ (then its counts must agree within noise, like Brian2's)."""
    assert loop.counts is not None
    counts = counts_of(res, sizes)
    identical = torch.equal(counts, loop.counts) and all(
        torch.equal(getattr(res.final_state, f), getattr(loop, f)) for f in ("v", "refractory", "spikes")
    )
    info: dict[str, Any] = {"identical_to_loop": identical}
    if name != "hal9_event":
        assert identical, f"{name}: spike trains differ from the hand-written loop"
    elif not identical:
        info["agreement"] = agreement(
            loop.counts.sum((0, 1)).tolist(), counts.sum((0, 1)).tolist(), sizes, len(counts)
        )
        assert info["agreement"]["agree"], info
    return info


@pytest.fixture
def torch_threads() -> Iterator[int]:
    """``$HAL9_BENCH_SPIKING_THREADS`` torch intra-op threads for the test (e.g. 1, as Brian2 uses), else
    torch's default; restored afterwards."""
    before = torch.get_num_threads()
    wanted = os.environ.get("HAL9_BENCH_SPIKING_THREADS")
    if wanted:
        torch.set_num_threads(int(wanted))
    yield torch.get_num_threads()
    torch.set_num_threads(before)


@pytest.mark.parametrize("n", SIZES)
def test_bench_spiking(benchmark: Any, bench_device: torch.device, torch_threads: int, n: int) -> None:
    net = spiking_network(n, bench_device)
    p = lif_params(LIF, net.sizes, device=bench_device)
    x = poisson_inputs(net.sizes[0], STEPS, seed=1, device=bench_device)
    hal9 = _hal9_cases(net, p, x)
    loop_fn = functools.partial(hand_loop, net.weight, p, x)

    # untimed: warm-up, identity with the loop, and the float64 run that sizes the rounding noise
    loop_ref = hand_loop(net.weight, p, x, net.sizes)
    assert loop_ref.counts is not None
    checks = {name: _check_hal9(name, f(), loop_ref, net.sizes) for name, f in hal9.items()}
    hal9_counts = loop_ref.counts.sum((0, 1)).tolist()
    net64 = net.to(dtype=torch.float64)
    res64 = run(net64, lif_params(LIF, net.sizes, device=bench_device, dtype=torch.float64), x.double())
    noise = agreement(hal9_counts, counts_of(res64, net.sizes).sum((0, 1)).tolist(), net.sizes, STEPS)
    assert noise["agree"], f"the tolerance rejects hal9's own float64 run: {noise}"
    del net64, res64

    python = brian2_python()
    brian = None if python is None else _brian2(net, p, x, python, target="cython", dtype="float32")
    times: dict[str, list[float]] = {name: [] for name in [*hal9, "loop"]}
    brian_runs: list[Brian2Run] = []
    try:
        if brian is not None:
            brian.run()  # compiles (cached on disk afterwards); not timed
            times |= {"brian2": [], "brian2_run": []}
        for _ in range(ROUNDS):  # interleaved: hal9 variants, loop, Brian2, hal9 variants, ...
            for name, f in [*hal9.items(), ("loop", loop_fn)]:
                _sync(bench_device)
                t0 = time.perf_counter()
                f()
                _sync(bench_device)
                times[name].append(time.perf_counter() - t0)
            if brian is not None:
                brian_runs.append(brian.run())
                times["brian2"].append(brian_runs[-1].loop_s)
                times["brian2_run"].append(brian_runs[-1].wall_s)
        build_s, version = (brian.build_s, brian.version) if brian is not None else (None, None)
    finally:
        if brian is not None:
            brian.close()
    med = {name: statistics.median(v) for name, v in times.items()}
    benchmark.pedantic(hal9["hal9"], rounds=1, iterations=1)  # pytest-benchmark's own record of hal9

    row: dict[str, Any] = {
        "neurons": net.n_neurons,
        "synapses": net.n_synapses,
        "steps": STEPS,
        "rounds": ROUNDS,
        "torch_threads": torch_threads,
        "ms_per_step": {name: 1e3 * m / STEPS for name, m in med.items()},
        "min_ms_per_step": {name: 1e3 * min(v) / STEPS for name, v in times.items()},
        "times_s": times,
        "ratio_hal9_over_loop": med["hal9"] / med["loop"],
        "spikes_per_step_hal9": sum(hal9_counts) / STEPS,
        "layer_spikes_hal9": hal9_counts,
        "hal9_checks": checks,
        "rounding_noise_float32_vs_float64": noise,
    }
    for name in hal9:
        row[f"ratio_{name}_over_loop"] = med[name] / med["loop"]
    if brian_runs:
        brian_counts = list(brian_runs[0].layer_counts)
        assert all(list(r.layer_counts) == brian_counts for r in brian_runs), "Brian2 is not deterministic"
        vs_brian = agreement(hal9_counts, brian_counts, net.sizes, STEPS)
        row |= {
            "brian2_version": version,
            "brian2_build_s": build_s,
            "ratio_hal9_over_brian2": med["hal9"] / med["brian2"],
            "ratio_hal9_over_brian2_run": med["hal9"] / med["brian2_run"],
            "spikes_per_step_brian2": sum(brian_counts) / STEPS,
            "brian2_vs_hal9": vs_brian,
        }
        for name in hal9:
            row[f"ratio_{name}_over_brian2"] = med[name] / med["brian2"]
        assert vs_brian["agree"], f"Brian2's spike counts differ from hal9's beyond noise: {vs_brian}"
    _RESULTS[n] = row
    benchmark.extra_info.update(row)
    _report(bench_device, brian_available=bool(brian_runs))


def _report(bench_device: torch.device, *, brian_available: bool) -> None:
    """Print the table of the cases so far and write ``outputs/bench_spiking.json``."""
    name = torch.cuda.get_device_name(bench_device) if bench_device.type == "cuda" else "cpu"
    threads = torch.get_num_threads()
    brian = "Brian2 Cython, 1 thread, float32" if brian_available else "Brian2 not available"
    print(f"\nLIF {STEPS} steps, batch 1, medians of {ROUNDS} ({name}, {threads} torch threads; {brian})")
    head = (
        "neurons",
        "synapses",
        "spk/step",
        "hal9 ms/st",
        "loop",
        "brian2",
        "b2 run()",
        "hal9/loop",
        "hal9/b2",
    )
    widths = (9, 10, 9, 11, 8, 8, 9, 10, 8)
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, widths, strict=True)))
    for r in _RESULTS.values():
        ms = r["ms_per_step"]
        cells = (
            f"{r['neurons']:>9}",
            f"{r['synapses']:>10}",
            f"{r['spikes_per_step_hal9']:>9.0f}",
            f"{ms['hal9']:>11.3f}",
            f"{ms['loop']:>8.3f}",
            f"{ms['brian2']:>8.3f}" if "brian2" in ms else f"{'—':>8}",
            f"{ms['brian2_run']:>9.3f}" if "brian2_run" in ms else f"{'—':>9}",
            f"{r['ratio_hal9_over_loop']:>10.2f}",
            f"{r['ratio_hal9_over_brian2']:>8.2f}" if "ratio_hal9_over_brian2" in r else f"{'—':>8}",
        )
        print(" ".join(cells))
        for other in (k for k in ms if k.startswith("hal9_")):
            print(f"{'':>9} {other}: {ms[other]:.3f} ms/step, {r[f'ratio_{other}_over_loop']:.2f}x loop")
        if "brian2_vs_hal9" in r:
            a = r["brian2_vs_hal9"]
            print(
                f"{'':>9} spikes brian2/hal9: {a['total_other']:,}/{a['total_reference']:,} "
                f"({100 * a['total_rel_diff']:+.2f} %, max z {a['z_max']:.1f}); float64 hal9: "
                f"{100 * r['rounding_noise_float32_vs_float64']['total_rel_diff']:+.2f} %"
            )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "device": name,
        "torch_threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_1_5_15_min": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    config = {
        "lif": LIF.model_dump(),
        "gain": GAIN,
        "input_amplitude": INPUT_AMPLITUDE,
        "input_rate": INPUT_RATE,
        "z_max": Z_MAX,
    }
    report = {"machine": machine, "config": config, "cases": list(_RESULTS.values())}
    OUT.write_text(json.dumps(report, indent=2) + "\n")
