import networkx as nx
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from hal9.selforg.graph import KnnGraph
from hal9.selforg.layering import emergent_layers, kmeans, modularity, spectral_embedding


def sbm(sizes: list[int], k: int, p_in: float, seed: int) -> tuple[KnnGraph, torch.Tensor]:
    """Planted partition as a top-k graph: each out-edge stays in its block with probability p_in."""
    g = torch.Generator().manual_seed(seed)
    sz = torch.tensor(sizes)
    n = int(sz.sum())
    block = torch.repeat_interleave(torch.arange(len(sizes)), sz)
    start = torch.cumsum(sz, 0) - sz
    inside = torch.rand(n, k, generator=g) < p_in
    own = start[block].unsqueeze(1) + (torch.rand(n, k, generator=g) * sz[block].unsqueeze(1)).long()
    nb = torch.where(inside, own, torch.randint(0, n, (n, k), generator=g))
    nb = torch.where(nb == torch.arange(n).unsqueeze(1), (nb + 1) % n, nb)
    w = torch.where(
        inside, 0.6 + 0.4 * torch.rand(n, k, generator=g), 0.2 + 0.4 * torch.rand(n, k, generator=g)
    )
    w, o = w.sort(1, descending=True)
    return KnnGraph(nb.gather(1, o), w), block


def features_for(block: torch.Tensor, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    n = block.numel()
    speed = torch.tensor([0.3, 0.9, 0.5, 0.7])[block] + 0.05 * torch.rand(n, generator=g)
    return torch.stack([speed, torch.rand(n, generator=g), torch.rand(n, generator=g)], 1)


SIZES = [400, 250, 150, 80]


def test_planted_partition_recovered_with_k4_and_ordered_by_speed() -> None:
    g, block = sbm(SIZES, 12, 0.8, 0)
    r = emergent_layers(g, features_for(block))
    assert r.n_layers == 4
    assert adjusted_rand_score(block.numpy(), r.labels.numpy()) >= 0.95
    assert max(r.eigengaps, key=lambda k: r.eigengaps[k]) == 4
    # speeds 0.3, 0.9, 0.5, 0.7 by block → L1 is block 1 (fastest), then 3, 2, 0
    for layer, b in enumerate([1, 3, 2, 0]):
        assert (r.labels[block == b] == layer).float().mean() > 0.95
    assert r.layer_names[0] == "L1 reflexive"
    assert torch.all(r.feature_means[:-1, 0] > r.feature_means[1:, 0])
    assert r.separation("speed") > 0.9 and "eigengap" in r.reason


def test_modularity_matches_dense_reference_and_networkx() -> None:
    g, block = sbm([30, 20, 10], 5, 0.7, 3)
    labels = torch.randint(0, 3, (60,), generator=torch.Generator().manual_seed(0))
    a = g.symmetric_csr().to_dense()
    m2 = a.sum()
    d = a.sum(1)
    same = (labels.unsqueeze(0) == labels.unsqueeze(1)).double()
    dense_q = float(((a - torch.outer(d, d) / m2) * same).sum() / m2)
    assert modularity(g, labels) == pytest.approx(dense_q, abs=1e-12)
    nxg = nx.from_numpy_array(a.numpy())
    comms = [set((labels == c).nonzero().flatten().tolist()) for c in range(3)]
    assert modularity(g.symmetric_csr(), labels) == pytest.approx(
        nx.community.modularity(nxg, comms), abs=1e-10
    )
    assert modularity(g, block) > 0.3 > modularity(g, labels)


def test_characteristics_match_manual_computation() -> None:
    g, block = sbm(SIZES, 8, 0.7, 5)
    feats = features_for(block)
    r = emergent_layers(g, feats)
    a = g.symmetric_csr().to_dense()
    for c in range(r.n_layers):
        idx = (r.labels == c).nonzero().flatten()
        assert int(r.sizes[c]) == idx.numel()
        assert torch.allclose(r.feature_means[c], feats[idx].double().mean(0))
        assert float(r.mean_degree[c]) == pytest.approx(float((a[idx] > 0).sum(1).double().mean()))
        internal = float(a[idx][:, idx].sum()) / 2
        assert float(r.internal_density[c]) == pytest.approx(internal / (idx.numel() * (idx.numel() - 1) / 2))
        for c2 in range(r.n_layers):
            if c2 != c:
                idx2 = (r.labels == c2).nonzero().flatten()
                assert float(r.connectivity[c, c2]) == pytest.approx(float(a[idx][:, idx2].sum()))
    far = (r.labels.unsqueeze(0) - r.labels.unsqueeze(1)).abs() > 1
    assert r.adjacency_violation == pytest.approx(float(a[far].sum() / a.sum()))
    assert r.compliance == pytest.approx(1 - r.adjacency_violation)
    assert r.modularity == pytest.approx(modularity(g, r.labels))


def test_knn_graph_of_2d_features_and_orderings() -> None:
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]])
    lab = torch.randint(0, 3, (600,), generator=gen)
    x = centres[lab] + 0.3 * torch.randn(600, 2, generator=gen)
    d = torch.cdist(x, x).fill_diagonal_(float("inf"))
    dist, nb = d.topk(10, largest=False)
    g = KnnGraph(nb, torch.exp(-dist))
    feats = torch.stack([lab.double() / 3 + 0.1, torch.rand(600, generator=gen).double()], 1)
    r = emergent_layers(g, feats, feature_names=("speed", "complexity"))
    assert r.n_layers == 3 and adjusted_rand_score(lab.numpy(), r.labels.numpy()) > 0.95
    rd = emergent_layers(g, feats, feature_names=("speed", "complexity"), order_by="distance")
    assert int(rd.labels[feats[:, 0].argmax()]) == 0
    rs = emergent_layers(g, None)
    assert torch.all(rs.sizes[:-1] >= rs.sizes[1:]) and "features" in rs.reason
    rc = emergent_layers(
        g, feats, feature_names=("speed", "complexity"), order_by=lambda lb, f, a: -torch.arange(3.0)
    )
    assert rc.n_layers == 3
    rm = emergent_layers(g, feats, feature_names=("speed", "complexity"), criterion="modularity")
    assert set(rm.modularity_by_k) == set(range(2, 10)) and rm.n_layers == max(
        rm.modularity_by_k, key=rm.modularity_by_k.get
    )


