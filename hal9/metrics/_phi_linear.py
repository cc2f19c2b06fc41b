"""Batched linear-Gaussian bipartition terms and minimum-information-bipartition (MIB) search.

Private module behind :func:`hal9.metrics.integration.integrated_information`. Exhaustive search of the
closed-form measures uses all-subset log-determinant tables (:func:`exhaustive_linear`); arbitrary sets of
candidate masks (heuristic search, a given partition) use the masking trick below.

Masking trick
-------------
For a mask ``m`` (``True`` on ``M¹``) let ``B = m mᵀ + (1−m)(1−m)ᵀ``. The matrix ``Σ ⊙ B`` is
block-diagonal up to a permutation of nodes, so its Cholesky factor ``L`` is too, and the log-diagonal of
``L`` summed over ``M¹`` (``M²``) is ``ln det Σ_{M¹M¹}`` (``ln det Σ_{M²M²}``). The Schur complement
``Σ_f ⊙ B − (C ⊙ B)(Σ_p ⊙ B)⁻¹(C ⊙ B)ᵀ`` is block-diagonal with blocks ``Σ_{M^k_t | M^k_{t−1}}``, and
with the off-block part ``D = C ⊙ (1 − B)`` the complement ``Σ_f ⊙ B − D (Σ_p ⊙ B)⁻¹ Dᵀ`` has blocks
``Σ_{M²_t | M¹_{t−1}}`` (on ``M²``) and ``Σ_{M¹_t | M²_{t−1}}`` (on ``M¹``). Three batched Cholesky
factorisations per chunk of masks thus give every per-part log-determinant the measures need.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from hal9.metrics._phi_subsets import interleave, subset_logdets
from hal9.metrics.partitions import Partition, bipartition_masks, n_bipartitions

LOG_2PIE = math.log(2.0 * math.pi * math.e)
#: Memory budget of one chunk of batched matrices.
CHUNK_BYTES = 256 * 2**20
#: Number of (n, n) temporaries held per mask in :func:`linear_terms`.
_TEMPS_PER_MASK = 8
#: Smallest normalisation ``K(B)`` (nats) that is divided by: bipartitions with ``K(B) ≤ K_MIN`` score
#: ``+inf`` under ``criterion="normalized"`` and report no normalised value. The cutoff is JIDT's
#: (``IntegratedMeasureCalculatorGaussian``, which scores ``K < 1e-12`` as ``+inf``).
K_MIN = 1e-12

Evaluator = Callable[[Tensor], tuple[Tensor, Tensor]]


@dataclass(frozen=True)
class LinearStats:
    """Covariances of ``(X_{t−1}, X_t)``: ``past = Cov(X_{t−1})``, ``present = Cov(X_t)``,
    ``lag = Cov(X_t, X_{t−1})``; ``ld_cond`` = ``ln det Σ_{X_t|X_{t−1}}``, ``ld_present`` =
    ``ln det Cov(X_t)``. Shape: ``(n, n)`` each."""

    past: Tensor
    present: Tensor
    lag: Tensor
    ld_present: float
    ld_cond: float
    same_past_present: bool


def _chol(M: Tensor, what: str) -> Tensor:
    L, info = torch.linalg.cholesky_ex(M)
    if bool((info != 0).any()):
        raise ValueError(f"{what} is not positive definite for some partition (ill-conditioned covariance)")
    return L


def _masked_logdets(L: Tensor, m: Tensor) -> tuple[Tensor, Tensor]:
    logd = 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1))
    return (logd * m).sum(-1), (logd * (1.0 - m)).sum(-1)


def linear_terms(stats: LinearStats, masks: Tensor) -> dict[str, Tensor]:
    """Per-partition log-determinants for a chunk of masks.

    Shape
    -----
    ``masks``: ``(c, n)`` bool → each value ``(c,)``. Keys: ``ldS1, ldS2`` (``ln det Σ(M^k_t)``),
    ``ldC1, ldC2`` (``ln det Σ(M^k_t | M^k_{t−1})``), ``ldX21`` (``ln det Σ(M²_t | M¹_{t−1})``),
    ``ldX12`` (``ln det Σ(M¹_t | M²_{t−1})``), ``n1, n2`` (part sizes).
    """
    m = masks.to(stats.past.dtype)
    block = m[:, :, None] * m[:, None, :] + (1.0 - m)[:, :, None] * (1.0 - m)[:, None, :]
    Lp = _chol(stats.past * block, "Cov(X_{t-1})")
    Sf = stats.present * block
    Lf = Lp if stats.same_past_present else _chol(Sf, "Cov(X_t)")
    ldS1, ldS2 = _masked_logdets(Lf, m)
    W = torch.linalg.solve_triangular(Lp, (stats.lag * block).mT, upper=False)
    ldC1, ldC2 = _masked_logdets(_chol(Sf - W.mT @ W, "Σ(M_t | M_{t-1})"), m)
    W = torch.linalg.solve_triangular(Lp, (stats.lag * (1.0 - block)).mT, upper=False)
    ldX12, ldX21 = _masked_logdets(_chol(Sf - W.mT @ W, "Σ(M^j_t | M^i_{t-1})"), m)
    n1 = m.sum(-1)
    return {
        "ldS1": ldS1,
        "ldS2": ldS2,
        "ldC1": ldC1,
        "ldC2": ldC2,
        "ldX12": ldX12,
        "ldX21": ldX21,
        "n1": n1,
        "n2": m.shape[-1] - n1,
    }


def measure_values(stats: LinearStats, masks: Tensor, measure: str) -> tuple[Tensor, Tensor]:
    """``(Φ(B), K(B))`` for a chunk of masks and a linear measure ``"wms" | "r" | "si"``.

    Shape
    -----
    ``masks``: ``(c, n)`` → two ``(c,)`` tensors (nats).
    """
    t = linear_terms(stats, masks)
    i_whole = 0.5 * (stats.ld_present - stats.ld_cond)
    i1 = 0.5 * (t["ldS1"] - t["ldC1"])
    i2 = 0.5 * (t["ldS2"] - t["ldC2"])
    K = 0.5 * torch.minimum(t["n1"] * LOG_2PIE + t["ldS1"], t["n2"] * LOG_2PIE + t["ldS2"])
    if measure == "si":
        return 0.5 * (t["ldC1"] + t["ldC2"] - stats.ld_cond), K
    wms = i_whole - i1 - i2
    if measure == "wms":
        return wms, K
    if measure == "r":
        i12 = 0.5 * (t["ldS2"] - t["ldX21"])  # I(M¹_{t−1}; M²_t)
        i21 = 0.5 * (t["ldS1"] - t["ldX12"])  # I(M²_{t−1}; M¹_t)
        red = torch.minimum(torch.minimum(i1, i2), torch.minimum(i12, i21))
        return wms + red, K
    raise ValueError(f"measure must be 'wms', 'r' or 'si' here, got {measure!r}")


def partition_values(stats: LinearStats, parts: Partition, measure: str) -> tuple[float, float]:
    """``(Φ(P), K(P))`` (nats) of one partition into any number ``K ≥ 2`` of parts, from explicit sub-blocks.

    With ``Σ_f = Cov(X_t)``, ``Σ_p = Cov(X_{t−1})``, ``C = Cov(X_t, X_{t−1})`` and, for parts ``i, j``,
    ``ℓ(j | i) = ln det(Σ_f[j, j] − C[j, i] Σ_p[i, i]⁻¹ C[j, i]ᵀ) = ln det Σ(M^j_t | M^i_{t−1})``:
    ``I(M^i_{t−1}; M^j_t) = ½ (ln det Σ_f[j, j] − ℓ(j | i))`` and

    * ``Φ_WMS(P) = I(X_{t−1}; X_t) − Σ_k I(M^k_{t−1}; M^k_t)`` (Barrett & Seth 2011);
    * ``SI(P) = ½ (Σ_k ℓ(k | k) − ln det Σ_E)`` (Ay 2015; PhiToolbox ``SI_Gauss.m``);
    * ``Φ_R(P) = Φ_WMS(P) + (K − 1) min_{i,j} I(M^i_{t−1}; M^j_t)`` over all ``K²`` ordered pairs of parts:
      the minimum-mutual-information double redundancy, which ``Σ_k I(M^k_{t−1}; M^k_t)`` counts ``K``
      times and ``I(X_{t−1}; X_t)`` once. For ``K = 2`` this is Mediano, Seth & Barrett's (2019) Φ_R; for
      ``K > 2`` it is hal9's extension (no published ``K``-part Φ_R);
    * ``K(P) = (K − 1) min_k H(M^k_t)`` (Balduzzi & Tononi 2008; Barrett & Seth 2011; PhiToolbox
      ``SI_Gauss.m``: ``(N_c − 1) min(H_p)``).

    Cost ``O(K² n³)``; used for a given partition with ``K > 2`` parts and for the atomic candidate of the
    search (the batched mask path handles bipartitions).
    """
    idx = _part_indices(stats, parts)
    ld_f = [_logdet1(_sub(stats.present, i, i), "Cov(X_t)") for i in idx]
    chol_p = [_chol(_sub(stats.past, i, i), "Cov(X_{t-1})") for i in idx]

    def cond(j: int, i: int) -> float:  # ln det Σ(M^j_t | M^i_{t−1})
        W = torch.linalg.solve_triangular(chol_p[i], _sub(stats.lag, idx[j], idx[i]).mT, upper=False)
        return _logdet1(_sub(stats.present, idx[j], idx[j]) - W.mT @ W, "Σ(M^j_t | M^i_{t-1})")

    k_parts = len(parts)
    K = _normalizer(parts, ld_f)
    own = [cond(k, k) for k in range(k_parts)]
    if measure == "si":
        return 0.5 * (sum(own) - stats.ld_cond), K
    i_whole = 0.5 * (stats.ld_present - stats.ld_cond)
    wms = i_whole - sum(0.5 * (ld_f[k] - own[k]) for k in range(k_parts))
    if measure == "wms":
        return wms, K
    if measure == "r":
        red = min(
            0.5 * (ld_f[j] - (own[j] if i == j else cond(j, i)))
            for i in range(k_parts)
            for j in range(k_parts)
        )
        return wms + (k_parts - 1) * red, K
    raise ValueError(f"measure must be 'wms', 'r' or 'si' here, got {measure!r}")


def partition_normalizer(stats: LinearStats, parts: Partition) -> float:
    """``K(P) = (K − 1) min_k ½ (|M^k| ln 2πe + ln det Cov(M^k_t))`` (nats) of one partition (see above)."""
    return _normalizer(
        parts, [_logdet1(_sub(stats.present, i, i), "Cov(X_t)") for i in _part_indices(stats, parts)]
    )


def _part_indices(stats: LinearStats, parts: Partition) -> list[Tensor]:
    return [torch.tensor(p, dtype=torch.long, device=stats.past.device) for p in parts]


def _sub(M: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return M[a[:, None], b[None, :]]


def _logdet1(M: Tensor, what: str) -> float:
    return float(2.0 * torch.log(torch.diagonal(_chol(M, what))).sum())


def _normalizer(parts: Partition, ld_present: list[float]) -> float:
    """``(K − 1) min_k ½ (|M^k| ln 2πe + ln det Cov(M^k_t))`` from the parts' log-determinants."""
    entropies = [0.5 * (len(p) * LOG_2PIE + ld) for p, ld in zip(parts, ld_present, strict=True)]
    return (len(parts) - 1) * min(entropies)


