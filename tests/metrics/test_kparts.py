"""Partitions with K ≥ 2 parts (atomic included) for every measure, against independent NumPy/SciPy refs.

* Φ_WMS, Φ_R, SI and ``K(P)`` of the atomic partition of a 3-node VAR(1) from scalar hand formulas;
* any K: explicit sub-blocks of the joint covariance with ``np.linalg.slogdet`` (Barrett & Seth 2011;
  SI as PhiToolbox ``SI_Gauss.m``, normalisation ``(N_c − 1) min(H_p)`` as its ``MI1_Gauss.m``);
* Φ*: a NumPy port of PhiToolbox ``phi_star_Gauss.m`` (``I_s`` with ``Q_inv``, ``R``), maximised over β by
  ``scipy.optimize.minimize_scalar``;
* Φ_G: brute-force L-BFGS minimisation of the joint KL (``tests/metrics/test_geometric.py``);
* the MIB search with ``include_atomic``: a NumPy brute force over bipartitions + the atomic partition.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import solve_discrete_lyapunov
from scipy.optimize import minimize_scalar

from hal9.metrics import _phi_linear as _pl
from hal9.metrics.geometric import phi_geometric
from hal9.metrics.integration import integrated_information, integrated_information_from_data
from hal9.metrics.partitions import bipartition_masks, mask_to_partition
from hal9.metrics.star import phi_star
from tests.metrics._systems import spd, stable
from tests.metrics.test_geometric import _joint_kl_brute_force

F64 = torch.float64
LOG_2PIE = math.log(2 * math.pi * math.e)
pytestmark = pytest.mark.usefixtures("single_thread")


def _ld(M: np.ndarray) -> float:
    sign, val = np.linalg.slogdet(M)
    assert sign > 0
    return float(val)


def ref_phi_k(A: np.ndarray, Q: np.ndarray, parts, measure: str) -> tuple[float, float]:
    """(Φ(P), K(P)) for K ≥ 2 parts from explicit blocks of the joint covariance of (X_{t−1}, X_t)."""
    n = A.shape[0]
    S = solve_discrete_lyapunov(A, Q)
    J = np.block([[S, (A @ S).T], [A @ S, S]])

    def mi(past, pres) -> float:  # I(X^past_{t−1}; X^pres_t)
        a, b = list(past), [n + i for i in pres]
        return 0.5 * (_ld(J[np.ix_(a, a)]) + _ld(J[np.ix_(b, b)]) - _ld(J[np.ix_(a + b, a + b)]))

    def cond_ld(part) -> float:  # ln det Σ(M_t | M_{t−1}) = ln det J(M_{t−1}, M_t) − ln det Σ(M)
        idx = list(part) + [n + i for i in part]
        return _ld(J[np.ix_(idx, idx)]) - _ld(S[np.ix_(part, part)])

    k = len(parts)
    K = (k - 1) * min(0.5 * (len(p) * LOG_2PIE + _ld(S[np.ix_(p, p)])) for p in parts)
    whole = list(range(n))
    if measure == "si":
        return 0.5 * (sum(cond_ld(list(p)) for p in parts) - cond_ld(whole)), K
    wms = mi(whole, whole) - sum(mi(p, p) for p in parts)
    if measure == "wms":
        return wms, K
    return wms + (k - 1) * min(mi(p, q) for p in parts for q in parts), K


# ---------------------------------------------------------------- atomic partition by hand
A3 = np.array([[0.5, 0.0, 0.3], [0.4, 0.2, 0.0], [0.0, -0.5, 0.4]])
Q3 = np.array([[1.0, 0.3, 0.0], [0.3, 1.0, -0.2], [0.0, -0.2, 0.8]])


def test_atomic_partition_of_three_nodes_by_hand() -> None:
    # Scalar parts: with S = Σ (stationary) and C = AΣ = Cov(X_t, X_{t−1}),
    # I(X_{i,t−1}; X_{j,t}) = −½ ln(1 − r_ij²), r_ij = C_ji / √(S_ii S_jj);
    # Var(X_{i,t} | X_{i,t−1}) = S_ii (1 − r_ii²); I(X_{t−1}; X_t) = ½ ln(det S / det Σ_E).
    S = solve_discrete_lyapunov(A3, Q3)
    C = A3 @ S
    d = np.sqrt(np.diag(S))
    r = C.T / np.outer(d, d)  # r[i, j] = C[j, i] / √(S_ii S_jj)
    i_pair = -0.5 * np.log(1 - r**2)
    i_whole = 0.5 * (np.linalg.slogdet(S)[1] - np.linalg.slogdet(Q3)[1])
    wms = i_whole - np.trace(i_pair)
    expected = {
        "wms": wms,
        "r": wms + 2 * i_pair.min(),  # (K − 1) = 2 times the smallest of the 9 pairwise MIs
        "si": 0.5 * (np.sum(np.log(np.diag(S) * (1 - np.diag(r) ** 2))) - np.linalg.slogdet(Q3)[1]),
    }
    K = 2 * min(0.5 * np.log(2 * math.pi * math.e * S[i, i]) for i in range(3))  # (n − 1) min_i H(X_i)
    for measure, value in expected.items():
        for partition in (((0,), (1,), (2,)), [0, 1, 2], np.array([5, 3, 9]), ((2,), (0,), (1,))):
            res = integrated_information(
                torch.from_numpy(A3), torch.from_numpy(Q3), measure=measure, partition=partition
            )
            assert res.partition == ((0,), (1,), (2,)) and res.method == "given"
            assert res.value == pytest.approx(value, rel=1e-10, abs=1e-13), measure
            assert res.normalized == pytest.approx(value / K, rel=1e-10, abs=1e-13)
        assert ref_phi_k(A3, Q3, [[0], [1], [2]], measure)[0] == pytest.approx(value, rel=1e-10)


@pytest.mark.parametrize("measure", ["wms", "r", "si"])
def test_k_part_partitions_match_numpy_blocks(measure: str) -> None:
    A, Q = stable(6, 7, 0.85), spd(6, 8)
    for parts in (((0, 3), (1,), (2, 4, 5)), ((0, 1), (2, 3), (4, 5)), ((0,), (1, 2, 3, 4), (5,))):
        ref, K = ref_phi_k(A.numpy(), Q.numpy(), parts, measure)
        res = integrated_information(A, Q, measure=measure, partition=parts)
        assert res.value == pytest.approx(ref, rel=1e-9, abs=1e-12)
        assert res.normalized == pytest.approx(ref / K, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("measure", ["wms", "r", "si"])
def test_two_part_explicit_path_equals_batched_masks(measure: str) -> None:
    # The K-part evaluator with K = 2 reproduces the batched mask path used for bipartitions (the numbers
    # of all existing two-part results come from the latter).
    A, Q = stable(5, 3, 0.9), spd(5, 4)
    sigma = torch.from_numpy(solve_discrete_lyapunov(A.numpy(), Q.numpy()))
    stats = _pl.LinearStats(sigma, sigma, A @ sigma, float(torch.logdet(sigma)), float(torch.logdet(Q)), True)
    masks = torch.cat(list(bipartition_masks(5)))
    vals, Ks = _pl.measure_values(stats, masks, measure)
    for m, v, k in zip(masks, vals, Ks, strict=True):
        pv, pk = _pl.partition_values(stats, mask_to_partition(m), measure)
        assert pv == pytest.approx(float(v), rel=1e-10, abs=1e-13)
        assert pk == pytest.approx(float(k), rel=1e-12)


def test_refinement_never_decreases_si_and_phi_g() -> None:
    # Splitting a part adds constraints to the disconnected model (Φ_G) and can only raise the sum of
    # conditional entropies (SI), so the atomic partition bounds every coarser partition from above.
    A, Q = stable(4, 11, 0.8), spd(4, 12)
    atomic = ((0,), (1,), (2,), (3,))
    si_atomic = integrated_information(A, Q, measure="si", partition=atomic).value
    g_atomic = phi_geometric(A, Q, atomic)
    for m in torch.cat(list(bipartition_masks(4))):
        p = mask_to_partition(m)
        assert integrated_information(A, Q, measure="si", partition=p).value <= si_atomic + 1e-12
        assert phi_geometric(A, Q, p) <= g_atomic + 1e-9
    assert g_atomic <= si_atomic + 1e-10  # Φ_G ≤ SI for the same partition


# ---------------------------------------------------------------- Φ_G and Φ* with K parts
@pytest.mark.parametrize(("seed", "parts"), [(3, ((0,), (1,), (2,))), (4, ((0, 2), (1,), (3,)))])
def test_phi_g_k_parts_matches_brute_force_joint_kl(seed: int, parts) -> None:
    rng = np.random.default_rng(seed)
    n = sum(len(p) for p in parts)
    A = stable(n, seed, 0.8).numpy()
    Q = spd(n, seed + 1).numpy()
    phi = phi_geometric(torch.from_numpy(A), torch.from_numpy(Q), parts)
    brute = _joint_kl_brute_force(A, Q, parts, rng, starts=4)
    assert phi <= brute + 1e-9  # the brute force only finds values ≥ the minimum
    assert phi == pytest.approx(brute, abs=1e-6)
    assert integrated_information(A, Q, measure="geometric", partition=parts).value == pytest.approx(
        phi, abs=1e-12
    )


def phitoolbox_phi_star(A: np.ndarray, Q: np.ndarray, parts) -> float:
    """NumPy port of PhiToolbox ``phi_star_Gauss.m`` (Cov_X = Cov_Y = Σ, Cov_XY = (AΣ)ᵀ), β by SciPy."""
    n = A.shape[0]
    S = solve_discrete_lyapunov(A, Q)
    cov_xy = (A @ S).T  # Cov(X_{t−1}, X_t)
    mi = 0.5 * (_ld(S) - _ld(Q))  # I = H(Y) − H(Y|X)
    X_D, YX_D, C_D = np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n))
    for M in parts:
        ix = np.ix_(M, M)
        YX_D[ix] = cov_xy[ix].T
        X_D[ix] = S[ix]
        C_D[ix] = S[ix] - YX_D[ix] @ np.linalg.solve(S[ix], YX_D[ix].T)
    C1 = np.linalg.solve(X_D, YX_D.T) @ np.linalg.solve(C_D, YX_D) @ np.linalg.inv(X_D)  # 2nd term / β
    S_left = np.linalg.solve(C_D.T, YX_D) @ np.linalg.inv(X_D)
    S_right = np.linalg.solve(X_D, YX_D.T) @ np.linalg.inv(C_D)

    def i_s(beta: float) -> float:
        Q_inv = np.linalg.inv(S) + beta * C1
        R = beta * np.linalg.inv(C_D) - beta**2 * S_left @ np.linalg.solve(Q_inv, S_right)
        return 0.5 * _ld(Q_inv) + 0.5 * _ld(S) + 0.5 * np.trace(S @ R) - 0.5 * beta * n

    opt = minimize_scalar(
        lambda lb: -i_s(math.exp(lb)), bounds=(-25.0, 8.0), method="bounded", options={"xatol": 1e-10}
    )
    return mi - max(-float(opt.fun), 0.0)


@pytest.mark.parametrize(("seed", "parts"), [(5, ((0,), (1,), (2,))), (6, ((0, 3), (1,), (2,), (4,)))])
def test_phi_star_k_parts_matches_phitoolbox_port(seed: int, parts) -> None:
    n = sum(len(p) for p in parts)
    A, Q = stable(n, seed, 0.85), spd(n, seed + 1)
    ref = phitoolbox_phi_star(A.numpy(), Q.numpy(), parts)
    phi = phi_star(A, Q, parts)
    assert phi == pytest.approx(ref, abs=1e-8)
    assert 0.0 < phi <= integrated_information(A, Q, measure="si", partition=parts).value + 1e-10
    assert integrated_information(A, Q, measure="star", partition=parts).value == pytest.approx(
        phi, abs=1e-12
    )


# ---------------------------------------------------------------- MIB search with the atomic partition
def _ref_search(A: np.ndarray, Q: np.ndarray, measure: str, criterion: str) -> tuple[float, tuple, tuple]:
    """Brute force: (Φ at the best candidate, best partition, best bipartition) over bipartitions + atomic."""
    n = A.shape[0]
    cands = [mask_to_partition(m) for m in torch.cat(list(bipartition_masks(n)))]
    scored = []
    for p in [*cands, tuple((i,) for i in range(n))]:
        phi, K = ref_phi_k(A, Q, [list(q) for q in p], measure)
        scored.append((phi if criterion == "min" else phi / K, phi, p))
    best_bi = min(scored[:-1], key=lambda t: t[0])
    best = scored[-1] if scored[-1][0] < best_bi[0] else best_bi
    return best[1], best[2], best_bi[2]


INCLUDE_ATOMIC_CASES = [(5, "r", "min"), (13, "wms", "normalized"), (0, "r", "normalized"), (5, "si", "min")]


@pytest.mark.parametrize(("seed", "measure", "criterion"), INCLUDE_ATOMIC_CASES)
@pytest.mark.parametrize("method", ["exhaustive", "heuristic"])
def test_include_atomic_search_matches_brute_force(
    seed: int, measure: str, criterion: str, method: str
) -> None:
    A, Q = stable(4, seed, 0.8), spd(4, seed + 100)
    ref_value, ref_part, ref_bi = _ref_search(A.numpy(), Q.numpy(), measure, criterion)
    atomic_wins = ref_part == ((0,), (1,), (2,), (3,))
    assert atomic_wins == (measure != "si")  # SI: atomic ≥ every bipartition, so it never wins strictly
    res = integrated_information(
        A, Q, measure=measure, criterion=criterion, include_atomic=True, method=method
    )
    assert res.partition == ref_part and res.method == method
    assert res.value == pytest.approx(ref_value, rel=1e-9, abs=1e-12)
    if method == "exhaustive":
        assert res.n_partitions_evaluated == 2**3 - 1 + 1
    without = integrated_information(A, Q, measure=measure, criterion=criterion, method=method)
    assert without.partition == ref_bi


@pytest.mark.parametrize("measure", ["geometric", "star"])
def test_include_atomic_external_measures(measure: str) -> None:
    A, Q = stable(4, 13, 0.8), spd(4, 113)
    fn = phi_geometric if measure == "geometric" else phi_star
    cands = [mask_to_partition(m) for m in torch.cat(list(bipartition_masks(4)))] + [((0,), (1,), (2,), (3,))]
    ref = []
    for p in cands:  # K(P) by NumPy, Φ by the per-partition function (checked above and in its own tests)
        K = ref_phi_k(A.numpy(), Q.numpy(), [list(q) for q in p], "si")[1]
        ref.append((fn(A, Q, p) / K, p))
    res = integrated_information(A, Q, measure=measure, criterion="normalized", include_atomic=True)
    best = min(ref, key=lambda t: t[0])
    assert res.partition == best[1] and res.n_partitions_evaluated == 8
    assert res.normalized == pytest.approx(best[0], rel=1e-8)


def test_include_atomic_is_a_no_op_for_two_nodes_and_checked() -> None:
    FF = torch.tensor([[0.0, 0.0], [0.8, 0.0]], dtype=F64)
    res = integrated_information(FF, measure="wms", include_atomic=True)
    assert res.partition == ((0,), (1,)) and res.n_partitions_evaluated == 1
    with pytest.raises(ValueError, match="include_atomic must be True or False"):
        integrated_information(FF, measure="wms", include_atomic=1)  # type: ignore[arg-type]


# ---------------------------------------------------------------- from data
def test_from_data_k_parts_match_numpy_sample_covariances() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 4)).cumsum(0) * 0.05 + rng.standard_normal((400, 4))
    past, pres = x[:-1] - x[:-1].mean(0), x[1:] - x[1:].mean(0)
    N = past.shape[0] - 1
    Sp, Sf, C = past.T @ past / N, pres.T @ pres / N, pres.T @ past / N  # C = Cov(X_t, X_{t−1})
    parts = ((0, 2), (1,), (3,))

    def cond(j, i) -> float:  # ln det Σ(M^j_t | M^i_{t−1})
        return _ld(Sf[np.ix_(j, j)] - C[np.ix_(j, i)] @ np.linalg.solve(Sp[np.ix_(i, i)], C[np.ix_(j, i)].T))

    whole = [0, 1, 2, 3]
    i_whole = 0.5 * (_ld(Sf) - cond(whole, whole))
    wms = i_whole - sum(0.5 * (_ld(Sf[np.ix_(p, p)]) - cond(list(p), list(p))) for p in parts)
    si = 0.5 * (sum(cond(list(p), list(p)) for p in parts) - cond(whole, whole))
    for measure, ref in (("wms", wms), ("si", si)):
        res = integrated_information_from_data(x, measure=measure, partition=[0, 1, 0, 2])
        assert res.partition == parts  # type: ignore[union-attr]
        assert res.value == pytest.approx(ref, rel=1e-9)  # type: ignore[union-attr]


@pytest.mark.gpu
def test_cuda_matches_cpu_k_parts() -> None:
    A, Q = stable(5, 21, 0.8), spd(5, 22)
    parts = ((0, 3), (1,), (2, 4))
    for measure in ("wms", "r", "si", "geometric", "star"):
        cpu = integrated_information(A, Q, measure=measure, partition=parts)
        gpu = integrated_information(A.numpy(), Q.numpy(), measure=measure, partition=parts, device="cuda")
        assert gpu.value == pytest.approx(cpu.value, rel=1e-9, abs=1e-12)
        cpu_a = integrated_information(A, Q, measure=measure, include_atomic=True, criterion="normalized")
        gpu_a = integrated_information(
            A, Q, measure=measure, include_atomic=True, criterion="normalized", device="cuda"
        )
        assert gpu_a.partition == cpu_a.partition
        assert gpu_a.value == pytest.approx(cpu_a.value, rel=1e-8, abs=1e-10)
