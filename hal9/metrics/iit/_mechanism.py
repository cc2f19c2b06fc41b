"""Small φ and maximally irreducible causes/effects (MICE) for many mechanisms of many systems at once.

For a mechanism ``M`` and purview ``P`` (PyPhi 1.2.0 ``Subsystem.find_mip`` / ``find_mice``):

* ``φ(M, P) = min over bipartitions ((M1, P1), (M2, P2))`` of ``EMD(p(P | M), p(P1 | M1) ⊗ p(P2 | M2))``, over
  ``mip_bipartitions`` (each part non-empty as a mechanism–purview pair), each distance rounded to 6 decimals;
  0 when the cause repertoire is all zero;
* candidate purviews are the non-empty ``P`` whose connections with ``M`` (``P → M`` for causes, ``M → P`` for
  effects) are not "block reducible": the bipartite graph of those connections is connected (PyPhi's
  ``irreducible_purviews``);
* the MICE is the candidate with the largest ``φ``; ties go to the larger purview, then to the first in
  powerset order (PyPhi compares ``[φ, len(mechanism), len(purview)]`` and ``max`` keeps the first maximum).

Everything is batched: all (system, mechanism) tasks, all their candidate purviews and all partitions are laid
out as flat tensors; effect distances use the product closed form, cause distances the exact Hamming EMD of
:mod:`.emd` (grouped by purview size; for 5 or more purview nodes, lower bounds prune the partitions that
cannot be the minimum before the exact solver runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hal9.metrics.iit._indexing import Index
from hal9.metrics.iit._rounding import round6_numpy, round6_python
from hal9.metrics.iit._tables import Tables
from hal9.metrics.iit.emd import DUAL_MAX_NODES, hamming_emd, hamming_emd_cheap_bound, hamming_emd_lower_bound

__all__ = ["MiceBatch", "Stats", "find_mice", "irreducible_purviews"]

CAUSE = 0
EFFECT = 1


@dataclass
class Stats:
    """Counts of what was evaluated (reported by the results)."""

    purviews: int = 0
    partitions: int = 0
    cause_emds_exact: int = 0
    cause_emds_dual: int = 0
    cause_emds_pruned: int = 0

    def add(self, other: Stats) -> None:
        """Accumulate ``other`` into this one."""
        for key in vars(self):
            setattr(self, key, getattr(self, key) + getattr(other, key))


@dataclass(frozen=True)
class MiceBatch:
    """MICE of ``T`` tasks.

    ``phi (T,)``; ``purview (T,)`` mask (0 if none); ``mip_m1``/``mip_p1`` ``(T,)`` masks of the MIP
    partition's first part (``-1`` if none); ``repertoire``: for causes ``(T, 2**n)`` (LOLI over the purview's
    nodes, zero-padded), for effects the per-node ON probabilities ``(T, n)`` (``NaN`` outside the purview).
    """

    phi: Tensor
    purview: Tensor
    mip_m1: Tensor
    mip_p1: Tensor
    repertoire: Tensor


def _union_table(rows: Tensor, idx: Index) -> Tensor:
    """``(B, 2**n)`` int64: for every node set ``X``, the OR of ``rows[b, i]`` over ``i ∈ X``."""
    b, n = rows.shape
    table = torch.zeros(b, 2**n, dtype=torch.long, device=rows.device)
    for i in range(n):
        lo = 2**i
        table[:, lo : 2 * lo] = table[:, :lo] | rows[:, i : i + 1]
    return table


def irreducible_purviews(cm: Tensor, direction: int, idx: Index) -> Tensor:
    """``(B, 2**n M, 2**n P)`` bool: purview ``P`` is a candidate for mechanism ``M`` under ``cm``.

    The connections from the sources (``P`` for causes, ``M`` for effects) to the targets must form a
    connected bipartite graph (each node counted once as a source and once as a target). Computed with bit
    masks: a search grows the reached sources and targets from the lowest source, ``n`` rounds.
    """
    n = idx.n
    size = 2**n
    weights = 2 ** torch.arange(n, device=cm.device)
    out_rows = (cm.long() * weights).sum(2)  # (B, n): targets of each node
    in_rows = (cm.transpose(1, 2).long() * weights).sum(2)  # (B, n): sources of each node
    outs = _union_table(out_rows, idx)
    ins = _union_table(in_rows, idx)
    masks = torch.arange(size, device=cm.device)
    m_set = masks[:, None].expand(size, size)
    p_set = masks[None, :].expand(size, size)
    src, dst = (p_set, m_set) if direction == CAUSE else (m_set, p_set)
    src = src.reshape(-1)
    dst = dst.reshape(-1)
    bcount = cm.shape[0]
    reached_s = (src & -src).expand(bcount, -1).clone()  # lowest source node
    reached_t = torch.zeros_like(reached_s)
    for _ in range(n + 1):
        reached_t = outs.gather(1, reached_s) & dst
        reached_s = reached_s | (ins.gather(1, reached_t) & src)
    ok = (reached_s == src) & (reached_t == dst) & (src > 0) & (dst > 0)
    return ok.reshape(bcount, size, size)


def _expand_pairs(
    pair_m: Tensor, pair_p: Tensor, idx: Index
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Records of every (pair, mip bipartition): pair id, M1, P1, M2, P2 (masks)."""
    a = idx.popcount[pair_m]
    c = idx.popcount[pair_p]
    count = idx.pat_count[a, c]
    start = idx.pat_offset[a, c]
    pair_id = torch.repeat_interleave(torch.arange(pair_m.shape[0], device=pair_m.device), count)
    first = torch.cumsum(count, 0) - count
    within = torch.arange(pair_id.shape[0], device=pair_m.device) - first[pair_id]
    pat = start[pair_id] + within
    m = pair_m[pair_id]
    p = pair_p[pair_id]
    m1 = idx.deposit[m, idx.pat_n0[pat]]
    p1 = idx.deposit[p, idx.pat_d0[pat]]
    return pair_id, m1, p1, m ^ m1, p ^ p1


