"""Integrated information of linear-Gaussian VAR(1) systems and time series (nats); the measure registry.

Model: ``X_t = A X_{t−1} + E_t``, ``E_t ~ N(0, Σ_E)`` i.i.d., stationary (``ρ(A) < 1``), with
``Σ = Cov(X_t)`` from the Lyapunov equation ``Σ = A Σ Aᵀ + Σ_E`` and ``Cov(X_t, X_{t−1}) = A Σ``.
For a partition ``P = {M¹, …, M^K}`` into ``K ≥ 2`` parts (``M^k_t``: the nodes of part ``k`` at time ``t``;
a bipartition has ``K = 2``, the atomic partition ``K = n``):

* time-delayed mutual information (whole system)
  ``I = I(X_{t−1}; X_t) = ½ ln(det Σ / det Σ_{X_t|X_{t−1}})``, with ``Σ_{X_t|X_{t−1}} = Σ_E``;
* whole-minus-sum integrated information [1]_ (Φ_E of Barrett & Seth for Gaussian systems)
  ``Φ_WMS(P) = I(X_{t−1}; X_t) − Σ_k I(M^k_{t−1}; M^k_t)`` (can be negative);
* redundancy-corrected Φ_R [2]_
  ``Φ_R(P) = Φ_WMS(P) + (K − 1) min_{i,j} I(M^i_{t−1}; M^j_t)`` (``i, j`` over all parts): for ``K = 2``
  Mediano et al.'s definition; for ``K > 2`` hal9 restores the minimum-MI double redundancy that the
  sum over ``K`` parts subtracts ``K`` times and ``I`` counts once (an extension, not a published formula);
* stochastic interaction [3]_ [1]_
  ``SI(P) = Σ_k H(M^k_t | M^k_{t−1}) − H(X_t | X_{t−1}) ≥ 0``, Gaussian:
  ``½ (Σ_k ln det Σ_{M^k_t|M^k_{t−1}} − ln det Σ_E)``;
* geometric Φ_G [4]_ and decoder-based Φ* [5]_, delegated to :mod:`hal9.metrics.geometric` and
  :mod:`hal9.metrics.star` (both defined for any ``K``: every cross-part influence is cut).

Minimum information partition. The search runs over the ``2^(n−1) − 1`` bipartitions, and with
``include_atomic=True`` also over the atomic partition (one more candidate; PhiToolbox and JIDT offer
the same two scans); partitions with ``2 < K < n`` parts are only evaluated when given. Barrett & Seth
[1]_ (following Balduzzi & Tononi [6]_) choose the partition minimising the normalised ``Φ(P) / K(P)``
with ``K(P) = (K − 1) min_k H(M^k_t)``, which for Gaussian parts is
``(K − 1) min_k ½ ln((2πe)^{|M^k|} det Σ(M^k))`` (PhiToolbox ``SI_Gauss.m``: ``(N_c − 1) min(H_p)``;
JIDT's ``computeNormalizationFactor`` omits ``K − 1``, the same for bipartitions); the reported value is
the un-normalised ``Φ`` there (``criterion="normalized"``). ``criterion="min"`` minimises ``Φ(P)``
itself. Differential entropies can be ``≤ 0``; partitions with ``K(P) ≤ 1e-12`` cannot be normalised and
are skipped by the normalised search (JIDT's cutoff). The tests check the normalised MIB against an
independent NumPy/SciPy brute force of ``Φ/K``.

Measure registry. Every measure, built-in or not, is an entry made by :func:`register_measure`
``(name, fn, batch_fn, exhaustive_max_n)``; :func:`measure_names` lists them (built-ins first).
A new Φ is one function ``fn(A, noise_cov, partition) -> float`` (nats) plus one registration; the search,
the normalisation, a given partition, the atomic candidate and :func:`integrated_information_from_data`
(through the fitted VAR(1)) then work for it. The closed-form built-ins (mi, wms, r, si) are evaluated
from covariance tables instead of their registered functions (same values, and the from-data path uses
the sample covariances directly).

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
.. [6] D. Balduzzi and G. Tononi, "Integrated information in discrete dynamical systems: motivation and
   theoretical framework", PLoS Comput. Biol. 4(6):e1000091, 2008.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, get_args

import torch
from torch import Tensor

from hal9.core import as_tensor, renamed_value, warn_renamed
from hal9.metrics import _phi_linear as _pl
from hal9.metrics._checks import optional_positive_int, positive_int
from hal9.metrics.gaussian import (
    check_covariance,
    conditional_cov,
    sample_covariances,
    stationary_cov,
)
from hal9.metrics.geometric import phi_geometric, phi_geometric_batch
from hal9.metrics.partitions import (
    MAX_ENUM_N,
    Partition,
    PartitionLike,
    atomic_partition,
    mask_to_partition,
    partition_to_mask,
    validate_partition,
)
from hal9.metrics.star import phi_star, phi_star_batch

__all__ = [
    "IntegrationResult",
    "MeasureSpec",
    "get_measure",
    "integrated_information",
    "integrated_information_from_data",
    "measure_names",
    "register_measure",
    "unregister_measure",
]

#: The built-in measures (their registry entries cannot be removed or replaced).
Measure = Literal["mi", "wms", "r", "si", "geometric", "star"]
Criterion = Literal["min", "normalized"]
#: Old spellings of criteria, accepted with a ``DeprecationWarning`` until hal9 0.2.0.
CRITERION_ALIASES: Mapping[str, str] = MappingProxyType({"normalised": "normalized"})
Method = Literal["auto", "exhaustive", "heuristic"]
_LINEAR = ("wms", "r", "si")
#: ``fn(A, noise_cov, partition) -> Φ`` (nats) for one partition with any number of parts.
PartitionFn = Callable[[Tensor, Tensor, Partition], float]
#: ``batch_fn(A, noise_cov, masks) -> Φ`` per mask: ``(c, n)`` bool bipartition masks → ``(c,)`` nats.
BatchFn = Callable[[Tensor, Tensor, Tensor], Tensor]
#: Default largest ``n`` searched exhaustively with ``method="auto"`` for the closed-form measures.
EXHAUSTIVE_MAX_N = 20
#: Masks per call of a batched evaluator (each bounds its own memory further).
EXTERNAL_CHUNK = 4096
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")


@dataclass(frozen=True)
class MeasureSpec:
    """A registry entry (see :func:`register_measure`).

    Attributes
    ----------
    name : str
        The ``measure=`` value.
    fn : callable
        ``fn(A, noise_cov, partition) -> float``: Φ in nats of one partition (``K ≥ 2`` parts).
    batch_fn : callable or None
        ``batch_fn(A, noise_cov, masks) -> Tensor``: ``(c, n)`` bool bipartition masks → ``(c,)`` nats.
    exhaustive_max_n : int
        Largest ``n`` searched exhaustively by ``method="auto"``.
    builtin : bool
        One of the :data:`Measure` names.
    """

    name: str
    fn: PartitionFn
    batch_fn: BatchFn | None
    exhaustive_max_n: int
    builtin: bool


_REGISTRY: dict[str, MeasureSpec] = {}


def register_measure(
    name: str, fn: PartitionFn, batch_fn: BatchFn | None = None, exhaustive_max_n: int = 10
) -> None:
    """Add an integrated-information measure, usable as ``integrated_information(..., measure=name)``.

    Parameters
    ----------
    name : str
        New measure name: a letter, then letters, digits, ``_`` or ``-``; not already registered.
    fn : callable
        ``fn(A, noise_cov, partition) -> float``. ``A``: ``(n, n)`` stable coupling; ``noise_cov``:
        ``(n, n)`` SPD innovation covariance ``Σ_E`` (never None); both of the dtype/device the caller
        asked for (default float64, CPU). ``partition``: canonical tuple of ``K ≥ 2`` sorted tuples of
        node indices covering ``0..n−1`` (bipartitions in the search; the atomic partition or a given
        partition may have more parts). Returns Φ in **nats**. For
        :func:`integrated_information_from_data` it receives the fitted ``Â = C Σ_past⁻¹``,
        ``Σ̂_E = Σ_present − C Σ_past⁻¹ Cᵀ``.
    batch_fn : callable, optional
        ``batch_fn(A, noise_cov, masks) -> Tensor``: ``masks`` a ``(c, n)`` bool tensor of bipartitions
        (``True`` marks one part, both parts non-empty), result ``(c,)`` nats, equal to ``fn`` of each
        bipartition. The search calls it on chunks of up to 4,096 masks; without it, ``fn`` is called
        once per bipartition.
    exhaustive_max_n : int, default 10
        ``method="auto"`` searches all ``2^(n−1) − 1`` bipartitions for ``n ≤ exhaustive_max_n`` and uses
        the heuristic search above (``1 ≤ exhaustive_max_n ≤ 40``).

    Raises
    ------
    ValueError
        If ``name`` is malformed or taken, ``fn``/``batch_fn`` is not callable, or ``exhaustive_max_n``
        is out of range.

    Notes
    -----
    The normalisation ``K(P)``, the MIB search, ``criterion``, ``include_atomic`` and the result type are
    the same as for the built-ins. Remove the entry with :func:`unregister_measure`.

    Examples
    --------
    >>> def cut_weight(A, noise_cov, partition):  # Σ |A_ij| across parts: a toy "measure"
    ...     label = {i: k for k, part in enumerate(partition) for i in part}
    ...     n = A.shape[0]
    ...     return float(sum(abs(A[i, j]) for i in range(n) for j in range(n) if label[i] != label[j]))
    >>> register_measure("cut", cut_weight)
    >>> A = torch.tensor([[0.5, 0.0, 0.1], [0.0, 0.5, 0.0], [0.2, 0.0, 0.5]], dtype=torch.float64)
    >>> integrated_information(A, measure="cut").partition
    ((0, 2), (1,))
    >>> unregister_measure("cut")
    """
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise ValueError(f"name must be a letter followed by letters, digits, '_' or '-', got {name!r}")
    if name in _REGISTRY:
        raise ValueError(f"name {name!r} is already a registered measure; unregister_measure it first")
    if not callable(fn):
        raise ValueError(f"fn must be callable fn(A, noise_cov, partition) -> float, got {fn!r}")
    if batch_fn is not None and not callable(batch_fn):
        raise ValueError(
            f"batch_fn must be callable batch_fn(A, noise_cov, masks) -> Tensor or None, got {batch_fn!r}"
        )
    positive_int("exhaustive_max_n", exhaustive_max_n)
    if exhaustive_max_n > MAX_ENUM_N:
        raise ValueError(f"exhaustive_max_n must be <= {MAX_ENUM_N}, got {exhaustive_max_n}")
    _REGISTRY[name] = MeasureSpec(name, fn, batch_fn, exhaustive_max_n, name in get_args(Measure))


def unregister_measure(name: str) -> None:
    """Remove a measure added by :func:`register_measure` (built-in measures cannot be removed).

    Raises
    ------
    ValueError
        If ``name`` is built-in or not registered.
    """
    if name in get_args(Measure):
        raise ValueError(f"name {name!r} is a built-in measure and cannot be unregistered")
    if name not in _REGISTRY:
        raise ValueError(f"name {name!r} is not a registered measure; registered: {measure_names()}")
    del _REGISTRY[name]


def measure_names() -> tuple[str, ...]:
    """Names accepted as ``measure=``: the built-ins ``("mi", "wms", "r", "si", "geometric", "star")``,
    then the registered ones in registration order.

    Examples
    --------
    >>> measure_names()[:6]
    ('mi', 'wms', 'r', 'si', 'geometric', 'star')
    """
    return tuple(_REGISTRY)


def get_measure(name: str) -> MeasureSpec:
    """The registry entry of ``name`` (``ValueError`` naming ``measure`` if there is none)."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"measure must be one of {measure_names()}, got {name!r}")
    return _REGISTRY[name]


