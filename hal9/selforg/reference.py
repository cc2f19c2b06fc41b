"""HAL9 reference benchmark mode: HAL9's hashed neurons, pair rule and 5-bin layering, run for real.

The original HAL9 project published timings for "N neurons self-organize" (hash features, discover
pairwise connections, bin into layers). This module recomputes exactly that work, with every pair
``i < j`` really evaluated (``method="pairs"``), so that its published numbers can be checked.

* Features: neuron ``i`` has ``s_i = h(i, 1)`` and ``c_i = h(i, 2)`` with
  ``h(n, salt) = ((n·2654435761 + salt·0x9E3779B9) mod 2⁶⁴ mod 1000) / 1000`` (the integer part in exact
  unsigned 64-bit arithmetic, the division in float32).
* Connection: ``i < j`` are connected when ``(1 − 0.5·|s_i − s_j|) − 0.3·|c_i − c_j| > 0.5``, every
  operation rounded to float32 in that order (no fused multiply-add).
* Layers: HAL9's 5-bin rule on ``(s, c)`` (first match wins), empty bins dropped.

All comparisons use float32 constants (``0.8`` means ``float32(0.8)``), as in HAL9's Rust ``f32`` code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "ReferenceResult",
    "count_connections",
    "hal9_hash",
    "hal9_reference_features",
    "hal9_reference_layers",
    "hal9_reference_run",
]

_MUL = 2654435761
_GOLDEN = 0x9E3779B9
_TWO64_MOD_1000 = (1 << 64) % 1000  # = 616
_TILE_ELEMENTS = {"cpu": 1 << 21, "cuda": 1 << 26}  # float32 elements in one (rows × columns) tile
Method = Literal["pairs", "dedup"]


def _check_n(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int ≥ 1, got {n!r}")
    return n


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def hal9_hash(index: Tensor, salt: int) -> Tensor:
    """HAL9's feature hash ``h(n, salt) = ((n·2654435761 + salt·0x9E3779B9) mod 2⁶⁴ mod 1000) / 1000``.

    Parameters
    ----------
    index : Tensor
        ``(N,)`` int64, non-negative neuron indices (any value in ``[0, 2⁶³)``).
    salt : int
        Non-negative salt (HAL9 uses 1 for ``s`` and 2 for ``c``).

    Returns
    -------
    Tensor
        ``(N,)`` float32 in ``[0, 0.999]`` on ``index.device``.

    Notes
    -----
    Signed int64 multiply/add wraps modulo 2⁶⁴ exactly like unsigned 64-bit arithmetic, so the bits of
    ``x`` are those of the unsigned value ``u``. The remainder must be taken on ``u``: for ``x ≥ 0``,
    ``u = x``; for ``x < 0``, ``u = x + 2⁶⁴`` and ``u mod 1000 = (x mod 1000 + 616) mod 1000`` with the
    non-negative remainder (``2⁶⁴ mod 1000 = 616``). The integer in ``[0, 999]`` is exact in float32; the
    division by 1000 is one correctly rounded float32 operation. ``O(N)`` time and memory.
    """
    if index.dtype != torch.int64:
        raise ValueError(f"index must be int64, got {index.dtype}")
    if isinstance(salt, bool) or not isinstance(salt, int) or salt < 0:
        raise ValueError(f"salt must be a non-negative int, got {salt!r}")
    salt_term = (salt * _GOLDEN) % (1 << 64)
    if salt_term >= 1 << 63:  # keep the constant a valid int64 with the same bits
        salt_term -= 1 << 64
    x = index * _MUL + salt_term  # wraps modulo 2⁶⁴
    r = torch.remainder(x, 1000)
    r = torch.where(x < 0, torch.remainder(r + _TWO64_MOD_1000, 1000), r)
    return r.to(torch.float32) / torch.tensor(1000.0, dtype=torch.float32, device=index.device)


def hal9_reference_features(n: int, *, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """The ``(s, c)`` features of HAL9's neurons ``0 … n−1``.

    Parameters
    ----------
    n : int
        Number of neurons, ``≥ 1``.
    device : torch.device or str, optional
        Where the tensors live (default CPU).

    Returns
    -------
    s, c : Tensor
        ``(n,)`` float32 each: ``s_i = h(i, 1)``, ``c_i = h(i, 2)`` (see :func:`hal9_hash`).
    """
    _check_n(n)
    idx = torch.arange(n, dtype=torch.int64, device=torch.device(device or "cpu"))
    return hal9_hash(idx, 1), hal9_hash(idx, 2)


def _connected(si: Tensor, ci: Tensor, sj: Tensor, cj: Tensor) -> Tensor:
    """``(1 − 0.5|s_i − s_j|) − 0.3|c_i − c_j| > 0.5`` in float32, one rounding per operation.

    Broadcasts ``si, ci`` ``(R, 1)`` against ``sj, cj`` ``(1, C)`` (or equal shapes). Separate kernels, so no
    FMA contraction; the float32 scalars are the Rust ``f32`` literals.
    """
    f32 = si.dtype
    half = torch.tensor(0.5, dtype=f32, device=si.device)
    a = torch.sub(si, sj).abs_().mul_(half)
    v = torch.rsub(a, torch.tensor(1.0, dtype=f32, device=si.device))
    del a
    b = torch.sub(ci, cj).abs_().mul_(torch.tensor(0.3, dtype=f32, device=si.device))
    v.sub_(b)
    del b
    return v.gt(half)


def _upper_pair_count(
    s: Tensor, c: Tensor, weight: Tensor | None, block_size: int | None, progress: bool
) -> int:
    """``Σ_{i<j} w_i w_j [connected(i, j)]`` (``w ≡ 1`` when ``weight`` is ``None``), tiled over ``i < j``.

    Rows come in blocks of ``R`` (default 512 on CPU, 4096 on CUDA); each block meets the later columns in
    chunks of ``C ≥ R``, so a tile holds at most ``R·C`` elements and no ``N×N`` tensor exists. Only the
    first chunk of a block touches the diagonal square, where ``triu(1)`` keeps ``j > i``.
    """
    n = int(s.shape[0])
    budget = _TILE_ELEMENTS["cuda" if s.device.type == "cuda" else "cpu"]
    rows = block_size if block_size is not None else min(n, 4096 if s.device.type == "cuda" else 512)
    cols = max(rows, budget // rows)
    starts = range(0, n, rows)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="hal9 reference pairs", unit="block")
    total = torch.zeros((), dtype=torch.int64, device=s.device)
    for r0 in starts:
        r1 = min(r0 + rows, n)
        si, ci = s[r0:r1, None], c[r0:r1, None]
        wi = None if weight is None else weight[r0:r1]
        for c0 in range(r0, n, cols):
            c1 = min(c0 + cols, n)
            m = _connected(si, ci, s[None, c0:c1], c[None, c0:c1])
            if c0 == r0:  # the diagonal square: keep j > i only
                k = r1 - r0
                m[:, :k] = torch.triu(m[:, :k], diagonal=1)
            if weight is None or wi is None:
                total += m.sum()
            else:
                per_row = torch.where(m, weight[None, c0:c1], 0).sum(dim=1)
                total += (per_row * wi).sum()
    return int(total.item())


def count_connections(
    n: int,
    *,
    device: torch.device | str | None = None,
    block_size: int | None = None,
    progress: bool = False,
    method: Method = "pairs",
) -> int:
    """Exact number of connected HAL9 pairs ``i < j`` among neurons ``0 … n−1``.

    Parameters
    ----------
    n : int
        Number of neurons, ``≥ 1``.
    device : torch.device or str, optional
        Where the computation runs (default CPU; CUDA works the same).
    block_size : int, optional
        Rows per tile (default 512 on CPU, 4096 on CUDA); a tile has ``max(R, budget // R)`` columns with a
        budget of 2²¹ float32 elements on CPU, 2²⁶ on CUDA.
    progress : bool, default False
        Show a tqdm bar over row blocks.
    method : {"pairs", "dedup"}, default "pairs"
        ``"pairs"`` evaluates the rule on every one of the ``n(n−1)/2`` pairs — HAL9's discovery loop,
        really executed. ``"dedup"`` groups neurons with bit-identical ``(s, c)`` and counts
        ``Σ_P C(m_P, 2)·[conn(P, P)] + Σ_{P<Q} m_P m_Q [conn(P, Q)]`` over the ``U`` distinct feature pairs;
        the rule is still evaluated in float32 on the exact values, so the count is identical.

    Returns
    -------
    int
        The number of connected pairs.

    Notes
    -----
    ``"pairs"``: ``O(n²)`` time, ``O(n + R·C)`` memory (one tile). ``"dedup"``: ``O(n log n + U²)`` time with
    ``U ≤ min(n, 10⁶)``; for HAL9's hash ``U ≤ 1000`` while ``i·2654435761 + 2·0x9E3779B9 < 2⁶⁴``
    (``i < 6.9·10⁹``), because then ``h(i, ·)`` depends only on ``i mod 1000``.
    """
    _check_n(n)
    if block_size is not None and (isinstance(block_size, bool) or block_size < 1):
        raise ValueError(f"block_size must be ≥ 1 or None, got {block_size!r}")
    if method not in ("pairs", "dedup"):
        raise ValueError(f"method must be 'pairs' or 'dedup', got {method!r}")
    s, c = hal9_reference_features(n, device=device)
    return _count_from_features(s, c, block_size=block_size, progress=progress, method=method)


def _count_from_features(s: Tensor, c: Tensor, *, block_size: int | None, progress: bool, method: str) -> int:
    if method == "pairs":
        return _upper_pair_count(s, c, None, block_size, progress)
    # Group bit-identical (s, c): both are non-negative float32, so their bit patterns fit in 31 bits.
    key = (s.view(torch.int32).to(torch.int64) << 31) | c.view(torch.int32).to(torch.int64)
    uniq, counts = torch.unique(key, return_counts=True)
    su = (uniq >> 31).to(torch.int32).view(torch.float32)
    cu = (uniq & ((1 << 31) - 1)).to(torch.int32).view(torch.float32)
    same = _connected(su, cu, su, cu)  # the rule at Δ = 0, evaluated rather than assumed
    within = int((torch.where(same, counts * (counts - 1) // 2, 0)).sum().item())
    return within + _upper_pair_count(su, cu, counts, block_size, progress)


def hal9_reference_layers(s: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """HAL9's 5-bin layering, empty bins dropped.

    Bins (first match wins, float32 comparisons): 0 if ``s > 0.8 ∧ c < 0.3``; 1 if ``s > 0.6 ∧ c < 0.5``;
    2 if ``s > 0.4 ∧ 0.4 < c < 0.6``; 3 if ``s < 0.4 ∧ c > 0.6``; else 4. The non-empty bins are relabelled
    ``0 … K−1`` in increasing bin order.

    Parameters
    ----------
    s, c : Tensor
        ``(N,)`` float32 features (see :func:`hal9_reference_features`).

    Returns
    -------
    labels : Tensor
        ``(N,)`` int64 in ``[0, K)``.
    sizes : Tensor
        ``(K,)`` int64, neurons per layer (all ``> 0``, summing to ``N``).
    """
    if s.ndim != 1 or s.shape != c.shape:
        raise ValueError(f"s and c must both be (N,), got {tuple(s.shape)} and {tuple(c.shape)}")
    if s.dtype != torch.float32 or c.dtype != torch.float32:
        raise ValueError(f"s and c must be float32, got {s.dtype} and {c.dtype}")

    def k(x: float) -> Tensor:
        return torch.tensor(x, dtype=torch.float32, device=s.device)

    rules = [
        (s > k(0.8)) & (c < k(0.3)),
        (s > k(0.6)) & (c < k(0.5)),
        (s > k(0.4)) & (c > k(0.4)) & (c < k(0.6)),
        (s < k(0.4)) & (c > k(0.6)),
    ]
    bins = torch.full(s.shape, 4, dtype=torch.int64, device=s.device)
    for b in range(len(rules) - 1, -1, -1):  # apply in reverse so the first matching rule wins
        bins = torch.where(rules[b], b, bins)
    _, labels, sizes = torch.unique(bins, sorted=True, return_inverse=True, return_counts=True)
    return labels, sizes


@dataclass(frozen=True)
class ReferenceResult:
    """One timed HAL9 reference run.

    Attributes
    ----------
    n : int
        Neurons.
    connections : int
        Connected pairs ``i < j``.
    layer_sizes : tuple of int
        Neurons per non-empty layer.
    features_s, connections_s, layering_s, total_s : float
        Wall-clock seconds of each phase and of the whole run (CUDA synchronised at every boundary).
    device : str
        Device the run used.
    method : str
        ``"pairs"`` (every pair evaluated) or ``"dedup"``.
    """

    n: int
    connections: int
    layer_sizes: tuple[int, ...]
    features_s: float
    connections_s: float
    layering_s: float
    total_s: float
    device: str
    method: str = "pairs"


def hal9_reference_run(
    n: int,
    *,
    device: torch.device | str | None = None,
    block_size: int | None = None,
    method: Method = "pairs",
) -> ReferenceResult:
    """Time HAL9's whole "self-organisation" at size ``n``: features, pair discovery, layering.

    Parameters
    ----------
    n : int
        Neurons, ``≥ 1``.
    device : torch.device or str, optional
        Default CPU.
    block_size : int, optional
        Rows per tile of the pair count (see :func:`count_connections`).
    method : {"pairs", "dedup"}, default "pairs"
        ``"pairs"`` really evaluates all ``n(n−1)/2`` pairs.

    Returns
    -------
    ReferenceResult

    Notes
    -----
    ``O(n²)`` time for ``"pairs"``; memory ``O(n)`` plus one tile.
    """
    _check_n(n)
    if method not in ("pairs", "dedup"):
        raise ValueError(f"method must be 'pairs' or 'dedup', got {method!r}")
    dev = torch.device(device or "cpu")
    _sync(dev)
    t0 = time.perf_counter()
    s, c = hal9_reference_features(n, device=dev)
    _sync(dev)
    t1 = time.perf_counter()
    conns = _count_from_features(s, c, block_size=block_size, progress=False, method=method)  # .item() syncs
    _sync(dev)
    t2 = time.perf_counter()
    _, sizes = hal9_reference_layers(s, c)
    layer_sizes = tuple(int(x) for x in sizes.tolist())
    _sync(dev)
    t3 = time.perf_counter()
    return ReferenceResult(
        n=n,
        connections=conns,
        layer_sizes=layer_sizes,
        features_s=t1 - t0,
        connections_s=t2 - t1,
        layering_s=t3 - t2,
        total_s=t3 - t0,
        device=str(dev),
        method=method,
    )
