"""Batched Φ_G / Φ* over stacks of bipartitions vs the per-partition functions, and the MIB search on them.

``phi_geometric_batch`` and ``phi_star_batch`` must reproduce ``phi_geometric`` / ``phi_star`` (themselves
checked against brute-force and literature references in ``test_geometric.py`` / ``test_star.py``) for every
bipartition of random stable systems — same starts, same stopping rule, same β decisions.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import solve_discrete_lyapunov
from scipy.ndimage import minimum_filter

from hal9.metrics import integration
from hal9.metrics.geometric import phi_geometric, phi_geometric_batch
from hal9.metrics.integration import integrated_information
from hal9.metrics.partitions import bipartition_masks, mask_to_partition
from hal9.metrics.star import phi_star, phi_star_batch
from tests.metrics.test_geometric import random_system, t64

pytestmark = pytest.mark.usefixtures("single_thread")


def _all_masks(n: int) -> torch.Tensor:
    return torch.cat(list(bipartition_masks(n)))


def _per_partition(fn, A: torch.Tensor, S: torch.Tensor, masks: torch.Tensor, **kw) -> np.ndarray:
    return np.array([fn(A, S, mask_to_partition(m), **kw) for m in masks])


# ---------------------------------------------------------------- Φ*
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 6), diag_noise=st.booleans())
def test_star_batch_equals_per_partition(seed: int, n: int, diag_noise: bool) -> None:
    A, S, _ = random_system(np.random.default_rng(seed), n, diag_noise=diag_noise)
    masks = _all_masks(n)
    got = phi_star_batch(t64(A), t64(S), masks).numpy()
    np.testing.assert_allclose(got, _per_partition(phi_star, t64(A), t64(S), masks), rtol=0, atol=1e-10)
    flipped = phi_star_batch(t64(A), t64(S), ~masks).numpy()  # either part may be marked True
    np.testing.assert_allclose(flipped, got, rtol=0, atol=1e-12)


def test_star_batch_edge_cases() -> None:
    # Ĩ ≡ 0 (feed-forward pair, see test_star.py): Ĩ'(0) ≤ 0, I* = 0, Φ* = I.
    A = torch.tensor([[0.0, 0.0], [0.8, 0.0]], dtype=torch.float64)
    masks = torch.tensor([[True, False]])
    assert float(phi_star_batch(A, None, masks)[0]) == pytest.approx(
        phi_star(A, None, ((0,), (1,))), abs=1e-14
    )
    # A tiny beta_max caps the bracket: both implementations warn and use Ĩ(beta_max).
    A, S, _ = random_system(np.random.default_rng(5), 4)
    masks = _all_masks(4)
    with pytest.warns(RuntimeWarning, match="beta_max"):
        got = phi_star_batch(t64(A), t64(S), masks, beta_max=1.5).numpy()
    with pytest.warns(RuntimeWarning, match="beta_max"):
        ref = _per_partition(phi_star, t64(A), t64(S), masks, beta_max=1.5)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10)
    # Chunking does not change anything, and repeated calls are bitwise identical.
    whole = phi_star_batch(t64(A), t64(S), masks)
    torch.testing.assert_close(phi_star_batch(t64(A), t64(S), masks, chunk_size=2), whole, rtol=0, atol=0)
    torch.testing.assert_close(phi_star_batch(t64(A), t64(S), masks), whole, rtol=0, atol=0)


# ---------------------------------------------------------------- Φ_G
@pytest.mark.parametrize("seed", range(6))
def test_geometric_batch_equals_per_partition(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = 2 + seed % 5
    A, S, _ = random_system(rng, n, diag_noise=seed % 3 == 0)
    masks = _all_masks(n)
    got = phi_geometric_batch(t64(A), t64(S), masks).numpy()
    ref = _per_partition(phi_geometric, t64(A), t64(S), masks)
    # Same iterates up to round-off; the stopping rule (|Δ ln det Σ_E'| ≤ tol = 1e-10) bounds the rest.
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-9)


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000), n=st.integers(3, 6), n_starts=st.integers(1, 4), rng_seed=st.integers(0, 3)
)
def test_geometric_batch_options_equal_per_partition(seed: int, n: int, n_starts: int, rng_seed: int) -> None:
    A, S, _ = random_system(np.random.default_rng(seed), n)
    masks = _all_masks(n)[:: max(1, 2 ** (n - 1) // 6)]
    kw = {"n_starts": n_starts, "seed": rng_seed}
    got = phi_geometric_batch(t64(A), t64(S), masks, **kw).numpy()
    np.testing.assert_allclose(
        got, _per_partition(phi_geometric, t64(A), t64(S), masks, **kw), rtol=0, atol=1e-9
    )


def test_geometric_batch_keeps_the_global_minimum_of_a_multimodal_case() -> None:
    # The 2-node system of test_geometric.py whose objective has two local minima (dense grid check).
    A = np.array([[0.587, 0.501], [-1.561, 0.187]])
    S = np.array([[0.603, 0.386], [0.386, 0.797]])
    sigma = solve_discrete_lyapunov(A, S)
    grid = np.linspace(-6, 6, 481)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    D = np.zeros((*a.shape, 2, 2))
    D[..., 0, 1], D[..., 1, 0] = A[0, 1], A[1, 0]
    D[..., 0, 0], D[..., 1, 1] = A[0, 0] - a, A[1, 1] - b
    vals = np.linalg.slogdet(S + D @ sigma @ np.swapaxes(D, -1, -2))[1]
    local = np.sort(vals[vals == minimum_filter(vals, size=5, mode="nearest")])
    assert local.size >= 2 and local[1] - local[0] > 0.5
    grid_phi = 0.5 * (local[0] - np.linalg.slogdet(S)[1])
    phi = float(phi_geometric_batch(t64(A), t64(S), torch.tensor([[True, False]]))[0])
    assert phi <= grid_phi + 1e-12
    assert phi == pytest.approx(grid_phi, abs=1e-3)
    assert phi == pytest.approx(phi_geometric(t64(A), t64(S), ((0,), (1,))), abs=1e-12)


def test_geometric_batch_more_starts_never_increase() -> None:
    A, S, _ = random_system(np.random.default_rng(7), 5, diag_noise=False)
    masks = _all_masks(5)
    runs = [phi_geometric_batch(t64(A), t64(S), masks, n_starts=k, seed=4).numpy() for k in (1, 2, 4, 8)]
    for earlier, later in itertools.pairwise(runs):
        assert np.all(later <= earlier + 1e-12)


def test_geometric_batch_stopping_rule_and_determinism() -> None:
    A, S, _ = random_system(np.random.default_rng(0), 4)
    masks = _all_masks(4)
    # max_iter = 1: one sweep only, the same value per partition, and the same warning.
    with pytest.warns(RuntimeWarning, match="did not reach"):
        got = phi_geometric_batch(t64(A), t64(S), masks, max_iter=1).numpy()
    with pytest.warns(RuntimeWarning, match="did not reach"):
        ref = _per_partition(phi_geometric, t64(A), t64(S), masks, max_iter=1)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    whole = phi_geometric_batch(t64(A), t64(S), masks)
    torch.testing.assert_close(phi_geometric_batch(t64(A), t64(S), masks), whole, rtol=0, atol=0)
    chunked = phi_geometric_batch(t64(A), t64(S), masks, chunk_size=3)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=0)


@pytest.mark.parametrize("fn", [phi_geometric_batch, phi_star_batch])
def test_batch_bad_masks(fn) -> None:
    A = torch.tensor([[0.5, 0.2, 0.0], [0.1, 0.3, 0.0], [0.0, 0.2, 0.4]], dtype=torch.float64)
    for masks, match in [
        (torch.zeros(2, 3, dtype=torch.bool), "both parts"),
        (torch.ones(1, 3, dtype=torch.bool), "both parts"),
        (torch.tensor([[1, 0, 0]]), "bool tensor"),
        (torch.tensor([[True, False]]), "bool tensor"),
    ]:
        with pytest.raises(ValueError, match=match):
            fn(A, None, masks)
    with pytest.raises(ValueError, match="A is not stable"):
        fn(2.0 * torch.eye(3, dtype=torch.float64), None, torch.tensor([[True, False, False]]))


# ---------------------------------------------------------------- MIB search
@pytest.mark.parametrize(("measure", "fn"), [("geometric", phi_geometric), ("star", phi_star)])
def test_exhaustive_mib_equals_min_over_per_partition_values(measure: str, fn) -> None:
    A, S, _ = random_system(np.random.default_rng(21), 5)
    masks = _all_masks(5)
    ref = _per_partition(fn, t64(A), t64(S), masks)
    res = integrated_information(t64(A), t64(S), measure=measure, method="exhaustive")
    assert res.method == "exhaustive" and res.n_partitions_evaluated == 15
    assert res.value == pytest.approx(ref.min(), abs=1e-9)
    assert res.partition == mask_to_partition(masks[int(np.argmin(ref))])


def test_auto_exhaustive_limits() -> None:
    limits = {name: integration.get_measure(name).exhaustive_max_n for name in ("wms", "geometric", "star")}
    assert limits == {"wms": integration.EXHAUSTIVE_MAX_N, "geometric": 10, "star": 16}
    A = torch.from_numpy(random_system(np.random.default_rng(3), 11)[0])
    res = integrated_information(A, measure="star")  # n = 11: exhaustive under "auto" now
    assert res.method == "exhaustive" and res.n_partitions_evaluated == 2**10 - 1


@pytest.mark.gpu
def test_batch_cuda_matches_cpu() -> None:
    A, S, _ = random_system(np.random.default_rng(6), 6)
    masks = _all_masks(6)
    for fn in (phi_geometric_batch, phi_star_batch):
        cpu = fn(t64(A), t64(S), masks)
        gpu = fn(t64(A).cuda(), t64(S).cuda(), masks.cuda())
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-9)


def test_geometric_batch_mask_order_and_chunking_do_not_change_values() -> None:
    # Masks are grouped by the size of their smaller part before chunking and scattered back: a shuffled
    # stack gives the same per-mask values, bitwise, for any chunk size.
    A, S, _ = random_system(np.random.default_rng(11), 6)
    masks = _all_masks(6)
    whole = phi_geometric_batch(t64(A), t64(S), masks)
    perm = torch.randperm(masks.shape[0], generator=torch.Generator().manual_seed(3))
    for chunk_size in (None, 1, 4, 7):
        shuffled = phi_geometric_batch(t64(A), t64(S), masks[perm], chunk_size=chunk_size)
        assert torch.equal(shuffled, whole[perm])
    # Marking the other part: for |M¹| = |M²| the other part leads the permutation, so only round-off
    # and the stopping rule separate the values.
    flipped = phi_geometric_batch(t64(A), t64(S), ~masks[perm], chunk_size=4)
    torch.testing.assert_close(flipped, whole[perm], rtol=0, atol=1e-9)


@pytest.mark.parametrize("fn", [phi_geometric_batch, phi_star_batch])
@pytest.mark.parametrize("chunk_size", [0, -3, 2.5, True, "4"])
def test_batch_bad_chunk_size(fn, chunk_size) -> None:
    A = torch.tensor([[0.5, 0.2], [0.1, 0.3]], dtype=torch.float64)
    with pytest.raises(ValueError, match="chunk_size"):
        fn(A, None, torch.tensor([[True, False]]), chunk_size=chunk_size)


def test_star_batch_warns_when_the_beta_search_hits_its_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    from hal9.metrics import star

    A, S, _ = random_system(np.random.default_rng(5), 4)
    masks = _all_masks(4)
    ref = phi_star_batch(t64(A), t64(S), masks)
    monkeypatch.setattr(star, "_NEWTON_MAX_ITER", 1)
    with pytest.warns(RuntimeWarning, match="did not reach xtol"):
        got = phi_star_batch(t64(A), t64(S), masks)
    # One step from the bracket midpoint: a valid lower bound on I*, so Φ* can only be larger.
    assert torch.all(got >= ref - 1e-12)