@dataclass(frozen=True)
class IntegrationResult:
    """Result of an integrated-information computation.

    Attributes
    ----------
    value : float
        ``Φ`` in nats at ``partition`` (for ``measure="mi"``: ``I(X_{t−1}; X_t)``).
    measure : str
        One of :func:`measure_names`.
    partition : tuple of tuple of int
        Canonical partition (sorted parts, ordered by their smallest node): a bipartition, the atomic
        partition or the given one; ``((0, …, n−1),)`` for ``"mi"``.
    normalized : float or None
        ``Φ / K(P)`` with ``K(P) = (K − 1) min_k H(M^k_t)`` (None for ``"mi"`` or when ``K(P) ≤ 1e-12``).
    n_partitions_evaluated : int
        Partitions evaluated by the search (1 for a given partition, 0 for ``"mi"``).
    method : str
        ``"exhaustive"``, ``"heuristic"`` or ``"given"``.
    """

    value: float
    measure: str
    partition: Partition
    normalized: float | None
    n_partitions_evaluated: int
    method: str

    @property
    def normalised(self) -> float | None:
        """Deprecated spelling of :attr:`normalized` (until hal9 0.2.0)."""
        warn_renamed("IntegrationResult.normalised", "IntegrationResult.normalized", what="attribute")
        return self.normalized


