"""Neuron models against analytic solutions and hand-computed spike trains."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from hal9.core import (
    ConnectivityConfig,
    HierarchyConfig,
    LIFConfig,
    RateConfig,
    RateParams,
    RateState,
    build_network,
    lif_params,
    rate_params,
    rate_step,
    run,
)


def _net(sizes: tuple[int, ...], dtype: torch.dtype = torch.float64, **conn: object):
    cfg = HierarchyConfig(sizes=sizes, n_layers=len(sizes), connectivity=ConnectivityConfig(**conn))
    return build_network(cfg, seed=0, dtype=dtype)


def test_rate_one_neuron_linear_matches_analytic_solution() -> None:
    # τ dx/dt = −x + w x + I, x(0)=0  ⇒  x(t) = I/(1−w) · (1 − exp(−(1−w) t / τ))
    w, tau, current = 0.5, 10.0, 2.0
    net = _net((1,), fan_in_within=1, init="constant", gain=w)
    errors = []
    for dt, tol in ((0.1, 5e-3), (0.02, 1e-3)):
        steps = round(50.0 / dt)
        p = rate_params(RateConfig(tau=tau, activation="linear", dt=dt), net.sizes, dtype=torch.float64)
        res = run(net, p, torch.full((steps, 1, 1), current, dtype=torch.float64), record=[0])
        t = res.times.numpy()
        exact = current / (1 - w) * (1 - np.exp(-(1 - w) * t / tau))
        got = res.recordings[0][:, 0, 0].numpy()
        errors.append(float(np.max(np.abs(got - exact))))
        assert errors[-1] < tol  # forward Euler: global error O(dt)
        # and exactly the closed form of the Euler recurrence x_n = x*(1 − (1 − a)^n), a = dt(1−w)/τ
        a = dt * (1 - w) / tau
        n = np.arange(1, steps + 1)
        np.testing.assert_allclose(got, current / (1 - w) * (1 - (1 - a) ** n), rtol=1e-9, atol=1e-12)
    assert 4 < errors[0] / errors[1] < 6  # first-order convergence: error ∝ dt


def test_rate_two_neurons_linear_matches_matrix_exponential() -> None:
    # L1 (τ=5) ← feedback from L2 with weight g, L2 (τ=8) ← bottom-up from L1 with weight g.
    g, taus, current = 0.6, (5.0, 8.0), np.array([1.0, 0.0])
    net = _net((1, 1), within=False, feedback=True, fan_in_up=1, fan_in_down=1, init="constant", gain=g)
    dt, t_end = 0.002, 30.0
    steps = round(t_end / dt)
    p = rate_params(RateConfig(tau=taus, activation="linear", dt=dt), net.sizes, dtype=torch.float64)
    res = run(net, p, torch.full((steps, 1, 1), current[0], dtype=torch.float64), every=500)
    # dx/dt = A x + b with A = T⁻¹(W − 1), b = T⁻¹ I  ⇒  x(t) = A⁻¹(e^{At} − 1) b
    w = np.array([[0.0, g], [g, 0.0]])
    tinv = np.diag(1 / np.array(taus))
    a_mat, b = tinv @ (w - np.eye(2)), tinv @ current
    for r, t in enumerate(res.times.numpy()):
        exact = np.linalg.solve(a_mat, (scipy.linalg.expm(a_mat * t) - np.eye(2)) @ b)
        got = res.layer_means[r, 0].numpy()  # each layer has one neuron: mean = the neuron
        np.testing.assert_allclose(got, exact, atol=3e-3)
    assert len(res.times) == steps // 500
    np.testing.assert_allclose(res.final_state.x[0].numpy(), res.layer_means[-1, 0].numpy())


def _lif_single(refractory: float, steps: int = 14, current: float = 1.5) -> list[int]:
    net = _net((1,), within=False)
    p = lif_params(
        LIFConfig(tau_mem=2.0, v_th=1.0, v_reset=0.0, refractory=refractory, dt=1.0),
        net.sizes,
        dtype=torch.float64,
    )
    res = run(net, p, torch.full((steps, 1, 1), current, dtype=torch.float64), record=[0])
    return res.recordings[0][:, 0, 0].nonzero().flatten().tolist()


def test_lif_spike_times_hand_computed() -> None:
    # v ← v + (1/2)(−v + 1.5): 0 → 0.75 → 1.125 ≥ 1 spike at step 1, reset to 0.
    # refractory 2 steps: clamped at steps 2, 3; integrates again at 4 (0.75), spikes at 5, ... period 4.
    assert _lif_single(refractory=2.0) == [1, 5, 9, 13]
    # no refractoriness: period 2
    assert _lif_single(refractory=0.0) == [1, 3, 5, 7, 9, 11, 13]
    # sub-threshold drive: v → 0.9 < 1, never spikes
    assert _lif_single(refractory=0.0, current=0.9) == []


def test_lif_spike_propagates_to_next_layer_with_one_step_delay() -> None:
    net = _net((1, 1), within=False, fan_in_up=1, init="constant", gain=2.0)
    p = lif_params(LIFConfig(tau_mem=2.0, v_th=1.0, refractory=2.0, dt=1.0), net.sizes, dtype=torch.float64)
    res = run(net, p, torch.full((8, 1, 1), 1.5, dtype=torch.float64), record=[0, 1])
    assert res.recordings[0][:, 0, 0].nonzero().flatten().tolist() == [1, 5]
    # L2 gets drive 2 on the step after each L1 spike: v = 0 + (1/2)(2) = 1 ≥ 1 → spike
    assert res.recordings[1][:, 0, 0].nonzero().flatten().tolist() == [2, 6]


def test_lif_state_after_spike() -> None:
    net = _net((1,), within=False)
    p = lif_params(LIFConfig(tau_mem=2.0, refractory=3.0), net.sizes, dtype=torch.float64)
    res = run(net, p, torch.full((2, 1, 1), 1.5, dtype=torch.float64))
    st = res.final_state
    assert float(st.spikes) == 1.0 and float(st.v) == 0.0 and float(st.refractory) == 3.0


@pytest.mark.parametrize(
    ("activation", "fn"),
    [("tanh", math.tanh), ("relu", lambda z: max(z, 0.0)), ("sigmoid", lambda z: 1 / (1 + math.exp(-z)))],
)
def test_rate_step_activation_and_bias(activation: str, fn) -> None:
    tau = torch.tensor([4.0, 2.0], dtype=torch.float64)
    bias = torch.tensor([0.5, -1.0], dtype=torch.float64)
    p = RateParams(tau, bias, activation, 0.5)
    x0 = torch.tensor([[0.2, -0.3]], dtype=torch.float64)
    drive = torch.tensor([[1.0, 0.25]], dtype=torch.float64)
    got, state = rate_step(RateState(x0), drive, p)
    assert got is state.x  # the activity of a rate neuron is its new rate
    exp = [
        x + 0.5 / t * (fn(d + b) - x)
        for x, t, d, b in zip([0.2, -0.3], [4.0, 2.0], [1.0, 0.25], [0.5, -1.0], strict=True)
    ]
    np.testing.assert_allclose(got[0].numpy(), exp, rtol=1e-12)


def test_per_layer_tau_must_match_layers() -> None:
    with pytest.raises(ValueError, match="tau has 3 per-layer values"):
        rate_params(RateConfig(tau=(1.0, 2.0, 3.0)), (4, 2))
