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

:func:`phi_star_batch` (used by the MIB search) evaluates a whole stack of bipartitions at once: batched
spectral reduction, then a vectorised safeguarded Newton iteration on ``Ĩ'`` (with the exact ``Ĩ''``)
inside the same doubling bracket, instead of one Brent search per partition.

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
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from hal9.metrics._checks import optional_positive_int
from hal9.metrics.gaussian import stationary_cov
from hal9.metrics.geometric import _logdet_spd, _validate_masks, _validate_model, _validate_system
from hal9.metrics.partitions import PartitionLike

__all__ = ["mismatched_information", "phi_star", "phi_star_batch"]


class _Spectral(NamedTuple):
    lam: np.ndarray  # (n,) eigenvalues λ_k of Lᵀ G L, ≥ 0
    w: np.ndarray  # (n,) weights w_k ≥ 0
    c: float  # tr(Σ C⁻¹)
    n: int
    mi: float  # I(X_{t−1}; X_t)


def _spectral_stack(A: Tensor, sigma: Tensor, same: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(λ, w, c)`` of the module docstring for a stack of partitions (any number of parts), all batched.

    Shape
    -----
    ``same`` ``(b, n, n)`` bool (``True`` within a part) → ``λ``, ``w``: ``(b, n)`` (clipped at 0),
    ``c``: ``(b,)``.
    """
    zero = torch.zeros((), dtype=A.dtype, device=A.device)
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
    c = torch.diagonal(torch.cholesky_solve(sigma.expand_as(LC), LC), dim1=-2, dim2=-1).sum(-1)
    return lam.clamp_min(0.0), torch.diagonal(W, dim1=-2, dim2=-1).clamp_min(0.0), c


def _spectral(A: object, noise_cov: object | None, partition: PartitionLike) -> _Spectral:
    A, noise_cov, labels = _validate_system(A, noise_cov, partition)
    n = A.shape[-1]
    sigma = stationary_cov(A, noise_cov)
    same = labels[:, None] == labels[None, :]
    lam, w, c = _spectral_stack(A, sigma, same[None])
    mi = 0.5 * float(_logdet_spd(sigma) - _logdet_spd(noise_cov))
    return _Spectral(lam[0].cpu().numpy(), w[0].cpu().numpy(), float(c[0]), n, mi)


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
    A: object,
    noise_cov: object | None = None,
    partition: PartitionLike = ((0,), (1,)),
    beta: float = 1.0,
) -> float:
    """Mismatched-decoding information ``Ĩ(β)`` (nats) of the disconnected model, for one ``β ≥ 0``.

    Closed form of the module docstring: ``Ĩ(β) = ½ ln det(I + βΣG) + ½ tr(ΣR(β)) − βn/2``.

    Parameters
    ----------
    A : Tensor or array-like
        Coupling matrix, ``ρ(A) < 1``.
    noise_cov : Tensor, array-like or None, default None
        Innovation covariance ``Σ_E`` (SPD); ``None`` means the identity.
    partition : sequence of sequences of int, or n group labels, default ((0,), (1,))
        Partition of ``0..n−1`` into ``K ≥ 2`` parts (see :func:`phi_star`).
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
    A: object,
    noise_cov: object | None = None,
    partition: PartitionLike = ((0,), (1,)),
    *,
    xtol: float = 1e-12,
    beta_max: float = 1e12,
) -> float:
    """Integrated information ``Φ* = I − max_{β≥0} Ĩ(β)`` (nats) of a VAR(1) across a partition (K ≥ 2 parts).

    See the module docstring for the closed form of ``Ĩ(β)`` (Oizumi et al. 2016, *PLoS Comput Biol*).

    Parameters
    ----------
    A : Tensor or array-like
        Coupling matrix, ``ρ(A) < 1``. Computation is in float64 on ``A.device`` (the final 1-D
        maximisation runs on the CPU in numpy: it costs ``O(n)`` per evaluation).
    noise_cov : Tensor, array-like or None, default None
        Innovation covariance ``Σ_E`` (SPD); ``None`` means the identity.
    partition : sequence of sequences of int, or n group labels, default ((0,), (1,))
        Partition of the nodes ``0..n−1`` into ``K ≥ 2`` non-empty parts (each node exactly once), e.g.
        ``((0, 1), (2,))``, the atomic ``((0,), (1,), (2,))`` or the labels ``[0, 0, 1]``. The decoder
        ``q(y|x) = Π_k p(y_{M_k} | x_{M_k})`` is defined for any number of parts ([1]_; PhiToolbox
        ``phi_star_Gauss.m`` takes any ``Z``).
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
        partition is not a partition of ``0..n−1`` into at least two parts.

    Notes
    -----
    ``O(n⁶)`` for the Lyapunov solve (``n ≤ 32``), then ``O(n³)``; the maximisation is ``O(n)`` per step.

    Examples
    --------
    >>> A = torch.tensor([[0.0, 0.0], [0.8, 0.0]], dtype=torch.float64)
    >>> round(phi_star(A, partition=((0,), (1,))), 6) == round(0.5 * math.log(1.64), 6)
    True
    >>> round(phi_star([[0.5, 0, 0], [0.4, 0.5, 0], [0, 0.4, 0.5]], partition=[0, 1, 2]), 6)  # atomic
    0.172316
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
    from scipy.optimize import brentq  # imported here: scipy.optimize costs ~0.2 s at start-up

    beta = float(
        brentq(lambda b: _itilde_grad(s, b), lo, hi, xtol=1e-300, rtol=max(xtol, 4 * np.finfo(float).eps))
    )
    return max(_itilde(s, beta), 0.0)


_NEWTON_MAX_ITER = 400
"""Iteration cap of :func:`_maximise_stack` (Newton halves the error's exponent; bisection alone needs
≤ ~100 steps in float64). Rows still unconverged at the cap keep their last ``β`` and are reported."""


def _maximise_stack(
    lam: Tensor, w: Tensor, c_minus_n: Tensor, xtol: float, beta_max: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Vectorised ``max_{β≥0} Ĩ(β)`` for a stack of spectral forms; returns ``(I*, capped, unconverged)``.

    Same decisions as :func:`_maximise`, for every row at once: ``I* = 0`` if ``Ĩ'(0) ≤ 0``; otherwise
    ``β`` doubles from 1 until ``Ĩ' ≤ 0`` (rows passing ``beta_max`` are ``capped`` and take
    ``Ĩ(beta_max)``), then a safeguarded Newton iteration (``rtsafe``: a Newton step on ``Ĩ'`` with the
    exact ``Ĩ''``, bisection whenever it leaves the bracket) shrinks the bracket until the step is below
    ``max(xtol, 4ε)·β``. Both this and Brent's method stop within that relative distance of the unique
    root, where ``Ĩ`` is flat: the values agree to ``O(|Ĩ''| (xtol β)²)``. Rows that have not met that
    test after :data:`_NEWTON_MAX_ITER` steps keep their last ``β`` and are flagged ``unconverged``.

    Shape
    -----
    ``lam``, ``w``: ``(b, n)``; ``c_minus_n``: ``(b,)`` → three ``(b,)`` tensors.
    """

    def terms(beta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        bl = beta[:, None] * lam
        q = 1.0 + bl
        val = 0.5 * torch.log1p(bl).sum(-1) + 0.5 * beta * c_minus_n - 0.5 * beta**2 * (w / q).sum(-1)
        grad = (
            0.5 * (lam / q).sum(-1) + 0.5 * c_minus_n - 0.5 * (w * beta[:, None] * (2.0 + bl) / q**2).sum(-1)
        )
        curv = -0.5 * (lam**2 / q**2).sum(-1) - (w / q**3).sum(-1)
        return val, grad, curv

    zeros = torch.zeros_like(c_minus_n)
    _, g0, _ = terms(zeros)
    active = g0 > 0.0
    capped = torch.zeros_like(active)
    lo, hi = zeros.clone(), torch.ones_like(c_minus_n)
    while True:  # bracket the root of Ĩ' by doubling
        _, g, _ = terms(hi)
        up = active & (g > 0.0)
        if not bool(up.any()):
            break
        lo = torch.where(up, hi, lo)
        hi = torch.where(up, 2.0 * hi, hi)
        over = up & (hi > beta_max)
        capped |= over
        active &= ~over
    rtol = max(xtol, 4.0 * float(torch.finfo(lam.dtype).eps))
    beta = torch.where(active, 0.5 * (lo + hi), zeros)
    todo = active.clone()
    for _ in range(_NEWTON_MAX_ITER):
        if not bool(todo.any()):
            break
        _, g, h = terms(beta)
        lo = torch.where(todo & (g > 0.0), beta, lo)
        hi = torch.where(todo & (g <= 0.0), beta, hi)
        newton = beta - g / torch.where(h < 0.0, h, -torch.ones_like(h))
        inside = (newton > lo) & (newton < hi)
        new = torch.where(inside, newton, 0.5 * (lo + hi))
        step_ok = ((new - beta).abs() <= rtol * new.abs()) | (hi - lo <= 2.0 * rtol * hi) | (g == 0.0)
        beta = torch.where(todo & (g != 0.0), new, beta)
        todo &= ~step_ok
    beta = torch.where(capped, torch.full_like(beta, beta_max), beta)
    val, _, _ = terms(beta)
    return torch.where(active | capped, val.clamp_min(0.0), zeros), capped, todo


def phi_star_batch(
    A: object,
    noise_cov: object | None,
    masks: object,
    *,
    xtol: float = 1e-12,
    beta_max: float = 1e12,
    chunk_size: int | None = None,
) -> Tensor:
    """``Φ*`` (nats) of many bipartitions at once: :func:`phi_star` batched over a stack of masks.

    Every step of :func:`phi_star` runs on the whole stack — the block-diagonal decoder, the spectral
    reduction (batched ``solve``/``cholesky``/``eigh``) and the 1-D maximisation over ``β`` (a vectorised
    safeguarded Newton iteration instead of one Brent search per partition; see
    :func:`_maximise_stack`). The Lyapunov solve is done once.

    Parameters
    ----------
    A : Tensor or array-like
        Coupling matrix, ``ρ(A) < 1``; computation in float64 on ``A.device``.
    noise_cov : Tensor, array-like or None
        Innovation covariance ``Σ_E`` (SPD); ``None`` means the identity.
    masks : Tensor or array-like of bool
        Boolean bipartition masks, ``True`` marking one part (both parts non-empty in every row). Partitions
        with more than two parts go through :func:`phi_star`.
    xtol, beta_max : float
        As in :func:`phi_star`.
    chunk_size : int, optional
        Masks per batched pass; memory is ``O(chunk_size · n²)`` (~20 temporaries). Default
        ``2^19 / n²`` (≈ 80 MB), e.g. 2,048 masks at ``n = 16``.

    Returns
    -------
    Tensor
        ``Φ* ≥ 0`` per mask, float64 on ``A.device``; equal to ``phi_star`` of each partition up to
        round-off (tests: within ``1e-10``).

    Shape
    -----
    ``A``, ``noise_cov``: ``(n, n)``; ``masks``: ``(c, n)`` → ``(c,)``.

    Raises
    ------
    ValueError
        Same conditions as :func:`phi_star`, malformed ``masks``, or a
        ``chunk_size`` that is not a positive integer.

    Notes
    -----
    ``O(c n³)`` batched work plus ``O(c n)`` per Newton step; one RuntimeWarning covers every capped row,
    and another every row whose Newton search hit its iteration cap (not seen in practice).
    """
    if not (isinstance(xtol, int | float) and xtol > 0):
        raise ValueError(f"xtol must be a positive number, got {xtol!r}")
    if not (isinstance(beta_max, int | float) and math.isfinite(beta_max) and beta_max > 1):
        raise ValueError(f"beta_max must be a finite number > 1, got {beta_max!r}")
    optional_positive_int("chunk_size", chunk_size)
    A, noise_cov = _validate_model(A, noise_cov)
    n = A.shape[-1]
    masks = _validate_masks(masks, n, A.device)
    sigma = stationary_cov(A, noise_cov)
    mi = 0.5 * float(_logdet_spd(sigma) - _logdet_spd(noise_cov))
    out = torch.empty(masks.shape[0], dtype=A.dtype, device=A.device)
    any_capped = any_unconverged = False
    step = chunk_size if chunk_size is not None else max(1, 2**19 // (n * n))
    for i in range(0, masks.shape[0], step):
        m = masks[i : i + step]
        lam, w, c = _spectral_stack(A, sigma, m[:, :, None] == m[:, None, :])
        i_star, capped, unconverged = _maximise_stack(lam, w, c - n, float(xtol), float(beta_max))
        any_capped |= bool(capped.any())
        any_unconverged |= bool(unconverged.any())
        out[i : i + m.shape[0]] = (mi - i_star).clamp_min(0.0)
    if any_capped:
        warnings.warn(
            f"phi_star: Ĩ(β) still increasing at beta_max={beta_max:g}; using Ĩ(beta_max)",
            RuntimeWarning,
            stacklevel=2,
        )
    if any_unconverged:
        warnings.warn(
            f"phi_star: the β search did not reach xtol={xtol:g} in {_NEWTON_MAX_ITER} steps; "
            "using the last iterate",
            RuntimeWarning,
            stacklevel=2,
        )
    return out
