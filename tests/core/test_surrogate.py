"""Gradients through the simulation: surrogate spikes, the sparse product's backward pass, learnable
neuron parameters, and the plasticity hook of ``run``."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hal9.core import (
    ConnectivityConfig,
    HierarchyConfig,
    HierarchyNetwork,
    LIFConfig,
    LIFParams,
    LIFState,
    Network,
    Plasticity,
    RateConfig,
    build_network,
    csr_matrix,
    lif_params,
    lif_step,
    rate_params,
    run,
    sparse_drive,
    spike,
    surrogate_derivative,
    synapses_of,
    synaptic_drive,
)
from hal9.core.propagation import event_structure

SMALL = HierarchyConfig(base_size=30, n_layers=3, connectivity=ConnectivityConfig(fan_in_policy="clip"))


def _smooth(x: torch.Tensor, surrogate: str, k: float) -> torch.Tensor:
    """The smooth functions whose derivatives the surrogates are (written independently)."""
    if surrogate == "fast_sigmoid":
        return x / (1 + k * x.abs())
    return 0.5 + torch.atan(math.pi * k * x / 2) / math.pi


@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "arctan"])
@pytest.mark.parametrize("k", [0.5, 2.0, 25.0])
def test_surrogate_is_the_derivative_of_its_smooth_function(surrogate: str, k: float) -> None:
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    x = x[x.abs() > 1e-3]  # |x| has a kink at 0 (the derivative is continuous there)
    h = 1e-6
    numeric = (_smooth(x + h, surrogate, k) - _smooth(x - h, surrogate, k)) / (2 * h)
    torch.testing.assert_close(surrogate_derivative(x, surrogate, k), numeric, rtol=1e-7, atol=1e-9)  # type: ignore[arg-type]


@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "arctan"])
def test_spike_is_an_exact_threshold_with_the_surrogate_backward(surrogate: str) -> None:
    x = torch.tensor([-1.0, -1e-300, 0.0, 1e-300, 0.3, 4.0], dtype=torch.float64, requires_grad=True)
    s = spike(x, surrogate, 3.0)  # type: ignore[arg-type]
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    s.backward(torch.arange(1.0, 7.0, dtype=torch.float64))
    expected = torch.arange(1.0, 7.0, dtype=torch.float64) * surrogate_derivative(x.detach(), surrogate, 3.0)  # type: ignore[arg-type]
    assert torch.equal(x.grad, expected)  # type: ignore[arg-type]
    assert surrogate_derivative(torch.zeros(1), "fast_sigmoid", 3.0).item() == 1.0  # peak 1
    assert surrogate_derivative(torch.zeros(1), "arctan", 3.0).item() == 1.5  # peak k/2


def test_spike_and_config_refuse_bad_surrogates() -> None:
    with pytest.raises(ValueError, match="surrogate must be one of"):
        spike(torch.zeros(2), "relu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slope"):
        spike(torch.zeros(2), "arctan", 0.0)
    with pytest.raises(ValueError, match="slope"):
        spike(torch.zeros(2), "arctan", math.nan)
    with pytest.raises(ValidationError, match="surrogate_slope"):
        LIFConfig(surrogate_slope=0.0)
    with pytest.raises(ValidationError, match="surrogate"):
        LIFConfig(surrogate="sigmoid")  # type: ignore[arg-type]


def _lif_params(n: int, refractory: int, dtype: torch.dtype = torch.float64, **kw: object) -> LIFParams:
    tau = torch.linspace(2.0, 9.0, n, dtype=dtype)
    fields = {"surrogate": "fast_sigmoid", "slope": 5.0, "detach_reset": True, **kw}
    return LIFParams(tau, torch.full((n,), 0.1, dtype=dtype), 0.0, -0.2, 1.0, refractory, 1.0, None, **fields)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 3),
    st.integers(0, 2**31 - 1),
    st.booleans(),
)
def test_the_gradient_path_gives_the_same_step_bitwise(refractory: int, seed: int, detach: bool) -> None:
    g = torch.Generator().manual_seed(seed)
    n, b = 7, 3
    p = _lif_params(n, refractory, detach_reset=detach)
    v0 = torch.randn((b, n), generator=g, dtype=torch.float64)
    r0 = torch.randint(0, refractory + 1, (b, n), generator=g).double()
    s0 = torch.randint(0, 2, (b, n), generator=g).double()
    drive = 2 * torch.randn((b, n), generator=g, dtype=torch.float64)
    plain = lif_step(LIFState(v0, r0, s0), drive, p)
    graded = lif_step(LIFState(v0, r0, s0), drive.clone().requires_grad_(True), p)
    assert graded[0].requires_grad
    for a, c in zip((plain[0], *plain[1]), (graded[0], *graded[1]), strict=True):
        assert torch.equal(a, c.detach())
        assert torch.equal(torch.signbit(a), torch.signbit(c.detach()))


def test_lif_spike_gradient_is_the_surrogate_times_dt_over_tau() -> None:
    """One step from rest without refractoriness: ``s = H(v − θ)``, ``v = α(drive + b)``, so
    ``∂s/∂drive = σ'(v − θ) · α`` exactly."""
    n = 5
    p = _lif_params(n, 0)
    zeros = torch.zeros((1, n), dtype=torch.float64)
    drive = torch.tensor([[0.5, 4.0, 9.0, 12.0, 30.0]], dtype=torch.float64, requires_grad=True)
    s, _ = lif_step(LIFState(zeros, zeros, zeros), drive, p)
    s.sum().backward()
    alpha = 1.0 / p.tau_mem
    v = alpha * (drive.detach() + 0.1)
    torch.testing.assert_close(drive.grad, surrogate_derivative(v - 1.0, "fast_sigmoid", 5.0) * alpha)


