import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from hal9.selforg.graph import KnnGraph
from hal9.selforg.layering import emergent_layers
from hal9.selforg.spectral import GAP_FLOOR, EigenStatus, kmeans, spectral_embedding
from tests.selforg.test_layering import SIZES, features_for, sbm


def random_graph(n: int, k: int, seed: int) -> KnnGraph:
    """``k`` uniform partners per node: symmetrised, a near-regular expander without communities."""
    gen = torch.Generator().manual_seed(seed)
    nb = torch.randint(0, n - 1, (n, k), generator=gen)
    nb = nb + (nb >= torch.arange(n).unsqueeze(1)).long()  # no self-loops
    return KnnGraph(nb, torch.rand(n, k, generator=gen).sort(1, descending=True).values)


def test_gapless_graph_stops_early_with_a_bounded_number_of_products() -> None:
    a = random_graph(3000, 8, 0).symmetric_csr()
    ev, vecs, status = spectral_embedding(a, 10, seed=0)
    assert status == EigenStatus("gapless", status.matvecs) and not status.converged
    assert status.matvecs in (19, 28)  # 1 + 9 per sweep, at least 2 sweeps; the budget is 64
    rel = (ev[2:] - ev[1:-1]) / ev[2:]  # relative gaps for K = 2..9
    assert float(rel.max()) < GAP_FLOOR and float(ev[1]) > 0.3  # expander: large λ2, flat above it
    assert torch.allclose(vecs.T @ vecs, torch.eye(10, dtype=torch.float64), atol=1e-8)
    _, _, full = spectral_embedding(a, 10, seed=0, gap_floor=0.0)  # test disabled: runs on
    assert full.outcome in ("converged", "budget") and full.matvecs > status.matvecs


def test_gapless_graph_layering_reports_why_and_stays_deterministic() -> None:
    g = random_graph(3000, 8, 1)
    feats = torch.rand(3000, 3, generator=torch.Generator().manual_seed(0))
    r = emergent_layers(g, feats)
    assert 2 <= r.n_layers <= 9 and "gapless spectrum" in r.reason and "K arbitrary" in r.reason
    assert r.eigengap < GAP_FLOOR
    r2 = emergent_layers(g, feats)
    assert torch.equal(r.labels, r2.labels) and r.reason == r2.reason


def test_structured_graph_never_takes_the_gapless_exit() -> None:
    g, block = sbm([1500, 1000, 600, 400], 12, 0.6, 0)
    a = g.symmetric_csr()
    ev, vecs, status = spectral_embedding(a, 10, seed=3)
    ev0, vecs0, status0 = spectral_embedding(a, 10, seed=3, gap_floor=0.0)
    assert status.outcome in ("converged", "budget") and status == status0
    assert torch.equal(ev, ev0) and torch.equal(vecs, vecs0)
    r = emergent_layers(g, features_for(block))
    assert r.n_layers == 4 and adjusted_rand_score(block.numpy(), r.labels.numpy()) > 0.95
    assert "gapless" not in r.reason


def test_exact_solvers_report_exact() -> None:
    g, _ = sbm(SIZES, 12, 0.8, 0)
    a = g.symmetric_csr()
    assert spectral_embedding(a, 10, solver="dense")[2] == EigenStatus("exact", 0)
    assert spectral_embedding(a, 10, solver="eigsh")[2].converged
    with pytest.raises(ValueError, match="solver"):
        spectral_embedding(a, 10, solver="lobpcg")


def test_batched_kmeans_equals_best_of_sequential_restarts() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 4, generator=gen)
    lab, centres, inertia = kmeans(x, 5, n_init=4, generator=torch.Generator().manual_seed(7))
    seq_gen = torch.Generator().manual_seed(7)  # same stream: restarts are seeded one after another
    runs = [kmeans(x, 5, n_init=1, generator=seq_gen) for _ in range(4)]
    best = min(runs, key=lambda r: r[2])
    assert torch.equal(lab, best[0]) and torch.allclose(centres, best[1])
    assert inertia == pytest.approx(best[2], rel=1e-6)
    assert inertia == pytest.approx(float(((x - centres[lab]) ** 2).sum()), rel=1e-4)


def test_kmeans_with_fewer_distinct_points_than_clusters() -> None:
    x = torch.tensor([[0.0, 0.0], [1.0, 1.0]]).repeat(10, 1)
    lab, centres, inertia = kmeans(x, 3, generator=torch.Generator().manual_seed(0))
    assert lab.shape == (20,) and centres.shape == (3, 2) and inertia == pytest.approx(0.0, abs=1e-6)
    assert lab[0::2].unique().numel() == 1 and lab[1::2].unique().numel() == 1  # copies stay together
    assert int(lab[0]) != int(lab[1])
    with pytest.raises(ValueError, match="k must be"):
        kmeans(x, 21, generator=torch.Generator())
