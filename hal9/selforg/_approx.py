"""Approximate discovery internals: packed sort keys, candidate scoring, NN-descent, chunk-parallel runner.

Private: :func:`hal9.selforg.discovery.discover` is the public entry point (its Notes describe the method).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from hal9.selforg.kernels import Kernel, check_kernel_output

_LOW = (1 << 32) - 1  # low 32 bits of a key hold (2³² − 1 − index): lower index ⇒ larger key
# Pairs per kernel call, whatever the budget: larger blocks are slower, not faster, on CPU (each fresh
# multi-MB temporary costs page faults, and stops fitting in cache): measured ≈ 90-100 Mpairs/s at
# 64-128 k pairs vs 5-50 Mpairs/s at 1 M pairs with the HAL9 kernel on the 2-core CPU.
_TILE_PAIRS = 1 << 17
# Working bytes per scored pair: kernel temporaries (≈ 5 values of the feature dtype) + the int64 sort key
# + its copy in the concatenated merge buffer + topk workspace.
_PAIR_BYTES_FIXED = 32
_PAIR_VALUES = 5
# Rows of the sampled convergence check that precedes each NN-descent step.
_CHECK_ROWS = 4096
_P = (1 << 31) - 1  # prime modulus of the index hash: products of two values < 2³¹ fit in int64


def _pack(w: Tensor, idx: Tensor) -> Tensor:
    """Sort keys ordered like ``(w desc, idx asc)``: the float32 bits of ``w ≥ 0`` above ``~idx``.

    For non-negative IEEE floats the bit pattern read as an integer is monotone in the value, so one
    ``int64`` comparison orders by weight and breaks exact ties towards the lower index.
    """
    bits = w.to(torch.float32).abs().view(torch.int32).to(torch.int64)  # abs: −0.0 → +0.0
    return bits.mul_(1 << 32).add_(_LOW - idx)


def _unpack(key: Tensor) -> tuple[Tensor, Tensor]:
    """``(index, weight float32)`` from keys; negative keys (no partner) give ``(-1, 0)``."""
    w = (key >> 32).to(torch.int32).view(torch.float32)
    return _indices(key), torch.where(key >= 0, w, 0.0)


def _hash(a: Tensor, b: Tensor, salt: Sequence[int]) -> Tensor:
    """Pseudo-random ``int64`` in ``[0, 2³¹ − 1)`` from index pairs ``(a, b)`` in ``[0, 2³¹)`` (broadcast).

    Three rounds of a salted affine map modulo the prime ``2³¹ − 1``, with xor mixing in between: a
    deterministic function of the pair, so values do not depend on how pairs are batched into chunks or
    threads; no ``int64`` overflow (every product is of two values ``< 2³¹``). ``salt``: six ints in
    ``[1, 2³¹ − 1)``. ``O(numel)``, 8 elementwise passes.
    """
    s0, s1, s2, s3, s4, s5 = salt
    h = (a * s0 + s1) % _P
    h = ((h ^ b) * s2 + s3) % _P
    return ((h ^ (h >> 13)) * s4 + s5) % _P


def _salt(gen: torch.Generator) -> list[int]:
    """Six salts for :func:`_hash`, drawn from ``gen``."""
    return [int(v) for v in torch.randint(1, _P, (6,), generator=gen, device=gen.device)]


def _indices(key: Tensor) -> Tensor:
    """Partner indices of packed keys, ``-1`` where the key is negative (no partner)."""
    return torch.where(key >= 0, _LOW - (key & _LOW), -1)


def _chunks(n: int, m: int, f: int, itemsize: int, budget: int) -> list[tuple[int, int]]:
    """Row ranges of ``≤ min(budget / per-row bytes, 2¹⁷ / m)`` rows for ``m`` candidates per row."""
    per_row = m * (_PAIR_BYTES_FIXED + 16 + (_PAIR_VALUES + f) * itemsize)
    size = max(1, min(n, budget // max(1, per_row), _TILE_PAIRS // max(1, m)))
    return [(r0, min(n, r0 + size)) for r0 in range(0, n, size)]


def _run_chunks(
    fn: Callable[[int, int], None], chunks: Sequence[tuple[int, int]], device: torch.device, bar: str = ""
) -> None:
    """Call ``fn(r0, r1)`` for every chunk; on CPU, on ``torch.get_num_threads()`` single-threaded workers.

    Each chunk is a few dozen small tensor ops. Running whole chunks in parallel, rather than each op on
    all threads, synchronises once per chunk instead of once per op — which keeps the time stable when
    other processes share the cores (an OpenMP barrier waits for its slowest, possibly descheduled,
    thread: measured 3-4× slower than one thread at a load average of 3 on the 2-core CPU). ``fn`` must
    write disjoint outputs, so the result does not depend on which thread ran which chunk. The workers
    set their own thread count to 1; torch's process-wide default is restored afterwards. ``bar``: a
    tqdm progress-bar label, ``""`` for none.
    """
    progress = None
    if bar:
        from tqdm.auto import tqdm

        progress = tqdm(total=len(chunks), desc=bar, unit="chunk", leave=False)
    threads = torch.get_num_threads() if device.type == "cpu" else 1
    try:
        if threads <= 1 or len(chunks) <= 1:
            for r0, r1 in chunks:
                fn(r0, r1)
                if progress is not None:
                    progress.update()
            return
        try:
            with ThreadPoolExecutor(threads, initializer=torch.set_num_threads, initargs=(1,)) as pool:
                futures = [pool.submit(fn, r0, r1) for r0, r1 in chunks]
                try:
                    for fut in futures:
                        fut.result()
                        if progress is not None:
                            progress.update()
                except BaseException:
                    for fut in futures:
                        fut.cancel()
                    raise
        finally:
            torch.set_num_threads(threads)  # the workers' set_num_threads(1) also set the process default
    finally:
        if progress is not None:
            progress.close()


def _topk_distinct(cand: Tensor, key: Tensor, k: int) -> Tensor:
    """Top-``k`` keys per row, repeated candidates masked (first occurrence kept). ``O(m log m)`` a row."""
    vals, order = cand.sort(dim=1, stable=True)
    key = key.gather(1, order)  # in candidate order: a repeat sits right after its first occurrence
    key[:, 1:].masked_fill_(vals[:, 1:] == vals[:, :-1], -1)
    return key.topk(k, dim=1, sorted=True).values


def _score(
    x: Tensor,
    rows: Tensor,
    cand: Tensor,
    k: int,
    kernel: Kernel,
    many_repeats: bool,
    feats: Tensor | None = None,
) -> Tensor:
    """Top-``k`` keys of each row over its candidates ``cand (R, m)`` (repeats, self and ``-1`` ignored).

    ``many_repeats=False``: take the top ``k`` of all keys and re-rank, with repeats masked, only the rows
    whose top ``k`` holds a repeated index — right when repeats are rare (the initial candidates).
    ``many_repeats=True``: mask repeats in every row first (one sort of ``cand`` per row).
    ``feats``: the candidates' features ``(R, m, F)`` when the caller has them (else gathered from ``x``).

    Shape
    -----
    ``rows (R,)``, ``cand (R, m)`` → keys ``(R, k)``, each row sorted in decreasing order, ``-1``
    where a row has fewer than ``k`` distinct candidates. ``O(R·m·(F + log k))`` (fast path) or
    ``O(R·m·(F + log m))``; one kernel call on ``(R, 1, F) × (R, m, F)``.
    """
    r, m = cand.shape
    bad = cand == rows[:, None]
    bad |= cand < 0
    safe = cand.clamp(min=0)
    b = x.index_select(0, safe.reshape(-1)).view(r, m, x.shape[1]) if feats is None else feats
    w = check_kernel_output(kernel(x.index_select(0, rows)[:, None, :], b), (r, 1, m)).squeeze(1)
    key = _pack(w, safe).masked_fill_(bad, -1)
    ids = cand  # repeats are judged on the raw ids: clamped, a -1 would pose as neuron 0 and mask it
    if m < k:
        key = torch.cat([key, key.new_full((r, k - m), -1)], dim=1)
        ids = torch.cat([ids, ids.new_full((r, k - m), -1)], dim=1)
    if many_repeats:
        return _topk_distinct(ids, key, k)
    top = key.topk(k, dim=1, sorted=True).values
    idx = torch.where(top >= 0, _LOW - (top & _LOW), -1 - torch.arange(k, device=top.device))
    idx = idx.sort(dim=1).values
    redo = (idx[:, 1:] == idx[:, :-1]).any(dim=1).nonzero().squeeze(1)
    if redo.numel():
        top[redo] = _topk_distinct(ids[redo], key[redo], k)
    return top


def _reverse(fwd: Tensor, salt: Sequence[int], targets: Tensor | None = None) -> Tensor:
    """Up to ``fo`` reverse partners per neuron ``j``: of the sources ``i`` with ``i → j``, the ``fo`` of
    smallest ``hash(i, j)`` (a pseudo-random sample, fixed by ``salt``).

    ``targets``: optional ``(N,)`` bool; only those neurons' rows are filled (the others stay ``-1``),
    and each filled row equals its row in the full computation. Shape: ``fwd (N, fo)`` → ``(N, fo)``,
    ``-1`` padded. ``O(E log E)`` for the ``E ≤ N·fo`` edges into the targets (one sort).
    """
    n, fo = fwd.shape
    dev = fwd.device
    dst = fwd.reshape(-1)
    keep = dst >= 0
    if targets is not None:
        keep &= targets[dst.clamp(min=0)]
    edge = keep.nonzero().squeeze(1)
    dst = dst[edge]
    src = edge.div_(fo, rounding_mode="floor")  # edge e = i·fo + slot comes from neuron i
    key, order = (dst * (1 << 31) + _hash(src, dst, salt)).sort(stable=True)  # by (dst, hash, src)
    src, dst = src[order], key.bitwise_right_shift_(31)
    counts = torch.bincount(dst, minlength=n)
    pos = torch.arange(dst.numel(), device=dev) - (torch.cumsum(counts, 0) - counts)[dst]
    keep = pos < fo
    rev = torch.full((n, fo), -1, dtype=torch.int64, device=dev)
    rev[dst[keep], pos[keep]] = src[keep]
    return rev


def _sorted_orders(x: Tensor) -> tuple[Tensor | None, list[Tensor], list[Tensor]]:
    """Renumbering ``perm`` and, per non-constant column, sorted ``order`` and ``rank`` in the new numbering.

    The neurons are renumbered in the sorted order of the first non-constant column (speed, for HAL9):
    the partners of a neuron then sit nearby in memory, so the candidate gathers stay in cache at large
    ``N``, and that column's window is a plain index range. ``O(F·N log N)``.
    """
    n, f = x.shape
    dev = x.device
    ranks, orders = [], []
    for j in range(f):
        col = x[:, j]
        if bool(col.amin() == col.amax()):
            continue
        order = torch.argsort(col, stable=True)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n, device=dev)
        orders.append(order)
        ranks.append(rank)
    if not orders:
        return None, [], []
    perm, inv = orders[0], ranks[0]
    return perm, [inv[o] for o in orders], [rk[perm] for rk in ranks]


def _row_chunks(n: int, width: int) -> list[tuple[int, int]]:
    """Row ranges of ``≈ 2¹⁷ / width`` rows, for the ``O(N·k)`` bookkeeping passes."""
    size = max(1, _TILE_PAIRS // max(1, width))
    return [(r0, min(n, r0 + size)) for r0 in range(0, n, size)]


def _initial(
    x: Tensor,
    k: int,
    kernel: Kernel,
    orders: Sequence[Tensor],
    ranks: Sequence[Tensor],
    w: int,
    n_random: int,
    salt: Sequence[int],
    budget: int,
    progress: bool,
) -> Tensor:
    """Keys ``(N, k)``: each neuron's top ``k`` over its windows in every sorted order + random draws."""
    n, f = x.shape
    dev = x.device
    rand_cols = torch.arange(n_random, device=dev)
    offsets = torch.arange(2 * w + 1, device=dev)
    keys = torch.empty((n, k), dtype=torch.int64, device=dev)

    # The features in each sorted order: a window's features are then one contiguous block of memory,
    # not 2w+1 scattered rows of x (≈ 15 % less CPU time at 1M). Column 0's order is x's own.
    x_sorted = [x.index_select(0, o) if j else x for j, o in enumerate(orders)]

    def init(r0: int, r1: int) -> None:
        r = r1 - r0
        rows = torch.arange(r0, r1, device=dev)
        parts, feats = [], []
        for j, (o, rk, xs) in enumerate(zip(orders, ranks, x_sorted, strict=True)):
            pos = ((rk[r0:r1] - w).clamp_(0, n - 2 * w - 1)[:, None] + offsets).view(-1)
            parts.append((pos if j == 0 else o.index_select(0, pos)).view(r, -1))  # column 0: o[i] = i
            feats.append(xs.index_select(0, pos).view(r, -1, f))
        rand = (_hash(rows[:, None], rand_cols, salt) % n).view(-1)  # per (row, j): chunking-independent
        parts.append(rand.view(r, -1))
        feats.append(x.index_select(0, rand).view(r, -1, f))
        cand, feat = torch.cat(parts, dim=1), torch.cat(feats, dim=1)
        keys[r0:r1] = _score(x, rows, cand, k, kernel, many_repeats=False, feats=feat)

    m0 = len(orders) * (2 * w + 1) + n_random
    _run_chunks(
        init, _chunks(n, m0, f, x.element_size(), budget), dev, "discovery (init)" if progress else ""
    )
    return keys