def _check_options(
    measure: object, criterion: object, method: object, exhaustive_max_n: object, include_atomic: object
) -> tuple[MeasureSpec, str]:
    spec = get_measure(measure)  # type: ignore[arg-type]
    # stack: warn_renamed 1, renamed_value 2, here 3, integrated_information(_from_data) 4, the user 5
    criterion = renamed_value(criterion, CRITERION_ALIASES, field="criterion", stacklevel=5)
    if criterion not in get_args(Criterion):
        raise ValueError(f"criterion must be one of {get_args(Criterion)}, got {criterion!r}")
    if method not in get_args(Method):
        raise ValueError(f"method must be one of {get_args(Method)}, got {method!r}")
    optional_positive_int("exhaustive_max_n", exhaustive_max_n)
    if not isinstance(include_atomic, bool):
        raise ValueError(f"include_atomic must be True or False, got {include_atomic!r}")
    return spec, criterion  # type: ignore[return-value]


def _logdet(M: Tensor) -> float:
    return float(2.0 * torch.log(torch.diagonal(torch.linalg.cholesky(M))).sum())


def _var1_stats(A: Tensor, Q: Tensor) -> _pl.LinearStats:
    """Covariances of ``(X_{t−1}, X_t)`` of the stationary VAR(1) (checks ``ρ(A) < 1`` and ``Q`` SPD)."""
    sigma = stationary_cov(A, Q)
    return _pl.LinearStats(sigma, sigma, A @ sigma, _logdet(sigma), _logdet(Q), True)


