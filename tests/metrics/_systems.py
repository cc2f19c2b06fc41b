"""Seeded random test systems shared by the metrics tests."""

from __future__ import annotations

import torch

F64 = torch.float64


def stable(n: int, seed: int, rho: float) -> torch.Tensor:
    """Gaussian ``(n, n)`` coupling rescaled to spectral radius ``rho`` (float64)."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, n, generator=g, dtype=F64)
    return rho * A / torch.linalg.eigvals(A).abs().max()


def spd(n: int, seed: int) -> torch.Tensor:
    """A symmetric positive-definite ``(n, n)`` covariance ``MMᵀ/n + ½I`` (float64)."""
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(n, n, generator=g, dtype=F64)
    return M @ M.T / n + 0.5 * torch.eye(n, dtype=F64)