def chunk_size_for(n: int, itemsize: int = 8) -> int:
    """Masks per chunk so the batched temporaries stay within :data:`CHUNK_BYTES`."""
    return max(1, CHUNK_BYTES // (_TEMPS_PER_MASK * n * n * itemsize))


def score(values: Tensor, K: Tensor, criterion: str) -> Tensor:
    """Objective minimised by the MIB search: ``Φ`` (``"min"``) or ``Φ/K`` (``"normalised"``, ``K > K_MIN``).

    Partitions with ``K(B) ≤`` :data:`K_MIN` (``1e-12``) cannot be normalised and score ``+inf``.
    """
    if criterion == "min":
        return values
    pos = K > K_MIN
    return torch.where(pos, values / torch.where(pos, K, torch.ones_like(K)), torch.full_like(K, math.inf))


def exhaustive_search(
    evaluate: Evaluator, n: int, criterion: str, chunk: int, device: torch.device
) -> tuple[Tensor, float, float, int]:
    """Minimise the criterion over all ``2^(n−1) − 1`` bipartitions, chunk by chunk.

    Returns ``(best mask (n,), Φ at best, K at best, number evaluated)``; ties keep the lowest mask number.
    """
    best_s = math.inf
    best: tuple[Tensor, float, float] | None = None
    for masks in bipartition_masks(n, chunk_size=chunk, device=device):
        vals, K = evaluate(masks)
        s = score(vals, K, criterion)
        j = int(torch.argmin(s))
        if float(s[j]) < best_s:
            best_s = float(s[j])
            best = (masks[j].clone(), float(vals[j]), float(K[j]))
    if best is None:
        raise ValueError("criterion='normalized' is undefined: K(B) <= 1e-12 for every bipartition")
    return best[0], best[1], best[2], n_bipartitions(n)


#: Largest ``n`` for :func:`exhaustive_linear` (its tables hold ``2^n`` values each).
SUBSET_MAX_N = 26


def _popcounts(count: int, like: Tensor) -> Tensor:
    """Number of set bits of ``0 … count − 1`` (``count`` a power of two), built by doubling (float)."""
    pc = like.new_zeros(count)
    h = 1
    while h < count:
        torch.add(pc[:h], 1.0, out=pc[h : 2 * h])
        h *= 2
    return pc


@torch.inference_mode()
def exhaustive_linear(stats: LinearStats, measure: str, criterion: str) -> tuple[Tensor, float, float, int]:
    """Exhaustive MIB of ``"wms" | "r" | "si"`` from all-subset log-determinant tables.

    With ``ℓ_p(S) = ln det Σ_past(S)``, ``ℓ_f(S) = ln det Σ_present(S)``, ``ℓ_J(S) = ln det`` of the
    joint covariance of ``(S_{t−1}, S_t)`` and ``ℓ_G(S) = ln det`` of the joint covariance of
    ``(S_{t−1}, (S^c)_t)`` (all from :func:`hal9.metrics._phi_subsets.subset_logdets`):
    ``I(S_{t−1}; S_t) = ½(ℓ_p + ℓ_f − ℓ_J)(S)``, ``ln det Σ(S_t | S_{t−1}) = ℓ_J(S) − ℓ_p(S)``,
    ``I(S_{t−1}; (S^c)_t) = ½(ℓ_p(S) + ℓ_f(S^c) − ℓ_G(S))`` and ``K(B) = min_k ½(|M^k| ln 2πe + ℓ_f(M^k))``.

    Bipartition ``c ∈ [1, 2^(n−1))`` is ``(M¹ = c, M² = 2^n − 1 − c)``; as ``c`` runs up, ``M²`` runs down
    through ``[2^(n−1), 2^n − 1)``, so every table is read as two contiguous slices (one reversed) — no
    index tensors. ``K`` is only tabulated for ``criterion="normalized"``.

    Returns ``(best mask (n,), Φ at best, K at best, 2^(n−1) − 1)``; ties keep the lowest mask number.
    """
    n = stats.past.shape[-1]
    if n > SUBSET_MAX_N:
        raise ValueError(f"exhaustive search is limited to n <= {SUBSET_MAX_N} nodes, got n={n}")
    half, full = 2 ** (n - 1), 2**n - 1
    lp = subset_logdets(stats.past, check=False)
    lf = lp if stats.same_past_present else subset_logdets(stats.present, check=False)
    J = interleave(stats.past, stats.present, stats.lag)
    lJ = subset_logdets(J, block=2, check=False)
    mi = 0.5 * (lp + lf - lJ)  # I(S_{t−1}; S_t); NaN/±inf wherever a table is
    if not bool(torch.isfinite(mi).all()):
        raise ValueError("covariance is not positive definite (non-positive Schur pivot)")

    def one(t: Tensor) -> Tensor:  # table at M¹ for every bipartition
        return t[1:half]

    def two(t: Tensor) -> Tensor:  # table at M² for every bipartition
        return t[half:full].flip(0)

    if measure == "si":
        cond = lJ - lp
        vals = 0.5 * (one(cond) + two(cond) - cond[full])
    else:
        vals = mi[full] - one(mi) - two(mi)
        if measure == "r":
            lG = subset_logdets(J, block=2, options=((1,), (0,)))  # bit 1: node in the past set
            i12 = 0.5 * (one(lp) + two(lf) - one(lG))
            i21 = 0.5 * (two(lp) + one(lf) - two(lG))
            vals = vals + torch.minimum(torch.minimum(one(mi), two(mi)), torch.minimum(i12, i21))
        elif measure != "wms":
            raise ValueError(f"measure must be 'wms', 'r' or 'si' here, got {measure!r}")
    if criterion == "min":
        j = int(torch.argmin(vals))
        code = j + 1
        k1 = code.bit_count()
        k = 0.5 * min(k1 * LOG_2PIE + float(lf[code]), (n - k1) * LOG_2PIE + float(lf[full - code]))
        value = float(vals[j])
    else:
        size1 = one(_popcounts(half, lf))
        K = 0.5 * torch.minimum(size1 * LOG_2PIE + one(lf), (n - size1) * LOG_2PIE + two(lf))
        s = score(vals, K, criterion)
        j = int(torch.argmin(s))
        if not bool(torch.isfinite(s[j])):
            raise ValueError("criterion='normalized' is undefined: K(B) <= 1e-12 for every bipartition")
        code, value, k = j + 1, float(vals[j]), float(K[j])
    mask = torch.tensor([(code >> i) & 1 for i in range(n)], dtype=torch.bool, device=stats.past.device)
    return mask, value, k, n_bipartitions(n)


def _canon(masks: Tensor) -> Tensor:
    """Flip masks whose last node is ``True`` so node ``n−1`` is always in part 2."""
    return masks ^ masks[:, -1:]


def _valid(masks: Tensor) -> Tensor:
    k = masks.sum(-1)
    return (k > 0) & (k < masks.shape[-1])


def coupling_matrix(A: Tensor, sigma: Tensor) -> Tensor:
    """Symmetric coupling ``W = |A| + |A|ᵀ + |R|`` (``R``: correlation matrix of ``Σ``), zero diagonal."""
    d = torch.diagonal(sigma).sqrt()
    R = sigma / (d[:, None] * d[None, :])
    W = A.abs() + A.abs().mT + R.abs()
    return W - torch.diag(torch.diagonal(W))


def _local_search(
    evaluate: Evaluator, start: Tensor, start_s: float, criterion: str, max_rounds: int, seen: set[bytes]
) -> tuple[Tensor, float, int]:
    """Best-improvement descent; stops early on reaching a mask an earlier descent already passed
    (its continuation, being deterministic, is known)."""
    n = start.shape[-1]
    dev = start.device
    eye = torch.eye(n, dtype=torch.bool, device=dev)
    iu = torch.triu_indices(n, n, offset=1, device=dev)
    swap = eye[iu[0]] | eye[iu[1]]  # (n(n−1)/2, n): flip two nodes
    cur, cur_s, evaluated = start, start_s, 0
    for _ in range(max_rounds):
        key = cur.cpu().numpy().tobytes()
        if key in seen:
            break
        seen.add(key)
        moves = torch.cat([cur[None, :] ^ eye, (cur[None, :] ^ swap)[cur[iu[0]] != cur[iu[1]]]], dim=0)
        moves = _canon(moves)
        moves = moves[_valid(moves)]
        if moves.shape[0] == 0:
            break
        vals, K = evaluate(moves)
        s = score(vals, K, criterion)
        evaluated += moves.shape[0]
        j = int(torch.argmin(s))
        if not float(s[j]) < cur_s - 1e-12 * max(1.0, abs(cur_s)):
            break
        cur, cur_s = moves[j], float(s[j])
    return cur, cur_s, evaluated


def heuristic_search(
    evaluate: Evaluator, W: Tensor, criterion: str, n_starts: int = 16, max_rounds: int = 100
) -> tuple[Tensor, float, float, int]:
    """Spectral bisection + singleton cuts, then multi-start Kernighan–Lin-style local search.

    1. Candidate cuts, evaluated in one batch: the ``n−1`` sweep cuts ``{i : vᵢ ≤ θ}`` along the sorted
       Fiedler vector ``v₂`` (and ``v₃``) of the Laplacian ``L = diag(W 1) − W``, and the ``n``
       singleton cuts ``{i} | rest``.
    2. From each of the ``n_starts`` best candidates, repeatedly evaluate all single-node moves and all
       cross-part swaps in one batch and take the best strictly improving one, until none improves or
       ``max_rounds``. The best local optimum wins.

    Returns ``(best mask (n,), Φ at best, K at best, number of partitions evaluated)``.

    Notes
    -----
    ``O(n²)`` candidates per local-search round; no optimality guarantee.
    """
    n = W.shape[-1]
    dev = W.device
    lap = torch.diag(W.sum(-1)) - W
    _, vecs = torch.linalg.eigh(lap)
    cands = [torch.eye(n, dtype=torch.bool, device=dev)]
    for k in range(1, min(3, n)):
        order = torch.argsort(vecs[:, k])
        ranks = torch.empty_like(order)
        ranks[order] = torch.arange(n, device=dev)
        cands.append(ranks[None, :] <= torch.arange(n - 1, device=dev)[:, None])
    cand = _canon(torch.cat(cands, dim=0))
    cand = torch.unique(cand[_valid(cand)], dim=0)
    vals, K = evaluate(cand)
    s = score(vals, K, criterion)
    evaluated = cand.shape[0]
    best, best_s = cand[int(torch.argmin(s))], float(s.min())
    seen: set[bytes] = set()
    for j in torch.argsort(s)[:n_starts].tolist():
        if not torch.isfinite(s[j]):
            continue
        m, ms, ev = _local_search(evaluate, cand[j], float(s[j]), criterion, max_rounds, seen)
        evaluated += ev
        if ms < best_s:
            best, best_s = m, ms
    if not math.isfinite(best_s):
        raise ValueError("criterion='normalized' is undefined: K(B) <= 1e-12 for every bipartition tried")
    vals, K = evaluate(best[None, :])
    return best, float(vals[0]), float(K[0]), evaluated + 1