def _batched(spec: MeasureSpec, A: Tensor, Q: Tensor) -> Callable[[Tensor], Tensor]:
    """Φ of a chunk of masks through ``spec.batch_fn``, or ``spec.fn`` once per mask; checked ``(c,)``."""

    def evaluate(masks: Tensor) -> Tensor:
        if spec.batch_fn is not None:
            out = spec.batch_fn(A, Q, masks)
        else:
            out = torch.tensor(
                [float(spec.fn(A, Q, mask_to_partition(m))) for m in masks], dtype=torch.float64
            )
        out = as_tensor(out, f"the value of measure {spec.name!r}").to(A.device, A.dtype)
        if out.shape != masks.shape[:1] or bool(torch.isnan(out).any()):
            raise ValueError(
                f"measure {spec.name!r} must return {masks.shape[0]} non-NaN values, got shape "
                f"{tuple(out.shape)} with {int(torch.isnan(out).sum())} NaN"
            )
        return out

    return evaluate


def _score(v: float, k: float, criterion: str) -> float:
    """:func:`hal9.metrics._phi_linear.score` of one partition."""
    if criterion == "min":
        return v
    return v / k if k > _pl.K_MIN else math.inf


def _solve(
    stats: _pl.LinearStats,
    A: Tensor,
    Q: Tensor,
    *,
    spec: MeasureSpec,
    partition: object,
    criterion: str,
    method: str,
    exhaustive_max_n: int | None,
    include_atomic: bool,
) -> IntegrationResult:
    n = stats.past.shape[-1]
    measure = spec.name
    if measure == "mi":
        value = 0.5 * (stats.ld_present - stats.ld_cond)
        return IntegrationResult(value, "mi", (tuple(range(n)),), None, 0, "given")
    if n < 2:
        raise ValueError(f"measure={measure!r} needs at least 2 nodes, got n={n}")
    linear = measure in _LINEAR
    if linear:

        def evaluate(masks: Tensor) -> tuple[Tensor, Tensor]:
            return _pl.measure_values(stats, masks, measure)

        chunk = _pl.chunk_size_for(n, stats.past.element_size())
    else:
        ext = _batched(spec, A, Q)

        def evaluate(masks: Tensor) -> tuple[Tensor, Tensor]:
            return ext(masks), _pl.measure_values(stats, masks, "si")[1]

        chunk = EXTERNAL_CHUNK

    def evaluate_partition(parts: Partition) -> tuple[float, float]:
        """``(Φ, K)`` of one partition: bipartitions through the search's evaluator, ``K > 2`` directly."""
        if len(parts) == 2:
            vals, K = evaluate(partition_to_mask(parts, n, device=stats.past.device)[None, :])
            return float(vals[0]), float(K[0])
        if linear:
            return _pl.partition_values(stats, parts, measure)
        return float(spec.fn(A, Q, parts)), _pl.partition_normalizer(stats, parts)

    if partition is not None:
        parts = validate_partition(partition, n)
        v, k = evaluate_partition(parts)
        return IntegrationResult(v, measure, parts, v / k if k > _pl.K_MIN else None, 1, "given")
    limit = spec.exhaustive_max_n if exhaustive_max_n is None else exhaustive_max_n
    use_exhaustive = method == "exhaustive" or (method == "auto" and n <= limit)
    if use_exhaustive and linear:
        mask, v, k, count = _pl.exhaustive_linear(stats, measure, criterion)
        how = "exhaustive"
    elif use_exhaustive:
        mask, v, k, count = _pl.exhaustive_search(evaluate, n, criterion, chunk, stats.past.device)
        how = "exhaustive"
    else:
        W = _pl.coupling_matrix(A, stats.past)
        mask, v, k, count = _pl.heuristic_search(evaluate, W, criterion)
        how = "heuristic"
    best = mask_to_partition(mask)
    if include_atomic and n > 2:  # for n = 2 the atomic partition is the only bipartition
        atomic = atomic_partition(n)
        va, ka = evaluate_partition(atomic)
        count += 1
        if _score(va, ka, criterion) < _score(v, k, criterion):  # ties keep the bipartition
            best, v, k = atomic, va, ka
    return IntegrationResult(v, measure, best, v / k if k > _pl.K_MIN else None, count, how)


