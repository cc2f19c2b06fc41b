"""HAL9 reference benchmark mode: HAL9's hashed neurons, pair rule and 5-bin layering, run for real.

The original HAL9 project published timings for "N neurons self-organize" (hash features, discover
pairwise connections, bin into layers). This module recomputes exactly that work, with every pair
``i < j`` really evaluated (``method="pairs"``), so that its published numbers can be checked, and counts
the same pairs exactly in ``O(N log N)`` (``method="sweep"``).

* Features: neuron ``i`` has ``s_i = h(i, 1)`` and ``c_i = h(i, 2)`` with
  ``h(n, salt) = ((n·2654435761 + salt·0x9E3779B9) mod 2⁶⁴ mod 1000) / 1000`` (the integer part in exact
  unsigned 64-bit arithmetic, the division in float32).
* Connection: ``i < j`` are connected when ``(1 − 0.5·|s_i − s_j|) − 0.3·|c_i − c_j| > 0.5``, every
  operation rounded to float32 in that order (no fused multiply-add).
* Layers: HAL9's 5-bin rule on ``(s, c)`` (first match wins), empty bins dropped.

All comparisons use float32 constants (``0.8`` means ``float32(0.8)``), as in HAL9's Rust ``f32`` code.

The exact ``O(N log N)`` count (``method="sweep"``) and HAL9's float32 pair rule live in
:mod:`hal9.selforg._reference_sweep`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from hal9.selforg._reference_sweep import _connected, _sweep_count

__all__ = [
    "ReferenceResult",
    "count_connected_pairs",
    "count_connections",
    "hal9_hash",
    "hal9_reference_features",
    "hal9_reference_layers",
    "hal9_reference_run",
]

_MUL = 2654435761
_GOLDEN = 0x9E3779B9
_TWO64_MOD_1000 = (1 << 64) % 1000  # = 616
_COMPILED_ROWS = 256  # rows per block of the compiled kernels
AUTO_COMPILE_N = 100_000  # kernel="auto" compiles from this many neurons on (compiling takes ~10–20 s)
Method = Literal["pairs", "dedup", "sweep"]
Kernel = Literal["auto", "eager", "compiled"]


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


def _rule_count(si: Tensor, ci: Tensor, sj: Tensor, cj: Tensor, k: Tensor, diagonal: bool) -> Tensor:
    """Connected pairs of rows ``si, ci`` ``(R,)`` × columns ``sj, cj`` ``(M,)``, fused by ``torch.compile``.

    ``k`` ``(3,)`` float32 ``[0.5, 1, 0.3]``; ``diagonal``: columns start at the rows' first index, count
    ``q > r`` only. The float32 operations and their order are :func:`_connected`'s; inductor compiles with
    ``-ffp-contract=off`` (no FMA) and fuses the body into one loop, so no ``R × M`` temporary exists.
    """
    a = torch.abs(si[:, None] - sj[None, :]) * k[0]
    hit = ((k[1] - a) - torch.abs(ci[:, None] - cj[None, :]) * k[2]) > k[0]
    if diagonal:
        hit &= (
            torch.arange(sj.shape[0], device=sj.device)[None, :]
            > torch.arange(si.shape[0], device=sj.device)[:, None]
        )
    return hit.sum()


def _pairs_compiled(s: Tensor, c: Tensor, progress: bool) -> tuple[int, float]:
    """``Σ_{i<j} [connected(i, j)]``, per block of 256 rows: the diagonal square, then the later columns.

    Two fused kernels (dynamic shapes, compiled once each). Returns the count and the seconds spent
    compiling (warm-up calls before the count, including importing the compiler stack on first use).
    Raises whatever ``torch.compile`` raises when no compiler works (the caller falls back to eager).
    """
    rows, n, dev = _COMPILED_ROWS, int(s.shape[0]), s.device
    sp, cp = (
        torch.zeros(n + rows, dtype=s.dtype, device=dev),
        torch.zeros(n + rows, dtype=s.dtype, device=dev),
    )
    sp[:n], cp[:n] = s, c  # padded rows r ≥ n − r0 of the last block meet no column q > r
    k = torch.tensor([0.5, 1.0, 0.3], dtype=torch.float32, device=dev)
    t0 = time.perf_counter()
    diag = torch.compile(functools.partial(_rule_count, diagonal=True), dynamic=True)
    rect = torch.compile(functools.partial(_rule_count, diagonal=False), dynamic=True)
    for fn in (diag, rect):  # warm-up on 256 × 768 zeros
        fn(
            sp[:0].new_zeros(rows),
            sp[:0].new_zeros(rows),
            sp[:0].new_zeros(3 * rows),
            sp[:0].new_zeros(3 * rows),
            k,
        )
    _sync(dev)
    compile_s = time.perf_counter() - t0
    starts = range(0, n - 1, rows)  # a block holding only the last neuron has no pair
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="hal9 reference pairs (compiled)", unit="block")
    total = torch.zeros((), dtype=torch.int64, device=dev)
    for r0 in starts:
        si, ci, r1 = sp[r0 : r0 + rows], cp[r0 : r0 + rows], r0 + rows
        if n - r1 >= 2:  # size-0/1 dimensions would be specialised (a recompilation)
            total += diag(si, ci, si, ci, k) + rect(si, ci, sp[r1:n], cp[r1:n], k)
        else:
            total += diag(si, ci, sp[r0:n], cp[r0:n], k)
    return int(total.item()), compile_s


def _pairs_eager(s: Tensor, c: Tensor, block_size: int | None, progress: bool) -> int:
    """``Σ_{i<j} [connected(i, j)]`` over ``R × C`` tiles written into two preallocated buffers.

    ``R`` = ``block_size`` (default 64 on CPU, 4096 on CUDA), ``C = max(R, budget // R)``, budget 2¹⁸
    elements on CPU (1 MiB buffers stay in cache), 2²⁶ on CUDA. ``a ← |s_i − s_j|·(−0.5) + 1`` is
    ``fl(1 − fl(0.5a))`` exactly (negation is exact), ``b ← |c_i − c_j|·0.3``, then ``a − b > 0.5``.
    """
    n, dev = int(s.shape[0]), s.device
    cuda = dev.type == "cuda"
    rows = block_size if block_size is not None else min(n, 4096 if cuda else 64)
    cols = max(rows, (1 << (26 if cuda else 18)) // rows)
    f32 = s.dtype
    half, one, k3, mhalf = (torch.tensor(x, dtype=f32, device=dev) for x in (0.5, 1.0, 0.3, -0.5))
    size = rows * min(cols, n)
    abuf, bbuf = torch.empty(size, dtype=f32, device=dev), torch.empty(size, dtype=f32, device=dev)
    mbuf = torch.empty(size, dtype=torch.bool, device=dev)
    starts = range(0, n, rows)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="hal9 reference pairs", unit="block")
    total = torch.zeros((), dtype=torch.int64, device=dev)
    for r0 in starts:
        r1 = min(r0 + rows, n)
        si, ci = s[r0:r1, None], c[r0:r1, None]
        for c0 in range(r0, n, cols):
            c1 = min(c0 + cols, n)
            shape = (r1 - r0, c1 - c0)
            numel = shape[0] * shape[1]
            a, b = abuf[:numel].view(shape), bbuf[:numel].view(shape)
            m = mbuf[:numel].view(shape)
            torch.sub(si, s[None, c0:c1], out=a).abs_().mul_(mhalf).add_(one)
            torch.sub(ci, c[None, c0:c1], out=b).abs_().mul_(k3)
            torch.gt(a.sub_(b), half, out=m)
            if c0 == r0:  # the diagonal square: keep j > i only
                m.triu_(1)
            total += m.sum()
    return int(total.item())


def _weighted_pairs(s: Tensor, c: Tensor, weight: Tensor) -> int:
    """``Σ_{i<j} w_i w_j [connected(i, j)]`` for the few distinct points of ``method="dedup"``."""
    n = int(s.shape[0])
    rows = min(n, 512)
    total = torch.zeros((), dtype=torch.int64, device=s.device)
    for r0 in range(0, n, rows):
        r1 = min(r0 + rows, n)
        m = _connected(s[r0:r1, None], c[r0:r1, None], s[None, r0:], c[None, r0:])
        m[:, : r1 - r0] = torch.triu(m[:, : r1 - r0], diagonal=1)
        total += (torch.where(m, weight[None, r0:], 0).sum(dim=1) * weight[r0:r1]).sum()
    return int(total.item())


def _check_options(block_size: int | None, method: str, kernel: str) -> None:
    if block_size is not None and (isinstance(block_size, bool) or block_size < 1):
        raise ValueError(f"block_size must be ≥ 1 or None, got {block_size!r}")
    if method not in ("pairs", "dedup", "sweep"):
        raise ValueError(f"method must be 'pairs', 'dedup' or 'sweep', got {method!r}")
    if kernel not in ("auto", "eager", "compiled"):
        raise ValueError(f"kernel must be 'auto', 'eager' or 'compiled', got {kernel!r}")


def _count(
    s: Tensor, c: Tensor, *, block_size: int | None, progress: bool, method: str, kernel: str
) -> tuple[int, str, float]:
    """The count, the kernel that ran (``"eager"``/``"compiled"``; ``""`` off ``"pairs"``), compile s."""
    if method == "sweep":
        return _sweep_count(s, c), "", 0.0
    if method == "dedup":
        # Group bit-identical (s, c); the rule is still evaluated on every pair of distinct values.
        key = (s.view(torch.int32).to(torch.int64) << 32) | (c.view(torch.int32).to(torch.int64) & 0xFFFFFFFF)
        uniq, counts = torch.unique(key, return_counts=True)
        su = (uniq >> 32).to(torch.int32).view(torch.float32)
        cu = (uniq & 0xFFFFFFFF).to(torch.int32).view(torch.float32)
        same = _connected(su, cu, su, cu)  # the rule at Δ = 0, evaluated rather than assumed
        within = int((torch.where(same, counts * (counts - 1) // 2, 0)).sum().item())
        return within + _weighted_pairs(su, cu, counts), "", 0.0
    if kernel == "compiled" or (kernel == "auto" and s.shape[0] >= AUTO_COMPILE_N and s.device.type == "cpu"):
        try:
            count, compile_s = _pairs_compiled(s, c, progress)
            return count, "compiled", compile_s
        except Exception:  # no working compiler (inductor needs a C++ toolchain): the eager loop instead
            if kernel == "compiled":
                import warnings

                warnings.warn("torch.compile failed; counting with the eager kernel", RuntimeWarning, 2)
    return _pairs_eager(s, c, block_size, progress), "eager", 0.0


def count_connected_pairs(
    s: Tensor,
    c: Tensor,
    *,
    method: Method = "pairs",
    kernel: Kernel = "auto",
    block_size: int | None = None,
    progress: bool = False,
) -> int:
    """Exact number of pairs ``i < j`` that HAL9's float32 rule connects, for any finite features.

    Parameters
    ----------
    s, c : Tensor
        ``(N,)`` float32, finite (HAL9's speed and complexity features; any values).
    method : {"pairs", "dedup", "sweep"}, default "pairs"
        ``"pairs"``: the rule evaluated on every one of the ``N(N−1)/2`` pairs (HAL9's loop, really run).
        ``"dedup"``: on every pair of distinct ``(s, c)`` values, weighted by multiplicities.
        ``"sweep"``: ``O(N log N + K)`` exact count (module notes), on the CPU.
    kernel : {"auto", "eager", "compiled"}, default "auto"
        ``"pairs"`` only. ``"compiled"``: ``torch.compile``-fused kernels over blocks of 256 rows (no
        tile-sized temporaries; falls back to eager, with a warning, when compiling fails). ``"eager"``:
        in-place torch operations on cache-sized tiles. ``"auto"``: compiled on the CPU from
        :data:`AUTO_COMPILE_N` neurons on, where the one-off compile (~10–20 s) pays for itself.
    block_size : int, optional
        Rows per eager tile (default 64 on CPU, 4096 on CUDA).
    progress : bool, default False
        Show a tqdm bar over row blocks (``"pairs"``).

    Notes
    -----
    ``"pairs"``: ``O(N²)`` time, ``O(N + tile)`` memory. ``"dedup"``: ``O(N log N + U²)`` for ``U`` distinct
    points. ``"sweep"``: ``O(N log N + K)``, ``K`` = band pairs of distinct points (module notes).
    """
    _check_options(block_size, method, kernel)
    for name, x in (("s", s), ("c", c)):
        if not isinstance(x, Tensor) or x.ndim != 1 or x.dtype != torch.float32:
            raise ValueError(f"{name} must be a 1-D float32 tensor, got {getattr(x, 'dtype', type(x))}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} must be finite")
    if s.shape != c.shape or s.device != c.device:
        raise ValueError(f"s and c must have one shape and device, got {tuple(s.shape)} and {tuple(c.shape)}")
    if s.shape[0] < 2:
        return 0
    return _count(s, c, block_size=block_size, progress=progress, method=method, kernel=kernel)[0]


def count_connections(
    n: int,
    *,
    device: torch.device | str | None = None,
    block_size: int | None = None,
    progress: bool = False,
    method: Method = "pairs",
    kernel: Kernel = "auto",
) -> int:
    """Exact number of connected HAL9 pairs ``i < j`` among neurons ``0 … n−1`` (``n ≥ 1``).

    Features on ``device`` (default CPU; ``"sweep"`` counts on the CPU); ``block_size``, ``progress``,
    ``method``, ``kernel`` as in :func:`count_connected_pairs`. For HAL9's hash ``"dedup"`` sees ``U ≤ 1000``
    distinct points while ``i·2654435761 + 2·0x9E3779B9 < 2⁶⁴`` (``i < 6.9·10⁹``), because then ``h(i, ·)``
    depends only on ``i mod 1000``; ``"sweep"`` does not rely on that bound (it groups whatever repeats).
    """
    _check_n(n)
    _check_options(block_size, method, kernel)
    s, c = hal9_reference_features(n, device=device)
    return count_connected_pairs(s, c, method=method, kernel=kernel, block_size=block_size, progress=progress)


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
    n, connections : int
        Neurons; connected pairs ``i < j`` counted by ``method``.
    layer_sizes : tuple of int
        Neurons per non-empty layer.
    features_s, connections_s, layering_s, total_s : float
        Wall-clock seconds of each phase and of the whole run (CUDA synchronised at every boundary);
        ``connections_s`` and ``total_s`` exclude ``compile_s``.
    device, method, kernel : str
        Device; ``"pairs"`` (every pair evaluated), ``"dedup"`` or ``"sweep"``; the ``"pairs"`` kernel that
        ran, ``"eager"`` or ``"compiled"`` (``""`` for other methods).
    compile_s : float
        Seconds spent compiling the fused kernel (warm-up before the count; 0 when eager).
    sweep_connections, sweep_s : int or None, float or None
        With ``sweep=True``: the exact ``O(N log N)`` count and its wall-clock seconds (not in ``total_s``).
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
    kernel: str = ""
    compile_s: float = 0.0
    sweep_connections: int | None = None
    sweep_s: float | None = None


def hal9_reference_run(
    n: int,
    *,
    device: torch.device | str | None = None,
    block_size: int | None = None,
    method: Method = "pairs",
    kernel: Kernel = "auto",
    sweep: bool = False,
) -> ReferenceResult:
    """Time HAL9's whole "self-organisation" at size ``n``: features, pair discovery, layering.

    ``n`` neurons (``≥ 1``) on ``device`` (default CPU); ``block_size``, ``method``, ``kernel`` as in
    :func:`count_connected_pairs` (``"pairs"`` really evaluates all ``n(n−1)/2`` pairs, ``O(n²)`` time,
    ``O(n)`` memory plus one tile). ``sweep=True`` also counts with ``method="sweep"``, timed apart.
    """
    _check_n(n)
    _check_options(block_size, method, kernel)
    dev = torch.device(device or "cpu")
    _sync(dev)
    t0 = time.perf_counter()
    s, c = hal9_reference_features(n, device=dev)
    _sync(dev)
    t1 = time.perf_counter()
    conns, used, compile_s = _count(s, c, block_size=block_size, progress=False, method=method, kernel=kernel)
    _sync(dev)
    t2 = time.perf_counter() - compile_s
    _, sizes = hal9_reference_layers(s, c)
    layer_sizes = tuple(int(x) for x in sizes.tolist())
    _sync(dev)
    t3 = time.perf_counter() - compile_s
    sweep_count, sweep_s = None, None
    if sweep and method != "sweep":
        t4 = time.perf_counter()
        sweep_count = _sweep_count(s, c)
        sweep_s = time.perf_counter() - t4
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
        kernel=used,
        compile_s=compile_s,
        sweep_connections=sweep_count,
        sweep_s=sweep_s,
    )
