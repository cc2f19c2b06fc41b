import pytest
import torch

from hal9.selforg.graph import KnnGraph


def test_symmetric_csr_takes_max_of_both_directions() -> None:
    nb = torch.tensor([[1, 2], [0, -1], [1, 0]])
    w = torch.tensor([[0.9, 0.5], [0.4, 0.0], [0.7, 0.6]])
    g = KnnGraph(nb, w)
    dense = g.symmetric_csr().to_dense()
    expected = torch.tensor([[0.0, 0.9, 0.6], [0.9, 0.0, 0.7], [0.6, 0.7, 0.0]]).double()  # float32 values
    assert torch.equal(dense, expected)
    src, dst, _ = g.edges()
    assert src.tolist() == [0, 0, 1, 2, 2] and dst.tolist() == [1, 2, 0, 1, 0]
    assert g.n == 3 and g.k == 2


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="neighbors and weights"):
        KnnGraph(torch.zeros(3, 2, dtype=torch.int64), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="int64"):
        KnnGraph(torch.zeros(3, 2, dtype=torch.int32), torch.zeros(3, 2))