def integrated_information(
    A: object,
    noise_cov: object | None = None,
    *,
    measure: Measure | str,
    partition: PartitionLike | None = None,
    criterion: Criterion = "min",
    method: Method = "auto",
    exhaustive_max_n: int | None = None,
    include_atomic: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> IntegrationResult:
    """Integrated information of the stationary VAR(1) ``X_t = A X_{t−1} + E_t``, ``E_t ~ N(0, Σ_E)``.

    Parameters
    ----------
    A : Tensor or array-like
        Coupling matrix with spectral radius ``< 1`` (numpy arrays and nested lists are accepted).
    noise_cov : Tensor or array-like, optional
        Innovation covariance ``Σ_E`` (symmetric positive definite); identity when omitted.
    measure : str
        ``"mi"``, ``"wms"``, ``"r"``, ``"si"``, ``"geometric"``, ``"star"`` or a name added with
        :func:`register_measure` (see :func:`measure_names`). ``"mi"`` ignores ``partition``.
    partition : sequence of parts, or sequence of n group labels, optional
        A fixed partition of ``0..n−1`` into ``K ≥ 2`` parts, e.g. ``((0, 1), (2,), (3,))`` or the labels
        ``[0, 0, 1, 2]`` (see :func:`hal9.metrics.partitions.validate_partition`). When omitted, the
        minimum information partition is searched over the bipartitions (and the atomic partition with
        ``include_atomic=True``).
    criterion : {"min", "normalized"}
        MIB objective: ``Φ(P)`` or Barrett–Seth ``Φ(P)/K(P)``, ``K(P) = (K − 1) min_k H(M^k_t)``; the
        value reported is ``Φ`` at the MIB.
    method : {"auto", "exhaustive", "heuristic"}
        ``"auto"``: exhaustive for ``n ≤ exhaustive_max_n`` (default 20 for wms/r/si, 16 for star,
        10 for geometric, the registered value otherwise), otherwise spectral bisection + local moves
        (not guaranteed optimal).
    exhaustive_max_n : int, optional
        Override of the ``"auto"`` threshold.
    include_atomic : bool, default False
        Also evaluate the atomic partition ``((0,), …, (n−1,))`` and return it if it scores strictly
        lower than the best bipartition (one more partition evaluated; no effect for ``n = 2``).
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
        Non-numeric, ragged, unstable or non-finite ``A``; ``noise_cov`` not SPD; bad ``partition``,
        ``measure``, ``criterion``, ``method``, ``exhaustive_max_n`` or ``include_atomic``.

    Notes
    -----
    Exhaustive search (wms/r/si) tabulates the log-determinants of all ``2^n`` principal sub-matrices of
    ``Σ`` and of the joint covariance of ``(X_{t−1}, X_t)`` by a batched Schur-complement recursion
    (``O(2^n)`` work and memory, :mod:`hal9.metrics._phi_subsets`), then scores all ``2^(n−1) − 1``
    bipartitions with gathers. Heuristic search and a given bipartition use three batched Cholesky
    factorisations of masked ``n × n`` matrices per candidate; a partition with ``K > 2`` parts is
    evaluated from explicit sub-blocks (``O(K² n³)``). geometric/star (and registered measures with a
    ``batch_fn``) evaluate whole chunks of masks with their batched functions, which agree with the
    per-partition ones.

    Examples
    --------
    >>> r = integrated_information([[0.0, 0.0], [0.8, 0.0]], measure="wms")
    >>> round(r.value, 6) == round(0.5 * math.log(1.64), 6), r.partition
    (True, ((0,), (1,)))
    """
    spec, crit = _check_options(measure, criterion, method, exhaustive_max_n, include_atomic)
    A = as_tensor(A, "A")
    if A.ndim != 2:
        raise ValueError(f"A must be an (n, n) matrix, got shape {tuple(A.shape)}")
    A = A.to(device=device, dtype=dtype)
    n = A.shape[-1]
    if noise_cov is None:
        Q = torch.eye(n, dtype=dtype, device=A.device)
    else:
        Q = as_tensor(noise_cov, "noise_cov", device=A.device).to(A.device, dtype)
    stats = _var1_stats(A, Q)
    return _solve(
        stats,
        A,
        Q,
        spec=spec,
        partition=partition,
        criterion=crit,
        method=method,
        exhaustive_max_n=exhaustive_max_n,
        include_atomic=include_atomic,
    )


def integrated_information_from_data(
    x: object,
    *,
    measure: Measure | str,
    partition: PartitionLike | None = None,
    criterion: Criterion = "min",
    method: Method = "auto",
    exhaustive_max_n: int | None = None,
    include_atomic: bool = False,
    lag: int = 1,
) -> IntegrationResult | list[IntegrationResult]:
    """Integrated information estimated from a time series via its (lagged) sample covariances.

    The Gaussian formulas of :func:`integrated_information` are applied directly to the covariance
    blocks ``Σ_past = Cov(X_{t−τ})``, ``Σ_present = Cov(X_t)``, ``C = Cov(X_t, X_{t−τ})`` from
    :func:`hal9.metrics.gaussian.sample_covariances` (plug-in estimator, no bias correction).
    For ``"geometric"``/``"star"`` and registered measures a VAR(1) is fitted: ``Â = C Σ_past⁻¹``,
    ``Σ̂_E = Σ_present − C Σ_past⁻¹ Cᵀ``.

    Parameters
    ----------
    x : Tensor or array-like
        Time series; computed in float64.
    measure, partition, criterion, method, exhaustive_max_n, include_atomic
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
    spec, crit = _check_options(measure, criterion, method, exhaustive_max_n, include_atomic)
    x = as_tensor(x, "x")
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be a (T, n) or (B, T, n) array, got shape {tuple(x.shape)}")
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
                spec=spec,
                partition=partition,
                criterion=crit,
                method=method,
                exhaustive_max_n=exhaustive_max_n,
                include_atomic=include_atomic,
            )
        )
    return out if batched else out[0]


# ---------------------------------------------------------------- the built-in measures
def _mi(A: Tensor, noise_cov: Tensor, partition: Partition) -> float:
    """``I(X_{t−1}; X_t) = ½ ln(det Σ / det Σ_E)`` (nats); ``partition`` is ignored."""
    return integrated_information(A, noise_cov, measure="mi", dtype=A.dtype).value


def _closed_form(name: str) -> tuple[PartitionFn, BatchFn]:
    """``fn``/``batch_fn`` of a closed-form measure (``"wms"``, ``"r"``, ``"si"``) of a VAR(1)."""

    def fn(A: Tensor, noise_cov: Tensor, partition: Partition) -> float:
        return integrated_information(A, noise_cov, measure=name, partition=partition, dtype=A.dtype).value

    def batch_fn(A: Tensor, noise_cov: Tensor, masks: Tensor) -> Tensor:
        return _pl.measure_values(_var1_stats(A, noise_cov), masks, name)[0]

    fn.__doc__ = f"Φ ({name!r}, nats) of one partition of a VAR(1); see :mod:`hal9.metrics.integration`."
    batch_fn.__doc__ = f"Φ ({name!r}, nats) of a ``(c, n)`` stack of bipartition masks → ``(c,)``."
    return fn, batch_fn


register_measure("mi", _mi, None, EXHAUSTIVE_MAX_N)
for _name in _LINEAR:
    register_measure(_name, *_closed_form(_name), exhaustive_max_n=EXHAUSTIVE_MAX_N)
# Φ*: ~2–3 s for the 32,767 bipartitions of n = 16 with one thread, ~1.3 s with two, on 2 CPU cores;
# Φ_G: ~3 s at n = 10–11, but single slowly converging partitions can take 10⁴ sweeps beyond that.
register_measure("geometric", phi_geometric, phi_geometric_batch, 10)
register_measure("star", phi_star, phi_star_batch, 16)
