"""All-subset log-determinant tables and the exhaustive MIB built on them, against independent NumPy code.

* ``subset_logdets`` (batched Schur recursion) vs ``np.linalg.slogdet`` of every principal sub-matrix,
  for random SPD matrices, both row layouts, all branch options, batched inputs and the chunked path.
* ``exhaustive_linear`` with past ≠ present covariances (the from-data path, three stacked tables) vs a
  brute-force loop over bipartitions.
* Barrett–Seth normalisation ``K(B) = (m − 1) min_k H(M^k)``: hand-computed for a 3-node system, and the
  normalised MIB vs a brute-force ``argmin Φ/K`` (the normalisation agrees with JIDT's
  ``IntegratedMeasureCalculatorGaussian.computeNormalizationFactor``: minimum over the parts of the
  Gaussian entropy of the part's stationary covariance; ``K ≤ 0`` cannot be normalised).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import solve_discrete_lyapunov

from hal9.metrics import _phi_subsets
from hal9.metrics._phi_linear import K_MIN, LinearStats, exhaustive_linear, measure_values, score
from hal9.metrics._phi_subsets import interleave, subset_logdets
from hal9.metrics.integration import integrated_information
from tests.metrics._systems import spd, stable

F64 = torch.float64
LOG_2PIE = math.log(2 * math.pi * math.e)


def _ld(M: np.ndarray) -> float:
    sign, val = np.linalg.slogdet(M)
    assert sign > 0
    return float(val)


def _rows(code: int, n: int, block: int, options: tuple[tuple[int, ...], tuple[int, ...]]) -> list[int]:
    """Rows selected by subset ``code``: node ``i`` keeps ``options[bit i]``."""
    return [block * i + r for i in range(n) for r in options[code >> i & 1]]


def _brute_table(M: np.ndarray, block: int, options: tuple[tuple[int, ...], tuple[int, ...]]) -> np.ndarray:
    n = M.shape[0] // block
    out = []
    for code in range(2**n):
        rows = _rows(code, n, block, options)
        out.append(_ld(M[np.ix_(rows, rows)]) if rows else 0.0)
    return np.array(out)


OPTIONS = {1: [((), (0,))], 2: [((), (0, 1)), ((1,), (0,)), ((0,), (1,)), ((), (1,))]}


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000), n=st.integers(1, 6), block=st.sampled_from([1, 2]), which=st.integers(0, 3)
)
def test_subset_logdets_match_slogdet_of_every_minor(seed: int, n: int, block: int, which: int) -> None:
    options = OPTIONS[block][which % len(OPTIONS[block])]
    M = spd(block * n, seed)
    got = subset_logdets(M, block=block, options=options).numpy()
    np.testing.assert_allclose(got, _brute_table(M.numpy(), block, options), rtol=0, atol=1e-11)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 6))
def test_joint_covariance_tables_match_slogdet(seed: int, n: int) -> None:
    A, Q = stable(n, seed, 0.9), spd(n, seed + 1)
    S = torch.from_numpy(solve_discrete_lyapunov(A.numpy(), Q.numpy()))
    J = interleave(S, S, A @ S)
    for options in OPTIONS[2][:2]:
        got = subset_logdets(J, block=2, options=options).numpy()
        np.testing.assert_allclose(got, _brute_table(J.numpy(), 2, options), rtol=0, atol=1e-10)


def test_batched_input_equals_separate_calls_and_is_deterministic() -> None:
    mats = [spd(8, s) for s in range(3)]
    batch = subset_logdets(torch.stack(mats), block=2)
    assert batch.shape == (16, 3)
    for j, M in enumerate(mats):
        torch.testing.assert_close(batch[:, j], subset_logdets(M, block=2), rtol=0, atol=0)
    torch.testing.assert_close(subset_logdets(torch.stack(mats), block=2), batch, rtol=0, atol=0)


def test_identity_padding_gives_the_same_minors() -> None:
    # exhaustive_linear embeds Σ in the pair layout of J with identity dummy rows: same principal minors.
    S = spd(6, 3)
    padded = interleave(S, torch.eye(6, dtype=F64), torch.zeros(6, 6, dtype=F64))
    torch.testing.assert_close(subset_logdets(padded, block=2), subset_logdets(S), rtol=0, atol=1e-13)


@pytest.mark.parametrize("block", [1, 2])
def test_chunked_path_is_identical(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    M = torch.stack([spd(6 * block, 8), spd(6 * block, 9)])
    whole = subset_logdets(M, block=block)
    monkeypatch.setattr(_phi_subsets, "MAX_LEVEL_ELEMENTS", 40)  # split at almost every level
    torch.testing.assert_close(subset_logdets(M, block=block), whole, rtol=0, atol=1e-12)


def test_not_positive_definite() -> None:
    M = spd(5, 1)
    M[4, 4] = -1.0
    with pytest.raises(ValueError, match="not positive definite"):
        subset_logdets(M)
    table = subset_logdets(M, check=False)
    assert not bool(torch.isfinite(table[16:]).all())  # every subset holding node 4
    assert bool(torch.isfinite(table[:16]).all())
    with pytest.raises(ValueError, match="block must be 1 or 2"):
        subset_logdets(M, block=3)


# ---------------------------------------------------------------- exhaustive search, past ≠ present
def _data_stats(n: int, seed: int) -> LinearStats:
    """Sample covariances of a short simulated series: Σ_past ≠ Σ_present (the from-data path)."""
    g = torch.Generator().manual_seed(seed)
    A = stable(n, seed, 0.8)
    x = torch.zeros(400, n, dtype=F64)
    for t in range(1, 400):
        x[t] = A @ x[t - 1] + torch.randn(n, generator=g, dtype=F64)
    P, F = x[:-1] - x[:-1].mean(0), x[1:] - x[1:].mean(0)
    sp, sf, c = P.T @ P / 398, F.T @ F / 398, F.T @ P / 398
    cond = sf - c @ torch.linalg.solve(sp, c.T)
    return LinearStats(sp, sf, c, float(torch.logdet(sf)), float(torch.logdet(cond)), False)


def _brute_linear(stats: LinearStats, measure: str, criterion: str) -> tuple[int, float, float]:
    """(mask number, Φ, K) of the MIB by an explicit NumPy loop over bipartitions."""
    sp, sf, c = (t.numpy() for t in (stats.past, stats.present, stats.lag))
    n = sp.shape[0]

    def mi(a: list[int], b: list[int]) -> float:  # I(X^a_{t−1}; X^b_t)
        J = np.block([[sp[np.ix_(a, a)], c[np.ix_(b, a)].T], [c[np.ix_(b, a)], sf[np.ix_(b, b)]]])
        return 0.5 * (_ld(sp[np.ix_(a, a)]) + _ld(sf[np.ix_(b, b)]) - _ld(J))

    def cond_ld(a: list[int]) -> float:
        return _ld(sf[np.ix_(a, a)]) - 2.0 * mi(a, a)

    whole = list(range(n))
    best = (math.inf, 0, 0.0, 0.0)
    for code in range(1, 2 ** (n - 1)):
        p1 = [i for i in whole if code >> i & 1]
        p2 = [i for i in whole if not code >> i & 1]
        K = min(0.5 * (len(p) * LOG_2PIE + _ld(sf[np.ix_(p, p)])) for p in (p1, p2))
        if measure == "si":
            phi = 0.5 * (cond_ld(p1) + cond_ld(p2) - cond_ld(whole))
        else:
            phi = mi(whole, whole) - mi(p1, p1) - mi(p2, p2)
            if measure == "r":
                phi += min(mi(p1, p1), mi(p2, p2), mi(p1, p2), mi(p2, p1))
        s = phi if criterion == "min" else (phi / K if K > 0 else math.inf)
        if s < best[0]:
            best = (s, code, phi, K)
    return best[1], best[2], best[3]


@pytest.mark.parametrize("measure", ["wms", "r", "si"])
@pytest.mark.parametrize("criterion", ["min", "normalized"])
def test_exhaustive_with_distinct_past_and_present(measure: str, criterion: str) -> None:
    for n, seed in ((3, 1), (5, 2), (6, 3)):
        stats = _data_stats(n, seed)
        mask, value, K, count = exhaustive_linear(stats, measure, criterion)
        code, ref_phi, ref_K = _brute_linear(stats, measure, criterion)
        assert int(sum(int(b) << i for i, b in enumerate(mask.tolist()))) == code
        assert value == pytest.approx(ref_phi, rel=1e-9, abs=1e-12)
        assert K == pytest.approx(ref_K, rel=1e-12)
        assert count == 2 ** (n - 1) - 1
        # Same (Φ, K) from the independent masked-Cholesky evaluator used by the heuristic search.
        v2, k2 = measure_values(stats, mask[None], measure)
        assert float(v2[0]) == pytest.approx(value, rel=1e-9, abs=1e-12)
        assert float(k2[0]) == pytest.approx(K, rel=1e-12)


# ---------------------------------------------------------------- Barrett–Seth normalisation
def test_normalisation_by_hand_on_three_nodes() -> None:
    # X_t = A X_{t−1} + E_t with Σ_E = diag(0.01, 0.3, 2): node 0 has variance < 1/(2πe), so H({0}) < 0 and
    # the bipartition {0} | {1, 2}, which has the smallest Φ, cannot be normalised (K ≤ 0; JIDT scores it
    # +inf): "min" and "normalized" must pick different MIBs.
    A = np.array([[0.5, 0.05, 0.0], [0.0, 0.4, 0.5], [0.6, 0.0, 0.2]])
    Q = np.diag([0.01, 0.3, 2.0])
    S = solve_discrete_lyapunov(A, Q)
    C = A @ S

    def H(part: list[int]) -> float:  # ½ ln((2πe)^|M| det Σ_M), written out
        sub = S[np.ix_(part, part)]
        return 0.5 * math.log((2 * math.pi * math.e) ** len(part) * np.linalg.det(sub))

    def mi(part: list[int]) -> float:  # I(M_{t−1}; M_t) = ½ ln(det Σ_M / det Σ(M_t | M_{t−1}))
        sub, lag = S[np.ix_(part, part)], C[np.ix_(part, part)]
        return 0.5 * math.log(np.linalg.det(sub) / np.linalg.det(sub - lag @ np.linalg.inv(sub) @ lag.T))

    whole = [0, 1, 2]
    parts = [([0], [1, 2]), ([1], [0, 2]), ([2], [0, 1])]
    phis = [mi(whole) - mi(p1) - mi(p2) for p1, p2 in parts]
    Ks = [(2 - 1) * min(H(p1), H(p2)) for p1, p2 in parts]
    assert Ks[0] <= 0 < min(Ks[1:]) and int(np.argmin(phis)) == 0
    scores = [p / k if k > 1e-12 else math.inf for p, k in zip(phis, Ks, strict=True)]
    best = int(np.argmin(scores))
    assert best != 0
    plain = integrated_information(torch.tensor(A), torch.tensor(Q), measure="wms", criterion="min")
    assert plain.partition == ((0,), (1, 2)) and plain.normalized is None
    res = integrated_information(torch.tensor(A), torch.tensor(Q), measure="wms", criterion="normalized")
    assert res.partition == tuple(sorted(tuple(sorted(p)) for p in parts[best]))
    assert res.value == pytest.approx(phis[best], rel=1e-10)
    assert res.normalized == pytest.approx(phis[best] / Ks[best], rel=1e-10)
    # Every bipartition reports its own K through the given-partition path.
    for (p1, p2), phi, K in zip(parts, phis, Ks, strict=True):
        given_p = integrated_information(torch.tensor(A), torch.tensor(Q), measure="wms", partition=(p1, p2))
        assert given_p.value == pytest.approx(phi, rel=1e-10, abs=1e-13)
        if K > 1e-12:
            assert given_p.normalized == pytest.approx(phi / K, rel=1e-10)
        else:
            assert given_p.normalized is None


def test_normalisation_cutoff_is_jidts_1e_12() -> None:
    # K ≤ 1e-12 scores +inf (JIDT: K < 1e-12); just above the cutoff Φ/K is used, however large.
    assert K_MIN == 1e-12
    above = math.nextafter(1e-12, math.inf)
    K = torch.tensor([1e-12, above, 0.0, -1.0, 2.0, 1e-13], dtype=torch.float64)
    got = score(torch.ones_like(K), K, "normalized")
    assert torch.equal(
        got, torch.tensor([math.inf, 1.0 / above, math.inf, math.inf, 0.5, math.inf], dtype=torch.float64)
    )
    assert torch.equal(score(torch.ones_like(K), K, "min"), torch.ones_like(K))


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 6), noise=st.sampled_from([0.05, 0.3, 1.0]))
def test_normalised_mib_is_bruteforce_argmin(seed: int, n: int, noise: float) -> None:
    A = stable(n, seed, 0.85).numpy()
    Q = noise * spd(n, seed + 7).numpy()
    S = solve_discrete_lyapunov(A, Q)
    C = A @ S
    best, arg = math.inf, None
    for code in range(1, 2 ** (n - 1)):
        parts = ([i for i in range(n) if code >> i & 1], [i for i in range(n) if not code >> i & 1])
        phi = 0.5 * (_ld(S) - _ld(Q))
        K = math.inf
        for p in parts:
            sub, lag = S[np.ix_(p, p)], C[np.ix_(p, p)]
            phi -= 0.5 * (_ld(sub) - _ld(sub - lag @ np.linalg.solve(sub, lag.T)))
            K = min(K, 0.5 * (len(p) * LOG_2PIE + _ld(sub)))
        if K > 1e-12 and phi / K < best:  # JIDT's cutoff: K < 1e-12 cannot be normalised
            best, arg = phi / K, tuple(sorted(tuple(p) for p in parts))
    if arg is None:
        with pytest.raises(ValueError, match="K\\(B\\) <= 1e-12"):
            integrated_information(torch.tensor(A), torch.tensor(Q), measure="wms", criterion="normalized")
        return
    res = integrated_information(torch.tensor(A), torch.tensor(Q), measure="wms", criterion="normalized")
    assert res.partition == arg
    assert res.normalized == pytest.approx(best, rel=1e-8)