def _join(x: Tensor, rows: Tensor, keys: Tensor, fwd: Tensor, rev: Tensor, kernel: Kernel) -> Tensor:
    """One NN-descent local join for ``rows``: top ``k`` over ``B ∪ {fwd, rev of every b ∈ B}``.

    ``B`` = the ``k`` current partners and the ``fo`` reverse partners of each row. Shapes: ``keys
    (N, k)``, ``fwd, rev (N, fo)``; returns ``(R, k)`` keys from ``(k + fo)·(1 + 2·fo)`` candidates a row.
    """
    r, k, fo = rows.numel(), keys.shape[1], fwd.shape[1]
    b = torch.cat([_indices(keys[rows]), rev[rows]], dim=1)  # (R, k + fo)
    flat = b.clamp(min=0).view(-1)
    hop = torch.cat([fwd.index_select(0, flat), rev.index_select(0, flat)], dim=1)
    hop = hop.view(r, k + fo, 2 * fo).masked_fill_((b < 0)[:, :, None], -1)
    return _score(x, rows, torch.cat([b, hop.view(r, -1)], dim=1), k, kernel, many_repeats=True)


def _step(
    x: Tensor, keys: Tensor, kernel: Kernel, fo: int, tol: float, gen: torch.Generator, budget: int, bar: str
) -> tuple[Tensor, bool]:
    """One NN-descent step on ``keys (N, k)``: ``(new keys, converged)``.

    Converged: at most ``tol·N`` rows changed — or, for ``N > 2·4096``, at most ``tol·4096`` of a uniform
    sample of 4096 rows would change, judged before the full step, which is then skipped (the sample's
    improvements are kept). ``bar``: progress-bar label, ``""`` for none.
    """
    n, f = x.shape
    k, dev = keys.shape[1], keys.device
    m = (k + fo) * (1 + 2 * fo)
    salt = _salt(gen)
    fwd = torch.empty((n, fo), dtype=torch.int64, device=dev)  # the partners each neuron offers

    def offer(r0: int, r1: int) -> None:
        fwd[r0:r1] = _indices(keys[r0:r1, :fo])

    _run_chunks(offer, _row_chunks(n, fo), dev)
    if n > 2 * _CHECK_ROWS:
        sample = torch.randperm(n, generator=gen, device=gen.device)[:_CHECK_ROWS].to(dev).sort().values
        need = torch.zeros(n, dtype=torch.bool, device=dev)
        need[sample] = True
        rev = _reverse(fwd, salt, need)  # the sample's reverse partners, then those of their B
        b = torch.cat([_indices(keys[sample]), rev[sample]], dim=1)
        need[b[b >= 0]] = True
        rev_s = _reverse(fwd, salt, need)
        found = torch.empty((_CHECK_ROWS, k), dtype=torch.int64, device=dev)

        def check(s0: int, s1: int) -> None:
            found[s0:s1] = _join(x, sample[s0:s1], keys, fwd, rev_s, kernel)

        _run_chunks(check, _chunks(_CHECK_ROWS, m, f, x.element_size(), budget), dev)
        if int((found != keys[sample]).any(dim=1).sum()) <= tol * _CHECK_ROWS:
            keys[sample] = found
            return keys, True
    rev = _reverse(fwd, salt)
    new = torch.empty_like(keys)
    changed = torch.empty(n, dtype=torch.bool, device=dev)

    def full(r0: int, r1: int) -> None:
        new[r0:r1] = _join(x, torch.arange(r0, r1, device=dev), keys, fwd, rev, kernel)
        changed[r0:r1] = (new[r0:r1] != keys[r0:r1]).any(dim=1)

    _run_chunks(full, _chunks(n, m, f, x.element_size(), budget), dev, bar)
    return new, int(changed.sum()) <= tol * n


