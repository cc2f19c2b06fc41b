"""Integrated information Φ* from mismatched decoding, for a stationary linear-Gaussian VAR(1).

The system is ``X_t = A X_{t−1} + E_t`` with ``E_t ~ N(0, Σ_E)`` i.i.d., ``ρ(A) < 1``, stationary
covariance ``Σ = A Σ Aᵀ + Σ_E``; information is in nats. Write ``x = X_{t−1}`` (past), ``y = X_t``.

Definition (Oizumi, Amari, Yanagawa, Fujii & Tsuchiya 2016 [1]_)
---------------------------------------------------------------
``Φ* = I − I*`` with ``I = I(X_{t−1}; X_t) = ½ ln(det Σ / det Σ_E)`` and ``I* = max_{β≥0} Ĩ(β)``, the
information a decoder that assumes the *disconnected* conditional ``q(y|x) = Π_k p(y_{M_k} | x_{M_k})``
can extract (Merhav et al. 1994):

    ``Ĩ(β) = E_{p(x,y)}[β ln q(y|x)] − E_{p(y)}[ln E_{p(x')} q(y|x')^β]``.

Gaussian closed form
--------------------
Per part ``M``: ``B_M = (AΣ)_{MM} Σ_{MM}⁻¹`` and ``C_M = Σ_{MM} − B_M (AΣ)_{MM}ᵀ``; ``B = ⊕_k B_{M_k}``,
``C = ⊕_k C_{M_k}`` (block diagonal), so ``q(y|x) = N(y; Bx, C)``. Because ``C`` is block diagonal,
``E[(y − Bx)ᵀ C⁻¹ (y − Bx)] = Σ_k tr(C_{M_k}⁻¹ C_{M_k}) = n``. Integrating the Gaussian in ``x'`` gives
([1]_, eqs. 24–27; PhiToolbox ``phi_star_Gauss.m``)

    ``Ĩ(β) = ½ ln det(I + β Σ G) + ½ tr(Σ R(β)) − β n / 2``,
    ``G = Bᵀ C⁻¹ B``, ``R(β) = β C⁻¹ − β² C⁻¹ B (Σ⁻¹ + β G)⁻¹ Bᵀ C⁻¹``.

With ``Σ = L Lᵀ`` and ``Lᵀ G L = U diag(λ) Uᵀ`` this is a scalar function
(``w_k = [Uᵀ Lᵀ Bᵀ C⁻¹ Σ C⁻¹ B L U]_{kk} ≥ 0``, ``c = tr(Σ C⁻¹)``):

    ``Ĩ(β) = ½ Σ_k ln(1 + βλ_k) + β (c − n)/2 − (β²/2) Σ_k w_k / (1 + βλ_k)``,
    ``Ĩ'(β) = ½ Σ_k λ_k/(1 + βλ_k) + (c − n)/2 − ½ Σ_k w_k β(2 + βλ_k)/(1 + βλ_k)²``,
    ``Ĩ''(β) = −½ Σ_k λ_k²/(1 + βλ_k)² − Σ_k w_k/(1 + βλ_k)³ ≤ 0``.

So ``Ĩ`` is concave with ``Ĩ(0) = 0``: if ``Ĩ'(0) ≤ 0`` then ``I* = 0``; otherwise the unique root of the
decreasing ``Ĩ'`` is bracketed by doubling ``β`` from 1 and found with Brent's method
(``scipy.optimize.brentq``), to relative precision ``xtol`` in ``β``. The toolbox instead runs L-BFGS
on ``−Ĩ`` from ``β = 1``; both find the same maximiser of a concave function.

Bounds: ``Φ* ≥ 0`` because ``I* ≤ I`` (Merhav et al. [2]_), and at ``β = 1``
``Ĩ(1) = I − Φ_H + D[p(y) ‖ q(y)]`` (``Φ_H``: stochastic interaction, ``q(y) = E_x q(y|x)``), so
``Φ* ≤ Φ_H − D[p(y) ‖ q(y)] ≤ Φ_H``. ``Φ*`` is *not* bounded by the geometric ``Φ_G`` in general: the
decoder is the product of part-wise conditionals, not the KL-closest disconnected model.

References
----------
.. [1] M. Oizumi, S. Amari, T. Yanagawa, N. Fujii and N. Tsuchiya, "Measuring integrated information
   from the decoding perspective", *PLoS Comput. Biol.* 12(1):e1004654, 2016.
.. [2] N. Merhav, G. Kaplan, A. Lapidoth and S. Shamai Shitz, "On information rates for mismatched
   decoders", *IEEE Trans. Inf. Theory* 40(6):1953–1967, 1994.
.. [3] M. Oizumi, J. Kitazono et al., PhiToolbox (MATLAB), ``phi_star_Gauss.m``,
   https://github.com/oizumi-lab/PhiToolbox.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from scipy.optimize import brentq
from torch import Tensor

from hal9.metrics.gaussian import stationary_cov
from hal9.metrics.geometric import _logdet_spd, _validate_system

__all__ = ["mismatched_information", "phi_star"]


class _Spectral(NamedTuple):
    lam: np.ndarray  # (n,) eigenvalues λ_k of Lᵀ G L, ≥ 0
    w: np.ndarray  # (n,) weights w_k ≥ 0
    c: float  # tr(Σ C⁻¹)
    n: int
    mi: float  # I(X_{t−1}; X_t)


def _spectral(A: Tensor, noise_cov: Tensor | None, partition: Sequence[Sequence[int]]) -> _Spectral:
    A, noise_cov, labels = _validate_system(A, noise_cov, partition)
    n = A.shape[-1]
    sigma = stationary_cov(A, noise_cov)
    same = labels[:, None] == labels[None, :]
    zero = torch.zeros_like(A)
    sigma_d = torch.where(same, sigma, zero)  # ⊕_k Σ_{M_k M_k}
    lag_d = torch.where(same, A @ sigma, zero)  # ⊕_k (AΣ)_{M_k M_k} = Cov(y_M, x_M)
    B = torch.linalg.solve(sigma_d, lag_d.mT).mT  # ⊕_k (AΣ)_{MM} Σ_{MM}⁻¹ (Σ_d symmetric)
    C = sigma_d - B @ lag_d.mT
    C = 0.5 * (C + C.mT)
    LC = torch.linalg.cholesky(C)
    H = torch.cholesky_solve(B, LC)  # C⁻¹ B
    L = torch.linalg.cholesky(sigma)
    M = L.mT @ (B.mT @ H) @ L  # Lᵀ G L
    lam, U = torch.linalg.eigh(0.5 * (M + M.mT))
    V = H @ L @ U  # C⁻¹ B L U
    W = V.mT @ sigma @ V  # Uᵀ Lᵀ Bᵀ C⁻¹ Σ C⁻¹ B L U
    c = float(torch.trace(torch.cholesky_solve(sigma, LC)))
    mi = 0.5 * float(_logdet_spd(sigma) - _logdet_spd(noise_cov))
    lam_np = np.clip(lam.cpu().numpy(), 0.0, None)
    w_np = np.clip(torch.diagonal(W).cpu().numpy(), 0.0, None)
    return _Spectral(lam_np, w_np, c, n, mi)


def _itilde(s: _Spectral, beta: float) -> float:
    bl = beta * s.lam
    return float(
        0.5 * np.log1p(bl).sum() + 0.5 * beta * (s.c - s.n) - 0.5 * beta**2 * (s.w / (1.0 + bl)).sum()
    )


def _itilde_grad(s: _Spectral, beta: float) -> float:
    bl = beta * s.lam
    return float(
        0.5 * (s.lam / (1.0 + bl)).sum()
        + 0.5 * (s.c - s.n)
        - 0.5 * (s.w * beta * (2.0 + bl) / (1.0 + bl) ** 2).sum()
    )


def mismatched_information(
    A: Tensor,
    noise_cov: Tensor | None = None,
    partition: Sequence[Sequence[int]] = ((0,), (1,)),
    beta: float = 1.0,
) -> float:
    """Mismatched-decoding information ``Ĩ(β)`` (nats) of the disconnected model, for one ``β ≥ 0``.

    Closed form of the module docstring: ``Ĩ(β) = ½ ln det(I + βΣG) + ½ tr(ΣR(β)) − βn/2``.

    Parameters
    ----------
    A : Tensor
        Coupling matrix, ``ρ(A) < 1``.
    noise_cov : Tensor or None, default None
        Innovation covariance ``Σ_E`` (SPD); ``None`` means the identity.
    partition : pair of sequences of int, default ((0,), (1,))
        Bipartition of ``0..n−1``.
    beta : float, default 1.0
        Inverse temperature ``β ≥ 0``.

    Returns
    -------
    float
        ``Ĩ(β)``; ``Ĩ(0) = 0`` and ``max_β Ĩ(β) = I*``.

    Shape
    -----
    ``A``, ``noise_cov``: ``(n, n)``.
    """
    if not (
        isinstance(beta, int | float) and not isinstance(beta, bool) and math.isfinite(beta) and beta >= 0
    ):
        raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
    return _itilde(_spectral(A, noise_cov, partition), float(beta))


def phi_star(
    A: Tensor,
    noise_cov: Tensor | None = None,
    partition: Sequence[Sequence[int]] = ((0,), (1,)),
    *,
    xtol: float = 1e-12,
    beta_max: float = 1e12,
) -> float:
    """Integrated information ``Φ* = I − max_{β≥0} Ĩ(β)`` (nats) of a VAR(1) across a bipartition.

    See the module docstring for the closed form of ``Ĩ(β)`` (Oizumi et al. 2016, *PLoS Comput Biol*).

    Parameters
    ----------
    A : Tensor
        Coupling matrix, ``ρ(A) < 1``. Computation is in float64 on ``A.device`` (the final 1-D
        maximisation runs on the CPU in numpy: it costs ``O(n)`` per evaluation).
    noise_cov : Tensor or None, default None
        Innovation covariance ``Σ_E`` (SPD); ``None`` means the identity.
    partition : pair of sequences of int, default ((0,), (1,))
        Bipartition of the nodes ``0..n−1`` (each exactly once, both parts non-empty).
    xtol : float, default 1e-12
        Relative tolerance on the maximiser ``β*`` (Brent's method on ``Ĩ'``).
    beta_max : float, default 1e12
        Upper limit of the bracket search; if ``Ĩ' > 0`` still holds there, ``Ĩ(beta_max)`` is used and a
        ``RuntimeWarning`` is emitted.

    Returns
    -------
    float
        ``Φ* ≥ 0`` (round-off below 0 is clipped).

    Shape
    -----
    ``A``, ``noise_cov``: ``(n, n)``.

    Raises
    ------
    ValueError
        If ``A`` is not a stable square matrix, ``noise_cov`` is not SPD of the same size, or the
        partition is not a bipartition of ``0..n−1``.

    Notes
    -----
    ``O(n⁶)`` for the Lyapunov solve (``n ≤ 32``), then ``O(n³)``; the maximisation is ``O(n)`` per step.

    Examples
    --------
    >>> A = torch.tensor([[0.0, 0.0], [0.8, 0.0]], dtype=torch.float64)
    >>> round(phi_star(A, partition=((0,), (1,))), 6) == round(0.5 * math.log(1.64), 6)
    True
    """
    if not (isinstance(xtol, int | float) and xtol > 0):
        raise ValueError(f"xtol must be a positive number, got {xtol!r}")
    if not (isinstance(beta_max, int | float) and math.isfinite(beta_max) and beta_max > 1):
        raise ValueError(f"beta_max must be a finite number > 1, got {beta_max!r}")
    s = _spectral(A, noise_cov, partition)
    i_star = _maximise(s, float(xtol), float(beta_max))
    return max(s.mi - i_star, 0.0)


def _maximise(s: _Spectral, xtol: float, beta_max: float) -> float:
    """``max_{β≥0} Ĩ(β)`` for the concave ``Ĩ`` (``Ĩ(0) = 0``)."""
    if _itilde_grad(s, 0.0) <= 0.0:
        return 0.0
    lo, hi = 0.0, 1.0
    while _itilde_grad(s, hi) > 0.0:
        lo, hi = hi, 2.0 * hi
        if hi > beta_max:
            warnings.warn(
                f"phi_star: Ĩ(β) still increasing at beta_max={beta_max:g}; using Ĩ(beta_max)",
                RuntimeWarning,
                stacklevel=3,
            )
            return max(_itilde(s, beta_max), 0.0)
    beta = float(
        brentq(lambda b: _itilde_grad(s, b), lo, hi, xtol=1e-300, rtol=max(xtol, 4 * np.finfo(float).eps))
    )
    return max(_itilde(s, beta), 0.0)