def _segment_first_argmin(values: Tensor, seg: Tensor, nseg: int) -> tuple[Tensor, Tensor]:
    """Per segment: the minimum and the first record attaining it (records are in segment order)."""
    inf = torch.full((nseg,), float("inf"), dtype=values.dtype, device=values.device)
    mins = inf.scatter_reduce(0, seg, values, reduce="amin")
    at_min = values == mins[seg]
    big = torch.full((nseg,), values.shape[0], dtype=torch.long, device=values.device)
    pos = torch.arange(values.shape[0], device=values.device)
    first = big.scatter_reduce(0, seg, torch.where(at_min, pos, values.shape[0]), reduce="amin")
    return mins, first


def _cause_phi(
    tables: Tables,
    sys_b: Tensor,
    m: Tensor,
    p: Tensor,
    m1: Tensor,
    p1: Tensor,
    m2: Tensor,
    p2: Tensor,
    pair_id: Tensor,
    npairs: int,
    idx: Index,
    stats: Stats,
) -> Tensor:
    """Rounded cause distances of every record (``inf`` where pruned: never below the pair's minimum).

    Purviews of 1–2 nodes: every record exactly (dual vertices). Larger purviews: per (mechanism, purview)
    pair, records are evaluated in the order of their lower bound until no bound is below the pair's best
    exact distance. Bounds, tightest last: the node-marginal bound from ``tables.cause_marg`` (no repertoire
    gathered), then ``max(marginal, TV)`` and, over 5+ nodes, the 4-node lift bound; then the exact EMD.
    """
    out = torch.full(m.shape, float("inf"), dtype=tables.cause3.dtype, device=m.device)
    k_all = idx.popcount[p]
    mg = tables.cause_marg
    for k in torch.unique(k_all).tolist():
        sel = torch.nonzero(k_all == k).flatten()
        states = torch.arange(2**k, device=m.device)

        def vectors(
            rows: Tensor, k: int = k, sel: Tensor = sel, states: Tensor = states
        ) -> tuple[Tensor, Tensor]:
            g = sel[rows]
            xs = idx.deposit[p[g]][:, states]  # (R, 2^k) global masks of the purview's states
            bb = sys_b[g][:, None]
            r = tables.cause3[bb, m[g][:, None], idx.base2[p[g]][:, None] + idx.tern[xs]]
            q1 = tables.cause3[bb, m1[g][:, None], idx.base2[p1[g]][:, None] + idx.tern[xs & p1[g][:, None]]]
            q2 = tables.cause3[bb, m2[g][:, None], idx.base2[p2[g]][:, None] + idx.tern[xs & p2[g][:, None]]]
            return r, q1 * q2

        if k <= 2:
            r, q = vectors(torch.arange(sel.shape[0], device=m.device))
            out[sel] = round6_python(hamming_emd(r, q))
            stats.cause_emds_dual += int(sel.numel())
            continue
        bs, ms, ps = sys_b[sel], m[sel], p[sel]
        whole = mg[bs, ms, ps]  # (R, n)
        in1 = idx.bits[p1[sel]].to(whole.dtype)
        in2 = idx.bits[p2[sel]].to(whole.dtype)
        lb = (
            (whole - mg[bs, m1[sel], p1[sel]]).abs() * in1 + (whole - mg[bs, m2[sel], p2[sel]]).abs() * in2
        ).sum(1)
        del whole, in1, in2
        tier = torch.zeros(sel.shape[0], dtype=torch.long, device=m.device)
        seg = pair_id[sel]
        best = torch.full((npairs,), float("inf"), dtype=lb.dtype, device=m.device)
        # PyPhi reports the first minimal partition in its order: a record tying with the best (after
        # rounding) and earlier than the current first minimum stays open too.
        best_rounded = best.clone()
        first_min = torch.full((npairs,), sel.shape[0], dtype=torch.long, device=m.device)
        pos = torch.arange(sel.shape[0], device=m.device)
        while True:
            earlier_tie = (lb <= best_rounded[seg] + 5e-7 + 1e-12) & (pos < first_min[seg])
            open_ = (tier < 2) & ((lb < best[seg] - 1e-12) | earlier_tie)
            if not open_.any():
                break
            cand_lb = torch.where(open_, lb, torch.full_like(lb, float("inf")))
            mins, first = _segment_first_argmin(cand_lb, seg, npairs)
            pick = first[torch.isfinite(mins)]
            was = tier[pick]
            up = pick[was == 0]
            if up.numel():
                r, q = vectors(up)
                bound = hamming_emd_cheap_bound(r, q)
                if k > DUAL_MAX_NODES:
                    bound = torch.maximum(bound, hamming_emd_lower_bound(r, q))
                lb[up] = torch.maximum(lb[up], bound)
                tier[up] = 1
            pick = pick[was == 1]
            if not pick.numel():
                continue
            r, q = vectors(pick)
            exact = hamming_emd(r, q)
            if k > DUAL_MAX_NODES:
                stats.cause_emds_exact += int(pick.numel())
            else:
                stats.cause_emds_dual += int(pick.numel())
            tier[pick] = 2
            out[sel[pick]] = round6_python(exact)
            best.scatter_reduce_(0, seg[pick], exact, reduce="amin")
            best_rounded, first_min = _segment_first_argmin(out[sel], seg, npairs)
        stats.cause_emds_pruned += int((tier < 2).sum())
    return out