def approx_topk(
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
    """``(neighbors (N, k), weights float32 (N, k))`` of the approximate mode of ``discover``."""
    n = x.shape[0]
    perm, orders, ranks = _sorted_orders(x)
    x = (x if perm is None else x[perm]).contiguous()
    keys = _initial(
        x, k, kernel, orders, ranks, min(window, (n - 1) // 2), n_random, _salt(gen), budget, progress
    )
    for it in range(n_iter):
        keys, converged = _step(
            x, keys, kernel, min(fanout, k), tol, gen, budget, f"descent {it}" if progress else ""
        )
        if converged:
            break
    out_idx = torch.empty_like(keys)
    out_w = torch.empty(keys.shape, dtype=torch.float32, device=keys.device)

    def finish(r0: int, r1: int) -> None:  # unpack, and back to the caller's numbering
        idx, wt = _unpack(keys[r0:r1])
        if perm is None:
            out_idx[r0:r1], out_w[r0:r1] = idx, wt
            return
        idx = torch.where(idx >= 0, perm.index_select(0, idx.clamp(min=0).view(-1)).view_as(idx), -1)
        out_idx.index_copy_(0, perm[r0:r1], idx)
        out_w.index_copy_(0, perm[r0:r1], wt)

    _run_chunks(finish, _row_chunks(n, k), keys.device)
    return out_idx, out_w