def test_chfsi_matches_dense_and_eigsh() -> None:
    g, _ = sbm(SIZES, 12, 0.8, 0)
    a = g.symmetric_csr()
    ev_d, _, _ = spectral_embedding(a, 10, solver="dense")
    ev_c, vec_c, _ = spectral_embedding(a, 10, solver="chfsi", max_matvecs=400, tol=1e-10)
    ev_e, _, _ = spectral_embedding(a, 10, solver="eigsh", tol=1e-10)
    assert torch.allclose(ev_c[:5], ev_d[:5], atol=1e-6) and torch.allclose(ev_e, ev_d, atol=1e-8)
    assert torch.allclose(vec_c.T @ vec_c, torch.eye(10, dtype=torch.float64), atol=1e-8)


def test_deterministic_under_seed() -> None:
    g, block = sbm(SIZES, 6, 0.5, 2)
    r1, r2 = emergent_layers(g, features_for(block), seed=4), emergent_layers(g, features_for(block), seed=4)
    assert torch.equal(r1.labels, r2.labels) and r1.modularity == r2.modularity


def test_kmeans_recovers_separated_blobs() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(50, 2, generator=gen) + 10 * i for i in range(3)])
    lab, _, inertia = kmeans(x, 3, generator=gen)
    assert adjusted_rand_score(torch.arange(3).repeat_interleave(50).numpy(), lab.numpy()) == 1.0
    assert inertia < 150 * 2 * 2


def test_degenerate_graphs_give_one_layer() -> None:
    empty = KnnGraph(torch.full((20, 3), -1, dtype=torch.int64), torch.zeros(20, 3))
    r = emergent_layers(empty, torch.rand(20, 3, generator=torch.Generator().manual_seed(0)))
    assert r.n_layers == 1 and "no edge" in r.reason and r.modularity == 0.0
    n = 12  # complete graph of equal compatibilities: flat spectrum
    nb = torch.stack([torch.tensor([j for j in range(n) if j != i]) for i in range(n)])
    r = emergent_layers(KnnGraph(nb, torch.full((n, n - 1), 0.5)), None)
    assert r.n_layers == 1 and "flat" in r.reason
    g, _ = sbm(SIZES, 6, 0.8, 0)
    r = emergent_layers(g, torch.full((g.n, 3), 0.5))
    assert r.n_layers == 1 and "identical" in r.reason
    part = KnnGraph(
        torch.cat([g.neighbors[:-5], torch.full((5, 6), -1)]), torch.cat([g.weights[:-5], torch.zeros(5, 6)])
    )
    nb2 = part.neighbors.clone()
    nb2[nb2 >= g.n - 5] = -1
    r = emergent_layers(KnnGraph(nb2, torch.where(nb2 >= 0, part.weights, 0.0)), None)
    assert r.n_layers == 4 and "without edges" in r.reason and r.labels.shape == (g.n,)


def test_bad_inputs() -> None:
    g, block = sbm(SIZES, 6, 0.8, 0)
    for bad in (1, 10, 2.5):
        with pytest.raises(ValueError, match="n_layers"):
            emergent_layers(g, None, n_layers=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="features"):
        emergent_layers(g, torch.rand(3, 3))
    with pytest.raises(ValueError, match="criterion"):
        emergent_layers(g, None, criterion="bic")
    with pytest.raises(ValueError, match="order_by"):
        emergent_layers(g, features_for(block), order_by="colour")
    with pytest.raises(ValueError, match="min_layers"):
        emergent_layers(g, None, min_layers=1)
    r = emergent_layers(g, features_for(block), n_layers=2)
    assert r.n_layers == 2 and "fixed" in r.reason
