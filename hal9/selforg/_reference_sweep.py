"""Exact ``O(N log N)`` count of HAL9's connected pairs (``method="sweep"`` of
:mod:`hal9.selforg.reference`), and HAL9's float32 pair rule that both methods evaluate (private).

Notes
-----
``method="sweep"`` (:func:`_sweep_count`; derivation and figures in docs/hal9_reference_counting.md).
With ``E = 0.5|Δs| + k₃|Δc|`` in exact reals (``k₃ = float32(0.3)``) and ``ε = 2⁻²⁴``, the float32 rule's
value ``r`` obeys ``|r − (1 − E)| ≤ ε(1+ε)(1 + 2.0001E) + ε|1 − E|``: ``E ≤ 0.5 − 3.01ε`` ⇒ connected,
``E ≥ 0.5 + 2.6ε`` ⇒ not; ``δ = 2⁻²¹ = 8ε`` is used. After a 45° rotation ``u = 0.5s + k₃c``,
``w = 0.5s − k₃c`` (float64, one rounding, then snapped to exact integers), ``E = max(|Δu|, |Δw|)``:
pairs with ``max < 0.5 − δ`` are counted by sorting and an offline 2-D dominance count, pairs in the band
``|E − 0.5| < δ`` (plus the snapping error) are enumerated and evaluated with the float32 rule. Identical
points are grouped first. ``O(N log N + K)``, ``K`` = band pairs of distinct points: tiny for continuous
features; on a grid with pairs exactly on the diamond (HAL9's thousandths) the band holds all of those,
whose float32 outcome hinges on per-pair rounding, and grouping identical points keeps ``K`` small.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

_K3 = float(np.float32(0.3))  # the Rust f32 literal 0.3, exactly, as a float64
_DELTA = 2.0**-21  # = 8·2⁻²⁴: outside |E − 0.5| < δ the float32 rule equals E < 0.5 (module notes)


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


def _dominance_sum(rank: np.ndarray, weight: np.ndarray, k: np.ndarray, x: np.ndarray, qw: np.ndarray) -> int:
    """``Σ_q qw_q · Σ_{j < k_q} weight_j · [rank_j < x_q]``: offline 2-D dominance on a wavelet tree.

    ``rank`` ``(U,)`` a permutation of ``0 … U−1`` in sequence order, ``weight`` ``(U,)`` int64; queries
    ``k, x, qw`` ``(Q,)``: prefix length and rank bound in ``[0, U]``, query weight. Levels go from the top
    rank bit ``h`` down; at each, the sequence is stably ordered by the rank bits above ``h``, so (ranks
    being a permutation) the node of ranks ``[p·2^{h+1}, (p+1)·2^{h+1})`` sits at exactly those positions
    with ``min(2^h, U − p·2^{h+1})`` zeros at bit ``h``. A query keeps ``k`` = its prefix's elements in its
    node; where ``x`` has bit ``h`` set the node's zero half within the prefix is ``< x`` and is added.
    ``O((U + Q) log U)`` time, ``O(U + Q)`` memory, numpy-vectorised (no per-element Python loop).
    """
    u = int(rank.shape[0])
    i32 = np.int32  # positions and ranks < 2³¹; weights and sums in int64
    live = k > 0
    order = np.argsort(x[live], kind="stable")  # linear on the few sorted runs callers pass
    k, x, qw = k[live][order].astype(i32), x[live][order].astype(i32), qw[live][order].astype(np.int64)
    unit = bool((weight == 1).all())
    arr, w = rank.astype(i32), (None if unit else weight.astype(np.int64))
    idx = np.arange(u, dtype=i32)
    z = np.zeros(u + 1, dtype=i32)
    zw = z if w is None else np.zeros(u + 1, dtype=np.int64)
    total = 0
    for h in range(max(1, u.bit_length()) - 1, -1, -1):
        zero = (arr & i32(1 << h)) == 0
        np.cumsum(zero, out=z[1:])
        if w is not None:
            np.cumsum(np.where(zero, w, 0), out=zw[1:])
        start = (x >> (h + 1)) << (h + 1)  # the query's node; the full nodes before it hold start/2 zeros
        pos = start + k
        one = (x & i32(1 << h)) != 0
        total += int(np.dot(qw[one], (zw[pos[one]] - zw[start[one]]).astype(np.int64)))
        zeros = z[pos] - (start >> 1)
        k = np.where(one, k - zeros, zeros)
        if h % 4 == 0:  # drop the queries whose prefix has left their node
            live = k > 0
            k, x, qw = k[live], x[live], qw[live]
        node = (arr >> (h + 1)) << (h + 1)
        before = z[:-1] - (node >> 1)  # zeros before each element within its node
        new = np.where(zero, node + before, node + np.minimum(i32(1 << h), u - node) + idx - node - before)
        arr[new] = arr.copy()
        if w is not None:
            w[new] = w.copy()
    return total


def _windows(lo: np.ndarray, hi: np.ndarray, chunk: int = 1 << 22) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All ``(i, j)`` with ``lo_i ≤ j < hi_i``, in chunks of about ``chunk`` pairs (``O(chunk)`` memory)."""
    length = np.maximum(hi - lo, 0)
    ends = np.cumsum(length)
    a = 0
    while a < len(length):
        b = max(a + 1, int(np.searchsorted(ends, (ends[a - 1] if a else 0) + chunk, side="right")))
        n_pairs = int(length[a:b].sum())
        if n_pairs:
            i = np.repeat(np.arange(a, b), length[a:b])
            first = np.cumsum(length[a:b]) - length[a:b]
            j = np.arange(n_pairs) - np.repeat(first - lo[a:b], length[a:b])
            yield i, j
        a = b


