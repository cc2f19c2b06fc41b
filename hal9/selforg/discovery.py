"""Discovery: every neuron finds its ``k`` most compatible partners, never forming the ``N×N`` matrix."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal

import torch
from torch import Tensor

from hal9.core.sampling import make_generator
from hal9.selforg.graph import KnnGraph
from hal9.selforg.kernels import Kernel, check_kernel_output, hal9_kernel
from hal9.selforg.population import Population, validate_population

__all__ = ["DEFAULT_MEMORY_BUDGET", "discover", "recall_at_k"]

#: Working-memory budget of one block of kernel evaluations (bytes).
DEFAULT_MEMORY_BUDGET = 64 * 2**20
# Working bytes per scored pair: kernel temporaries (≈ 5 values of the feature dtype) + the int64 sort key
# + its copy in the concatenated merge buffer + topk workspace.
_PAIR_BYTES_FIXED = 32
_PAIR_VALUES = 5
_MAX_COL_BLOCK = 8192
# Pairs per kernel call, whatever the budget: larger blocks are slower, not faster, on CPU (each fresh
# multi-MB temporary costs page faults, and stops fitting in cache): measured ≈ 90-100 Mpairs/s at
# 64-128 k pairs vs 5-50 Mpairs/s at 1 M pairs with the HAL9 kernel on the 2-core CPU.
_TILE_PAIRS = 1 << 17
_LOW = (1 << 32) - 1  # low 32 bits of a key hold (2³² − 1 − index): lower index ⇒ larger key
_MAX_N = 1 << 31


def _pack(w: Tensor, idx: Tensor) -> Tensor:
    """Sort keys ordered like ``(w desc, idx asc)``: the float32 bits of ``w ≥ 0`` above ``~idx``.

    For non-negative IEEE floats the bit pattern read as an integer is monotone in the value, so one
    ``int64`` comparison orders by weight and breaks exact ties towards the lower index.
    """
    bits = w.to(torch.float32).abs().view(torch.int32).to(torch.int64)  # abs: −0.0 → +0.0
    return bits.mul_(1 << 32).add_(_LOW - idx)


def _unpack(key: Tensor) -> tuple[Tensor, Tensor]:
    """``(index, weight float32)`` from keys; negative keys (no partner) give ``(-1, 0)``."""
    valid = key >= 0
    idx = torch.where(valid, _LOW - (key & _LOW), -1)
    w = (key >> 32).to(torch.int32).view(torch.float32)
    return idx, torch.where(valid, w, 0.0)


def _blocks(n: int, size: int, progress: bool, desc: str) -> Iterable[int]:
    starts: Iterable[int] = range(0, n, size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=desc, unit="block", leave=False)
    return starts


def _exact_block_sizes(
    n: int, k: int, itemsize: int, block_size: int | tuple[int, int] | None, budget: int
) -> tuple[int, int]:
    if block_size is not None:
        rb, cb = (block_size, block_size) if isinstance(block_size, int) else block_size
        if min(rb, cb) < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size!r}")
        return min(rb, n), min(cb, n)
    pairs = max(1, min(_TILE_PAIRS, budget // (_PAIR_BYTES_FIXED + _PAIR_VALUES * itemsize)))
    cb = min(n, _MAX_COL_BLOCK)
    return max(1, min(n, pairs // (cb + k))), cb


def _exact(x: Tensor, k: int, kernel: Kernel, rb: int, cb: int, progress: bool) -> Tensor:
    n = x.shape[0]
    keys = torch.empty((n, k), dtype=torch.int64, device=x.device)
    for r0 in _blocks(n, rb, progress, "discovery (exact)"):
        r1 = min(n, r0 + rb)
        run: Tensor | None = None
        for c0 in range(0, n, cb):
            c1 = min(n, c0 + cb)
            w = check_kernel_output(kernel(x[r0:r1], x[c0:c1]), (r1 - r0, c1 - c0))
            key = _pack(w, torch.arange(c0, c1, device=x.device)[None, :])
            lo, hi = max(r0, c0), min(r1, c1)
            if lo < hi:  # this block holds part of the diagonal: a neuron is never its own partner
                diag = torch.arange(lo, hi, device=x.device)
                key[diag - r0, diag - c0] = -1
            cat = key if run is None else torch.cat([run, key], dim=1)
            run = cat.topk(min(k, cat.shape[1]), dim=1, sorted=False).values
        assert run is not None
        keys[r0:r1] = run.sort(dim=1, descending=True).values
    return keys


def _row_chunks(n: int, m: int, f: int, itemsize: int, budget: int) -> Iterator[tuple[int, int]]:
    per_row = m * (_PAIR_BYTES_FIXED + 16 + (_PAIR_VALUES + f) * itemsize)
    size = max(1, min(n, budget // max(1, per_row), _TILE_PAIRS // max(1, m)))
    for r0 in range(0, n, size):
        yield r0, min(n, r0 + size)


def _score(x: Tensor, rows: Tensor, cand: Tensor, k: int, kernel: Kernel) -> Tensor:
    """Top-``k`` keys of each row over its own candidates ``cand (R, m)`` (duplicates, self, −1 ignored)."""
    cand = cand.sort(dim=1).values
    bad = (cand < 0) | (cand == rows[:, None])
    bad[:, 1:] |= cand[:, 1:] == cand[:, :-1]
    safe = cand.clamp(min=0)
    r, m = cand.shape
    w = check_kernel_output(kernel(x[rows][:, None, :], x[safe]), (r, 1, m)).squeeze(1)
    key = _pack(w, safe).masked_fill_(bad, -1)
    if m < k:
        key = torch.cat([key, key.new_full((r, k - m), -1)], dim=1)
    return key.topk(k, dim=1, sorted=True).values


def _approx(
    x: Tensor,
    k: int,
    kernel: Kernel,
    window: int,
    n_random: int,
    n_iter: int,
    fanout: int,
    tol: float,
    gen: torch.Generator,
    budget: int,
    progress: bool,
) -> tuple[Tensor, Tensor]:
    n, f = x.shape
    dev = x.device
    w = min(window, (n - 1) // 2)
    ranks, orders = [], []
    for j in range(f):  # sorted order along every non-constant feature column
        col = x[:, j]
        if bool(col.amin() == col.amax()):
            continue
        order = torch.argsort(col, stable=True)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n, device=dev)
        orders.append(order)
        ranks.append(rank)
    perm = orders[0] if orders else None
    if perm is not None:
        # Renumber neurons in the sorted order of the first non-constant column (speed, for HAL9): the
        # partners of a neuron then sit nearby in memory, so the per-candidate gathers stay in cache at
        # large N. Exact ties therefore break by position in that order, not by the original index.
        inv = ranks[0]
        x = x[perm]
        orders = [inv[o] for o in orders]
        ranks = [rk[perm] for rk in ranks]
    offsets = torch.arange(2 * w + 1, device=dev)
    m0 = len(orders) * (2 * w + 1) + n_random
    keys = torch.empty((n, k), dtype=torch.int64, device=dev)
    for r0, r1 in _blocks_of(_row_chunks(n, m0, f, x.element_size(), budget), progress, "discovery (init)"):
        rows = torch.arange(r0, r1, device=dev)
        parts = [
            o[(rk[r0:r1] - w).clamp(0, n - 2 * w - 1)[:, None] + offsets]
            for o, rk in zip(orders, ranks, strict=True)
        ]
        parts.append(torch.randint(0, n, (r1 - r0, n_random), generator=gen, device=gen.device).to(dev))
        keys[r0:r1] = _score(x, rows, torch.cat(parts, dim=1), k, kernel)
    fo = min(fanout, k)
    for it in range(n_iter):  # one NN-descent local join per iteration, on forward + reverse partners
        nbrs = _unpack(keys)[0]
        rev = _reverse(nbrs[:, :fo], gen)
        near = torch.cat([nbrs[:, :fo], rev], dim=1)  # (N, 2·fo)
        new = torch.empty_like(keys)
        m = (k + fo) * (1 + 2 * fo)
        for r0, r1 in _blocks_of(_row_chunks(n, m, f, x.element_size(), budget), progress, f"descent {it}"):
            rows = torch.arange(r0, r1, device=dev)
            b = torch.cat([nbrs[r0:r1], rev[r0:r1]], dim=1)  # (R, k + fo)
            hop = near[b.clamp(min=0)].masked_fill_((b < 0)[:, :, None], -1).reshape(r1 - r0, -1)
            new[r0:r1] = _score(x, rows, torch.cat([b, hop], dim=1), k, kernel)
        changed = int((new != keys).any(dim=1).sum())
        keys = new
        if changed <= tol * n:
            break
    idx, wt = _unpack(keys)
    if perm is None:
        return idx, wt
    idx = torch.where(idx >= 0, perm[idx.clamp(min=0)], -1)
    out_idx, out_w = torch.empty_like(idx), torch.empty_like(wt)
    out_idx[perm], out_w[perm] = idx, wt
    return out_idx, out_w


def _reverse(fwd: Tensor, gen: torch.Generator) -> Tensor:
    """Up to ``fo`` reverse partners per neuron, a uniform sample of the sources ``i`` with ``i → j``.

    Shape: ``fwd (N, fo)`` → ``(N, fo)``, ``-1`` padded. ``O(N·fo·log(N·fo))``.
    """
    n, fo = fwd.shape
    dev = fwd.device
    src = torch.arange(n, device=dev).repeat_interleave(fo)
    dst = fwd.reshape(-1)
    keep = dst >= 0
    src, dst = src[keep], dst[keep]
    perm = torch.randperm(src.numel(), generator=gen, device=gen.device).to(dev)
    src, dst = src[perm], dst[perm]
    order = torch.argsort(dst, stable=True)
    src, dst = src[order], dst[order]
    counts = torch.bincount(dst, minlength=n)
    pos = torch.arange(dst.numel(), device=dev) - (torch.cumsum(counts, 0) - counts)[dst]
    keep = pos < fo
    rev = torch.full((n, fo), -1, dtype=torch.int64, device=dev)
    rev[dst[keep], pos[keep]] = src[keep]
    return rev


def _blocks_of(chunks: Iterator[tuple[int, int]], progress: bool, desc: str) -> Iterable[tuple[int, int]]:
    if not progress:
        return chunks
    from tqdm.auto import tqdm

    return tqdm(list(chunks), desc=desc, unit="chunk", leave=False)


def discover(
    population: Population,
    k: int,
    *,
    kernel: Kernel = hal9_kernel,
    mode: Literal["exact", "approx"] = "exact",
    block_size: int | tuple[int, int] | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    window: int | None = None,
    n_random: int | None = None,
    n_iter: int = 2,
    fanout: int = 6,
    tol: float = 0.001,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> KnnGraph:
    """Each neuron keeps its ``k`` most compatible partners (never itself): the discovery graph.

    Parameters
    ----------
    population : Population
        ``N ≥ 2`` neurons with finite features.
    k : int
        Partners per neuron, ``1 ≤ k < N``.
    kernel : Kernel
        Compatibility ``kernel(a (..., B, F), b (..., C, F)) -> (..., B, C)`` in ``[0, 1]``
        (see :mod:`hal9.selforg.kernels`); default :func:`~hal9.selforg.kernels.hal9_kernel`.
    mode : {"exact", "approx"}
        ``"exact"``: blocked all-pairs, ``O(N²)`` kernel evaluations. ``"approx"``: sorted-window +
        random candidates refined by neighbour-of-neighbour steps, ``O(N·m)`` evaluations (Notes).
    block_size : int or (int, int), optional
        Exact mode: query rows × candidate columns per kernel call. Default: from ``memory_budget``.
    memory_budget : int
        Bytes of working memory per block (default 64 MiB); sets the block / chunk sizes.
    window, n_random, n_iter, fanout : int, optional
        Approx mode: ``window`` neighbours each side in the sorted order of every non-constant feature
        (default ``k``), ``n_random`` uniform candidates (default ``k``), at most ``n_iter`` NN-descent
        steps, each joining the first ``fanout`` forward and ``fanout`` sampled reverse partners.
        The defaults (2, 6) are tuned for the HAL9 kernel; kernels without a dominant sortable feature
        (e.g. a Gaussian in several columns) need ``n_iter ≈ 4`` for recall ≥ 0.9 (see Notes).
    tol : float
        Approx mode: stop early once at most ``tol·N`` neurons changed partners in a step.
    seed, generator : optional
        Randomness of the approx mode's random candidates (give at most one; default seed 0).
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    KnnGraph
        ``neighbors (N, k)`` int64 and ``weights (N, k)`` in the population's dtype, rows sorted by
        decreasing weight; exact mode never pads, approx mode pads with ``-1`` / 0 only if a neuron found
        fewer than ``k`` distinct candidates.

    Raises
    ------
    ValueError
        ``k`` out of range, non-finite features (``population``), a kernel output of the wrong shape,
        with NaN or outside ``[0, 1]`` (``kernel``), unknown ``mode`` or bad sizes.

    Notes
    -----
    **Ordering and ties.** Candidates are ranked by the key ``(float32(w) desc, index asc)`` packed into
    one ``int64`` (the bits of a non-negative float are monotone in its value), so exact ties — frequent
    with the piecewise HAL9 kernel — go to the lower index, and the result is a deterministic function of
    the population, independent of ``block_size`` and of the thread count. Weights are stored as that
    float32 value (relative error ≤ 6e-8 for float64 populations).

    **Exact mode.** For each block of ``B`` query rows, loop over column blocks of ``C`` candidates:
    evaluate the ``B×C`` kernel block, pack keys, mask the diagonal, and merge with the running
    ``(B, k)`` keys by ``topk`` over ``[running, new]``. Time ``O(N²·(F + log k))``, memory
    ``O(B·C + N·k)``. Default ``C = min(N, 8192)`` and ``B·(C + k) = min(2¹⁷, budget / (32 + 5·itemsize))``
    pairs: the budget is an upper bound, and blocks stay at ≤ 128 k pairs (≈ 6 MiB of working memory,
    float32) because larger blocks run slower on CPU (page faults on fresh temporaries, cache misses).

    **Approx mode.** Candidates of neuron ``i``: the ``2w+1`` neurons around ``i`` in sorted order of each
    non-constant feature column, plus ``n_random`` uniform draws; score them with the exact kernel and keep
    the top ``k``. Then up to ``n_iter`` NN-descent steps (Dong et al. 2011): with ``B_i`` = the ``k``
    partners of ``i`` plus ``fanout`` sampled reverse partners (neurons that chose ``i``), the candidates
    of ``i`` are ``B_i`` and, for each ``b ∈ B_i``, ``b``'s first ``fanout`` forward and reverse partners.
    HAL9's kernel falls fastest with ``|Δs|`` (its complexity term prefers *moderate* ``|Δc|``, so
    nearness in ``c`` is a poor proxy), so the speed window alone holds most true partners and the
    descent fills in the rest. The search runs on the neurons renumbered in sorted order of the first
    non-constant column, for memory locality (exact ties break by that order in this mode).
    Time ``O(N·(m₀ + n_iter·(k + f)(1 + 2f))·F + F·N log N)`` (kernel evaluations and sorts),
    ``m₀ = F'·(2w+1) + n_random`` (``F'`` non-constant columns, ``f = fanout``);
    memory ``O(N·k)`` plus chunks of ≤ 2¹⁷ pairs. Recall measured in ``tests/selforg/test_discovery.py``
    and ``tests/benchmarks/test_bench_discovery.py``.

    References
    ----------
    W. Dong, M. Charikar, K. Li, "Efficient k-nearest neighbor graph construction for generic similarity
    measures", WWW 2011 (NN-descent).
    """
    validate_population(population)
    n = population.n
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < n:
        raise ValueError(f"k must be an int with 1 <= k < N = {n}, got {k!r}")
    if n >= _MAX_N:
        raise ValueError(f"population too large for int64 keys: N = {n} >= 2**31")
    if memory_budget < 1:
        raise ValueError(f"memory_budget must be >= 1 byte, got {memory_budget}")
    x = population.features
    if mode == "exact":
        rb, cb = _exact_block_sizes(n, k, x.element_size(), block_size, memory_budget)
        idx, w32 = _unpack(_exact(x, k, kernel, rb, cb, progress))
    elif mode == "approx":
        w = k if window is None else window
        r = k if n_random is None else n_random
        for name, v, lo in (
            ("window", w, 1),
            ("n_random", r, 0),
            ("n_iter", n_iter, 0),
            ("fanout", fanout, 1),
        ):
            if v < lo:
                raise ValueError(f"{name} must be >= {lo}, got {v}")
        gen = make_generator(seed, generator)
        idx, w32 = _approx(x, k, kernel, w, r, n_iter, fanout, tol, gen, memory_budget, progress)
    else:
        raise ValueError(f"mode must be 'exact' or 'approx', got {mode!r}")
    return KnnGraph(idx, w32.to(x.dtype))


def recall_at_k(found: KnnGraph, exact: KnnGraph, atol: float = 1e-6) -> float:
    """Fraction of the exact top-``k`` that ``found`` recovers, counted on weights (robust to ties).

    A found partner ``j`` of neuron ``i`` counts as correct if its weight is at least the exact ``k``-th
    weight of row ``i`` minus ``atol``; per row at most ``k`` count. With exact ties at the ``k``-th
    weight any tied partner is as good as the one the exact mode kept. Requires ``found`` to hold true
    kernel values (as :func:`discover` returns) and distinct partners. ``O(N·k)``.
    """
    if found.neighbors.shape != exact.neighbors.shape:
        raise ValueError(f"found and exact must have the same shape, got {found.k} and {exact.k} columns")
    kth = exact.weights[:, -1:].to(torch.float64)
    ok = (found.neighbors >= 0) & (found.weights.to(torch.float64) >= kth - atol)
    return float(ok.sum()) / float(found.neighbors.numel())
