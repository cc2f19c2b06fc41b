"""Gaussian multi-information and Tononi–Sporns–Edelman neural complexity, batched over covariances.

For a Gaussian vector ``X`` with covariance ``Σ`` (correlation ``R``), entropies are
``H(X_S) = ½ (|S| ln 2πe + ln det Σ_S)`` nats, so every quantity here is a combination of log-dets of
principal sub-matrices; the per-variable terms ``ln σ_ii`` cancel and only ``R`` matters.

References
----------
.. [1] G. Tononi, O. Sporns, G. M. Edelman, "A measure for brain complexity: relating functional
   segregation and integration in the nervous system", PNAS 91:5033 (1994).
.. [2] S. Watanabe, "Information theoretical analysis of multivariate correlation", IBM J. Res. Dev.
   4:66 (1960) (total correlation).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from hal9.core import as_tensor

__all__ = ["ComplexityResult", "multi_information", "neural_complexity"]

# Elements of gathered sub-matrices factorised at once.
_CHUNK_ELEMENTS = 1 << 22


def _correlation(cov: object, name: str = "cov") -> Tensor:
    """Validate a batch of covariance matrices ``(..., n, n)`` and return their correlation matrices.

    ``cov`` may be a tensor (dtype and device kept) or a numpy array / nested list (float64).
    """
    cov = as_tensor(cov, name)
    if cov.ndim < 2 or cov.shape[-1] != cov.shape[-2]:
        raise ValueError(f"{name} must have shape (..., n, n), got {tuple(cov.shape)}")
    if cov.shape[-1] == 0 or cov.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(cov.shape)}")
    if not cov.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {cov.dtype}")
    if not bool(torch.isfinite(cov).all()):
        raise ValueError(f"{name} contains NaN or Inf")
    scale = cov.abs().amax(dim=(-2, -1), keepdim=True)
    tol = 100 * torch.finfo(cov.dtype).eps * scale
    if bool(((cov - cov.mT).abs() > tol).any()):
        raise ValueError(f"{name} must be symmetric")
    d = torch.diagonal(cov, dim1=-2, dim2=-1)
    if bool((d <= 0).any()):
        raise ValueError(f"{name} must be positive definite (non-positive variance on the diagonal)")
    s = d.rsqrt()
    r = cov * s[..., :, None] * s[..., None, :]
    r = 0.5 * (r + r.mT)
    if bool((torch.linalg.cholesky_ex(r).info != 0).any()):
        raise ValueError(f"{name} must be positive definite (Cholesky factorisation failed)")
    return r


def _logdet(m: Tensor) -> Tensor:
    """``ln det`` of SPD matrices ``(..., k, k)`` via Cholesky (principal minors of a PD matrix are PD)."""
    chol = torch.linalg.cholesky_ex(m).L
    return 2.0 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)


def multi_information(cov: object) -> Tensor:
    r"""Total correlation (multi-information) of a Gaussian vector, in nats.

    .. math:: I(X) = \sum_i H(X_i) - H(X) = -\tfrac12 \ln \det R

    with ``R`` the correlation matrix of ``cov`` [2]; ``0`` iff the variables are independent.

    Parameters
    ----------
    cov : Tensor or array-like
        ``(..., n, n)`` symmetric positive definite covariance matrices (floating point, finite); numpy
        arrays and nested lists become float64.

    Returns
    -------
    Tensor
        ``(...)`` multi-information, same dtype and device as ``cov``.

    Raises
    ------
    ValueError
        If ``cov`` is not a finite, symmetric, positive definite ``(..., n, n)`` tensor.

    Notes
    -----
    One Cholesky factorisation per matrix: ``O(n³)``.

    Examples
    --------
    >>> float(multi_information(torch.tensor([[1.0, 0.6], [0.6, 1.0]], dtype=torch.float64)))  # −½ ln 0.64
    0.2231435513142097
    >>> float(multi_information([[1.0, 0.6], [0.6, 1.0]]))  # nested list → float64
    0.2231435513142097
    """
    return -0.5 * _logdet(_correlation(cov))


@dataclass(frozen=True)
class ComplexityResult:
    """What :func:`neural_complexity` returns.

    Attributes
    ----------
    value : Tensor
        ``(...)`` neural complexity in nats.
    stderr : Tensor
        ``(...)`` standard error of ``value`` from subset sampling (zeros when exact).
    form : {"A", "B"}
        Which sum was evaluated.
    exact : bool
        Whether every subset was enumerated.
    """

    value: Tensor
    stderr: Tensor
    form: str
    exact: bool


def _subset_logdets(r: Tensor, subsets: Tensor) -> Tensor:
    """``ln det R_S`` for every subset row of ``subsets`` ``(m, k)``: ``(..., m)``, chunked over ``m``."""
    m, k = subsets.shape
    per = max(1, _CHUNK_ELEMENTS // max(1, k * k * max(1, r[..., 0, 0].numel())))
    out = []
    for start in range(0, m, per):
        idx = subsets[start : start + per]
        sub = r[..., idx[:, :, None], idx[:, None, :]]  # (..., chunk, k, k)
        out.append(_logdet(sub))
    return torch.cat(out, dim=-1)


def neural_complexity(
    cov: object,
    *,
    form: Literal["A", "B"] = "B",
    exact_max_n: int = 20,
    n_samples: int = 200,
    seed: int = 0,
) -> ComplexityResult:
    r"""Tononi–Sporns–Edelman neural complexity of Gaussian systems [1], in nats.

    With ``g(k) = ⟨H(X_k^j)⟩_j − (k/n) H(X)`` (average over all subsets ``X_k^j`` of ``k`` variables):

    .. math::

        C_B = \sum_{k=1}^{n} g(k), \qquad
        C_A = \sum_{k=1}^{\lfloor n/2 \rfloor} \big\langle MI(X_k^j; X - X_k^j) \big\rangle_j
            = \sum_{k=1}^{\lfloor n/2 \rfloor} \big(g(k) + g(n-k)\big).

    For odd ``n`` the two are equal. For even ``n`` the ``k = n/2`` term of ``C_A`` counts every
    bisection twice (once as ``X_k^j``, once as its complement), so ``C_A = C_B + g(n/2) =
    C_B + ½ ⟨MI(X_{n/2}^j; X − X_{n/2}^j)⟩``.

    Parameters
    ----------
    cov : Tensor or array-like
        ``(..., n, n)`` symmetric positive definite covariance matrices (array-likes become float64).
    form : {"B", "A"}
        ``"B"`` (default): the entropy sum, TSE's defining expression, which weighs every
        bipartition once for all ``n`` and so has no parity artefact. ``"A"``: the mutual-information
        sum over ``k ≤ n/2``.
    exact_max_n : int
        Enumerate all ``2^n`` subsets when ``n ≤ exact_max_n``.
    n_samples : int
        Otherwise, random subsets per size ``k`` (sizes with at most ``n_samples`` subsets are
        still enumerated exactly); the standard error combines the per-``k`` sample variances.
    seed : int
        Seeds the subset sampling (a CPU ``torch.Generator``).

    Returns
    -------
    ComplexityResult

    Raises
    ------
    ValueError
        If ``cov`` is invalid (see :func:`multi_information`) or an option is out of range.

    Notes
    -----
    ``g`` depends on ``R`` only (the ``½ k ln 2πe`` and ``ln σ_ii`` terms cancel), so
    ``g(k) = ½ (⟨ln det R_S⟩_{|S|=k} − (k/n) ln det R)``. Exact cost ``O(2^n n³)`` Cholesky work;
    sampled ``O(n · n_samples · n³)``. Independent variables give ``0``.
    """
    if form not in ("A", "B"):
        raise ValueError(f"form must be 'A' or 'B', got {form!r}")
    for name, option in (("exact_max_n", exact_max_n), ("n_samples", n_samples)):
        if isinstance(option, bool) or not isinstance(option, int) or option < 1:
            raise ValueError(f"{name} must be a positive integer, got {option!r}")
    r = _correlation(cov)
    n = r.shape[-1]
    batch = r.shape[:-2]
    full = _logdet(r)
    exact = n <= exact_max_n
    gen = torch.Generator().manual_seed(seed)
    g = torch.zeros((*batch, n + 1), dtype=r.dtype, device=r.device)
    var = torch.zeros_like(g)
    for k in range(1, n):
        if exact or math.comb(n, k) <= n_samples:
            subsets = torch.tensor(list(itertools.combinations(range(n), k)), dtype=torch.long)
            lds = _subset_logdets(r, subsets.to(r.device))
            g[..., k] = 0.5 * (lds.mean(dim=-1) - (k / n) * full)
        else:
            subsets = torch.rand((n_samples, n), generator=gen).argsort(dim=1)[:, :k]
            lds = _subset_logdets(r, subsets.to(r.device))
            g[..., k] = 0.5 * (lds.mean(dim=-1) - (k / n) * full)
            var[..., k] = 0.25 * lds.var(dim=-1) / n_samples
    weight = torch.ones(n + 1, dtype=r.dtype, device=r.device)
    weight[0] = weight[n] = 0.0
    if form == "A" and n % 2 == 0:
        weight[n // 2] = 2.0
    value = (g * weight).sum(-1)
    stderr = (var * weight**2).sum(-1).sqrt()
    return ComplexityResult(value, stderr, form, exact)
