import pytest
import torch

from hal9.selforg.graph import KnnGraph
from hal9.selforg.nullmodel import degree_preserving_rewire, null_comparison, permute_features
from tests.selforg.test_layering import SIZES, features_for, sbm


def degrees(g: KnnGraph) -> torch.Tensor:
    return g.symmetric_csr().crow_indices().diff()


def edge_keys(g: KnnGraph) -> set[int]:
    a = g.symmetric_csr()
    rows = torch.repeat_interleave(torch.arange(g.n), a.crow_indices().diff())
    return set((rows * g.n + a.col_indices()).tolist())


def test_rewire_preserves_degrees_exactly_and_changes_edges() -> None:
    g, _ = sbm(SIZES, 8, 0.8, 0)
    r = degree_preserving_rewire(g, n_swaps_per_edge=5, seed=1)
    assert torch.equal(degrees(g), degrees(r))
    before, after = edge_keys(g), edge_keys(r)
    assert len(before & after) / len(before) < 0.3
    a = r.symmetric_csr()
    assert torch.equal(torch.sort(a.values()).values, torch.sort(g.symmetric_csr().values()).values)
    assert bool((r.neighbors != torch.arange(g.n).unsqueeze(1)).all())  # no self-loops
    assert torch.equal(r.neighbors, degree_preserving_rewire(g, n_swaps_per_edge=5, seed=1).neighbors)
    assert torch.equal(
        degree_preserving_rewire(g, n_swaps_per_edge=0).symmetric_csr().to_dense(),
        g.symmetric_csr().to_dense(),
    )
    with pytest.raises(ValueError, match="n_swaps_per_edge"):
        degree_preserving_rewire(g, n_swaps_per_edge=-1)


def test_permute_features() -> None:
    x = torch.arange(30.0).reshape(10, 3)
    p = permute_features(x, 0)
    assert sorted(p[:, 0].tolist()) == x[:, 0].tolist() and not torch.equal(p, x)
    assert torch.equal(p[:, 1] - p[:, 0], torch.ones(10))  # rows kept whole
    c = permute_features(x, 0, columns=True)
    assert not torch.equal(c[:, 1] - c[:, 0], torch.ones(10))
    with pytest.raises(ValueError, match="features"):
        permute_features(torch.zeros(3))


def test_planted_partition_beats_null_by_five_sd() -> None:
    g, block = sbm(SIZES, 10, 0.8, 0)
    cmp = null_comparison(g, features_for(block), n_null=4, seed=0)
    assert cmp.beats("rewired/modularity", 5.0)
    assert cmp.beats("shuffled/speed_separation", 5.0)
    assert cmp.stats["rewired/modularity"].z > 5 and "real" in cmp.summary()


def test_random_graph_shows_nothing_emerged() -> None:
    n, k = 880, 10
    gen = torch.Generator().manual_seed(7)
    nb = torch.randint(0, n - 1, (n, k), generator=gen)
    nb = nb + (nb >= torch.arange(n).unsqueeze(1)).long()  # no self-loops
    w = torch.rand(n, k, generator=gen).sort(1, descending=True).values
    feats = torch.rand(n, 3, generator=gen)
    cmp = null_comparison(KnnGraph(nb, w), feats, n_null=4, seed=0)
    assert not cmp.beats("rewired/modularity", 5.0)
    assert abs(cmp.stats["rewired/modularity"].z) < 5
    assert not cmp.beats("shuffled/speed_separation", 5.0)


def test_rediscover_null_and_bad_n_null() -> None:
    g, block = sbm(SIZES, 6, 0.8, 0)
    feats = features_for(block)

    def rediscover(f: torch.Tensor) -> KnnGraph:
        d = torch.cdist(f, f).fill_diagonal_(float("inf"))
        dist, nb = d.topk(6, largest=False)
        return KnnGraph(nb, torch.exp(-dist))

    cmp = null_comparison(g, feats, n_null=2, rediscover=rediscover)
    assert "rediscovered/modularity" in cmp.stats and len(cmp.stats["rediscovered/eigengap"].null) == 2
    with pytest.raises(ValueError, match="n_null"):
        null_comparison(g, feats, n_null=1)


def test_rewire_of_a_dense_graph_rejects_clashing_swaps() -> None:
    # 40 nodes with up to 12 partners each: many proposals hit an existing edge or each other
    gen = torch.Generator().manual_seed(3)
    n, k = 40, 12
    nb = torch.stack([torch.randperm(n - 1, generator=gen)[:k] for _ in range(n)])
    nb = nb + (nb >= torch.arange(n).unsqueeze(1)).long()
    g = KnnGraph(nb, torch.rand(n, k, generator=gen).sort(1, descending=True).values)
    r = degree_preserving_rewire(g, n_swaps_per_edge=20, seed=0)
    assert torch.equal(degrees(g), degrees(r))  # a duplicate edge would merge in symmetric_csr
    valid = r.neighbors >= 0
    assert bool((r.neighbors != torch.arange(n).unsqueeze(1)).all())
    for row, ok in zip(r.neighbors, valid, strict=True):
        assert row[ok].unique().numel() == int(ok.sum())
    assert torch.equal(
        torch.sort(r.symmetric_csr().values()).values, torch.sort(g.symmetric_csr().values()).values
    )
    assert edge_keys(r) != edge_keys(g)