def test_detach_reset_changes_only_the_backward_pass() -> None:
    n = 4
    outs = {}
    for detach in (True, False):
        p = _lif_params(n, 0, detach_reset=detach)
        zeros = torch.zeros((1, n), dtype=torch.float64)
        drive = torch.tensor([[3.0, 8.0, 12.0, 20.0]], dtype=torch.float64, requires_grad=True)
        _, state = lif_step(LIFState(zeros, zeros, zeros), drive, p)
        state.v.sum().backward()
        outs[detach] = (state.v.detach(), drive.grad)
    assert torch.equal(outs[True][0], outs[False][0])
    assert not torch.equal(outs[True][1], outs[False][1])  # the reset's gradient flows when not detached


def test_sparse_drive_gradcheck_and_structural_gradient() -> None:
    net = build_network(SMALL, seed=0, dtype=torch.float64)
    w = net.weight
    structure = event_structure(w)
    values = w.values().clone().requires_grad_(True)
    x = torch.rand((3, net.n_neurons), dtype=torch.float64, requires_grad=True)

    def drive(v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return synaptic_drive(csr_matrix(w.crow_indices(), w.col_indices(), v, net.n_neurons), a, structure)

    assert torch.autograd.gradcheck(drive, (values, x))
    # the gradient lives on the synapses only, and equals the dense gradient there
    g = torch.rand((3, net.n_neurons), dtype=torch.float64)
    (drive(values, x) * g).sum().backward()
    dense_grad = g.T @ x.detach()  # ∂L/∂W for a dense W
    rows = torch.repeat_interleave(torch.arange(net.n_neurons), w.crow_indices().diff().long())
    torch.testing.assert_close(values.grad, dense_grad[rows, w.col_indices().long()], rtol=1e-12, atol=1e-12)


def test_rate_run_gradcheck_through_weights_bias_inputs_and_time_constants() -> None:
    net = build_network(
        HierarchyConfig(sizes=(4, 3, 2), n_layers=3, connectivity=ConnectivityConfig(fan_in_policy="clip")),
        seed=1,
        dtype=torch.float64,
    )
    p0 = rate_params(RateConfig(tau=3.0, activation="tanh"), net.sizes, dtype=torch.float64)
    w = net.weight
    values = w.values().clone().requires_grad_(True)
    bias = (0.1 * torch.randn(net.n_neurons, dtype=torch.float64)).requires_grad_(True)
    tau = (p0.tau + torch.rand(net.n_neurons, dtype=torch.float64)).requires_grad_(True)
    x = torch.randn((6, 2, 4), dtype=torch.float64, requires_grad=True)

    def f(v: torch.Tensor, b: torch.Tensor, t: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        weight = csr_matrix(w.crow_indices(), w.col_indices(), v, net.n_neurons)
        network = type(net)(net.sizes, weight, net.labels)
        out = run(network, p0._replace(bias=b, tau=t), inp, record=[2])
        return out.recordings[2]

    assert torch.autograd.gradcheck(f, (values, bias, tau, x))


def test_lif_module_learns_thresholds_and_time_constants() -> None:
    m = HierarchyNetwork(SMALL, LIFConfig(tau_mem=4.0), learnable=["threshold", "time_constant"], seed=0)
    assert isinstance(m.threshold, torch.nn.Parameter) and isinstance(m.time_constant, torch.nn.Parameter)
    names = {n for n, _ in m.named_parameters()}
    assert names == {"weight_values", "bias", "time_constant", "threshold"}
    x = 2.0 * torch.rand((20, 2, m.sizes[0]), generator=torch.Generator().manual_seed(0))
    out = m(x, record=[2])
    out.recordings[2].sum().backward()
    for p in m.parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0)
    assert m.weight_values.grad is not None and m.weight_values.grad.shape == m.weight_values.shape
    before = m.threshold.detach().clone()
    with torch.no_grad():
        m.threshold.add_(1.0)
    m.reset_parameters(seed=0)
    assert torch.equal(m.threshold.detach(), before)
    assert "learnable" in repr(m)


def test_learnable_refuses_unknown_names_and_thresholds_of_rate_models() -> None:
    with pytest.raises(ValueError, match="learnable entries"):
        HierarchyNetwork(SMALL, LIFConfig(), learnable=["tau"], seed=0)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no spike threshold"):
        HierarchyNetwork(SMALL, RateConfig(), learnable=["threshold"], seed=0)
    with pytest.raises(ValueError, match="string"):
        HierarchyNetwork(SMALL, LIFConfig(), learnable="threshold", seed=0)  # type: ignore[arg-type]


def test_gradients_are_deterministic() -> None:
    grads = []
    for _ in range(2):
        m = HierarchyNetwork(SMALL, LIFConfig(tau_mem=4.0), seed=3)
        x = 2.0 * torch.rand((15, 4, m.sizes[0]), generator=torch.Generator().manual_seed(5))
        m(x, record=[1]).recordings[1].sum().backward()
        assert m.weight_values.grad is not None
        grads.append(m.weight_values.grad.clone())
    assert torch.equal(grads[0], grads[1])


def _grow(values, synapses, pre, post, state, params):  # type: ignore[no-untyped-def]
    """A test rule: every synapse gains ``lr · mean_b(post_i · pre_j)``; counts its calls."""
    hebb = (post[:, synapses.post] * pre[:, synapses.pre]).mean(0)
    return values + params * hebb, state + 1


def test_run_applies_plasticity_every_step_and_keeps_the_structure() -> None:
    net = build_network(SMALL, seed=0, dtype=torch.float64)
    p = rate_params(RateConfig(tau=2.0), net.sizes, dtype=torch.float64)
    x = torch.rand((5, 2, net.sizes[0]), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = run(net, p, x, plasticity=Plasticity(_grow, 0.01, 0, "grow"), record=range(net.n_layers))
    assert out.plasticity_state == 5
    assert out.weight is not None
    assert torch.equal(out.weight.crow_indices(), net.weight.crow_indices())
    assert torch.equal(out.weight.col_indices(), net.weight.col_indices())
    # replay step by step: each step runs on the weights left by the previous update
    syn = synapses_of(net.weight)
    crow, col = net.weight.crow_indices(), net.weight.col_indices()
    values, state = net.weight.values(), None
    acts = torch.zeros((2, net.n_neurons), dtype=torch.float64)
    for t in range(5):
        network = Network(net.sizes, csr_matrix(crow, col, values, net.n_neurons), net.labels)
        single = run(network, p, x[t : t + 1], state=state)
        values, _ = _grow(values, syn, acts, single.final_state.x, 0, 0.01)
        acts, state = single.final_state.x, single.final_state
    assert torch.equal(out.weight.values(), values)
    assert not torch.equal(out.weight.values(), net.weight.values())


def test_run_refuses_bad_plasticity() -> None:
    net = build_network(SMALL, seed=0)
    p = rate_params(RateConfig(), net.sizes)
    x = torch.rand((3, 1, net.sizes[0]))
    with pytest.raises(ValueError, match="plasticity must be"):
        run(net, p, x, plasticity=_grow)  # type: ignore[arg-type]
    bad = Plasticity(lambda v, s, a, b, st, pr: (v[:-1], st), None, None, "short")
    with pytest.raises(ValueError, match="'short' must return"):
        run(net, p, x, plasticity=bad)
    wrong = Plasticity(lambda v, s, a, b, st, pr: (v.double(), st), None, None, "f64")
    with pytest.raises(ValueError, match="float64"):
        run(net, p, x, plasticity=wrong)


def test_module_gradients_never_form_the_dense_matrix() -> None:
    """The module's network carries its parameter as ``values``: backward runs through ``SparseDrive``
    on it, never through torch's CSR-constructor backward (which densifies ``N × N``: 40 GB at 100k)."""
    m = HierarchyNetwork(SMALL, LIFConfig(tau_mem=4.0), seed=0)
    assert m.network().values is m.weight_values
    x = 2.0 * torch.rand((10, 2, m.sizes[0]), generator=torch.Generator().manual_seed(0))
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        m(x, record=[2]).recordings[2].sum().backward()
    ops = {e.key for e in prof.key_averages()}
    assert not {o for o in ops if "to_dense" in o or "sparse_mask" in o}, sorted(ops)
    assert any("SparseDrive" in o for o in ops)
    with pytest.raises(ValueError, match="values must be"):
        Network(m.sizes, m.network().weight, m.labels, m.weight_values[:-1])


def test_plasticity_whose_output_carries_a_gradient_stays_sparse() -> None:
    """A rule with a learnable rate: its output values carry a gradient although the network's do not;
    the run differentiates through them with the sparse backward (no dense ``N × N`` anywhere)."""
    net = build_network(SMALL, seed=0, dtype=torch.float64)
    p = rate_params(RateConfig(tau=2.0), net.sizes, dtype=torch.float64)
    x = torch.rand((6, 2, net.sizes[0]), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    lr = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        out = run(net, p, x, plasticity=Plasticity(_grow, lr, 0, "grow"), record=[2])
        assert out.weight_values is not None and out.weight_values.requires_grad
        (out.recordings[2].sum() + out.weight_values.sum()).backward()
    ops = {e.key for e in prof.key_averages()}
    assert not {o for o in ops if "to_dense" in o or "sparse_mask" in o}, sorted(ops)
    assert lr.grad is not None and torch.isfinite(lr.grad) and lr.grad != 0


def test_sparse_drive_refuses_a_second_derivative() -> None:
    net = build_network(SMALL, seed=0, dtype=torch.float64)
    structure = event_structure(net.weight)
    values = net.weight.values().clone().requires_grad_(True)
    x = torch.rand((2, net.n_neurons), dtype=torch.float64, requires_grad=True)
    y = sparse_drive(values, x, structure, net.n_neurons)
    (g,) = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match=r"once_differentiable|double backward|differentiable"):
        g.sum().backward()


def test_network_values_and_thresholds_are_validated() -> None:
    net = build_network(SMALL, seed=0)
    w = net.weight
    with pytest.raises(ValueError, match="values must be"):
        Network(net.sizes, w, net.labels, w.values().double())
    with pytest.raises(ValueError, match="values differ"):
        Network(net.sizes, w, net.labels, w.values() + 1.0)
    assert Network(net.sizes, w, net.labels, w.values().clone()).values is not None  # equal values: fine
    p = lif_params(LIFConfig(), net.sizes)
    x = torch.rand((3, 1, net.sizes[0]))
    for bad in (torch.ones(1), torch.ones(net.n_neurons, 1), torch.ones(net.n_neurons, dtype=torch.float64)):
        with pytest.raises(ValueError, match=r"params\.v_th must be"):
            run(net, p._replace(v_th=bad), x)
    ok = run(net, p._replace(v_th=torch.full((net.n_neurons,), 1.0)), x)
    assert torch.equal(ok.final_state.v, run(net, p, x).final_state.v)
    assert HierarchyNetwork(SMALL, LIFConfig(), learnable=None, seed=0).learnable == ()  # type: ignore[arg-type]
