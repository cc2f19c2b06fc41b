import pytest
import torch

from hal9.core import RateConfig, adjacency_violation, rate_params, run
from hal9.selforg.graph import KnnGraph
from hal9.selforg.substrate import to_network


def _graph() -> tuple[KnnGraph, torch.Tensor]:
    # 5 neurons; layers (L1..L3) given out of order: neuron 0 → L3, 1 → L1, 2 → L2, 3 → L1, 4 → L3
    labels = torch.tensor([2, 0, 1, 0, 2])
    nb = torch.tensor([[4, 1], [3, 2], [1, 0], [1, 4], [0, 2]])
    w = torch.tensor([[0.9, 0.5], [0.8, 0.6], [0.7, 0.4], [0.9, 0.3], [0.9, 0.2]])
    return KnnGraph(nb, w), labels


def test_conversion_by_hand() -> None:
    g, labels = _graph()
    conv = to_network(g, labels, weight_scale=2.0)
    net = conv.network
    assert net.sizes == (2, 1, 2)
    assert conv.order.tolist() == [1, 3, 2, 0, 4] and conv.position.tolist() == [3, 0, 2, 1, 4]
    # non-adjacent (|Δ| = 2): 0→1 (0.5), 3→4 (0.3) → removed 0.8 of total 6.2
    assert conv.removed_edges == 2 and conv.kept_edges == 8
    assert conv.removed_weight_fraction == pytest.approx(0.8 / 6.2)
    dense = net.weight.to_dense()
    p = conv.position
    assert float(dense[p[0], p[4]]) == pytest.approx(1.8)  # edge 0 → 4 (0.9) as synapse 4 onto 0, ×2
    assert float(dense[p[0], p[1]]) == 0.0  # removed L3 ← L1 edge
    assert adjacency_violation(net.weight, net.labels) == 0.0
    assert net.labels.tolist() == [0, 0, 1, 2, 2]


def test_converted_network_runs() -> None:
    g, labels = _graph()
    net = to_network(g, labels).network
    res = run(net, rate_params(RateConfig(tau=2.0), net.sizes), torch.ones(4, 1, 2), record=[2])
    assert res.recordings[2].shape == (4, 1, 2)
    assert bool(torch.isfinite(res.final_state.x).all())


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (torch.tensor([0, 0, 2, 2, 2]), "every layer"),  # layer 1 empty
        (torch.tensor([0.0, 1, 1, 1, 1]), "integer"),
        (torch.tensor([0, 1, 1]), r"\(5,\)"),
    ],
)
def test_bad_labels(labels: torch.Tensor, match: str) -> None:
    g, _ = _graph()
    with pytest.raises(ValueError, match=match):
        to_network(g, labels)