def _effect_records(
    tables: Tables, rec_b: Tensor, rec_m: Tensor, m1: Tensor, p1: Tensor, m2: Tensor, p2: Tensor, idx: Index
) -> Tensor:
    """Rounded effect distances of records (product closed form: per-node |ΔP(ON)| summed)."""
    e = tables.effect_on  # (B, n, 2^n)
    em = e[rec_b, :, rec_m]
    d1 = (em - e[rec_b, :, m1]).abs() * idx.bits[p1].to(em.dtype)
    d2 = (em - e[rec_b, :, m2]).abs() * idx.bits[p2].to(em.dtype)
    return round6_numpy((d1 + d2).sum(1))


def _effect_pairs(tables: Tables, pair_b: Tensor, pair_m: Tensor, pair_p: Tensor, idx: Index) -> Tensor:
    """Rounded effect φ of every (mechanism, purview) pair, without enumerating purview bipartitions.

    For a mechanism bipartition ``(M1, M2)`` the distance of purview bipartition ``(P1, P2)`` is ``Σ_{p∈P1}
    a1_p + Σ_{p∈P2} a2_p`` with ``a_i = |P(p ON | M) − P(p ON | M_i)|``. Its minimum over ``P1 ⊆ P`` is ``Σ_p
    min(a1_p, a2_p)``, plus ``max(0, min_p (a1_p − a2_p))`` when ``M1 = ∅`` (``P1`` must then be non-empty).
    """
    a = idx.popcount[pair_m]
    count = 2 ** (a - 1)
    gid = torch.repeat_interleave(torch.arange(pair_m.shape[0], device=pair_m.device), count)
    within = torch.arange(gid.shape[0], device=pair_m.device) - (torch.cumsum(count, 0) - count)[gid]
    m = pair_m[gid]
    b = pair_b[gid]
    m1 = idx.deposit[m, within]
    e = tables.effect_on
    em = e[b, :, m]
    a1 = (em - e[b, :, m1]).abs()
    a2 = (em - e[b, :, m ^ m1]).abs()
    inside = idx.bits[pair_p[gid]]
    zero = torch.zeros_like(a1)
    total = torch.where(inside, torch.minimum(a1, a2), zero).sum(1)
    gap = torch.where(inside, a1 - a2, torch.full_like(a1, float("inf"))).amin(1).clamp_min(0)
    total = total + torch.where(m1 == 0, gap, torch.zeros_like(gap))
    inf = torch.full((pair_m.shape[0],), float("inf"), dtype=total.dtype, device=total.device)
    return inf.scatter_reduce(0, gid, round6_numpy(total), reduce="amin")