def _sweep_count(s: Tensor, c: Tensor) -> int:
    """Exact ``Σ_{i<j} [connected(i, j)]`` (the float32 rule) in ``O(N log N + K)``; see the module notes.

    ``s, c`` ``(N,)`` finite float32 (any device; the count runs on the CPU in numpy).
    """
    s32 = s.detach().to("cpu").numpy().astype(np.float32, copy=False)
    c32 = c.detach().to("cpu").numpy().astype(np.float32, copy=False)
    # 1. identical points grouped (weights m): their pairs are the same float32 computation.
    key = (s32.view(np.uint32).astype(np.uint64) << np.uint64(32)) | c32.view(np.uint32).astype(np.uint64)
    keys, counts = np.unique(key, return_counts=True)
    m = counts.astype(np.int64)
    su = (keys >> np.uint64(32)).astype(np.uint32).view(np.float32)
    cu = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.float32)
    st, ct = torch.from_numpy(su), torch.from_numpy(cu)
    same = _connected(st, ct, st, ct).numpy()  # the rule at Δ = 0, evaluated rather than assumed
    within = int((m * (m - 1) // 2)[same].sum())
    # 2. rotated frame u = 0.5s + k3·c, w = 0.5s − k3·c (float64: 0.5s and k3·c exact, the sum rounded
    #    once), snapped to integers U = ⌊u·2^K⌋ so every later comparison is exact and symmetric.
    s64, c64 = su.astype(np.float64), cu.astype(np.float64)
    u, w = 0.5 * s64 + _K3 * c64, 0.5 * s64 - _K3 * c64
    big = max(float(np.abs(u).max()), float(np.abs(w).max()), 1.0)
    kexp = 50 - math.frexp(big)[1]  # |u|·2^K < 2^50: exact in float64 and int64
    ui = np.floor(np.ldexp(u, kexp)).astype(np.int64)
    wi = np.floor(np.ldexp(w, kexp)).astype(np.int64)
    err = 2.0 * (2.0**-kexp + 2.0**-52 * big)  # |snapped Δ − exact Δ| per coordinate
    t_in = math.floor(math.ldexp(0.5 - _DELTA - err, kexp))  # max(|ΔU|,|ΔW|) < t_in ⇒ E < 0.5 − δ ⇒ connected
    t_out = math.ceil(math.ldexp(0.5 + _DELTA + err, kexp))  # max ≥ t_out ⇒ E ≥ 0.5 + δ ⇒ not connected
    # 3. pairs of distinct points with max(|ΔU|, |ΔW|) < t_in: (|ΔU| < t) minus (|ΔU| < t, |ΔW| ≥ t).
    ou = np.argsort(ui, kind="stable")
    us, wu, mu = ui[ou], wi[ou], m[ou]
    cw = np.concatenate([[0], np.cumsum(mu)])
    wsort = np.argsort(wu)
    wa = wu[wsort]  # W ascending
    inner = 0
    if t_in > 0:
        lo_u = np.searchsorted(us, us - t_in, side="right")  # #{j : U_j ≤ U_i − t}
        hi_u = np.searchsorted(us, us + t_in, side="left")  # #{j : U_j < U_i + t}
        n_u = (int(np.dot(mu, cw[hi_u] - cw[lo_u])) - int(np.dot(mu, mu))) // 2
        # D = Σ_i m_i Σ_j m_j [W_j ≥ W_i + t, |U_j − U_i| < t]; only j with W_j ≥ min W + t can count, only
        # i with W_i + t ≤ max W can have such j. pts is U-ascending, so a point's U-rank is its index in pts.
        in_pts = wu >= wa[0] + t_in
        pts, qs = np.flatnonzero(in_pts), np.flatnonzero(wu + t_in <= wa[-1])
        rank = np.cumsum(in_pts) - 1  # U-rank within pts
        seq = rank[wsort[in_pts[wsort]]][::-1]  # the sequence: W descending, values = U-ranks
        wpa = wu[pts][seq][::-1]  # W ascending over pts
        kq = len(pts) - np.searchsorted(wpa, wu[qs] + t_in, side="left")  # #{j : W_j ≥ W_i + t}
        x_hi = np.searchsorted(us[pts], us[qs] + t_in, side="left")  # U-rank bound: U_j < U_i + t
        x_lo = np.searchsorted(us[pts], us[qs] - t_in, side="right")  # U_j ≤ U_i − t
        queries = (np.concatenate([kq, kq]), np.concatenate([x_hi, x_lo]), np.concatenate([mu[qs], -mu[qs]]))
        inner = n_u - _dominance_sum(seq, mu[pts][seq], *queries)
    # 4. the band t_in ≤ max(|ΔU|, |ΔW|) < t_out: every pair evaluated with the float32 rule.
    band = 0
    so, co = su[ou], cu[ou]
    first = np.maximum(np.searchsorted(us, us + t_in), np.arange(1, len(us) + 1))  # j > i when t_in ≤ 0
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = [
        (first, np.searchsorted(us, us + t_out), None)
    ]
    if t_in > 0:  # else |ΔU| < t_in is empty (huge features: the whole diamond is band)
        parts.append((np.searchsorted(wa, wa + t_in), np.searchsorted(wa, wa + t_out), wsort))
    for lo, hi, perm in parts:
        for i, j in _windows(lo, hi):
            if perm is None:  # ΔU ∈ [t_in, t_out): keep |ΔW| < t_out
                keep = np.abs(wu[j] - wu[i]) < t_out
            else:  # ΔW ∈ [t_in, t_out): keep |ΔU| < t_in
                i, j = perm[i], perm[j]
                keep = np.abs(us[j] - us[i]) < t_in
            i, j = i[keep], j[keep]
            pair = (torch.from_numpy(x[ij]) for ij in (i, j) for x in (so, co))
            hit = _connected(*pair).numpy()
            band += int(np.dot(mu[i][hit], mu[j][hit]))
    return within + inner + band
