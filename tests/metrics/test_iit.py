"""Exact IIT 3.0 (``hal9.metrics.iit``): published values, input validation, properties, determinism, CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hal9.metrics.iit import IITNetwork, StateUnreachableError, ces, sia
from hal9.metrics.iit.examples import EXAMPLES, logic_tpm

ATOL = 1e-5


@pytest.mark.parametrize(
    ("name", "phi", "cut", "ties"),
    [
        ("basic", 2.3125, ((1, 2), (0,)), 1),
        ("fig4", 1.916665, ((0, 1), (2,)), 1),
        ("xor", 1.875, ((0,), (1, 2)), 6),
        ("rule110", 1.35708, ((0, 1), (2,)), 3),
    ],
)
def test_published_values(
    name: str, phi: float, cut: tuple[tuple[int, ...], tuple[int, ...]], ties: int
) -> None:
    net, state = EXAMPLES[name]()
    res = sia(net, state)
    assert res.phi == pytest.approx(phi, abs=ATOL)
    assert res.cut is not None and (res.cut.from_nodes, res.cut.to_nodes) == cut
    assert len(res.tied_cuts) == ties
    assert res.method.startswith("IIT 3.0 as PyPhi 1.2.0")
    assert res.counts["cuts"] == 6 and res.counts["partitions"] > 0


def test_basic_network_concepts_by_hand() -> None:
    """PyPhi's documented CES of the basic network in (1, 0, 0): four concepts, Σφ = 1.583333."""
    net, state = EXAMPLES["basic"]()
    concepts = ces(net, state)
    assert [c.mechanism for c in concepts] == [(1,), (2,), (0, 1), (0, 1, 2)]
    assert [c.phi for c in concepts] == pytest.approx([0.25, 0.5, 0.333333, 0.5], abs=1e-9)
    b = concepts[0]  # B = COPY(C) is OFF, so C was OFF: the cause repertoire over C is [1, 0]
    assert b.cause.purview == (2,)
    torch.testing.assert_close(b.cause.repertoire, torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_mip_partition_is_pyphis_first_among_ties() -> None:
    """Fig. 4, mechanism ABC: several cause partitions give 0.5; PyPhi 1.2.0 reports ∅/C × ABC/AB."""
    net, state = EXAMPLES["fig4"]()
    abc = next(c for c in ces(net, state) if c.mechanism == (0, 1, 2))
    assert abc.cause.phi == 0.5
    assert abc.cause.mip == (((), (2,)), ((0, 1, 2), (0, 1)))


def test_independent_halves_have_zero_phi_through_a_cut() -> None:
    """All-to-all connectivity, but each half's TPM ignores the other half: the cut between them costs 0."""
    rng = np.random.default_rng(5)
    a, b = _random_network(rng, 2, True), _random_network(rng, 2, True)
    tpm = torch.zeros(16, 4, dtype=torch.float64)
    for s in range(16):
        tpm[s, :2] = a.tpm[s % 4]
        tpm[s, 2:] = b.tpm[s >> 2]
    net = IITNetwork.from_tpm(tpm)  # cm: every node sends to every node
    state = _reachable_state(net, rng)
    assert state is not None
    res = sia(net, state)
    assert res.reason is None and res.cut is not None  # the cuts were evaluated
    assert res.phi == 0.0
    assert set(res.cut.from_nodes) in ({0, 1}, {2, 3})


def test_state_by_state_tpm_gives_the_same_answer() -> None:
    net, state = EXAMPLES["fig4"]()
    n = net.size
    sbn = net.tpm
    bits = (torch.arange(2**n)[:, None] >> torch.arange(n)) & 1
    sbs = torch.where(bits.bool()[None], sbn[:, None, :], 1 - sbn[:, None, :]).prod(-1)
    other = IITNetwork.from_tpm(sbs, net.cm.int())
    torch.testing.assert_close(other.tpm, net.tpm)
    assert sia(other, state).phi == sia(net, state).phi


def test_multidimensional_tpm_is_accepted() -> None:
    net, _ = EXAMPLES["basic"]()
    multi = net.tpm.reshape(2, 2, 2, 3).permute(2, 1, 0, 3)  # axis i = node i
    other = IITNetwork.from_tpm(multi, net.cm.int())
    torch.testing.assert_close(other.tpm, net.tpm)


@pytest.mark.parametrize(
    ("tpm", "cm", "match"),
    [
        ([[0.5, 0.5, 0.5]], None, "rows must be 2"),
        (torch.full((8, 2), 0.5), None, "expected 3 columns"),
        (torch.full((8, 3), 1.5), None, r"\[0, 1\]"),
        (torch.full((8, 3), float("nan")), None, "finite"),
        (torch.full((8, 3), 0.5), [[1, 0], [0, 1]], "cm: expected shape"),
        (torch.full((8, 3), 0.5), [[2, 0, 0], [0, 1, 0], [0, 0, 1]], "cm: entries"),
        (torch.full((4, 4), 0.3), None, "sum to 1"),
    ],
)
def test_bad_networks_are_refused(tpm: object, cm: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        IITNetwork.from_tpm(tpm, cm)


def test_correlated_state_by_state_tpm_is_refused() -> None:
    sbs = torch.zeros(4, 4, dtype=torch.float64)
    sbs[:, 0] = 0.5
    sbs[:, 3] = 0.5  # the two nodes always agree: not conditionally independent
    with pytest.raises(ValueError, match="conditionally independent"):
        IITNetwork.from_tpm(sbs)


def test_bad_states_and_nodes_are_refused() -> None:
    net, _ = EXAMPLES["basic"]()
    with pytest.raises(ValueError, match="state: entries must be 0 or 1"):
        sia(net, (1, 0.9, 0))
    with pytest.raises(ValueError, match="nodes: expected node indices"):
        sia(net, (1, 0, 0), nodes=(0, 1.7))
    with pytest.raises(ValueError, match="cm: not a numeric matrix"):
        IITNetwork.from_tpm(net.tpm, "abc")
    with pytest.raises(ValueError, match=r"dtype: exact IIT 3\.0 needs torch\.float64"):
        IITNetwork.from_tpm(net.tpm, dtype=torch.float32)
    with pytest.raises(ValueError, match="state: expected 3"):
        sia(net, (1, 0))
    with pytest.raises(ValueError, match="state: entries must be 0 or 1"):
        sia(net, (1, 0, 2))
    with pytest.raises(ValueError, match="nodes: indices"):
        sia(net, (1, 0, 0), nodes=(0, 3))
    with pytest.raises(ValueError, match="dtype"):
        IITNetwork.from_tpm(net.tpm, dtype=torch.int64)


def test_unreachable_state_is_refused() -> None:
    net, _ = EXAMPLES["basic"]()
    # (0, 1, 0) can't happen: B copies C, C = XOR(A, B); B = 1 needs C = 1 before, then A = OR(B, C) = 1.
    assert not net.is_reachable((0, 1, 2), (0, 1, 0))
    with pytest.raises(StateUnreachableError, match="state: \\(0, 1, 0\\) cannot be reached"):
        sia(net, (0, 1, 0))


def test_trivial_subsystems_have_zero_phi() -> None:
    net, state = EXAMPLES["basic"]()
    assert sia(net, state, nodes=(0, 1)).reason == "not strongly connected"  # B -> A only
    assert sia(net, state, nodes=(1,)).reason == "a single node has no Φ"
    assert sia(net, state, nodes=()).reason == "empty subsystem"
    loop = IITNetwork.from_tpm(logic_tpm(1, [lambda x: x[0]]), [[1]])
    assert sia(loop, (1,)).reason == "a single node has no Φ"


def _random_network(rng: np.random.Generator, n: int, noisy: bool) -> IITNetwork:
    cm = (rng.random((n, n)) < 0.7).astype(int)
    cm[rng.integers(n, size=n), np.arange(n)] = 1
    tpm = np.zeros((2**n, n))
    for j in range(n):
        inputs = np.flatnonzero(cm[:, j])
        table = rng.random(2 ** len(inputs)) if noisy else rng.integers(0, 2, 2 ** len(inputs)).astype(float)
        for s in range(2**n):
            key = sum(((s >> i) & 1) << b for b, i in enumerate(inputs))
            tpm[s, j] = table[key]
    return IITNetwork.from_tpm(tpm, cm)


def _reachable_state(net: IITNetwork, rng: np.random.Generator) -> tuple[int, ...] | None:
    nodes = tuple(range(net.size))
    for s in rng.permutation(2**net.size):
        state = tuple(int((s >> i) & 1) for i in range(net.size))
        if net.is_reachable(nodes, state):
            return state
    return None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 4))
