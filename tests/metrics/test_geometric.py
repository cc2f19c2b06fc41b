"""Tests of the geometric integrated information Φ_G (hal9.metrics.geometric).

References used here are computed independently of hal9: scipy's Lyapunov solver and a brute-force
minimisation of the *joint* KL divergence D[p(X_{t−1}, X_t) ‖ q(X_{t−1}, X_t)] over every free
parameter of the disconnected model.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.linalg import solve_discrete_lyapunov
from scipy.ndimage import minimum_filter
from scipy.optimize import minimize

from hal9.metrics.geometric import phi_geometric

pytestmark = pytest.mark.usefixtures("single_thread")


def random_system(rng: np.random.Generator, n: int, *, diag_noise: bool = False):
    """A random stable VAR(1) ``(A, Σ_E)`` and a random bipartition of ``0..n−1``."""
    A = rng.normal(size=(n, n))
    A *= rng.uniform(0.2, 0.95) / max(abs(np.linalg.eigvals(A)))
    if diag_noise:
        S = np.diag(rng.uniform(0.3, 2.0, size=n))
    else:
        L = rng.normal(size=(n, n))
        S = L @ L.T / n + rng.uniform(0.05, 0.5) * np.eye(n)
    k = int(rng.integers(1, n))
    perm = rng.permutation(n)
    part = (tuple(int(i) for i in perm[:k]), tuple(int(i) for i in perm[k:]))
    return A, S, part


def ref_mi(A: np.ndarray, S: np.ndarray) -> float:
    """I(X_{t−1}; X_t) = ½ ln(det Σ / det Σ_E) with Σ from scipy's Lyapunov solver."""
    sigma = solve_discrete_lyapunov(A, S)
    return 0.5 * (np.linalg.slogdet(sigma)[1] - np.linalg.slogdet(S)[1])


def ref_stochastic_interaction(A: np.ndarray, S: np.ndarray, part) -> float:
    """Φ_H = Σ_k H(X_{M_k,t} | X_{M_k,t−1}) − H(X_t | X_{t−1}) (Barrett & Seth 2011)."""
    sigma = solve_discrete_lyapunov(A, S)
    lag = A @ sigma
    total = -np.linalg.slogdet(S)[1]
    for M in part:
        ix = np.ix_(M, M)
        cond = sigma[ix] - lag[ix] @ np.linalg.solve(sigma[ix], lag[ix].T)
        total += np.linalg.slogdet(cond)[1]
    return 0.5 * total


