"""Event-driven propagation (hal9.core.propagation) against the dense product, and the float-only LIF
update against its branch-wise definition."""

from __future__ import annotations

import math
from typing import NamedTuple

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from hal9.core import (
    EVENT_DENSITY_THRESHOLD,
    ALIFConfig,
    ConnectivityConfig,
    FrozenConfig,
    HierarchyConfig,
    HierarchyNetwork,
    LIFConfig,
    Network,
    RateConfig,
    alif_params,
    build_network,
    csr_matrix,
    event_drive,
    event_plan,
    initial_state,
    lif_params,
    rate_params,
    run,
    sizes_for_total,
    synaptic_drive,
)
from hal9.core.neurons import NeuronModel, registered_neuron_model
from hal9.core.neurons.lif import LIFParams, integrate_and_fire, lif_init_state, lif_step
from hal9.core.propagation import event_density_threshold


def _net(n: int = 600, dtype: torch.dtype = torch.float64, seed: int = 0):
    cfg = HierarchyConfig(
        sizes=sizes_for_total(n, 4, math.e), n_layers=4, connectivity=ConnectivityConfig(fan_in_policy="clip")
    )
    return build_network(cfg, seed=seed, dtype=dtype)


def _spikes(batch: int, n: int, density: float, seed: int, dtype: torch.dtype) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    s = (torch.rand((n, batch), generator=g) < density).to(dtype)
    return s.T  # neuron-major, as run keeps activity


def test_event_plan_is_the_csc_form_of_the_weight() -> None:
    net = _net(300)
    plan = event_plan(net.weight)
    dense = net.weight.to_dense()
    n = net.n_neurons
    assert plan.col_ptr.shape == (n + 1,) and int(plan.col_ptr[-1]) == net.n_synapses
    for j in (0, 7, n // 2, n - 1):
        lo, hi = int(plan.col_ptr[j]), int(plan.col_ptr[j + 1])
        targets = plan.targets[lo:hi]
        assert torch.equal(targets, dense[:, j].nonzero().squeeze(1))  # ascending targets
        assert torch.equal(plan.values[lo:hi], dense[targets, j])


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 4),
    density=st.sampled_from([0.0, 0.001, 0.02, 0.2, 1.0]),
    seed=st.integers(0, 2**16),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_event_drive_equals_the_dense_product(
    batch: int, density: float, seed: int, dtype: torch.dtype
) -> None:
    """Equal up to summation order.

    The event path adds each target's spiking weights in ascending source order; torch's CSR product does the
    same on MKL's generic path (bitwise equal, as on the AMD EPYC this was first tested on), but MKL's AVX-512
    kernels (seen on an Intel Xeon, batches of 4 and 8) sum in another order. The difference is bounded by the
    summation error bound ``2 · fan-in · eps · Σ|w|``, and is zero without spikes.
    """
    net = _net(500, dtype=dtype, seed=seed % 5)
    s = _spikes(batch, net.n_neurons, density, seed, dtype)
    dense = synaptic_drive(net.weight, s)
    event = event_drive(net.event_plan(), s)
    assert event.shape == dense.shape == (batch, net.n_neurons)
    assert event.T.is_contiguous()  # neuron-major like the dense product
    w = net.weight
    magnitude = torch.sparse_csr_tensor(
        w.crow_indices(), w.col_indices(), w.values().abs(), w.shape, check_invariants=False
    )
    fan_in = int((w.crow_indices()[1:] - w.crow_indices()[:-1]).max())
    bound = 2 * fan_in * torch.finfo(dtype).eps * synaptic_drive(magnitude, s)
    assert ((event - dense).abs() <= bound).all()
    if density == 0.0:
        assert torch.equal(event, dense)


