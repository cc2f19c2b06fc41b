import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hal9.core import adjacency_violation, check_adjacent
from hal9.core.network import csr_matrix


def _dense_example() -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.tensor([0, 1, 2, 3])
    w = torch.zeros(4, 4)
    w[1, 0] = 2.0  # L1 → L2: allowed
    w[2, 0] = -1.0  # L1 → L3: violates (|Δ| = 2)
    w[0, 3] = 0.5  # L4 → L1: violates (|Δ| = 3)
    w[3, 3] = 1.5  # within L4: allowed
    return w, labels


def test_hand_computed_violation_all_formats() -> None:
    w, labels = _dense_example()
    expected = (1.0 + 0.5) / (2.0 + 1.0 + 0.5 + 1.5)
    assert adjacency_violation(w, labels) == pytest.approx(expected, abs=1e-12)
    assert adjacency_violation(w.to_sparse(), labels) == pytest.approx(expected, abs=1e-12)
    csr = w.to_sparse_csr()
    assert adjacency_violation(csr, labels) == pytest.approx(expected, abs=1e-12)
    tgt, src = w.nonzero(as_tuple=True)
    assert adjacency_violation((tgt, src, w[tgt, src]), labels) == pytest.approx(expected, abs=1e-12)


def test_zero_weight_graph_has_no_violation() -> None:
    assert adjacency_violation(torch.zeros(3, 3), torch.tensor([0, 1, 5])) == 0.0


def test_bad_inputs() -> None:
    w, labels = _dense_example()
    with pytest.raises(ValueError, match="labels"):
        adjacency_violation(w, labels.float())
    with pytest.raises(ValueError, match="does not match labels"):
        adjacency_violation(w, labels[:3])
    with pytest.raises(ValueError, match="equal length"):
        adjacency_violation((torch.tensor([0]), torch.tensor([0, 1]), torch.tensor([1.0])), labels)
    with pytest.raises(ValueError, match="beyond"):
        adjacency_violation((torch.tensor([9]), torch.tensor([0]), torch.tensor([1.0])), labels)
    with pytest.raises(ValueError, match="±1"):
        check_adjacent(0, 2, 3)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), e=st.integers(1, 200), k=st.integers(1, 9), seed=st.integers(0, 10**6))
def test_violation_matches_bruteforce(n: int, e: int, k: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, k, (n,), generator=g)
    tgt = torch.randint(0, n, (e,), generator=g)
    src = torch.randint(0, n, (e,), generator=g)
    w = torch.randn(e, generator=g, dtype=torch.float64)
    total = sum(abs(float(x)) for x in w)
    bad = sum(abs(float(w[i])) for i in range(e) if abs(int(labels[tgt[i]]) - int(labels[src[i]])) > 1)
    got = adjacency_violation((tgt, src, w), labels)
    assert got == pytest.approx(bad / total, abs=1e-12)
    assert 0.0 <= got <= 1.0
    # the same graph as a (duplicate-summing) COO tensor: dense reference
    dense = torch.zeros(n, n, dtype=torch.float64).index_put_((tgt, src), w, accumulate=True)
    ref_bad = sum(
        abs(float(dense[i, j]))
        for i in range(n)
        for j in range(n)
        if abs(int(labels[i]) - int(labels[j])) > 1
    )
    ref_tot = float(dense.abs().sum())
    if ref_tot > 0:
        crow_csr = dense.to_sparse_csr()
        csr = csr_matrix(crow_csr.crow_indices(), crow_csr.col_indices(), crow_csr.values(), n)
        assert adjacency_violation(csr, labels) == pytest.approx(ref_bad / ref_tot, abs=1e-9)
