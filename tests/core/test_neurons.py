"""The neuron-model protocol: the registry, a model added from outside, ALIF against a hand-computed
spike train, and the generic module (in-place ``reset_parameters``)."""

import math
from typing import NamedTuple

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from hal9.core import (
    ALIFConfig,
    ALIFState,
    ConnectivityConfig,
    FrozenConfig,
    HierarchyConfig,
    HierarchyNetwork,
    LIFConfig,
    LIFNetwork,
    NeuronModel,
    RateConfig,
    RateNetwork,
    alif_params,
    alif_step,
    build_network,
    lif_params,
    neuron_model,
    neuron_model_names,
    rate_params,
    register_neuron_model,
    registered_neuron_model,
    run,
    unregister_neuron_model,
)
from hal9.core.neurons import ALIFParams, per_neuron

CFG = HierarchyConfig(
    sizes=(40, 20, 10),
    n_layers=3,
    connectivity=ConnectivityConfig(fan_in_within=5, fan_in_up=5, feedback=True, fan_in_down=3),
)


def _x(steps: int = 8, batch: int = 2, scale: float = 1.0, dtype: torch.dtype = torch.float64) -> Tensor:
    return torch.rand((steps, batch, 40), generator=torch.Generator().manual_seed(0), dtype=dtype) * scale


# --- a model defined outside hal9: a leaky linear integrator, y ← y + dt/τ (−y + drive + b) ---------------


class LeakyConfig(FrozenConfig):
    tau: float = 3.0
    dt: float = 1.0


class LeakyParams(NamedTuple):
    tau: Tensor
    bias: Tensor
    dt: float


class LeakyState(NamedTuple):
    y: Tensor


def _leaky_params(config: LeakyConfig, sizes, *, device=None, dtype=torch.float32) -> LeakyParams:
    tau = per_neuron(config.tau, sizes, "tau", device, dtype)
    return LeakyParams(tau, torch.zeros_like(tau), config.dt)


def _leaky_init(params, n, batch, *, device, dtype) -> LeakyState:
    return LeakyState(torch.zeros((n, batch), device=device, dtype=dtype).T)


def _leaky_step(state: LeakyState, drive: Tensor, params: LeakyParams) -> tuple[Tensor, LeakyState]:
    y = state.y + (params.dt / params.tau) * ((drive + params.bias) - state.y)
    return y, LeakyState(y)


LEAKY = NeuronModel(
    name="leaky-test",
    config_type=LeakyConfig,
    params_type=LeakyParams,
    state_type=LeakyState,
    make_params=_leaky_params,
    init_state=_leaky_init,
    step=_leaky_step,
    activity=lambda s: s.y,
    neuron_fields=("tau", "bias"),
    time_constant="tau",
)


def test_builtin_models_are_registered_and_found_by_any_of_their_types() -> None:
    assert neuron_model_names()[:3] == ("rate", "lif", "alif")
    sizes = (3, 2)
    for cfg in (RateConfig(), LIFConfig(), ALIFConfig()):
        model = neuron_model(cfg)
        params = model.make_params(cfg, sizes)
        state = model.init_state(params, 5, 2, device=torch.device("cpu"), dtype=torch.float32)
        assert neuron_model(model.name) is model is neuron_model(params) is neuron_model(state)
        assert tuple(model.activity(state).shape) == (2, 5)
    with pytest.raises(ValueError, match=r"registered: rate, lif, alif.*'hodgkin'"):
        neuron_model("hodgkin")


def test_a_model_added_from_outside_runs_through_run_and_the_module() -> None:
    # The leaky integrator is the rate model with a linear transfer function: same expression, same bits.
    net = build_network(CFG, seed=1, dtype=torch.float64)
    rate = run(
        net, rate_params(RateConfig(tau=3.0, activation="linear"), net.sizes, dtype=torch.float64), _x()
    )
    with registered_neuron_model(LEAKY):
        assert "leaky-test" in neuron_model_names()
        leaky = run(net, _leaky_params(LeakyConfig(), net.sizes, dtype=torch.float64), _x(), record=[2])
        assert torch.equal(leaky.final_state.y, rate.final_state.x)
        module = HierarchyNetwork(CFG, LeakyConfig(), seed=1, dtype=torch.float64)
        out = module(_x(), record=[2])
        assert torch.equal(out.recordings[2], leaky.recordings[2])
        assert "model=leaky-test" in repr(module)
    assert "leaky-test" not in neuron_model_names()
    with pytest.raises(ValueError, match="params must be the params of a registered neuron model"):
        run(net, _leaky_params(LeakyConfig(), net.sizes, dtype=torch.float64), _x())