def _chunks(task_b: Tensor, task_m: Tensor, cand: Tensor, idx: Index, limit: int) -> list[Tensor]:
    """Split task indices so that each chunk enumerates at most about ``limit`` partitions."""
    a = idx.popcount[task_m]
    per = (cand.long() * idx.pat_count[a][:, idx.popcount]).sum(1)
    out: list[Tensor] = []
    start, acc = 0, 0
    for t, c in enumerate(per.tolist()):
        if acc and acc + c > limit:
            out.append(torch.arange(start, t, device=task_m.device))
            start, acc = t, 0
        acc += c
    out.append(torch.arange(start, task_m.shape[0], device=task_m.device))
    return out


def find_mice(
    tables: Tables,
    candidates: Tensor,
    task_b: Tensor,
    task_m: Tensor,
    direction: int,
    idx: Index,
    stats: Stats | None = None,
    max_records: int = 1_000_000,
) -> MiceBatch:
    """MICE of every task ``(task_b[t], task_m[t])`` in one direction.

    ``candidates``: ``(B, 2**n, 2**n)`` from :func:`irreducible_purviews` for the same direction. Tasks are
    processed in chunks of at most about ``max_records`` (mechanism, purview, partition) records.
    """
    st = stats if stats is not None else Stats()
    dev = task_m.device
    n = idx.n
    ntask = task_m.shape[0]
    dtype = tables.cause3.dtype
    if ntask == 0:
        empty = torch.zeros(0, dtype=torch.long, device=dev)
        width = 2**n if direction == CAUSE else n
        return MiceBatch(
            phi=torch.zeros(0, dtype=dtype, device=dev),
            purview=empty,
            mip_m1=empty,
            mip_p1=empty,
            repertoire=torch.zeros(0, width, dtype=dtype, device=dev),
        )
    cand_all = candidates[task_b, task_m]  # (T, 2^n)
    cand_all[:, 0] = False
    parts = [
        _find_mice_chunk(tables, cand_all[c], task_b[c], task_m[c], direction, idx, st)
        for c in _chunks(task_b, task_m, cand_all, idx, max_records)
    ]
    return MiceBatch(*(torch.cat([getattr(p, f) for p in parts]) for f in MiceBatch.__dataclass_fields__))


