import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hal9.core import (
    ConnectivityConfig,
    HierarchyConfig,
    adjacency_violation,
    build_network,
    build_projection,
)
from hal9.core.sampling import make_generator, sample_distinct


def _cfg(sizes: tuple[int, ...], **conn: object) -> HierarchyConfig:
    return HierarchyConfig(sizes=sizes, n_layers=len(sizes), connectivity=ConnectivityConfig(**conn))


def _per_source_counts(net, target_neuron: int) -> torch.Tensor:
    crow, col = net.weight.crow_indices(), net.weight.col_indices()
    srcs = col[crow[target_neuron] : crow[target_neuron + 1]]
    return torch.bincount(net.labels[srcs], minlength=net.n_layers)


def test_synapse_count_and_fan_in_per_projection() -> None:
    sizes = (50, 30, 20)
    net = build_network(_cfg(sizes, fan_in_within=4, fan_in_up=3, fan_in_down=2, feedback=True), seed=1)
    # L1: within 4 + down 2; L2: within 4 + up 3 + down 2; L3: within 4 + up 3
    assert net.n_synapses == 50 * 6 + 30 * 9 + 20 * 7
    assert _per_source_counts(net, 0).tolist() == [4, 2, 0]
    assert _per_source_counts(net, 60).tolist() == [3, 4, 2]
    assert _per_source_counts(net, 99).tolist() == [0, 3, 4]
    assert net.labels.tolist() == [0] * 50 + [1] * 30 + [2] * 20
    assert net.offsets == (0, 50, 80, 100)


def test_rows_sorted_distinct_and_adjacent_only() -> None:
    net = build_network(
        _cfg((64, 32, 16, 8), feedback=True, fan_in_within=8, fan_in_up=8, fan_in_down=4), seed=3
    )
    tgt, src, _ = net.edges()
    pairs = tgt * net.n_neurons + src
    assert pairs.unique().numel() == pairs.numel()  # no duplicate synapse
    assert bool((pairs.diff() > 0).all())  # CSR rows sorted by column
    assert adjacency_violation(net.weight, net.labels) == 0.0
    assert bool(((net.labels[tgt] - net.labels[src]).abs() <= 1).all())


def test_feedback_and_bottom_up_switches() -> None:
    up_only = build_network(_cfg((20, 10), within=False, fan_in_up=5), seed=0)
    conn = up_only.layer_connectivity()
    assert conn[1, 0] > 0 and conn[0, 1] == 0 and conn[0, 0] == 0 and conn[1, 1] == 0
    fb = build_network(_cfg((20, 10), within=False, bottom_up=False, feedback=True, fan_in_down=5), seed=0)
    conn = fb.layer_connectivity()
    assert conn[0, 1] > 0 and conn[1, 0] == 0


def test_layer_connectivity_totals_and_band() -> None:
    net = build_network(
        _cfg((40, 20, 10, 5, 3), feedback=True, fan_in_within=3, fan_in_up=3, fan_in_down=2), seed=0
    )
    c = net.layer_connectivity()
    assert c.shape == (5, 5)
    assert math.isclose(float(c.sum()), float(net.weight.values().abs().double().sum()), rel_tol=1e-12)
    i, j = torch.meshgrid(torch.arange(5), torch.arange(5), indexing="ij")
    assert bool((c[(i - j).abs() > 1] == 0).all())
    assert bool((c[(i - j).abs() <= 1] > 0).all())


def test_fan_in_larger_than_source_raises_naming_field() -> None:
    with pytest.raises(ValueError, match=r"connectivity\.fan_in_within=16 exceeds .* L3"):
        build_network(HierarchyConfig(base_size=100, n_layers=3), seed=0)
    with pytest.raises(ValueError, match=r"connectivity\.fan_in_up=9"):
        build_network(_cfg((8, 20), fan_in_within=2, fan_in_up=9), seed=0)


def test_clip_policy_uses_whole_source_layer() -> None:
    net = build_network(_cfg((10, 3), fan_in_within=5, fan_in_up=4, fan_in_policy="clip"), seed=0)
    assert _per_source_counts(net, 10).tolist() == [4, 3]  # within clipped to 3
    assert _per_source_counts(net, 0).tolist() == [5, 0]