def t64(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def test_feedforward_pair_equals_mutual_information() -> None:
    # X_0,t = E_0,t ; X_1,t = 0.8 X_0,t−1 + E_1,t with Σ_E = I.  Σ = diag(1, 1.64) (Cov(X_0,t, X_1,t) = 0),
    # so I = ½ ln(det Σ / det Σ_E) = ½ ln 1.64.  A disconnected model may only keep A'_00, A'_11; with
    # Δ = A − A' = [[−a, 0], [0.8, −b]]: det(I + ΔΣΔᵀ) = (1 + a²)·1.64(1 + b²) − 0.64a² ≥ 1.64 + a² ≥ 1.64,
    # minimised at a = b = 0, i.e. Σ_E' = Σ and Φ_G = ½ ln 1.64 = I: cutting the only coupling removes all
    # predictive information.
    A = torch.tensor([[0.0, 0.0], [0.8, 0.0]], dtype=torch.float64)
    expected = 0.5 * math.log(1.64)
    assert phi_geometric(A, None, ((0,), (1,))) == pytest.approx(expected, abs=1e-10)
    assert phi_geometric(A, torch.eye(2, dtype=torch.float64), ((1,), (0,))) == pytest.approx(
        expected, abs=1e-10
    )


def test_disconnected_blocks_give_zero() -> None:
    rng = np.random.default_rng(1)
    A = np.zeros((5, 5))
    A[:2, :2] = rng.normal(size=(2, 2))
    A[2:, 2:] = rng.normal(size=(3, 3))
    A *= 0.9 / max(abs(np.linalg.eigvals(A)))
    S = np.eye(5)
    S[:2, :2] += 0.4
    S[2:, 2:] += 0.3
    assert phi_geometric(t64(A), t64(S), ((0, 1), (2, 3, 4))) == pytest.approx(0.0, abs=1e-10)
    # Noise correlated across the blocks: A' = A is still feasible with Σ_E' = Σ_E, so Φ_G = 0 — Φ_G does not
    # count equal-time (noise) correlations as integration.
    S_corr = S + 0.2 * np.ones((5, 5))
    assert phi_geometric(t64(A), t64(S_corr), ((4, 2, 3), (1, 0))) == pytest.approx(0.0, abs=1e-10)
    # …whereas a partition that cuts a block sees a positive value.
    assert phi_geometric(t64(A), t64(S), ((0,), (1, 2, 3, 4))) > 1e-3


def test_bounds_on_random_systems() -> None:
    """0 ≤ Φ_G ≤ min(I, Φ_H) on 36 random systems (Oizumi, Tsuchiya & Amari 2016: q with A' = 0 gives I,
    the product of part-wise conditionals gives Φ_H)."""
    rng = np.random.default_rng(2024)
    for trial in range(36):
        A, S, part = random_system(rng, 2 + trial % 4, diag_noise=trial % 3 == 0)
        phi = phi_geometric(t64(A), t64(S), part)
        mi = ref_mi(A, S)
        si = ref_stochastic_interaction(A, S, part)
        assert 0.0 <= phi <= mi + 1e-10, (trial, phi, mi)
        assert phi <= si + 1e-10, (trial, phi, si)


def _joint_kl_brute_force(A: np.ndarray, S: np.ndarray, part, rng: np.random.Generator, starts: int) -> float:
    """min over q of D[p(x, y) ‖ q(x, y)], q(x) = N(0, L_x L_xᵀ), q(y|x) = N(A'x, L_e L_eᵀ), A' cut."""
    n = A.shape[0]
    sigma = solve_discrete_lyapunov(A, S)
    P = np.block([[sigma, sigma @ A.T], [A @ sigma, sigma]])
    logdet_p = np.linalg.slogdet(P)[1]
    label = np.empty(n, dtype=int)
    for k, M in enumerate(part):
        label[list(M)] = k
    fi, fj = np.nonzero(label[:, None] == label[None, :])
    tril = np.tril_indices(n)
    m = fi.size

    eye = np.eye(n)

    def kl(v: np.ndarray) -> tuple[float, np.ndarray]:
        # Q = T diag(Σx, Σe) Tᵀ with T = [[I, 0], [A', I]] (det T = 1), so
        # KL = ½[tr(Q⁻¹P) − 2n + ln det Σx + ln det Σe − ln det P];  ∂KL/∂Q = ½(Q⁻¹ − Q⁻¹PQ⁻¹) =: G,
        # ∂KL/∂T = 2 G T D, ∂KL/∂D = Tᵀ G T, ∂/∂L = 2 (∂KL/∂Σ) L for Σ = L Lᵀ.
        Ap = np.zeros((n, n))
        Ap[fi, fj] = v[:m]
        Lx, Le = np.zeros((n, n)), np.zeros((n, n))
        Lx[tril] = v[m : m + tril[0].size]
        Le[tril] = v[m + tril[0].size :]
        Dm = np.zeros((2 * n, 2 * n))
        Dm[:n, :n], Dm[n:, n:] = Lx @ Lx.T, Le @ Le.T
        T = np.block([[eye, np.zeros((n, n))], [Ap, eye]])
        Q = T @ Dm @ T.T
        ldx, lde = np.prod(np.diag(Lx)) ** 2, np.prod(np.diag(Le)) ** 2
        if ldx <= 1e-300 or lde <= 1e-300:
            return 1e6, np.zeros_like(v)
        Qi = np.linalg.inv(Q)
        QiP = Qi @ P
        val = 0.5 * (np.trace(QiP) - 2 * n + math.log(ldx) + math.log(lde) - logdet_p)
        G = 0.5 * (Qi - QiP @ Qi)
        dT = 2 * G @ T @ Dm
        dD = T.T @ G @ T
        grad = np.concatenate([dT[n:, :n][fi, fj], (2 * dD[:n, :n] @ Lx)[tril], (2 * dD[n:, n:] @ Le)[tril]])
        return float(val), grad

    best = math.inf
    eye_tril = np.eye(n)[tril]
    for _ in range(starts):
        v0 = np.concatenate([rng.normal(size=m), eye_tril + 0.3 * rng.normal(size=eye_tril.size), eye_tril])
        res = minimize(
            kl, v0, jac=True, method="L-BFGS-B", options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9}
        )
        best = min(best, float(res.fun))
    return best


@pytest.mark.parametrize("seed", [2, 3, 8, 11])
def test_matches_brute_force_joint_kl(seed: int) -> None:
    rng = np.random.default_rng(seed)
    A, S, part = random_system(rng, 2 + seed % 2)
    phi = phi_geometric(t64(A), t64(S), part)
    brute = _joint_kl_brute_force(A, S, part, rng, starts=4)
    # The brute force can only find values ≥ the true minimum; Φ_G must not exceed it and must match it.
    assert phi <= brute + 1e-9
    assert phi == pytest.approx(brute, abs=1e-6)


