"""hal9.metrics.gaussian against SciPy / NumPy references and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import solve_discrete_lyapunov
from scipy.stats import multivariate_normal

from hal9.metrics.gaussian import (
    check_covariance,
    check_stable,
    conditional_cov,
    gaussian_entropy,
    gaussian_mi,
    lagged_cov,
    sample_covariances,
    stationary_cov,
    var1_covariances,
)
from tests.metrics._systems import spd, stable

F64 = torch.float64


def _stable(n: int, seed: int, rho: float = 0.9) -> torch.Tensor:
    return stable(n, seed, rho)


_spd = spd


@pytest.mark.parametrize("n", [1, 3, 8, 40])  # 40 exercises the doubling path (> 32)
def test_stationary_cov_matches_scipy(n: int) -> None:
    A, Q = _stable(n, seed=n), _spd(n, seed=100 + n)
    S = stationary_cov(A, Q)
    ref = solve_discrete_lyapunov(A.numpy(), Q.numpy())
    np.testing.assert_allclose(S.numpy(), ref, rtol=1e-9, atol=1e-11 * np.abs(ref).max())
    # and it solves the Lyapunov equation itself
    torch.testing.assert_close(S, A @ S @ A.T + Q, rtol=1e-9, atol=1e-10)


def test_stationary_cov_batched_equals_loop() -> None:
    A = torch.stack([_stable(4, s) for s in range(3)])
    Q = torch.stack([_spd(4, 10 + s) for s in range(3)])
    S = stationary_cov(A, Q)
    assert S.shape == (3, 4, 4)
    for b in range(3):
        torch.testing.assert_close(S[b], stationary_cov(A[b], Q[b]), rtol=1e-12, atol=1e-12)


def test_lagged_and_var1_covariances() -> None:
    A = _stable(5, 7)
    S, C = var1_covariances(A)
    torch.testing.assert_close(S, stationary_cov(A, torch.eye(5, dtype=F64)))
    torch.testing.assert_close(C, A @ S)
    torch.testing.assert_close(lagged_cov(A, S), C)


def test_gaussian_entropy_matches_scipy() -> None:
    for n in (1, 2, 6):
        S = _spd(n, n)
        ref = multivariate_normal(mean=np.zeros(n), cov=S.numpy()).entropy()
        assert float(gaussian_entropy(S)) == pytest.approx(ref, rel=1e-12)
    batch = torch.stack([_spd(3, s) for s in range(4)])
    assert gaussian_entropy(batch).shape == (4,)


def test_conditional_cov_matches_inverse_formula() -> None:
    S = _spd(6, 3).numpy()
    x, y = [0, 2, 5], [1, 3, 4]
    ref = S[np.ix_(x, x)] - S[np.ix_(x, y)] @ np.linalg.inv(S[np.ix_(y, y)]) @ S[np.ix_(y, x)]
    out = conditional_cov(*(torch.from_numpy(S[np.ix_(a, b)]) for a, b in ((x, x), (x, y), (y, y))))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-10, atol=1e-12)


def test_gaussian_mi_bivariate_closed_form() -> None:
    # Two unit-variance variables with correlation ρ: I = −½ ln(1 − ρ²).
    for rho in (0.0, 0.3, -0.9):
        S = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=F64)
        assert float(gaussian_mi(S, [0], [1])) == pytest.approx(-0.5 * math.log(1 - rho**2), abs=1e-14)


def test_gaussian_mi_blocks_match_numpy() -> None:
    S = _spd(5, 11).numpy()
    a, b = [0, 3], [1, 2, 4]
    ld = lambda idx: np.linalg.slogdet(S[np.ix_(idx, idx)])[1]  # noqa: E731
    ref = 0.5 * (ld(a) + ld(b) - ld(a + b))
    assert float(gaussian_mi(torch.from_numpy(S), a, torch.tensor(b))) == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError, match="disjoint"):
        gaussian_mi(torch.from_numpy(S), [0, 1], [1, 2])
    with pytest.raises(ValueError, match="idx_b"):
        gaussian_mi(torch.from_numpy(S), [0], [7])


def test_sample_covariances_match_numpy() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g, dtype=F64).cumsum(0)
    lag = 2
    sp, sf, c = sample_covariances(x, lag)
    past, pres = x[:-lag].numpy(), x[lag:].numpy()
    full = np.cov(np.concatenate([pres, past], axis=1).T)  # rows: variables
    np.testing.assert_allclose(sf.numpy(), full[:3, :3], rtol=1e-12)
    np.testing.assert_allclose(sp.numpy(), full[3:, 3:], rtol=1e-12)
    np.testing.assert_allclose(c.numpy(), full[:3, 3:], rtol=1e-12)
    xb = torch.stack([x, 2 * x])
    out = sample_covariances(xb, lag)
    assert all(t.shape == (2, 3, 3) for t in out)
    torch.testing.assert_close(out[2][1], 4 * c)


def test_sample_covariances_bad_input() -> None:
    x = torch.zeros(5, 4, dtype=F64)
    with pytest.raises(ValueError, match=r"too short.*need at least n\+1=5 \(T ≥ 6\)"):
        sample_covariances(x)
    y = torch.randn(20, 2, dtype=F64, generator=torch.Generator().manual_seed(1))
    y[3, 1] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        sample_covariances(y)
    with pytest.raises(ValueError, match="lag"):
        sample_covariances(torch.zeros(20, 2, dtype=F64), lag=0)
    with pytest.raises(ValueError, match="x must be"):
        sample_covariances(torch.zeros(20, dtype=F64))


def test_check_stable() -> None:
    check_stable(_stable(4, 1, rho=0.99))
    with pytest.raises(ValueError, match=r"W is not stable: spectral radius 1\.2"):
        check_stable(torch.diag(torch.tensor([0.5, 1.2], dtype=F64)), name="W")
    with pytest.raises(ValueError, match="A must be a"):
        check_stable(torch.zeros(2, 3, dtype=F64))
    with pytest.raises(ValueError, match="A contains NaN"):
        check_stable(torch.tensor([[0.1, math.inf], [0.0, 0.1]], dtype=F64))


def test_check_covariance() -> None:
    check_covariance(_spd(3, 0))
    with pytest.raises(ValueError, match="noise_cov must be positive definite"):
        check_covariance(torch.tensor([[1.0, 2.0], [2.0, 1.0]], dtype=F64))
    with pytest.raises(ValueError, match="S must be symmetric"):
        check_covariance(torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=F64), name="S")
    with pytest.raises(ValueError, match="noise_cov contains NaN"):
        check_covariance(torch.tensor([[math.nan, 0.0], [0.0, 1.0]], dtype=F64))
    with pytest.raises(ValueError, match="noise_cov"):
        stationary_cov(_stable(2, 0), torch.eye(3, dtype=F64))
