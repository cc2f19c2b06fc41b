"""Integrated information of linear-Gaussian VAR(1) systems and of time series (nats).

Model: ``X_t = A X_{t−1} + E_t``, ``E_t ~ N(0, Σ_E)`` i.i.d., stationary (``ρ(A) < 1``), with
``Σ = Cov(X_t)`` from the Lyapunov equation ``Σ = A Σ Aᵀ + Σ_E`` and ``Cov(X_t, X_{t−1}) = A Σ``.
For a bipartition ``B = {M¹, M²}`` (``M^k_t``: the nodes of part ``k`` at time ``t``):

* time-delayed mutual information (whole system)
  ``I = I(X_{t−1}; X_t) = ½ ln(det Σ / det Σ_{X_t|X_{t−1}})``, with ``Σ_{X_t|X_{t−1}} = Σ_E``;
* whole-minus-sum integrated information [1]_ (Φ_E of Barrett & Seth for Gaussian systems)
  ``Φ_WMS(B) = I(X_{t−1}; X_t) − Σ_k I(M^k_{t−1}; M^k_t)`` (can be negative);
* redundancy-corrected Φ_R [2]_
  ``Φ_R(B) = Φ_WMS(B) + min_{i,j∈{1,2}} I(M^i_{t−1}; M^j_t)``;
* stochastic interaction [3]_ [1]_
  ``SI(B) = Σ_k H(M^k_t | M^k_{t−1}) − H(X_t | X_{t−1}) ≥ 0``, Gaussian:
  ``½ (Σ_k ln det Σ_{M^k_t|M^k_{t−1}} − ln det Σ_E)``;
* geometric Φ_G [4]_ and decoder-based Φ* [5]_, delegated to :mod:`hal9.metrics.geometric` and
  :mod:`hal9.metrics.star`.

Minimum information bipartition (MIB). Barrett & Seth [1]_ (following Balduzzi & Tononi) choose the
bipartition minimising the normalised ``Φ(B) / K(B)`` with
``K(B) = (m − 1) min_k H(M^k_t)``, which for a bipartition (``m = 2``) of Gaussian parts is
``K(B) = min_k ½ ln((2πe)^{|M^k|} det Σ(M^k))``; the reported value is the un-normalised ``Φ`` at that
bipartition (``criterion="normalised"``). ``criterion="min"`` minimises ``Φ(B)`` itself. Differential
entropies can be ``≤ 0``; bipartitions with ``K(B) ≤ 1e-12`` cannot be normalised and are skipped by the
normalised search. The normalisation re-implements the formula of JIDT's
``IntegratedMeasureCalculatorGaussian.computeNormalizationFactor`` (minimum over the parts of the
Gaussian entropy of the part's stationary covariance; Mediano et al. [2]_), with its ``1e-12`` cutoff;
JIDT itself is not run by the tests, which check the normalised MIB against an independent NumPy/SciPy
brute force of ``Φ/K``.

References
----------
.. [1] A. B. Barrett and A. K. Seth, "Practical measures of integrated information for time-series
   data", PLoS Comput. Biol. 7(1):e1001052, 2011.
.. [2] P. A. M. Mediano, A. K. Seth and A. B. Barrett, "Measuring integrated information: comparison of
   candidate measures in theory and simulation", Entropy 21(1):17, 2019.
.. [3] N. Ay, "Information geometry on complexity and stochastic interaction", Entropy 17:2432, 2015
   (MPI MIS preprint 95/2001).
.. [4] M. Oizumi, N. Tsuchiya and S. Amari, "Unified framework for information integration based on
   information geometry", PNAS 113:14817, 2016.
.. [5] M. Oizumi, S. Amari, T. Yanagawa, N. Fujii and N. Tsuchiya, "Measuring integrated information
   from the decoding perspective", PLoS Comput. Biol. 12(1):e1004654, 2016.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from hal9.metrics import _phi_linear as _pl
from hal9.metrics.gaussian import (
    check_covariance,
    conditional_cov,
    sample_covariances,
    stationary_cov,
)
from hal9.metrics.partitions import Partition, mask_to_partition, partition_to_mask, validate_partition

__all__ = ["IntegrationResult", "integrated_information", "integrated_information_from_data"]

Measure = Literal["mi", "wms", "r", "si", "geometric", "star"]
Criterion = Literal["min", "normalised"]
Method = Literal["auto", "exhaustive", "heuristic"]
_MEASURES = ("mi", "wms", "r", "si", "geometric", "star")
_LINEAR = ("wms", "r", "si")
#: Batched evaluators ``fn(A, noise_cov, masks) -> (c,)`` of the measures defined in their own modules.
_EXTERNAL = {
    "geometric": ("hal9.metrics.geometric", "phi_geometric_batch"),
    "star": ("hal9.metrics.star", "phi_star_batch"),
}
#: Default largest ``n`` searched exhaustively with ``method="auto"``: closed-form measures, then
#: per external measure (Φ*: ~2–3 s for the 32,767 bipartitions of n = 16 with one thread, ~1.3 s with
#: two, on 2 CPU cores; Φ_G: ~3 s at n = 10–11, but single slowly converging partitions can take 10⁴ sweeps
#: beyond that).
EXHAUSTIVE_MAX_N = 20
EXHAUSTIVE_MAX_N_EXTERNAL = {"geometric": 10, "star": 16}
#: Masks per call of an external batched evaluator (each bounds its own memory further).
EXTERNAL_CHUNK = 4096


@dataclass(frozen=True)
class IntegrationResult:
    """Result of an integrated-information computation.

    Attributes
    ----------
    value : float
        ``Φ`` in nats at ``partition`` (for ``measure="mi"``: ``I(X_{t−1}; X_t)``).
    measure : str
        One of ``"mi", "wms", "r", "si", "geometric", "star"``.
    partition : tuple of tuple of int
        Canonical bipartition (sorted parts, part with node 0 first); ``((0, …, n−1),)`` for ``"mi"``.
    normalised : float or None
        ``Φ / K(B)`` with ``K(B) = min_k H(M^k_t)`` (None for ``"mi"`` or when ``K(B) ≤ 1e-12``).
    n_partitions_evaluated : int
        Bipartitions evaluated by the search (1 for a given partition, 0 for ``"mi"``).
    method : str
        ``"exhaustive"``, ``"heuristic"`` or ``"given"``.
    """

    value: float
    measure: str
    partition: Partition
    normalised: float | None
    n_partitions_evaluated: int
    method: str


def _check_options(measure: object, criterion: object, method: object) -> None:
    if measure not in _MEASURES:
        raise ValueError(f"measure must be one of {_MEASURES}, got {measure!r}")
    if criterion not in ("min", "normalised"):
        raise ValueError(f"criterion must be 'min' or 'normalised', got {criterion!r}")
    if method not in ("auto", "exhaustive", "heuristic"):
        raise ValueError(f"method must be 'auto', 'exhaustive' or 'heuristic', got {method!r}")


def _logdet(M: Tensor) -> float:
    return float(2.0 * torch.log(torch.diagonal(torch.linalg.cholesky(M))).sum())


def _external(measure: str, A: Tensor, Q: Tensor) -> Callable[[Tensor], Tensor]:
    """The batched evaluator of ``measure`` (one call for a whole chunk of masks)."""
    mod_name, fn_name = _EXTERNAL[measure]
    fn = getattr(importlib.import_module(mod_name), fn_name)

    def evaluate(masks: Tensor) -> Tensor:
        return fn(A, Q, masks).to(A.dtype)

    return evaluate


def _solve(
    stats: _pl.LinearStats,
    A: Tensor,
    Q: Tensor,
    *,
    measure: str,
    partition: object,
    criterion: str,
    method: str,
    exhaustive_max_n: int | None,
) -> IntegrationResult:
    n = stats.past.shape[-1]
    if measure == "mi":
        value = 0.5 * (stats.ld_present - stats.ld_cond)
        return IntegrationResult(value, "mi", (tuple(range(n)),), None, 0, "given")
    if n < 2:
        raise ValueError(f"measure={measure!r} needs at least 2 nodes, got n={n}")
    if measure in _LINEAR:

        def evaluate(masks: Tensor) -> tuple[Tensor, Tensor]:
            return _pl.measure_values(stats, masks, measure)

        chunk = _pl.chunk_size_for(n, stats.past.element_size())
    else:
        ext = _external(measure, A, Q)

        def evaluate(masks: Tensor) -> tuple[Tensor, Tensor]:
            return ext(masks), _pl.measure_values(stats, masks, "si")[1]

        chunk = EXTERNAL_CHUNK
    if partition is not None:
        parts = validate_partition(partition, n)
        vals, K = evaluate(partition_to_mask(parts, n, device=stats.past.device)[None, :])
        v, k = float(vals[0]), float(K[0])
        return IntegrationResult(v, measure, parts, v / k if k > _pl.K_MIN else None, 1, "given")
    limit = exhaustive_max_n
    if limit is None:
        limit = EXHAUSTIVE_MAX_N if measure in _LINEAR else EXHAUSTIVE_MAX_N_EXTERNAL[measure]
    use_exhaustive = method == "exhaustive" or (method == "auto" and n <= limit)
    if use_exhaustive and measure in _LINEAR:
        mask, v, k, count = _pl.exhaustive_linear(stats, measure, criterion)
        how = "exhaustive"
    elif use_exhaustive:
        mask, v, k, count = _pl.exhaustive_search(evaluate, n, criterion, chunk, stats.past.device)
        how = "exhaustive"
    else:
        W = _pl.coupling_matrix(A, stats.past)
        mask, v, k, count = _pl.heuristic_search(evaluate, W, criterion)
        how = "heuristic"
    return IntegrationResult(
        v, measure, mask_to_partition(mask), v / k if k > _pl.K_MIN else None, count, how
    )


def integrated_information(
    A: Tensor,
    noise_cov: Tensor | None = None,
    *,
    measure: Measure,
    partition: Partition | None = None,
    criterion: Criterion = "min",
    method: Method = "auto",
    exhaustive_max_n: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> IntegrationResult:
    """Integrated information of the stationary VAR(1) ``X_t = A X_{t−1} + E_t``, ``E_t ~ N(0, Σ_E)``.

    Parameters
    ----------
    A : Tensor
        Coupling matrix with spectral radius ``< 1``.
    noise_cov : Tensor, optional
        Innovation covariance ``Σ_E`` (symmetric positive definite); identity when omitted.
    measure : {"mi", "wms", "r", "si", "geometric", "star"}
        See the module docstring. ``"mi"`` ignores ``partition`` (whole system).
    partition : tuple of two tuples of int, optional
        A fixed bipartition of ``0..n−1``. When omitted, the minimum information bipartition is searched.
    criterion : {"min", "normalised"}
        MIB objective: ``Φ(B)`` or Barrett–Seth ``Φ(B)/K(B)``; the value reported is ``Φ`` at the MIB.
    method : {"auto", "exhaustive", "heuristic"}
        ``"auto"``: exhaustive for ``n ≤ exhaustive_max_n`` (default 20 for wms/r/si, 16 for star,
        10 for geometric), otherwise spectral bisection + local moves (not guaranteed optimal).
    exhaustive_max_n : int, optional
        Override of the ``"auto"`` threshold.
    device, dtype
        Where and in which precision to compute (default float64).

    Returns
    -------
    IntegrationResult

    Shape
    -----
    ``A``, ``noise_cov``: ``(n, n)``.

    Raises
    ------
    ValueError
        Unstable or non-finite ``A``; ``noise_cov`` not SPD; bad ``partition``, ``measure``,
        ``criterion`` or ``method``.

    Notes
    -----
    Exhaustive search (wms/r/si) tabulates the log-determinants of all ``2^n`` principal sub-matrices of
    ``Σ`` and of the joint covariance of ``(X_{t−1}, X_t)`` by a batched Schur-complement recursion
    (``O(2^n)`` work and memory, :mod:`hal9.metrics._phi_subsets`), then scores all ``2^(n−1) − 1``
    bipartitions with gathers. Heuristic search and a given partition use three batched Cholesky
    factorisations of masked ``n × n`` matrices per candidate. geometric/star evaluate whole chunks of
    masks with their batched functions (:func:`hal9.metrics.geometric.phi_geometric_batch`,
    :func:`hal9.metrics.star.phi_star_batch`), which agree with the per-partition ones.
    """
    _check_options(measure, criterion, method)
    if not isinstance(A, Tensor) or A.ndim != 2:
        raise ValueError(f"A must be an (n, n) tensor, got {getattr(A, 'shape', type(A))}")
    if noise_cov is not None and not isinstance(noise_cov, Tensor):
        raise ValueError(f"noise_cov must be a torch.Tensor or None, got {type(noise_cov).__name__}")
    A = A.to(device=device, dtype=dtype)
    n = A.shape[-1]
    Q = torch.eye(n, dtype=dtype, device=A.device) if noise_cov is None else noise_cov.to(A.device, dtype)
    sigma = stationary_cov(A, Q)  # checks ρ(A) < 1 and that Q is SPD
    stats = _pl.LinearStats(sigma, sigma, A @ sigma, _logdet(sigma), _logdet(Q), True)
    return _solve(
        stats,
        A,
        Q,
        measure=measure,
        partition=partition,
        criterion=criterion,
        method=method,
        exhaustive_max_n=exhaustive_max_n,
    )


def integrated_information_from_data(
    x: Tensor,
    *,
    measure: Measure,
    partition: Partition | None = None,
    criterion: Criterion = "min",
    method: Method = "auto",
    exhaustive_max_n: int | None = None,
    lag: int = 1,
) -> IntegrationResult | list[IntegrationResult]:
    """Integrated information estimated from a time series via its (lagged) sample covariances.

    The Gaussian formulas of :func:`integrated_information` are applied directly to the covariance
    blocks ``Σ_past = Cov(X_{t−τ})``, ``Σ_present = Cov(X_t)``, ``C = Cov(X_t, X_{t−τ})`` from
    :func:`hal9.metrics.gaussian.sample_covariances` (plug-in estimator, no bias correction).
    For ``"geometric"``/``"star"`` a VAR(1) is fitted: ``Â = C Σ_past⁻¹``,
    ``Σ̂_E = Σ_present − C Σ_past⁻¹ Cᵀ``.

    Parameters
    ----------
    x : Tensor
        Time series; computed in float64.
    measure, partition, criterion, method, exhaustive_max_n
        As in :func:`integrated_information`.
    lag : int
        Lag ``τ`` in samples.

    Returns
    -------
    IntegrationResult or list of IntegrationResult
        One result for ``(T, n)`` input, a list of ``B`` results for ``(B, T, n)``.

    Shape
    -----
    ``x``: ``(T, n)`` or ``(B, T, n)``.
    """
    _check_options(measure, criterion, method)
    if not isinstance(x, Tensor) or x.ndim not in (2, 3):
        raise ValueError(f"x must be a (T, n) or (B, T, n) tensor, got {getattr(x, 'shape', type(x))}")
    if not torch.is_floating_point(x):
        raise ValueError(f"x must be floating point, got dtype {x.dtype}")
    s_past, s_pres, c_lag = sample_covariances(x.to(torch.float64), lag)
    batched = x.ndim == 3
    if not batched:
        s_past, s_pres, c_lag = s_past[None], s_pres[None], c_lag[None]
    out = []
    for sp, sf, c in zip(s_past, s_pres, c_lag, strict=True):
        check_covariance(sp, "x (sample covariance of the past)")
        check_covariance(sf, "x (sample covariance of the present)")
        cond = conditional_cov(sf, c, sp)
        A_hat = torch.linalg.solve(sp, c.mT).mT  # C Σ_past⁻¹ (Σ_past symmetric)
        stats = _pl.LinearStats(sp, sf, c, _logdet(sf), _logdet(cond), False)
        out.append(
            _solve(
                stats,
                A_hat,
                cond,
                measure=measure,
                partition=partition,
                criterion=criterion,
                method=method,
                exhaustive_max_n=exhaustive_max_n,
            )
        )
    return out if batched else out[0]