def test_event_drive_of_a_hand_built_matrix() -> None:
    # W[i, j]: 0 ← 1 (2.0), 0 ← 2 (3.0), 1 ← 2 (5.0), 2 ← 0 (7.0)
    crow = torch.tensor([0, 2, 3, 4])
    col = torch.tensor([1, 2, 2, 0])
    w = csr_matrix(crow, col, torch.tensor([2.0, 3.0, 5.0, 7.0]), 3)
    s = torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])  # trial 0: neuron 2 spikes; trial 1: 0 and 1
    d = event_drive(event_plan(w), s)
    assert d.tolist() == [[3.0, 5.0, 0.0], [2.0, 0.0, 7.0]]


def test_network_caches_the_structure_and_follows_in_place_changes() -> None:
    net = _net(300)
    plan = net.event_plan()
    again = net.event_plan()
    assert again.order is plan.order  # the structure is cached
    s = _spikes(2, net.n_neurons, 0.1, 3, net.dtype)
    with torch.no_grad():
        net.weight.values().mul_(2.0)
    assert torch.equal(event_drive(net.event_plan(), s), synaptic_drive(net.weight, s))


def test_plans_never_go_stale_when_shared_tensors_change_in_place() -> None:
    """Index and value tensors shared with a CSR matrix change without its version counter moving
    (review finding): values built with csr_matrix, a module's weights after an optimizer step, and
    its indices after reset_parameters."""
    net = _net(300)
    crow, col = net.weight.crow_indices().clone(), net.weight.col_indices().clone()
    vals = net.weight.values().clone()
    shared = Network(net.sizes, csr_matrix(crow, col, vals, net.n_neurons), net.labels)
    s = _spikes(1, net.n_neurons, 0.05, 1, net.dtype)
    shared.event_plan()
    vals.mul_(-3.0)
    assert torch.equal(event_drive(shared.event_plan(), s), synaptic_drive(shared.weight, s))

    cfg = HierarchyConfig(base_size=80, n_layers=3, connectivity=ConnectivityConfig(fan_in_policy="clip"))
    m = HierarchyNetwork(cfg, LIFConfig(tau_mem=5.0), seed=0, dtype=torch.float64)
    x = 3.0 * torch.rand((12, 1, m.sizes[0]), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        mnet = m.network()
        run(mnet, m.neuron_params(), x, propagation="event")
        m.weight_values.mul_(-1.0)  # what an optimizer step does
        ev = run(mnet, m.neuron_params(), x, propagation="event")
        de = run(mnet, m.neuron_params(), x, propagation="dense")
        assert all(torch.equal(a, b) for a, b in zip(ev.final_state, de.final_state, strict=True))
        m.reset_parameters(seed=1)  # rewrites the index buffers in place
        ev = run(mnet, m.neuron_params(), x, propagation="event")
        de = run(mnet, m.neuron_params(), x, propagation="dense")
        assert all(torch.equal(a, b) for a, b in zip(ev.final_state, de.final_state, strict=True))


@pytest.mark.parametrize("model", ["lif", "alif"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [1, 3])
def test_run_gives_the_same_spike_trains_on_every_path(model: str, dtype: torch.dtype, batch: int) -> None:
    net = _net(800, dtype=dtype)
    make = lif_params if model == "lif" else alif_params
    cfg = LIFConfig(tau_mem=8.0) if model == "lif" else ALIFConfig(tau_mem=8.0, beta=0.3)
    p = make(cfg, net.sizes, dtype=dtype)  # type: ignore[operator]
    g = torch.Generator().manual_seed(4)
    x = (3.0 * torch.rand((40, batch, net.sizes[0]), generator=g)).to(dtype)
    layers = range(net.n_layers)
    results = {m: run(net, p, x, record=layers, propagation=m) for m in ("dense", "event", "auto")}
    total = sum(float(results["dense"].recordings[k].sum()) for k in layers)
    assert total > 0  # the network spikes, so the comparison means something
    for m in ("event", "auto"):
        for k in layers:
            assert torch.equal(results[m].recordings[k], results["dense"].recordings[k]), (m, k)
        for a, b in zip(results[m].final_state, results["dense"].final_state, strict=True):
            assert torch.equal(a, b), m


def test_propagation_choice_and_bad_values() -> None:
    # the threshold falls with the batch towards its floor, and is the batch-1 value at batch 1
    assert event_density_threshold(1) == EVENT_DENSITY_THRESHOLD
    assert event_density_threshold(16) < event_density_threshold(4) < EVENT_DENSITY_THRESHOLD
    assert event_density_threshold(1) > 0.03 > event_density_threshold(16)
    net = _net(300)
    x = torch.zeros((3, 1, net.sizes[0]), dtype=net.dtype)
    rate = rate_params(RateConfig(), net.sizes, dtype=net.dtype)
    with pytest.raises(ValueError, match="propagation='event' needs a spiking"):
        run(net, rate, x, propagation="event")
    with pytest.raises(ValueError, match="propagation must be one of"):
        run(net, rate, x, propagation="sparse")  # type: ignore[arg-type]
    # graded activity under "auto" stays dense and equal to "dense"
    assert torch.equal(
        run(net, rate, x + 0.5).final_state.x, run(net, rate, x + 0.5, propagation="dense").final_state.x
    )


def test_gradients_take_the_dense_path_and_event_refuses_them() -> None:
    """With surrogate gradients the spikes carry a gradient, which spike indices would cut: "auto"
    runs dense (same gradients bitwise) and a forced "event" raises."""
    grads = {}
    for mode in ("dense", "auto", "event"):
        m = HierarchyNetwork(
            HierarchyConfig(base_size=80, n_layers=3, connectivity=ConnectivityConfig(fan_in_policy="clip")),
            LIFConfig(tau_mem=5.0),
            seed=0,
            dtype=torch.float64,
        )
        g = torch.Generator().manual_seed(2)
        x = 3.0 * torch.rand((15, 2, m.sizes[0]), generator=g, dtype=torch.float64)
        if mode == "event":
            with pytest.raises(ValueError, match="cannot pass gradients"):
                run(m.network(), m.neuron_params(), x, propagation=mode)  # type: ignore[arg-type]
            continue
        out = run(m.network(), m.neuron_params(), x, propagation=mode)  # type: ignore[arg-type]
        out.final_state.v.sum().backward()
        assert m.weight_values.grad is not None
        grads[mode] = m.weight_values.grad.clone()
    assert grads["dense"].abs().sum() > 0
    assert torch.equal(grads["auto"], grads["dense"])


def _branchwise(v0: Tensor, r0: Tensor, drive: Tensor, p: LIFParams, th: float | Tensor):
    """The LIF update written with masks and ``where``, as defined in the docstring."""
    active = r0 <= 0
    v_int = v0 + (p.dt / p.tau_mem) * (p.v_rest - v0 + drive + p.bias)
    v = torch.where(active, v_int, torch.full_like(v_int, p.v_reset))
    fired = active & (v >= th)
    v = torch.where(fired, torch.full_like(v, p.v_reset), v)
    r = torch.where(fired, torch.full_like(r0, p.refractory_steps), (r0 - 1).clamp_min(0))
    return v, r, fired.to(v.dtype)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    refractory=st.integers(0, 3),
    v_reset=st.sampled_from([0.0, -0.5, 0.25]),
    v_rest=st.sampled_from([0.0, -0.2]),
    tensor_threshold=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_integrate_and_fire_equals_the_branchwise_definition_bitwise(
    seed: int, refractory: int, v_reset: float, v_rest: float, tensor_threshold: bool, dtype: torch.dtype
) -> None:
    g = torch.Generator().manual_seed(seed)
    n, batch = 257, 3
    tau = (2.0 + 20.0 * torch.rand(n, generator=g)).to(dtype)
    bias = (0.1 * torch.randn(n, generator=g)).to(dtype)
    p = LIFParams(tau, bias, v_rest, v_reset, 1.0, refractory, 1.0)
    v0 = torch.randn((batch, n), generator=g).to(dtype)
    r0 = torch.randint(0, refractory + 2, (batch, n), generator=g).to(dtype)  # some clamped even at 0
    drive = (2.0 * torch.randn((batch, n), generator=g)).to(dtype)
    th: float | Tensor = (
        1.0 + 0.3 * torch.rand((batch, n), generator=g).to(dtype) if tensor_threshold else 1.0
    )
    got = integrate_and_fire(v0, r0, drive, p, th)
    want = _branchwise(v0, r0, drive, p, th)
    for a, b, name in zip(got, want, ("v", "refractory", "spikes"), strict=True):
        assert a.dtype == dtype, name
        assert torch.equal(a, b), name


def test_auto_switches_between_paths_with_the_spike_density(monkeypatch: pytest.MonkeyPatch) -> None:
    import hal9.core.runner as runner

    net = _net(800)
    p = lif_params(LIFConfig(tau_mem=2.0, refractory=0.0), net.sizes, dtype=net.dtype)
    g = torch.Generator().manual_seed(5)
    x = torch.rand((30, 1, net.sizes[0]), generator=g, dtype=net.dtype)
    x[10:20] += 50.0  # a burst: most of L1 fires every step, far above the threshold
    used = {"event": 0, "dense": 0}
    deliver, dense = runner.deliver, runner.synaptic_drive

    def counted_deliver(*args):  # type: ignore[no-untyped-def]
        used["event"] += 1
        return deliver(*args)

    def counted_dense(*args):  # type: ignore[no-untyped-def]
        used["dense"] += 1
        return dense(*args)

    monkeypatch.setattr(runner, "deliver", counted_deliver)
    monkeypatch.setattr(runner, "synaptic_drive", counted_dense)
    auto = run(net, p, x, record=[0, 1])
    assert used["event"] > 0 and used["dense"] > 0 and used["event"] + used["dense"] == 30
    monkeypatch.undo()
    ref = run(net, p, x, record=[0, 1], propagation="dense")
    for k in (0, 1):
        assert torch.equal(auto.recordings[k], ref.recordings[k])


class _SurrogateConfig(FrozenConfig):
    tau_mem: float = 4.0


class _SurrogateParams(LIFParams):
    """LIF's fields under a type of its own (the registry needs one per model)."""


class _SurrogateState(NamedTuple):
    v: Tensor
    refractory: Tensor
    spikes: Tensor


def _surrogate_params(config, sizes, *, device=None, dtype=torch.float32):  # type: ignore[no-untyped-def]
    tau = torch.full((sum(sizes),), config.tau_mem, dtype=dtype)
    return _SurrogateParams(tau, torch.zeros_like(tau), 0.0, 0.0, 1.0, 0, 1.0)


def _surrogate_init(params, n, batch, *, device, dtype):  # type: ignore[no-untyped-def]
    z = torch.zeros((n, batch), dtype=dtype).T
    return _SurrogateState(z, z.clone(), z.clone())


def _surrogate_step(state, drive, params):  # type: ignore[no-untyped-def]
    """LIF spikes whose gradient is a sigmoid's (the forward value stays exactly 0/1)."""
    v, refractory, spikes = integrate_and_fire(state.v, state.refractory, drive, params, params.v_th)
    g = torch.sigmoid(5.0 * (v - params.v_th))
    spikes = spikes + (g - g.detach())
    return spikes, _SurrogateState(v, refractory, spikes)


SURROGATE = NeuronModel(
    name="surrogate-lif-test",
    config_type=_SurrogateConfig,
    params_type=_SurrogateParams,
    state_type=_SurrogateState,
    make_params=_surrogate_params,
    init_state=_surrogate_init,
    step=_surrogate_step,
    activity=lambda s: s.spikes,
    neuron_fields=("tau_mem", "bias"),
    time_constant="tau_mem",
    spiking=True,
)


def test_gradients_through_spiking_activity_stay_on_the_dense_path() -> None:
    """A surrogate-gradient model: spike indices would cut the graph, so "auto" propagates densely
    while the activity carries a gradient and "event" refuses (review finding)."""
    net = _net(400)
    with registered_neuron_model(SURROGATE):
        p = _surrogate_params(_SurrogateConfig(), net.sizes, dtype=net.dtype)
        grads = {}
        for mode in ("dense", "auto"):
            x = (2.0 * torch.rand((10, 1, net.sizes[0]), generator=torch.Generator().manual_seed(3))).to(
                net.dtype
            )
            x.requires_grad_(True)
            out = run(net, p, x, propagation=mode)  # type: ignore[arg-type]
            out.final_state.v.sum().backward()
            grads[mode] = x.grad
        assert grads["dense"] is not None and grads["dense"].abs().sum() > 0
        assert torch.equal(grads["auto"], grads["dense"])
        x = torch.rand((4, 1, net.sizes[0]), dtype=net.dtype, requires_grad=True)
        with pytest.raises(ValueError, match="cannot pass gradients through the activity"):
            run(net, p, x + 1.0, propagation="event")


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_an_infinite_drive_spikes_and_resets_instead_of_poisoning_the_membrane(dtype: torch.dtype) -> None:
    p = LIFParams(torch.full((4,), 2.0, dtype=dtype), torch.zeros(4, dtype=dtype), 0.0, -0.5, 1.0, 2, 1.0)
    v0 = torch.zeros((1, 4), dtype=dtype)
    drive = torch.tensor([[math.inf, -math.inf, 0.5, 3.0]], dtype=dtype)
    v, r, s = integrate_and_fire(v0, torch.zeros_like(v0), drive, p, 1.0)
    assert s.tolist() == [[1.0, 0.0, 0.0, 1.0]]
    assert v[0, 0].item() == -0.5 and v[0, 3].item() == -0.5  # reset, as the branch-wise definition
    assert v[0, 1].item() == -torch.finfo(dtype).max  # −inf clamped to the finite range
    assert r.tolist() == [[2.0, 0.0, 0.0, 2.0]]
    assert torch.isfinite(v).all()


def test_lif_step_broadcasts_a_state_over_the_drive_batch() -> None:
    p = lif_params(LIFConfig(tau_mem=2.0), (3, 2), dtype=torch.float64)
    state = lif_init_state(p, 5, 1, device=torch.device("cpu"), dtype=torch.float64)
    drive = torch.linspace(0.0, 4.0, 15, dtype=torch.float64).reshape(3, 5)
    spikes, new = lif_step(state, drive, p)
    want = _branchwise(state.v, state.refractory, drive, p, p.v_th)
    assert spikes.shape == new.v.shape == new.refractory.shape == (3, 5)
    assert (
        torch.equal(new.v, want[0]) and torch.equal(new.refractory, want[1]) and torch.equal(spikes, want[2])
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("spikes", 0.5, "state.spikes must hold only 0 and 1"),
        ("spikes", 2.0, "state.spikes must hold only 0 and 1"),
        ("spikes", -0.0, "state.spikes must hold only 0 and 1"),
        ("refractory", 0.5, "state.refractory must hold whole numbers"),
        ("refractory", -1.0, "state.refractory must hold whole numbers"),
    ],
)
def test_run_refuses_spiking_states_the_step_is_not_defined_for(
    field: str, value: float, message: str
) -> None:
    """Non-0/1 spikes or fractional/negative refractory counters would make the paths disagree (review)."""
    net = _net(300)
    for make, cfg in ((lif_params, LIFConfig()), (alif_params, ALIFConfig())):
        p = make(cfg, net.sizes, dtype=net.dtype)  # type: ignore[operator]
        state = initial_state(p, net.n_neurons, 1, device=net.device, dtype=net.dtype)
        bad = getattr(state, field).clone()
        bad[0, 3] = value
        x = torch.zeros((2, 1, net.sizes[0]), dtype=net.dtype)
        with pytest.raises(ValueError, match=message):
            run(net, p, x, state=state._replace(**{field: bad}))
