import pytest
import torch

from hal9.core import ConnectivityConfig, HierarchyConfig, LIFConfig, LIFNetwork, RateConfig, RateNetwork, run

CFG = HierarchyConfig(
    sizes=(40, 20, 10),
    n_layers=3,
    connectivity=ConnectivityConfig(fan_in_within=5, fan_in_up=5, feedback=True, fan_in_down=3),
)


def _x(steps: int = 6, batch: int = 2) -> torch.Tensor:
    return torch.rand((steps, batch, 40), generator=torch.Generator().manual_seed(0))


def test_module_matches_functional_run() -> None:
    m = RateNetwork(CFG, RateConfig(tau=(2.0, 3.0, 4.0)), seed=3)
    out = m(_x(), record=[2])
    ref = run(m.network(), m.neuron_params(), _x(), record=[2])
    assert torch.equal(out.recordings[2], ref.recordings[2])
    assert m.time_constant[:40].unique().tolist() == [2.0] and m.time_constant[-10:].unique().tolist() == [
        4.0
    ]
    assert "sizes=(40, 20, 10)" in repr(m) and "synapses=" in repr(m)


def test_gradients_flow_to_weights_and_bias() -> None:
    m = RateNetwork(CFG, seed=0)
    loss = m(_x()).final_state.x.pow(2).sum()
    loss.backward()
    assert m.weight_values.grad is not None and m.bias.grad is not None
    assert float(m.weight_values.grad.abs().sum()) > 0 and float(m.bias.grad.abs().sum()) > 0
    # finite-difference check on one synapse weight (float64)
    m64 = RateNetwork(CFG, seed=0, dtype=torch.float64)
    x = _x().double()
    m64(x).final_state.x.pow(2).sum().backward()
    idx, eps = 17, 1e-6
    with torch.no_grad():
        m64.weight_values[idx] += eps
        up = m64(x).final_state.x.pow(2).sum()
        m64.weight_values[idx] -= 2 * eps
        down = m64(x).final_state.x.pow(2).sum()
    fd = float(up - down) / (2 * eps)
    assert fd == pytest.approx(float(m64.weight_values.grad[idx]), rel=1e-5, abs=1e-9)


def test_state_dict_round_trip_and_reset() -> None:
    a = RateNetwork(CFG, seed=1)
    b = RateNetwork(CFG, seed=2)
    assert not torch.equal(a(_x()).final_state.x, b(_x()).final_state.x)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a(_x()).final_state.x, b(_x()).final_state.x)
    b.reset_parameters(seed=2)
    c = RateNetwork(CFG, seed=2)
    assert torch.equal(b.weight_values, c.weight_values)


def test_to_dtype_and_lif_module() -> None:
    m = LIFNetwork(CFG, LIFConfig(tau_mem=2.0, v_th=0.2), seed=0).to(torch.float64)
    out = m(_x().double() * 3, record=[0, 1])
    assert out.recordings[0].dtype == torch.float64
    assert set(out.recordings[0].unique().tolist()) <= {0.0, 1.0}
    assert float(out.recordings[0].detach().sum()) > 0
    with pytest.raises(ValueError, match=r"dtype torch\.float64"):
        m(_x())