def test_phi_is_nonnegative_and_invariant_under_relabelling(seed: int, n: int) -> None:
    """Noisy networks only: with exact ties between purviews (common in deterministic networks) IIT 3.0 as
    PyPhi computes it breaks them by node order, so relabelling can change Φ there (PyPhi's too)."""
    rng = np.random.default_rng(seed)
    net = _random_network(rng, n, True)
    state = _reachable_state(net, rng)
    if state is None:
        return
    res = sia(net, state)
    assert res.phi >= 0
    assert all(c.phi > 0 for c in res.concepts)
    perm = rng.permutation(n)  # new node i is old node perm[i]
    rows = [sum(((s >> i) & 1) << int(perm[i]) for i in range(n)) for s in range(2**n)]
    tpm = net.tpm[rows][:, perm.tolist()]
    cm = net.cm[perm][:, perm].int()
    other = IITNetwork.from_tpm(tpm, cm)
    pstate = tuple(state[int(p)] for p in perm)
    res2 = sia(other, pstate)
    assert res2.phi == pytest.approx(res.phi, abs=1e-9)
    assert sorted(c.phi for c in res2.concepts) == pytest.approx(
        sorted(c.phi for c in res.concepts), abs=1e-9
    )


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), sizes=st.sampled_from([(1, 1), (1, 2), (2, 2), (2, 1)]))
def test_disconnected_networks_have_zero_phi(seed: int, sizes: tuple[int, int]) -> None:
    """Two networks side by side with no connection between them: Φ of the whole is 0."""
    rng = np.random.default_rng(seed)
    a, b = (_random_network(rng, k, True) for k in sizes)
    n = a.size + b.size
    tpm = torch.zeros(2**n, n, dtype=torch.float64)
    for s in range(2**n):
        tpm[s, : a.size] = a.tpm[s % 2**a.size]
        tpm[s, a.size :] = b.tpm[s >> a.size]
    cm = torch.zeros(n, n, dtype=torch.int64)
    cm[: a.size, : a.size] = a.cm.int()
    cm[a.size :, a.size :] = b.cm.int()
    net = IITNetwork.from_tpm(tpm, cm)
    state = _reachable_state(net, rng)
    if state is None:
        return
    res = sia(net, state)
    assert res.phi == 0.0 and res.reason == "not strongly connected"