def test_finds_global_minimum_of_multimodal_case() -> None:
    # A 2-node system whose objective ln det(Σ_E + ΔΣΔᵀ) over the two free entries (A'_00, A'_11) has two
    # local minima (checked below on a dense grid); Φ_G must report the global one.
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
    assert local.size >= 2 and local[1] - local[0] > 0.5  # genuinely multimodal
    grid_phi = 0.5 * (local[0] - np.linalg.slogdet(S)[1])
    phi = phi_geometric(t64(A), t64(S), ((0,), (1,)))
    assert phi <= grid_phi + 1e-12
    assert phi == pytest.approx(grid_phi, abs=1e-3)  # grid spacing 0.025


def test_more_starts_never_increase_and_seed_independent() -> None:
    rng = np.random.default_rng(99)
    for trial in range(8):
        A, S, part = random_system(rng, 2 + trial % 4)
        vals = [phi_geometric(t64(A), t64(S), part, n_starts=k, seed=4) for k in (1, 2, 4, 8)]
        assert all(later <= earlier + 1e-12 for earlier, later in itertools.pairwise(vals)), vals
        other = [phi_geometric(t64(A), t64(S), part, seed=s) for s in (0, 1, 2)]
        assert max(other) - min(other) < 1e-8, other


def test_relabelling_invariance() -> None:
    rng = np.random.default_rng(42)
    for trial in range(6):
        n = 3 + trial % 3
        A, S, part = random_system(rng, n)
        perm = rng.permutation(n)  # new node k is old node perm[k]
        inv = np.argsort(perm)
        A_p, S_p = A[np.ix_(perm, perm)], S[np.ix_(perm, perm)]
        part_p = (tuple(int(inv[i]) for i in part[1]), tuple(int(inv[i]) for i in part[0]))
        assert phi_geometric(t64(A_p), t64(S_p), part_p) == pytest.approx(
            phi_geometric(t64(A), t64(S), part), abs=1e-9
        )


def test_nonconvergence_warns() -> None:
    A, S, part = random_system(np.random.default_rng(0), 4)
    with pytest.warns(RuntimeWarning, match="did not reach"):
        phi_geometric(t64(A), t64(S), part, max_iter=1)


A_OK = torch.tensor([[0.5, 0.2], [0.1, 0.3]], dtype=torch.float64)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"A": torch.tensor([[1.2, 0.0], [0.0, 0.1]], dtype=torch.float64)}, "A is not stable"),
        ({"A": [[0.5, 0.0], [0.0]]}, "A must be a rectangular array"),
        ({"A": np.eye(2) * 1.5}, "A is not stable"),
        ({"A": torch.zeros(2, 3, dtype=torch.float64)}, "A must be"),
        (
            {"noise_cov": torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=torch.float64)},
            "noise_cov must be positive",
        ),
        (
            {"noise_cov": torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64)},
            "noise_cov must be symmetric",
        ),
        ({"noise_cov": torch.eye(3, dtype=torch.float64)}, "noise_cov must have shape"),
        ({"partition": ((0, 1), ())}, "partition part 1"),
        ({"partition": ((0,), (0,))}, "node 0 is listed twice"),
        ({"partition": ((0,), (2,))}, "partition index 2"),
        ({"partition": ((0, 1),)}, "partition must have at least two parts"),
        ({"partition": ((0,), (True,))}, "partition index True"),
        ({"n_starts": 0}, "n_starts"),
        ({"tol": 0.0}, "tol"),
        ({"max_iter": 0}, "max_iter"),
    ],
)
def test_bad_inputs(kwargs: dict, match: str) -> None:
    args = {"A": A_OK, "noise_cov": None, "partition": ((0,), (1,))} | kwargs
    with pytest.raises(ValueError, match=match):
        phi_geometric(**args)


def test_partition_must_cover_all_nodes() -> None:
    A = torch.eye(3, dtype=torch.float64) * 0.5
    with pytest.raises(ValueError, match="missing \\[2\\]"):
        phi_geometric(A, None, ((0,), (1,)))


@pytest.mark.gpu
def test_cuda_matches_cpu() -> None:
    from hal9.metrics.star import phi_star

    A, S, part = random_system(np.random.default_rng(6), 6)
    for fn in (phi_geometric, phi_star):
        cpu = fn(t64(A), t64(S), part)
        gpu = fn(t64(A).cuda(), t64(S).cuda(), part)
        assert gpu == pytest.approx(cpu, abs=1e-9)
