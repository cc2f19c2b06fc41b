"""CUDA tests: skipped without a GPU, must pass with one."""

import pytest
import torch

from hal9.core import (
    ALIFConfig,
    ConnectivityConfig,
    HierarchyConfig,
    HierarchyNetwork,
    LIFConfig,
    RateConfig,
    RateNetwork,
    adjacency_violation,
    alif_params,
    build_network,
    lif_params,
    rate_params,
    run,
)

pytestmark = pytest.mark.gpu

CFG = HierarchyConfig(
    base_size=3000, n_layers=9, connectivity=ConnectivityConfig(feedback=True, fan_in_policy="clip")
)


def test_build_on_cuda_is_seeded_and_valid() -> None:
    a = build_network(CFG, seed=0, device="cuda")
    b = build_network(CFG, seed=0, device="cuda")
    assert a.device.type == "cuda"
    assert torch.equal(a.weight.col_indices(), b.weight.col_indices())
    assert adjacency_violation(a.weight, a.labels) == 0.0


@pytest.mark.parametrize(
    ("model", "propagation"),
    [("rate", "auto"), ("lif", "auto"), ("lif", "dense"), ("lif", "event"), ("alif", "event")],
)
def test_cuda_run_matches_cpu(model: str, propagation: str) -> None:
    cpu = build_network(CFG, seed=0, dtype=torch.float64)
    gpu = cpu.to("cuda")
    x = torch.rand((20, 4, cpu.sizes[0]), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    if model == "rate":
        pc, pg = (
            rate_params(RateConfig(tau=3.0), cpu.sizes, device=d, dtype=torch.float64)
            for d in ("cpu", "cuda")
        )
    elif model == "lif":
        cfg = LIFConfig(tau_mem=3.0, v_th=0.5)
        pc, pg = (lif_params(cfg, cpu.sizes, device=d, dtype=torch.float64) for d in ("cpu", "cuda"))
    else:
        acfg = ALIFConfig(tau_mem=3.0, v_th=0.5, beta=0.2, tau_adapt=20.0)
        pc, pg = (alif_params(acfg, cpu.sizes, device=d, dtype=torch.float64) for d in ("cpu", "cuda"))
    rc = run(cpu, pc, x, record=[0, 8], propagation="dense")
    rg = run(gpu, pg, x.cuda(), record=[0, 8], propagation=propagation)  # type: ignore[arg-type]
    for k in (0, 8):
        torch.testing.assert_close(rg.recordings[k].cpu(), rc.recordings[k], rtol=1e-9, atol=1e-9)


def test_module_to_cuda_and_compile() -> None:
    m = RateNetwork(CFG, seed=0).to("cuda")
    x = torch.rand((5, 2, m.sizes[0]), device="cuda")
    out = m(x, record=[8])
    assert out.recordings[8].device.type == "cuda"
    eager = run(m.network(), m.neuron_params(), x)
    comp = run(m.network(), m.neuron_params(), x, compile=True)
    torch.testing.assert_close(comp.final_state.x, eager.final_state.x, rtol=1e-5, atol=1e-6)


def test_cuda_input_on_wrong_device_rejected() -> None:
    net = build_network(CFG, seed=0, device="cuda")
    with pytest.raises(ValueError, match="inputs is on cpu"):
        run(net, rate_params(RateConfig(), net.sizes, device="cuda"), torch.zeros(2, 1, net.sizes[0]))


def test_generic_module_runs_alif_on_cuda_and_resets_in_place() -> None:
    m = HierarchyNetwork(CFG, ALIFConfig(v_th=0.5), seed=0, device="cuda")
    ptr = m.weight_values.data_ptr()
    out = m(torch.rand((5, 2, m.sizes[0]), device="cuda") * 3, record=[0])
    assert out.recordings[0].device.type == "cuda" and float(out.recordings[0].sum()) > 0
    m.reset_parameters(seed=1)
    assert m.weight_values.data_ptr() == ptr
    fresh = HierarchyNetwork(CFG, ALIFConfig(v_th=0.5), seed=1, device="cuda")
    assert torch.equal(m.weight_values, fresh.weight_values)


@pytest.mark.parametrize("neuron", [RateConfig(tau=3.0), LIFConfig(tau_mem=3.0, v_th=0.5)])
def test_cuda_gradients_match_cpu(neuron: object) -> None:
    """Surrogate gradients and SparseDrive's backward (sampled_addmm, the transpose product) on CUDA."""
    small = HierarchyConfig(base_size=300, n_layers=3, connectivity=ConnectivityConfig(fan_in_policy="clip"))
    grads = []
    for device in ("cpu", "cuda"):
        m = HierarchyNetwork(
            small, neuron, learnable=["time_constant"], seed=0, device=device, dtype=torch.float64
        )  # type: ignore[arg-type]
        x = torch.rand((15, 3, m.sizes[0]), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
        m(x.to(device), record=[2]).recordings[2].sum().backward()
        grads.append([p.grad.cpu() for p in m.parameters()])  # type: ignore[union-attr]
    for gc, gg in zip(*grads, strict=True):
        assert gc.abs().sum() > 0
        torch.testing.assert_close(gg, gc, rtol=1e-9, atol=1e-9)
