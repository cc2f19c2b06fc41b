"""The exact Hamming EMD of ``hal9.metrics.iit.emd`` against POT's network simplex on the full cost matrix."""

from __future__ import annotations

import numpy as np
import ot
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hal9.metrics.iit.emd import (
    effect_emd,
    enumerate_vertices,
    hamming_emd,
    hamming_emd_cheap_bound,
    hamming_emd_lower_bound,
    hamming_matrix,
    lipschitz_vertices,
)


def _pot(p: np.ndarray, q: np.ndarray) -> float:
    k = int(np.log2(p.size))
    return float(ot.emd2(p, q, hamming_matrix(k)))


def test_vertex_counts_and_shipped_file() -> None:
    assert [lipschitz_vertices(k).shape[0] for k in range(1, 5)] == [2, 6, 38, 990]
    for k in range(1, 5):
        shipped = {tuple(r) for r in lipschitz_vertices(k, dtype=torch.float64).long().tolist()}
        assert shipped == {tuple(r) for r in enumerate_vertices(k).tolist()}


def test_vertices_are_lipschitz_and_tight() -> None:
    v = lipschitz_vertices(3).long()
    for x in range(8):
        for i in range(3):
            assert ((v[:, x] - v[:, x ^ (1 << i)]).abs() <= 1).all()
    assert (v[:, 0] == 0).all()


def test_hand_values() -> None:
    # Equal marginals, all mass on the opposite diagonal: every unit moves one step.
    p = torch.tensor([[0.5, 0.0, 0.0, 0.5]], dtype=torch.float64)
    q = torch.tensor([[0.0, 0.5, 0.5, 0.0]], dtype=torch.float64)
    assert hamming_emd(p, q).item() == pytest.approx(1.0, abs=1e-15)
    # Point masses at distance 3.
    p = torch.zeros(1, 8, dtype=torch.float64)
    q = torch.zeros(1, 8, dtype=torch.float64)
    p[0, 0] = q[0, 7] = 1.0
    assert hamming_emd(p, q).item() == pytest.approx(3.0, abs=1e-15)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 6), sparse=st.booleans())
def test_matches_network_simplex(seed: int, k: int, sparse: bool) -> None:
    rng = np.random.default_rng(seed)
    p = rng.random((4, 2**k)) * (rng.random((4, 2**k)) < (0.4 if sparse else 1.0))
    q = rng.random((4, 2**k))
    p[:, 0] += 1e-3
    p /= p.sum(1, keepdims=True)
    q /= q.sum(1, keepdims=True)
    pt, qt = torch.from_numpy(p), torch.from_numpy(q)
    got = hamming_emd(pt, qt)
    want = torch.tensor([_pot(p[i], q[i]) for i in range(4)], dtype=torch.float64)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    assert (hamming_emd_cheap_bound(pt, qt) <= want + 1e-12).all()
    assert (hamming_emd_lower_bound(pt, qt) <= want + 1e-12).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 5))
def test_product_closed_form(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    m1, m2 = rng.random(k), rng.random(k)
    states = (np.arange(2**k)[:, None] >> np.arange(k)) & 1

    def product(m: np.ndarray) -> np.ndarray:
        return np.where(states == 1, m, 1 - m).prod(1)

    want = _pot(product(m1), product(m2))
    got = effect_emd(torch.from_numpy(m1), torch.from_numpy(m2)).item()
    assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("k", [5, 6])
def test_network_simplex_against_an_lp_solver(k: int) -> None:
    """For 5+ nodes hal9 uses POT's network simplex: check it against SciPy's HiGHS on the transport LP."""
    from scipy.optimize import linprog

    rng = np.random.default_rng(k)
    p = rng.random(2**k) * (rng.random(2**k) < 0.5)
    p[0] += 0.1
    q = rng.random(2**k)
    p, q = p / p.sum(), q / q.sum()
    size = 2**k
    a_eq = np.vstack([np.kron(np.eye(size), np.ones(size)), np.kron(np.ones(size), np.eye(size))])
    lp = linprog(hamming_matrix(k).ravel(), A_eq=a_eq, b_eq=np.r_[p, q], bounds=(0, None), method="highs")
    assert lp.status == 0
    got = hamming_emd(torch.from_numpy(p)[None], torch.from_numpy(q)[None]).item()
    assert got == pytest.approx(lp.fun, abs=1e-9)


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="p, q"):
        hamming_emd(torch.zeros(2, 4), torch.zeros(2, 8))
    with pytest.raises(ValueError, match="2\\*\\*k"):
        hamming_emd(torch.zeros(2, 6), torch.zeros(2, 6))
    with pytest.raises(ValueError, match="k: the vertex"):
        lipschitz_vertices(5)