def _find_mice_chunk(
    tables: Tables, cand: Tensor, task_b: Tensor, task_m: Tensor, direction: int, idx: Index, st: Stats
) -> MiceBatch:
    dev = task_m.device
    n = idx.n
    ntask = task_m.shape[0]
    dtype = tables.cause3.dtype
    pair_t, pair_p = torch.nonzero(cand, as_tuple=True)
    pair_m = task_m[pair_t]
    pair_b = task_b[pair_t]
    npairs = int(pair_t.shape[0])
    st.purviews += npairs
    if direction == EFFECT:
        phi_pair = _effect_pairs(tables, pair_b, pair_m, pair_p, idx)
        st.partitions += int((2 ** (idx.popcount[pair_m] - 1)).sum()) if npairs else 0
    else:
        pair_id, m1, p1, m2, p2 = _expand_pairs(pair_m, pair_p, idx)
        st.partitions += int(pair_id.shape[0])
        dist = _cause_phi(
            tables,
            pair_b[pair_id],
            pair_m[pair_id],
            pair_p[pair_id],
            m1,
            p1,
            m2,
            p2,
            pair_id,
            npairs,
            idx,
            st,
        )
        phi_pair, first = _segment_first_argmin(dist, pair_id, npairs)
        unreachable = tables.cause_norm[pair_b, pair_m, pair_p] == 0
        phi_pair = torch.where(unreachable, torch.zeros_like(phi_pair), phi_pair)
    # Winner per task: max φ, then larger purview, then first in powerset order.
    neg_inf = torch.full((ntask,), -1.0, dtype=dtype, device=dev)
    best_phi = neg_inf.scatter_reduce(0, pair_t, phi_pair, reduce="amax")
    at_best = phi_pair == best_phi[pair_t]
    key = idx.popcount[pair_p] * (2 ** (n + 1)) - idx.rank[pair_p]
    key = torch.where(at_best, key, torch.full_like(key, -(2**40)))
    best_key = torch.full((ntask,), -(2**41), dtype=torch.long, device=dev).scatter_reduce(
        0, pair_t, key, reduce="amax"
    )
    win = at_best & (key == best_key[pair_t])
    win_pair = torch.full((ntask,), -1, dtype=torch.long, device=dev)
    win_pair.scatter_reduce_(0, pair_t[win], torch.nonzero(win).flatten(), reduce="amax")
    has = win_pair >= 0
    wp = win_pair.clamp_min(0)
    phi = torch.where(has, best_phi.clamp_min(0), torch.zeros_like(best_phi))
    purview = torch.where(has, pair_p[wp], torch.zeros_like(wp)) if npairs else torch.zeros_like(task_m)
    mip_m1 = torch.full_like(task_m, -1)
    mip_p1 = torch.full_like(task_m, -1)
    if npairs:
        if direction == CAUSE:
            rec = first[wp]
            rm1, rp1 = m1[rec], p1[rec]
        else:
            # The MIP partition of each MICE: its records, the first minimal one in PyPhi's order.
            wid, wm1, wp1, wm2, wp2 = _expand_pairs(pair_m[wp], pair_p[wp], idx)
            d = _effect_records(tables, pair_b[wp][wid], pair_m[wp][wid], wm1, wp1, wm2, wp2, idx)
            _, firstw = _segment_first_argmin(d, wid, ntask)
            rm1, rp1 = wm1[firstw.clamp_max(d.shape[0] - 1)], wp1[firstw.clamp_max(d.shape[0] - 1)]
        ok = has & (phi > 0)
        mip_m1 = torch.where(ok, rm1, mip_m1)
        mip_p1 = torch.where(ok, rp1, mip_p1)
    if direction == CAUSE:
        states = torch.arange(2**n, device=dev)
        xs = idx.deposit[purview][:, states]
        valid = states[None, :] < (1 << idx.popcount[purview])[:, None]
        rep = tables.cause3[task_b[:, None], task_m[:, None], idx.base2[purview][:, None] + idx.tern[xs]]
        rep = torch.where(valid, rep, torch.zeros_like(rep))
    else:
        rep = tables.effect_on[task_b, :, task_m]
        rep = torch.where(idx.bits[purview], rep, torch.full_like(rep, float("nan")))
    return MiceBatch(phi=phi, purview=purview, mip_m1=mip_m1, mip_p1=mip_p1, repertoire=rep)