def test_non_adjacent_projection_raises() -> None:
    g = make_generator(0)
    with pytest.raises(ValueError, match="±1 rule"):
        build_projection((10, 10, 10), target=2, source=0, fan_in=2, generator=g)
    with pytest.raises(ValueError, match="source layer index"):
        build_projection((10, 10), target=0, source=5, fan_in=2, generator=g)
    p = build_projection((10, 10, 10), target=2, source=1, fan_in=2, generator=g)
    assert p.kind == "bottom_up" and p.sources.shape == (10, 2)


def test_same_seed_bitwise_identical_different_seed_differs() -> None:
    cfg = _cfg((200, 80, 30), feedback=True, fan_in_within=8, fan_in_up=8, fan_in_down=4)
    a, b, c = build_network(cfg, seed=7), build_network(cfg, seed=7), build_network(cfg, seed=8)
    assert torch.equal(a.weight.col_indices(), b.weight.col_indices())
    assert torch.equal(a.weight.values(), b.weight.values())
    assert not torch.equal(a.weight.col_indices(), c.weight.col_indices())
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    assert torch.equal(
        build_network(cfg, generator=g1).weight.values(), build_network(cfg, generator=g2).weight.values()
    )


def test_weight_initialisation_scale() -> None:
    net = build_network(_cfg((4000, 2000), fan_in_within=20, fan_in_up=12, gain=0.5), seed=0)
    w = net.weight.values()
    l1 = w[: 4000 * 20]  # L1 rows: fan-in 20 → std 0.5/sqrt(20)
    l2 = w[4000 * 20 :]  # L2 rows: fan-in 32 → std 0.5/sqrt(32)
    assert abs(float(l1.std()) - 0.5 / math.sqrt(20)) < 0.003
    assert abs(float(l2.std()) - 0.5 / math.sqrt(32)) < 0.003
    uni = build_network(_cfg((4000,), fan_in_within=25, init="uniform"), seed=0).weight.values()
    assert float(uni.abs().max()) <= math.sqrt(3) / 5 + 1e-6
    assert abs(float(uni.std()) - 1 / 5) < 0.003
    const = build_network(_cfg((10, 5), fan_in_within=4, fan_in_up=1, init="constant", gain=2.0), seed=0)
    vals = const.weight.values()
    assert torch.equal(vals[:40], torch.full((40,), 1.0))  # 2/sqrt(4)
    assert torch.allclose(vals[40:], torch.full((25,), 2 / math.sqrt(5)))