def test_same_input_same_result_bitwise() -> None:
    rng = np.random.default_rng(7)
    net = _random_network(rng, 4, True)
    state = _reachable_state(net, rng)
    assert state is not None
    one, two = sia(net, state), sia(net, state)
    assert one.cut_phis == two.cut_phis
    for c1, c2 in zip(one.concepts, two.concepts, strict=True):
        assert torch.equal(c1.cause.repertoire, c2.cause.repertoire) and c1.phi == c2.phi


def test_result_to_dict_is_json_ready() -> None:
    import json

    net, state = EXAMPLES["xor"]()
    d = sia(net, state).to_dict()
    text = json.dumps(d)
    assert '"phi": 1.875' in text and len(d["tied_cuts"]) == 6 and len(d["concepts"]) == 3


def test_complexes_of_the_basic_network() -> None:
    from hal9.metrics.iit import complexes, major_complex

    net, state = EXAMPLES["basic"]()
    res = complexes(net, state)
    assert res.major is not None and res.major.nodes == (0, 1, 2)
    assert sorted((c.nodes, c.phi) for c in res.complexes) == [
        ((0, 1, 2), 2.3125),
        ((0, 2), 1.0),
        ((1, 2), 1.0),
    ]
    major = major_complex(net, state)
    assert major is not None and major.phi == 2.3125


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    for name in ("basic", "fig4", "rule110"):
        net, state = EXAMPLES[name]()
        gpu = IITNetwork.from_tpm(net.tpm, net.cm.int(), device="cuda")
        a, b = sia(net, state), sia(gpu, state)
        assert a.cut_phis == pytest.approx(b.cut_phis, abs=2e-6)
    rng = np.random.default_rng(3)
    net = _random_network(rng, 5, True)
    state5 = _reachable_state(net, rng)
    assert state5 is not None
    gpu = IITNetwork.from_tpm(net.tpm, net.cm.int(), device="cuda")
    assert sia(gpu, state5).phi == pytest.approx(sia(net, state5).phi, abs=2e-6)


def test_batch_of_states_and_networks_equals_one_by_one() -> None:
    from hal9.metrics.iit import sia_batch

    rng = np.random.default_rng(11)
    items: list[tuple[IITNetwork, tuple[int, ...]] | tuple[IITNetwork, tuple[int, ...], tuple[int, ...]]] = []
    for n in (3, 4, 3, 4):
        net = _random_network(rng, n, True)
        for _ in range(2):
            state = _reachable_state(net, rng)
            assert state is not None
            items.append((net, state))
    net, state = EXAMPLES["basic"]()
    items.append((net, state, (0, 2)))
    batch = sia_batch(items)
    assert [r.counts.get("batch_size") for r in batch][:1] == [4]  # the 3-node items share a batch
    for item, got in zip(items, batch, strict=True):
        one = sia(*item)
        assert got.phi == one.phi and got.cut_phis == one.cut_phis and got.nodes == one.nodes
        assert [c.mechanism for c in got.concepts] == [c.mechanism for c in one.concepts]
