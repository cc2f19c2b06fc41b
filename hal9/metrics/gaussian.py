"""Linear-Gaussian information theory: covariances, entropies and mutual information (batched, torch).

All functions act on torch tensors (numpy arrays and nested lists are converted to float64 tensors;
tensors keep their dtype and device), broadcast over leading batch dimensions and use natural logarithms
(nats). ``float64`` is recommended: log-determinants of near-singular covariances lose digits fast.

Formulas
--------
For a stationary VAR(1) process ``X_t = A X_{t−1} + E_t`` with ``E_t ~ N(0, Σ_E)`` i.i.d. and spectral
radius ``ρ(A) < 1``:

* stationary covariance ``Σ = Cov(X_t)`` solves the discrete Lyapunov equation ``Σ = A Σ Aᵀ + Σ_E``;
  equivalently ``(I − A ⊗ A) vec Σ = vec Σ_E``, or ``Σ = Σ_{k≥0} A^k Σ_E (Aᵀ)^k`` (doubling:
  ``Σ_{k+1} = Σ_k + A_k Σ_k A_kᵀ``, ``A_{k+1} = A_k²`` sums ``2^k`` terms after ``k`` steps);
* lag-one covariance ``Cov(X_t, X_{t−1}) = A Σ``;
* differential entropy of ``N(μ, Σ)`` in ``n`` dimensions: ``H = ½ ln((2πe)^n det Σ)``;
* conditional (Schur complement) covariance ``Σ_{x|y} = Σ_xx − Σ_xy Σ_yy⁻¹ Σ_yx``;
* mutual information of jointly Gaussian blocks ``I(A; B) = ½ ln(det Σ_AA det Σ_BB / det Σ_{A∪B})``.

References
----------
.. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd ed., Wiley, 2006, ch. 8
   (differential entropy of the multivariate normal, Thm 8.4.1).
.. [2] A. B. Barrett and A. K. Seth, "Practical measures of integrated information for time-series
   data", *PLoS Comput. Biol.* 7(1):e1001052, 2011 (Gaussian formulas for VAR processes).
.. [3] J. D. Hamilton, *Time Series Analysis*, Princeton, 1994, §10.2 (Lyapunov equation of a VAR).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from hal9.core import as_tensor

__all__ = [
    "check_covariance",
    "check_stable",
    "conditional_cov",
    "gaussian_entropy",
    "gaussian_mi",
    "lagged_cov",
    "sample_covariances",
    "stationary_cov",
    "var1_covariances",
]

#: Largest ``n`` solved with the dense Kronecker system; larger ``n`` use the doubling iteration.
_KRON_MAX_N = 32
_DOUBLING_MAX_ITER = 200


def _check_square_finite(M: object, name: str) -> Tensor:
    """``M`` as a tensor (:func:`hal9.core.as_tensor`) if it is a finite float ``(..., n, n)``."""
    M = as_tensor(M, name)
    if M.ndim < 2 or M.shape[-1] != M.shape[-2]:
        raise ValueError(f"{name} must be a (..., n, n) square matrix, got shape {tuple(M.shape)}")
    if M.shape[-1] == 0:
        raise ValueError(f"{name} must have at least one row, got shape {tuple(M.shape)}")
    if not torch.is_floating_point(M):
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {M.dtype}")
    if not bool(torch.isfinite(M).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    return M


def check_stable(A: object, name: str = "A") -> None:
    """Raise ``ValueError`` unless ``A`` is a finite square matrix with spectral radius ``ρ(A) < 1``.

    Parameters
    ----------
    A : Tensor or array-like
        Coupling matrix (batch allowed: every matrix in the batch must be stable).
    name : str
        Argument name used in the error message.

    Shape
    -----
    ``A``: ``(..., n, n)``.
    """
    A = _check_square_finite(A, name)
    radius = float(torch.linalg.eigvals(A).abs().max())
    if radius >= 1.0:
        raise ValueError(
            f"{name} is not stable: spectral radius {radius:.6g} >= 1 (a stationary VAR needs ρ({name}) < 1)"
        )


def check_covariance(S: object, name: str = "noise_cov") -> None:
    """Raise ``ValueError`` unless ``S`` is finite, symmetric and positive definite (Cholesky succeeds).

    Parameters
    ----------
    S : Tensor or array-like
        Candidate covariance matrix (or batch of them).
    name : str
        Argument name used in the error message.

    Shape
    -----
    ``S``: ``(..., n, n)``.
    """
    S = _check_square_finite(S, name)
    scale = S.abs().amax(dim=(-2, -1), keepdim=True).clamp_min(torch.finfo(S.dtype).tiny)
    asym = float(((S - S.mT).abs() / scale).max())
    if asym > 1e3 * torch.finfo(S.dtype).eps:
        raise ValueError(f"{name} must be symmetric (max relative asymmetry {asym:.3g})")
    _, info = torch.linalg.cholesky_ex(0.5 * (S + S.mT))
    if bool((info != 0).any()):
        raise ValueError(f"{name} must be positive definite (Cholesky factorisation failed)")


def _stationary_cov_kron(A: Tensor, Q: Tensor) -> Tensor:
    n = A.shape[-1]
    batch = torch.broadcast_shapes(A.shape[:-2], Q.shape[:-2])
    A = A.expand(*batch, n, n)
    Q = Q.expand(*batch, n, n)
    # Row-major vec: vec(A Σ Aᵀ) = (A ⊗ A) vec Σ.
    kron = torch.einsum("...ij,...kl->...ikjl", A, A).reshape(*batch, n * n, n * n)
    eye = torch.eye(n * n, dtype=A.dtype, device=A.device)
    vec = torch.linalg.solve(eye - kron, Q.reshape(*batch, n * n, 1))
    return vec.reshape(*batch, n, n)


def _stationary_cov_doubling(A: Tensor, Q: Tensor) -> Tensor:
    S = Q.clone()
    Ak = A.clone()
    tol = torch.finfo(A.dtype).eps
    for _ in range(_DOUBLING_MAX_ITER):
        step = Ak @ S @ Ak.mT
        S = S + step
        Ak = Ak @ Ak
        if float(step.abs().max()) <= tol * float(S.abs().max()) and float(Ak.abs().max()) < 1.0:
            return S
    raise ValueError(
        f"stationary_cov: doubling iteration did not converge in {_DOUBLING_MAX_ITER} steps; "
        "A is too close to instability"
    )


def stationary_cov(A: object, noise_cov: object) -> Tensor:
    """Stationary covariance ``Σ`` of ``X_t = A X_{t−1} + E_t``: the solution of ``Σ = A Σ Aᵀ + Σ_E``.

    Solved as ``(I − A ⊗ A) vec Σ = vec Σ_E`` for ``n ≤ 32`` and by the doubling iteration
    ``Σ_{k+1} = Σ_k + A_k Σ_k A_kᵀ``, ``A_{k+1} = A_k²`` (``Σ_0 = Σ_E``, ``A_0 = A``) for larger ``n``.
    The result is symmetrised.

    Parameters
    ----------
    A : Tensor or array-like
        Stable coupling matrix, ``ρ(A) < 1`` (checked).
    noise_cov : Tensor or array-like
        Innovation covariance ``Σ_E`` (symmetric positive definite, checked).

    Returns
    -------
    Tensor
        ``Σ``, same dtype/device as ``A``.

    Shape
    -----
    ``A``, ``noise_cov``: ``(..., n, n)`` (leading dims broadcast) → ``(..., n, n)``.

    Notes
    -----
    Kronecker solve: ``O(n⁶)`` time, ``O(n⁴)`` memory; doubling: ``O(n³ log(1/ε)/log(1/ρ))``.
    """
    A = _check_square_finite(A, "A")
    noise_cov = _check_square_finite(as_tensor(noise_cov, "noise_cov", device=A.device), "noise_cov")
    check_stable(A, "A")
    check_covariance(noise_cov, "noise_cov")
    if A.shape[-1] != noise_cov.shape[-1]:
        raise ValueError(
            f"noise_cov must be n×n with n={A.shape[-1]} to match A, got {tuple(noise_cov.shape)}"
        )
    Q = noise_cov.to(dtype=A.dtype, device=A.device)
    if A.shape[-1] <= _KRON_MAX_N:
        S = _stationary_cov_kron(A, Q)
    else:
        S = _stationary_cov_doubling(A, Q)
    return 0.5 * (S + S.mT)


def lagged_cov(A: object, sigma: object) -> Tensor:
    """Lag-one covariance ``Cov(X_t, X_{t−1}) = E[X_t X_{t−1}ᵀ] = A Σ`` of a stationary VAR(1).

    Shape
    -----
    ``A``, ``sigma``: ``(..., n, n)`` → ``(..., n, n)``.
    """
    A = _check_square_finite(A, "A")
    return A @ _check_square_finite(as_tensor(sigma, "sigma", device=A.device), "sigma")


def _logdet_chol(cov: Tensor, name: str) -> Tensor:
    L, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        raise ValueError(f"{name} must be positive definite (Cholesky factorisation failed)")
    return 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)


def gaussian_entropy(cov: object) -> Tensor:
    """Differential entropy ``H = ½ ln((2πe)^n det Σ)`` of ``N(μ, Σ)`` in nats (Cholesky log-det).

    Shape
    -----
    ``cov``: ``(..., n, n)`` → ``(...)``.

    Examples
    --------
    >>> float(gaussian_entropy([[1.0]])) == 0.5 * math.log(2 * math.pi * math.e)
    True
    """
    cov = _check_square_finite(cov, "cov")
    n = cov.shape[-1]
    return 0.5 * (n * math.log(2.0 * math.pi * math.e) + _logdet_chol(cov, "cov"))


def conditional_cov(cov_xx: object, cov_xy: object, cov_yy: object) -> Tensor:
    """Conditional covariance ``Σ_{x|y} = Σ_xx − Σ_xy Σ_yy⁻¹ Σ_yx`` (Cholesky solve, no inverse).

    Shape
    -----
    ``cov_xx``: ``(..., p, p)``; ``cov_xy``: ``(..., p, q)``; ``cov_yy``: ``(..., q, q)`` → ``(..., p, p)``.
    """
    cov_yy = _check_square_finite(cov_yy, "cov_yy")
    cov_xx = _check_square_finite(as_tensor(cov_xx, "cov_xx", device=cov_yy.device), "cov_xx")
    cov_xy = as_tensor(cov_xy, "cov_xy", device=cov_yy.device)
    if cov_xy.shape[-2:] != (cov_xx.shape[-1], cov_yy.shape[-1]):
        raise ValueError(
            f"cov_xy must be (..., {cov_xx.shape[-1]}, {cov_yy.shape[-1]}) to match cov_xx and cov_yy, "
            f"got shape {tuple(cov_xy.shape)}"
        )
    L, info = torch.linalg.cholesky_ex(cov_yy)
    if bool((info != 0).any()):
        raise ValueError("cov_yy must be positive definite (Cholesky factorisation failed)")
    W = torch.linalg.solve_triangular(L, cov_xy.mT, upper=False)  # L⁻¹ Σ_yx
    out = cov_xx - W.mT @ W
    return 0.5 * (out + out.mT)


def _as_index(idx: Sequence[int] | Tensor, n: int, name: str, device: torch.device) -> Tensor:
    t = torch.as_tensor(idx, dtype=torch.long, device=device).reshape(-1)
    if t.numel() == 0:
        raise ValueError(f"{name} must be non-empty")
    if bool(((t < 0) | (t >= n)).any()):
        raise ValueError(f"{name} has indices outside 0..{n - 1}: {t.tolist()}")
    if t.unique().numel() != t.numel():
        raise ValueError(f"{name} has repeated indices: {t.tolist()}")
    return t


def _sub(cov: Tensor, i: Tensor) -> Tensor:
    return cov[..., i[:, None], i[None, :]]


def gaussian_mi(cov: object, idx_a: Sequence[int] | Tensor, idx_b: Sequence[int] | Tensor) -> Tensor:
    """Mutual information ``I(A; B) = ½ ln(det Σ_AA det Σ_BB / det Σ_{A∪B})`` of jointly Gaussian blocks.

    Parameters
    ----------
    cov : Tensor or array-like
        Joint covariance of all variables.
    idx_a, idx_b : sequence of int or Tensor
        Disjoint index sets of the two blocks.

    Shape
    -----
    ``cov``: ``(..., n, n)`` → ``(...)``.
    """
    cov = _check_square_finite(cov, "cov")
    n = cov.shape[-1]
    a = _as_index(idx_a, n, "idx_a", cov.device)
    b = _as_index(idx_b, n, "idx_b", cov.device)
    if bool(torch.isin(a, b).any()):
        raise ValueError("idx_a and idx_b must be disjoint")
    ab = torch.cat([a, b])
    return 0.5 * (
        _logdet_chol(_sub(cov, a), "cov")
        + _logdet_chol(_sub(cov, b), "cov")
        - _logdet_chol(_sub(cov, ab), "cov")
    )


def var1_covariances(A: object, noise_cov: object | None = None) -> tuple[Tensor, Tensor]:
    """Stationary ``Σ`` and lag covariance ``Cov(X_t, X_{t−1}) = A Σ`` of a VAR(1).

    ``noise_cov`` defaults to the identity. Either may be a tensor, numpy array or nested list.

    Shape
    -----
    ``A``: ``(..., n, n)`` → ``(Σ, AΣ)``, each ``(..., n, n)``.
    """
    A = _check_square_finite(A, "A")
    if noise_cov is None:
        noise_cov = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    S = stationary_cov(A, noise_cov)
    return S, lagged_cov(A, S)


def sample_covariances(x: object, lag: int = 1) -> tuple[Tensor, Tensor, Tensor]:
    """Sample covariances of a time series for lagged information measures.

    With ``P = x[:-lag]`` (past) and ``F = x[lag:]`` (present), each centred by its own mean over time,
    returns ``Σ_past = PᵀP/(N−1)``, ``Σ_present = FᵀF/(N−1)`` and ``C_lag = Cov(X_t, X_{t−lag}) =
    FᵀP/(N−1)`` with ``N = T − lag`` paired samples.

    Parameters
    ----------
    x : Tensor or array-like
        Time series, time along dim ``-2`` (non-tensor input becomes float64).
    lag : int
        Positive lag in samples.

    Returns
    -------
    tuple of Tensor
        ``(Σ_past, Σ_present, C_lag)``.

    Shape
    -----
    ``x``: ``(T, n)`` or ``(B, T, n)`` → each ``(n, n)`` or ``(B, n, n)``.

    Raises
    ------
    ValueError
        If ``x`` is not 2-D/3-D floating point, contains NaN/Inf, ``lag < 1``, or
        ``T − lag < n + 1`` (too few samples for a non-singular covariance).
    """
    x = as_tensor(x, "x")
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be a (T, n) or (B, T, n) array, got shape {tuple(x.shape)}")
    if not torch.is_floating_point(x):
        raise ValueError(f"x must be floating point, got dtype {x.dtype}")
    if not isinstance(lag, int) or isinstance(lag, bool) or lag < 1:
        raise ValueError(f"lag must be a positive integer, got {lag!r}")
    T, n = x.shape[-2], x.shape[-1]
    if T - lag < n + 1:
        raise ValueError(
            f"x is too short: T={T} gives T−lag={T - lag} paired samples, need at least n+1={n + 1} "
            f"(T ≥ {n + 1 + lag}) for n={n} variables and lag={lag}"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or Inf")
    past = x[..., :-lag, :]
    pres = x[..., lag:, :]
    past = past - past.mean(dim=-2, keepdim=True)
    pres = pres - pres.mean(dim=-2, keepdim=True)
    denom = T - lag - 1
    s_past = past.mT @ past / denom
    s_pres = pres.mT @ pres / denom
    c_lag = pres.mT @ past / denom
    return 0.5 * (s_past + s_past.mT), 0.5 * (s_pres + s_pres.mT), c_lag
