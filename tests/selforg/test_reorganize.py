import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from hal9.selforg.graph import KnnGraph
from hal9.selforg.reorganize import adjusted_rand_index, remove_and_heal


def _graph() -> KnnGraph:
    nb = torch.tensor([[1, 2], [3, 0], [0, 4], [1, 4], [3, 2]])
    w = torch.tensor([[0.9, 0.5], [0.8, 0.6], [0.7, 0.4], [0.9, 0.3], [0.6, 0.2]])
    return KnnGraph(nb, w)


def test_bypass_by_hand() -> None:
    res = remove_and_heal(_graph(), torch.zeros(5, dtype=torch.int64), torch.tensor([1]))
    assert res.survivors.tolist() == [0, 2, 3, 4]
    # 0 lost 1 (w 0.9); 1's partners: 3 (0.8) and 0 (itself) → bypass 0 → 3 with min(0.9, 0.8) = 0.8
    # 3 lost 1 (w 0.9); 1's partners: 3 (itself), 0 (0.6) → bypass 3 → 0 with min(0.9, 0.6) = 0.6
    assert res.lost_edges == 2 and res.bypass_edges == 2
    g = res.graph  # renumbered: 0→0, 2→1, 3→2, 4→3
    assert g.neighbors[0].tolist() == [2, 1]
    assert g.weights[0].tolist() == pytest.approx([0.8, 0.5])
    assert g.neighbors[2].tolist() == [0, 3]
    assert g.weights[2].tolist() == pytest.approx([0.6, 0.3])


def test_bypass_respects_pm1_rule() -> None:
    labels = torch.tensor([0, 1, 0, 2, 1])  # 0 (L1) may not bypass to 3 (L3)
    res = remove_and_heal(_graph(), labels, torch.tensor([1]))
    assert res.graph.neighbors[0].tolist() == [1, -1]  # only partner 2 left; slot emptied
    # 3 (L3) lost 1 too; its only candidate 0 is in L1: no legal bypass either
    assert res.lost_edges == 2 and res.bypass_edges == 0
    src, dst, _ = res.graph.edges()
    assert bool(((res.labels[src] - res.labels[dst]).abs() <= 1).all())


def test_mask_and_bad_input() -> None:
    mask = torch.tensor([False, True, False, False, False])
    a = remove_and_heal(_graph(), torch.zeros(5, dtype=torch.int64), mask)
    b = remove_and_heal(_graph(), torch.zeros(5, dtype=torch.int64), torch.tensor([1]))
    assert torch.equal(a.graph.neighbors, b.graph.neighbors)
    with pytest.raises(ValueError, match="removed"):
        remove_and_heal(_graph(), torch.zeros(5, dtype=torch.int64), torch.tensor([7]))
    with pytest.raises(ValueError, match="at least 2"):
        remove_and_heal(_graph(), torch.zeros(5, dtype=torch.int64), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="labels"):
        remove_and_heal(_graph(), torch.zeros(4, dtype=torch.int64), torch.tensor([1]))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 300), ka=st.integers(1, 6), kb=st.integers(1, 6), seed=st.integers(0, 10**6))
def test_ari_matches_sklearn(n: int, ka: int, kb: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, ka, (n,), generator=g)
    b = torch.randint(0, kb, (n,), generator=g)
    assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a.numpy(), b.numpy()), abs=1e-12)
    assert adjusted_rand_index(a, a) == pytest.approx(1.0)


def test_ari_bad_input() -> None:
    with pytest.raises(ValueError, match="equal length"):
        adjusted_rand_index(torch.zeros(3), torch.zeros(4))