def test_dtype_device_and_to() -> None:
    net = build_network(_cfg((30, 10), fan_in_within=3, fan_in_up=3), seed=0, dtype=torch.float64)
    assert net.dtype == torch.float64 and net.device.type == "cpu"
    n32 = net.to(dtype=torch.float32)
    assert n32.dtype == torch.float32 and torch.equal(n32.weight.col_indices(), net.weight.col_indices())
    with pytest.raises(ValueError, match="dtype"):
        build_network(_cfg((30,)), seed=0, dtype=torch.int32)
    with pytest.raises(ValueError, match="config"):
        build_network({"base_size": 3}, seed=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed or generator"):
        build_network(_cfg((30,)), seed=0, generator=torch.Generator())


def test_no_dense_matrix_for_large_network() -> None:
    # 200k neurons: a dense float32 N×N would need 160 GB; the build must stay O(nnz).
    cfg = HierarchyConfig(
        base_size=130_000, n_layers=9, connectivity=ConnectivityConfig(fan_in_policy="clip")
    )
    net = build_network(cfg, seed=0)
    assert net.weight.layout == torch.sparse_csr
    assert net.n_neurons > 200_000
    assert net.n_synapses <= net.n_neurons * 32


@settings(max_examples=30, deadline=None)
@given(
    n_rows=st.integers(0, 50),
    n_src=st.integers(1, 300),
    k=st.integers(0, 40),
    seed=st.integers(0, 2**31),
)
def test_sample_distinct_properties(n_rows: int, n_src: int, k: int, seed: int) -> None:
    k = min(k, n_src)
    out = sample_distinct(n_rows, n_src, k, make_generator(seed))
    assert out.shape == (n_rows, k) and out.dtype == torch.int64
    if out.numel():
        assert int(out.min()) >= 0 and int(out.max()) < n_src
        assert bool((out.diff(dim=1) > 0).all())


@pytest.mark.parametrize(("n_src", "k"), [(5, 2), (30, 3)])  # topk path (k² > n) and rejection path (k² ≤ n)
def test_sample_distinct_is_uniform(n_src: int, k: int) -> None:
    rows = 30_000
    out = sample_distinct(rows, n_src, k, make_generator(0))
    counts = torch.bincount(out.flatten(), minlength=n_src).double()
    expected = rows * k / n_src
    # chi-square with n_src−1 dof; 99.9 % quantile for 4 dof ≈ 18.5, for 29 dof ≈ 58.3
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < (18.5 if n_src == 5 else 58.3)


def test_sample_distinct_bad_input() -> None:
    with pytest.raises(ValueError, match="distinct"):
        sample_distinct(3, 4, 5, make_generator(0))
    with pytest.raises(ValueError, match=">= 0"):
        sample_distinct(-1, 4, 2, make_generator(0))


def test_csr_indices_are_int32_when_they_fit() -> None:
    # int64 indices make the CPU sparse kernel convert them on every product (O(nnz) per step)
    net = build_network(_cfg((50, 20), fan_in_within=4, fan_in_up=4), seed=0)
    assert net.weight.crow_indices().dtype == torch.int32
    assert net.weight.col_indices().dtype == torch.int32
    tgt, src, _ = net.edges()
    assert tgt.dtype == src.dtype == torch.int64


@settings(max_examples=20, deadline=None)
@given(
    base=st.integers(5, 300),
    k=st.integers(1, 9),
    within=st.integers(0, 12),
    up=st.integers(0, 12),
    down=st.integers(0, 6),
    feedback=st.booleans(),
)
def test_expected_synapses_is_what_the_build_draws(
    base: int, k: int, within: int, up: int, down: int, feedback: bool
) -> None:
    from hal9.core import expected_synapses

    conn = ConnectivityConfig(
        fan_in_within=within, fan_in_up=up, fan_in_down=down, feedback=feedback, fan_in_policy="clip"
    )
    cfg = HierarchyConfig(base_size=base, n_layers=k, connectivity=conn)
    assert expected_synapses(cfg) == build_network(cfg, seed=0).n_synapses


def test_a_network_that_cannot_fit_is_refused_before_anything_is_drawn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hal9.core.network as network

    cfg = HierarchyConfig(base_size=1000, n_layers=3)
    need = network.check_build_fits(cfg, torch.device("cpu"), torch.float32)
    assert need == network.expected_synapses(cfg) * 40 + sum(cfg.layer_sizes()) * 24
    monkeypatch.setattr(network, "available_memory", lambda device: need - 1)
    with pytest.raises(
        ValueError, match=r"needs about 0\.0 GiB \(1,503 neurons, 32,096 synapses\) but cpu has 0\.0 GiB"
    ):
        build_network(cfg, seed=0)
    monkeypatch.setattr(network, "available_memory", lambda device: need)
    assert build_network(cfg, seed=0).n_synapses == 32_096
    with pytest.raises(ValueError, match="fan_in_within=16 exceeds the size of source layer L3"):
        network.expected_synapses(HierarchyConfig(sizes=(40, 20, 10), n_layers=3))


def test_available_memory_takes_the_cgroup_limit_when_it_is_lower(monkeypatch: pytest.MonkeyPatch) -> None:
    import hal9.core.network as network

    files = {"/sys/fs/cgroup/memory.max": 2 * 2**30, "/sys/fs/cgroup/memory.current": 2**29}
    monkeypatch.setattr(network, "_read_int", files.get)
    monkeypatch.setattr(network, "_meminfo_available", lambda: 20 * 2**30)
    assert network.available_memory(torch.device("cpu")) == 2 * 2**30 - 2**29  # the container's room
    files["/sys/fs/cgroup/memory.max"] = None  # "max": no limit
    assert network.available_memory(torch.device("cpu")) == 20 * 2**30