def test_registry_refuses_clashes_and_unknown_names() -> None:
    with pytest.raises(ValueError, match="name already registered by 'rate'"):
        register_neuron_model(_renamed("rate"))
    with pytest.raises(ValueError, match="config_type already registered by 'lif'"):
        register_neuron_model(_renamed("x", config_type=LIFConfig))
    with pytest.raises(ValueError, match="model must be a NeuronModel"):
        register_neuron_model("rate")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no neuron model named 'nope'"):
        unregister_neuron_model("nope")


def _renamed(name: str, **changes: object) -> NeuronModel:
    from dataclasses import replace

    return replace(LEAKY, name=name, **changes)


def test_params_state_and_config_mix_ups_name_the_problem() -> None:
    net = build_network(CFG, seed=0)
    p = lif_params(LIFConfig(), net.sizes)
    alif_state = neuron_model("alif").init_state(
        alif_params(ALIFConfig(), net.sizes), 70, 2, device=torch.device("cpu"), dtype=torch.float32
    )
    with pytest.raises(ValueError, match="LIFParams needs a LIFState, got ALIFState"):
        run(net, p, torch.zeros(3, 2, 40), state=alif_state)
    with pytest.raises(ValueError, match="params must be the params"):
        run(net, LIFConfig(), torch.zeros(3, 2, 40))  # type: ignore[arg-type]
    bad = alif_params(ALIFConfig(), (10, 5))
    with pytest.raises(ValueError, match=r"params\.tau_mem must be a \(70,\) tensor"):
        run(net, bad, torch.zeros(3, 2, 40))


# --- ALIF -------------------------------------------------------------------------------------------------


def _one_neuron_alif(beta: float, steps: int = 7) -> tuple[list[float], list[float]]:
    """A lone ALIF neuron (τ_m = 2, dt = 1, v_th = 1, ρ = 0.5, no refractoriness) driven by 3."""
    cfg = ALIFConfig(tau_mem=2.0, v_th=1.0, refractory=0.0, beta=beta, tau_adapt=1 / math.log(2))
    p = alif_params(cfg, (1,), dtype=torch.float64)
    state = neuron_model("alif").init_state(p, 1, 1, device=torch.device("cpu"), dtype=torch.float64)
    spikes, adaptation = [], []
    for _ in range(steps):
        s, state = alif_step(state, torch.full((1, 1), 3.0, dtype=torch.float64), p)
        spikes.append(float(s))
        adaptation.append(float(state.adaptation))
    return spikes, adaptation


def test_alif_matches_a_hand_computed_spike_train() -> None:
    # v ← v + ½(−v + 3) = ½v + 1.5 from v = 0 after each reset; A = 1 + 0.6 a; a ← ½ a + s.
    # t0: v 1.5 ≥ A 1     → spike, a = 1      t1: v 1.5 < A 1.6    → a = 0.5
    # t2: v 2.25 ≥ A 1.3  → spike, a = 1.25   t3: v 1.5 < A 1.75   → a = 0.625
    # t4: v 2.25 ≥ 1.375  → spike, a = 1.3125 t5: v 1.5 < 1.7875   → a = 0.65625
    # t6: v 2.25 ≥ 1.39375 → spike, a = 1.328125
    spikes, adaptation = _one_neuron_alif(beta=0.6)
    assert spikes == [1, 0, 1, 0, 1, 0, 1]
    assert adaptation == pytest.approx([1, 0.5, 1.25, 0.625, 1.3125, 0.65625, 1.328125], rel=1e-12)
    lif_spikes, _ = _one_neuron_alif(beta=0.0)
    assert lif_spikes == [1] * 7  # without adaptation it fires every step


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.5, 4.0))
def test_alif_without_adaptation_is_lif_bitwise(seed: int, scale: float) -> None:
    net = build_network(CFG, seed=seed, dtype=torch.float64)
    x = torch.rand((20, 2, 40), generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale
    lif = LIFConfig(tau_mem=3.0, v_th=0.4, refractory=2.0)
    alif = ALIFConfig(**lif.model_dump(), beta=0.0)
    a = run(net, lif_params(lif, net.sizes, dtype=torch.float64), x, record=range(3))
    b = run(net, alif_params(alif, net.sizes, dtype=torch.float64), x, record=range(3))
    for k in range(3):
        assert torch.equal(a.recordings[k], b.recordings[k])
    assert isinstance(b.final_state, ALIFState)


def test_adaptation_lowers_the_firing_rate_of_a_network() -> None:
    net = build_network(CFG, seed=2, dtype=torch.float64)
    x = _x(steps=200, scale=3.0)
    lif = LIFConfig(tau_mem=3.0, v_th=0.4, refractory=1.0)
    counts = {}
    for beta in (0.0, 0.5):
        p = alif_params(
            ALIFConfig(**lif.model_dump(), beta=beta, tau_adapt=50.0), net.sizes, dtype=torch.float64
        )
        counts[beta] = float(run(net, p, x, record=[0]).recordings[0].sum())
    assert counts[0.0] > 0
    assert counts[0.5] < 0.8 * counts[0.0]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"tau_adapt": 0.0}, "tau_adapt"), ({"tau_adapt": (1.0, -2.0)}, "tau_adapt"), ({"beta": -0.1}, "beta")],
)
def test_alif_config_rejects_bad_values_naming_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ALIFConfig(**kwargs)


def test_alif_params_shapes() -> None:
    p = alif_params(ALIFConfig(tau_adapt=(100.0, 50.0)), (3, 2))
    assert isinstance(p, ALIFParams)
    assert p.tau_adapt.tolist() == [100.0] * 3 + [50.0] * 2 and p.tau_mem.shape == (5,)
    with pytest.raises(ValueError, match="tau_adapt has 2 per-layer values"):
        alif_params(ALIFConfig(tau_adapt=(1.0, 2.0)), (3, 2, 1))


# --- the generic module -----------------------------------------------------------------------------------


def test_reset_parameters_is_in_place_so_optimizers_keep_their_tensors() -> None:
    m = HierarchyNetwork(CFG, ALIFConfig(v_th=0.3), seed=1)
    tensors = {name: t for name, t in [*m.named_parameters(), *m.named_buffers()]}
    ptrs = {name: t.data_ptr() for name, t in tensors.items()}
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    m.reset_parameters(seed=2)
    fresh = HierarchyNetwork(CFG, ALIFConfig(v_th=0.3), seed=2)
    for name, t in [*m.named_parameters(), *m.named_buffers()]:
        assert t is tensors[name] and t.data_ptr() == ptrs[name], name
        assert torch.equal(t, dict([*fresh.named_parameters(), *fresh.named_buffers()])[name]), name
    # the optimizer still updates the module's own parameter
    before = m.bias.detach().clone()
    m.bias.grad = torch.ones_like(m.bias)
    opt.step()
    assert torch.allclose(m.bias, before - 0.1)


def test_fixed_model_wrappers_refuse_another_model() -> None:
    assert isinstance(RateNetwork(CFG, seed=0), HierarchyNetwork)
    with pytest.raises(ValueError, match="neuron must be a RateConfig for RateNetwork, got LIFConfig"):
        RateNetwork(CFG, LIFConfig())
    with pytest.raises(ValueError, match="neuron must be a LIFConfig for LIFNetwork, got ALIFConfig"):
        LIFNetwork(CFG, ALIFConfig())
    with pytest.raises(ValueError, match="not a registered neuron model"):
        HierarchyNetwork(CFG, HierarchyConfig(base_size=10, n_layers=1))  # type: ignore[arg-type]


def test_module_time_constant_follows_the_model() -> None:
    m = HierarchyNetwork(CFG, ALIFConfig(tau_mem=(2.0, 3.0, 4.0)), seed=0)
    assert m.time_constant[:40].unique().tolist() == [2.0]
    p = m.neuron_params()
    assert p.tau_mem is m.time_constant and p.bias is m.bias
    out = m(_x(dtype=torch.float32) * 3, record=[0])
    assert set(out.recordings[0].unique().tolist()) <= {0.0, 1.0}


def test_activation_names_are_declared_once() -> None:
    from typing import get_args

    from hal9.core import ACTIVATIONS
    from hal9.core.neurons import Activation

    assert get_args(Activation) == tuple(ACTIVATIONS)  # the config's Literal and the table agree, in order
