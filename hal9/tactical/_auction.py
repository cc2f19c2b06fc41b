"""Vectorised forward auction with ε-scaling and a duality certificate (private: see ``assignment.py``).

Everything here works in *cost form* on a finite ``(n, m)`` matrix with ``n ≤ m``: the ``n`` rows are the
bidders ("persons"), the ``m`` columns the objects. A bidder ``i`` values object ``j`` at ``c_ij + p_j``
(lower is better); prices ``p`` only rise during a phase.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

# Elements of one bidding / certificate block: a few MB on a CPU (each block is one parallel region: on a
# loaded 2-core machine many small regions stall on each other), large on a GPU (fewer launches).
_BLOCK_ELEMS_CPU = 1 << 20
_BLOCK_ELEMS_GPU = 1 << 24
# At most this many unassigned bidders: bid one at a time (Gauss–Seidel), the displaced bidder next. A
# NumPy bid on a CPU costs ~10 µs, a torch one on a GPU a few launches and a sync, a bulk round ~0.1-1 ms.
_SEQUENTIAL_MAX = 8
_SEQUENTIAL_MAX_CPU = 32
# Bulk rounds look at each bidder's _LIST_SIZE cheapest objects only (see _Lists) once rows have at least
# _LIST_MIN_OBJECTS objects. Lists save full-row scans but underbid (more rounds): on the 2-core CPU they
# were no faster at m ≤ 10,000, so they are meant for very wide rows (GPU-sized problems).
_LIST_SIZE = 16
_LIST_MIN_OBJECTS = 1 << 15
# On a CPU the row top-2 kernels work on NumPy views of the same memory: torch.topk / argmin on a CPU
# were 3-8× slower than NumPy's argmin + min in the bulk rounds, and the one-at-a-time tails pay tens of µs
# of torch dispatch per bid (tests switch this off to run the torch path, the one used on a GPU).
_NUMPY_ON_CPU = True
# ε shrinks by this factor between phases, or by up to _MAX_JUMP when that reaches the requested gap.
_SCALING = 8.0
_MAX_JUMP = 32.0
# The first phase's ε, as a fraction of the cost range.
_EPS0_FRACTION = 1.0 / 64.0
# Smallest ε relative to the cost scale: below it float64 prices no longer resolve a bid.
_EPS_FLOOR = 1e-12
# The float32 working matrix is kept while ε ≥ this many float32 ulps of the largest |cost + price|.
_F32_ULPS = 16.0
# Safety net against a non-terminating bidding loop (never reached in the tests or benchmarks).
_MAX_ROUNDS = 10_000_000


@dataclass(frozen=True)
class AuctionOutcome:
    """What :func:`auction` returns: the object of every bidder, the final prices and the certificate."""

    obj_of: Tensor  # (n,) int64, a permutation into range(m)
    prices: Tensor  # (m,) float64
    rounds: int  # bidding rounds over all phases
    eps: float  # ε of the last phase
    lower_bound: float  # LB(p) = Σ_i min_j (c_ij + p_j) − (sum of the n largest p_j) ≤ optimum
    total: float  # Σ_i c_{i, obj_of[i]} in float64
    phases: int
    exact: bool = False  # integer mode: the certificate proves that the matching is optimal


def _block_rows(c: Tensor) -> int:
    elems = _BLOCK_ELEMS_CPU if c.device.type == "cpu" else _BLOCK_ELEMS_GPU
    return max(1, elems // max(1, c.shape[1]))


def extremes(c: Tensor) -> tuple[float, float]:
    """``(min, max)`` of a non-empty tensor (NaN if it holds one), single-threaded NumPy on a CPU."""
    if _NUMPY_ON_CPU and c.device.type == "cpu":
        a = c.numpy()
        return float(a.min()), float(a.max())
    lo, hi = torch.aminmax(c)
    return float(lo), float(hi)


def _sequential_max(c: Tensor) -> int:
    return _SEQUENTIAL_MAX_CPU if _NUMPY_ON_CPU and c.device.type == "cpu" else _SEQUENTIAL_MAX


def _row_min_plus(c: Tensor, p: Tensor) -> Tensor:
    """``h_i = min_j (c_ij + p_j)`` in the dtype of ``c``, in row blocks."""
    n = c.shape[0]
    out = torch.empty(n, dtype=c.dtype, device=c.device)
    step = _block_rows(c)
    if _NUMPY_ON_CPU and c.device.type == "cpu":
        # single-threaded NumPy: torch's 2-thread amin stalled when another process held a core
        cn, pn, on = c.numpy(), p.numpy(), out.numpy()
        for r0 in range(0, n, step):
            np.amin(cn[r0 : r0 + step] + pn, axis=1, out=on[r0 : r0 + step])
    else:
        for r0 in range(0, n, step):
            torch.amin(c[r0 : r0 + step] + p, dim=1, out=out[r0 : r0 + step])
    return out


def certificate(c: Tensor, p: Tensor, obj_of: Tensor, cmax: float) -> tuple[float, Tensor]:
    """Weak-duality lower bound on the optimum and the ε-CS slack of every bidder.

    ``LB(p) = Σ_i min_j (c_ij + p_j) − (sum of the n largest p_j)`` is valid for *any* prices: for a
    matching ``σ`` of all ``n`` rows into distinct columns,
    ``Σ c_iσ(i) = Σ (c_iσ(i) + p_σ(i)) − Σ p_σ(i) ≥ Σ_i h_i − (n largest prices)``. In float32 the row
    minima carry a rounding error of at most one ulp of ``cmax + max |p|`` each (``cmax = max |c|``),
    which is subtracted.
    The slack ``c_iσ(i) + p_σ(i) − h_i`` (float64) is what ε-complementary slackness bounds by ε.
    """
    n = c.shape[0]
    h = _row_min_plus(c, p)
    rows = torch.arange(n, device=c.device)
    own = c[rows, obj_of] + p[obj_of]
    slack = own.to(torch.float64) - h.to(torch.float64)
    p64 = p.to(torch.float64)
    lb = float(h.to(torch.float64).sum() - torch.topk(p64, n).values.sum())
    if c.dtype != torch.float64:
        mag = cmax + float(p64.abs().max())
        lb -= n * mag * torch.finfo(c.dtype).eps
        slack = slack + mag * torch.finfo(c.dtype).eps
    return lb, slack


@dataclass
class _Lists:
    """Candidate lists: the ``K`` cheapest objects of each bidder when its list was built.

    ``thr[i]`` is the ``(K+1)``-th smallest ``c_ij + p_j`` at that time; prices only rise during forward
    bidding, so every object outside the list still has ``c_ij + p_j ≥ thr[i]``. A bid then needs the
    list only: its best is the true best while it is ``≤ thr[i]`` (else the list is rebuilt from the full
    row), and ``min(second in list, thr[i])`` is at most the true second best — a bid that is at most
    the full one and still keeps ε-CS. ``thr = −inf`` marks a list that must be rebuilt (after the reverse
    auction lowered prices).
    """

    cand: Tensor  # (n, K) int64
    thr: Tensor  # (n,), the working dtype

    @classmethod
    def empty(cls, n: int, k: int, dtype: torch.dtype, device: torch.device) -> _Lists:
        cand = torch.zeros((n, k), dtype=torch.int64, device=device)
        return cls(cand, torch.full((n,), -math.inf, dtype=dtype, device=device))

    def rebuild(self, c: Tensor, p: Tensor, rows: Tensor) -> None:
        k = self.cand.shape[1]
        step = _block_rows(c)
        for b0 in range(0, rows.numel(), step):
            who = rows[b0 : b0 + step]
            top = torch.topk(c.index_select(0, who).add_(p), k + 1, dim=1, largest=False, sorted=True)
            self.cand[who] = top.indices[:, :k]
            self.thr[who] = top.values[:, k]

    def top2(self, c: Tensor, p: Tensor, free: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Best object, best value and (a lower bound on the) second-best value of each free bidder."""
        for attempt in range(2):
            cand = self.cand[free]
            top = torch.topk(c[free[:, None], cand] + p[cand], 2, dim=1, largest=False, sorted=True)
            thr = self.thr[free]
            exhausted = top.values[:, 0] > thr
            if attempt == 1 or not bool(exhausted.any()):
                break
            self.rebuild(c, p, free[exhausted])
        j1 = cand.gather(1, top.indices[:, :1]).squeeze(1)
        return j1, top.values[:, 0], torch.minimum(top.values[:, 1], thr)


def _bid_round(
    c: Tensor, p: Tensor, obj_of: Tensor, owner: Tensor, eps: float, free: Tensor, lists: _Lists | None
) -> None:
    """One Jacobi round: every unassigned bidder (``free``) bids, each object goes to its highest bid."""
    k = free.numel()
    m = c.shape[1]
    if lists is not None:
        j1, d1, d2 = lists.top2(c, p, free)
        # new price = p_j1 + (second best − best) + ε: bidder i is then indifferent within ε
        bid = p[j1] + (d2 - d1) + eps
    else:
        step = _block_rows(c)
        host, (cv, pv) = _host_views(c, p)
        j1s, bids = [], []
        for b0 in range(0, k, step):
            who = free[b0 : b0 + step]
            if host:
                v: Tensor | np.ndarray = cv[who.numpy()]
                v += pv
            else:
                v = c.index_select(0, who).add_(p)
            j, d1, d2 = _top2_rows(v)
            j1s.append(j)
            bids.append(p[j] + (d2 - d1) + eps)
        j1 = j1s[0] if len(j1s) == 1 else torch.cat(j1s)
        bid = bids[0] if len(bids) == 1 else torch.cat(bids)
    best = torch.full((m,), -math.inf, dtype=bid.dtype, device=bid.device)
    best.scatter_reduce_(0, j1, bid, reduce="amax", include_self=True)
    top_bid = bid == best[j1]
    # exact ties between bids: the lowest bidder index wins (deterministic)
    n = obj_of.numel()
    winner = torch.full((m,), n, dtype=torch.int64, device=bid.device)
    winner.scatter_reduce_(0, j1[top_bid], free[top_bid], reduce="amin", include_self=True)
    won = winner[j1] == free
    w, j = free[won], j1[won]
    prev = owner[j]
    obj_of[prev[prev >= 0]] = -1
    owner[j] = w
    obj_of[w] = j
    p[j] = bid[won]


def _top2_rows(v: Tensor | np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
    """Per row of a ``(k, m ≥ 2)`` temporary (overwritten): first argmin, smallest, second smallest."""
    if isinstance(v, np.ndarray):
        ar = np.arange(v.shape[0])
        j = v.argmin(axis=1)
        d1 = v[ar, j]
        v[ar, j] = np.inf
        return torch.from_numpy(j), torch.from_numpy(d1), torch.from_numpy(v.min(axis=1))
    top = torch.topk(v, 2, dim=1, largest=False, sorted=True)
    return top.indices[:, 0], top.values[:, 0], top.values[:, 1]


def _top2(v: Tensor | np.ndarray) -> tuple[float, float, int]:
    """Smallest and second-smallest value of a 1-D vector (``inf`` if none), and the first argmin."""
    if isinstance(v, np.ndarray):
        j = int(v.argmin())
        d1 = float(v[j])
        if v.shape[0] < 2:
            return d1, math.inf, j
        v[j] = np.inf  # v is a temporary
        return d1, float(v.min()), j
    if v.shape[0] < 2:
        return float(v[0]), math.inf, 0
    top = torch.topk(v, 2, largest=False, sorted=True)
    (d1, d2), (j, _) = top.values.tolist(), top.indices.tolist()
    return d1, d2, j


def _host_views(c: Tensor, *vectors: Tensor) -> tuple[bool, list[Tensor | np.ndarray]]:
    """NumPy views (shared memory) of CPU tensors for the one-at-a-time tails, else the tensors.

    A single bid touches one row: NumPy's per-call overhead is a few µs against tens for torch.
    """
    if _NUMPY_ON_CPU and c.device.type == "cpu":
        return True, [t.numpy() for t in (c, *vectors)]
    return False, [c, *vectors]


def _bid_sequential(
    c: Tensor, p: Tensor, obj_of: Tensor, owner: Tensor, eps: float, free: list[int], rounds: int
) -> int:
    """Gauss–Seidel tail: the few unassigned bidders bid one at a time; a displaced bidder bids next.

    Same bids as a Jacobi round of one bidder, with the bookkeeping in Python lists: a long displacement
    chain then costs one row of work per bid, not a full round.
    """
    owner_l, obj_l = owner.tolist(), obj_of.tolist()
    host, (cv, pv) = _host_views(c, p)
    p_l = None if host else p.tolist()
    f32 = c.dtype != torch.float64
    while free:
        i = free.pop()
        d1, d2, j1 = _top2(cv[i] + pv)
        bid = (float(pv[j1]) if p_l is None else p_l[j1]) + (d2 - d1) + eps
        if f32:
            bid = float(np.float32(bid))
        prev = owner_l[j1]
        if prev >= 0:
            obj_l[prev] = -1
            free.append(prev)
        owner_l[j1], obj_l[i] = i, j1
        pv[j1] = bid
        if p_l is not None:
            p_l[j1] = bid
        rounds += 1
        if rounds > _MAX_ROUNDS:
            raise RuntimeError(f"auction did not finish within {_MAX_ROUNDS} bidding rounds (eps={eps:g})")
    owner.copy_(torch.tensor(owner_l, dtype=torch.int64))
    obj_of.copy_(torch.tensor(obj_l, dtype=torch.int64))
    return rounds


def _bid_until_assigned(
    c: Tensor, p: Tensor, obj_of: Tensor, owner: Tensor, eps: float, rounds: int, lists: _Lists | None
) -> int:
    """Forward bidding until every bidder holds an object; returns the updated round count."""
    while True:
        free = torch.nonzero(obj_of < 0).squeeze(1)
        k = free.numel()
        if k == 0:
            return rounds
        if k <= _sequential_max(c):
            return _bid_sequential(c, p, obj_of, owner, eps, free.tolist()[::-1], rounds)
        _bid_round(c, p, obj_of, owner, eps, free, lists)
        rounds += 1
        if rounds > _MAX_ROUNDS:
            raise RuntimeError(f"auction did not finish within {_MAX_ROUNDS} bidding rounds (eps={eps:g})")


def _column_top2(c: Tensor, profit: Tensor, cols: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For each column ``j`` in ``cols``: best person, best and second-best ``c_ij + π_i`` (blocked)."""
    n = c.shape[0]
    if n == 1:
        d1 = c[0, cols] + profit[0]
        return torch.zeros_like(cols), d1, torch.full_like(d1, math.inf)
    host, (cv, prv) = _host_views(c, profit)
    step = max(1, (_BLOCK_ELEMS_CPU if host else _BLOCK_ELEMS_GPU) // n)
    parts = []
    for b0 in range(0, cols.numel(), step):
        js = cols[b0 : b0 + step]
        # (block, n): c_ij + π_i = −(a_ij − π_i), gathered column by column from the bidder-major c
        if host:
            v: Tensor | np.ndarray = np.ascontiguousarray((cv[:, js.numpy()] + prv[:, None]).T)
        else:
            v = c.index_select(1, js).add_(profit[:, None]).t().contiguous()
        parts.append(_top2_rows(v))
    if len(parts) == 1:
        return parts[0]
    i1, d1, d2 = (torch.cat(t) for t in zip(*parts, strict=True))
    return i1, d1, d2


def _reverse(c: Tensor, p: Tensor, obj_of: Tensor, owner: Tensor, eps: float, rounds: int) -> int:
    """Asymmetric case (``n < m``): reverse auction for unassigned objects priced above λ.

    Forward bidding never touches an object nobody bids on, so after ε-scaling an unassigned object can
    keep a price from an earlier phase above λ = the lowest assigned price, which breaks the ``n·ε`` bound.
    As in Bertsekas & Castañon (1992), every such object ``j`` bids for persons with profits
    ``π_i = −(c_iσ(i) + p_σ(i))``: with ``β = max_i (−c_ij − π_i)`` and ``ω`` the second best, it either
    drops its price to λ (when ``λ ≥ β − ε``) or takes its best person ``i`` at price ``max(λ, ω − ε)``,
    raising ``π_i`` by ``δ = min(β − λ, β − ω + ε) ≥ ε`` and releasing that person's old object. Each
    person takes the largest δ offered (Jacobi). ε-CS is kept; at the end no unassigned object is priced
    above λ.
    """
    n = c.shape[0]
    rows = torch.arange(n, device=c.device)
    profit = -(c[rows, obj_of] + p[obj_of])  # π, in the working dtype
    lam = p[owner >= 0].min()
    while True:
        stale = torch.nonzero((owner < 0) & (p > lam)).squeeze(1)
        if stale.numel() == 0:
            return rounds
        if stale.numel() <= _sequential_max(c):
            return _reverse_sequential(c, p, obj_of, owner, profit, float(lam), eps, stale.tolist(), rounds)
        rounds += 1
        if rounds > _MAX_ROUNDS:
            raise RuntimeError(f"reverse auction did not finish within {_MAX_ROUNDS} rounds (eps={eps:g})")
        i1, d1, d2 = _column_top2(c, profit, stale)
        beta = -d1
        drop = lam >= beta - eps
        p[stale[drop]] = lam
        bidding = ~drop
        if not bool(bidding.any()):
            continue
        j, i, beta = stale[bidding], i1[bidding], beta[bidding]
        delta = torch.minimum(beta - lam, (d2[bidding] - d1[bidding]) + eps)
        best = torch.full((n,), -torch.inf, dtype=delta.dtype, device=c.device)
        best.scatter_reduce_(0, i, delta, reduce="amax", include_self=True)
        top_bid = delta == best[i]
        m = p.numel()
        winner = torch.full((n,), m, dtype=torch.int64, device=c.device)
        winner.scatter_reduce_(0, i[top_bid], j[top_bid], reduce="amin", include_self=True)
        won = winner[i] == j
        j, i, beta, delta = j[won], i[won], beta[won], delta[won]
        owner[obj_of[i]] = -1
        obj_of[i] = j
        owner[j] = i
        p[j] = beta - delta
        profit[i] += delta


def _reverse_sequential(
    c: Tensor,
    p: Tensor,
    obj_of: Tensor,
    owner: Tensor,
    profit: Tensor,
    lam: float,
    eps: float,
    stale: list[int],
    rounds: int,
) -> int:
    """Gauss–Seidel tail of :func:`_reverse`: the few stale objects bid one at a time."""
    owner_l, obj_l, p_l = owner.tolist(), obj_of.tolist(), p.tolist()
    _, (cv, pv, prv) = _host_views(c, p, profit)
    f32 = c.dtype != torch.float64
    while stale:
        j = stale.pop()
        d1, d2, i = _top2(cv[:, j] + prv)
        beta = -d1
        rounds += 1
        if rounds > _MAX_ROUNDS:
            raise RuntimeError(f"reverse auction did not finish within {_MAX_ROUNDS} rounds (eps={eps:g})")
        if lam >= beta - eps:
            p_l[j] = pv[j] = lam
            continue
        delta = min(beta - lam, d2 - d1 + eps)
        price = beta - delta
        if f32:
            price = float(np.float32(price))
        old = obj_l[i]
        owner_l[old] = -1
        if p_l[old] > lam:
            stale.append(old)
        obj_l[i], owner_l[j] = j, i
        p_l[j] = pv[j] = price
        prv[i] += delta
    owner.copy_(torch.tensor(owner_l, dtype=torch.int64))
    obj_of.copy_(torch.tensor(obj_l, dtype=torch.int64))
    return rounds


def _integer_eps(eps: float) -> float:
    """ε of the integer auction: a whole number, at least 1 (the scaled costs are integers)."""
    return max(1.0, float(math.floor(eps)))


def auction(
    c: Tensor,
    *,
    target_gap: float | None,
    tol: float,
    atol: float,
    eps_final: float | None,
    integral: bool = False,
) -> AuctionOutcome:
    """Forward auction with ε-scaling on a finite cost matrix ``c`` of shape ``(n, m)``, ``1 ≤ n ≤ m``.

    Phases run with ``ε = ε₀, ε₀/8, …``. After each phase the duality gap ``total − LB(p)`` is computed;
    the auction stops as soon as it is at most the target — ``target_gap`` when given, otherwise
    ``max(atol, tol·min(|total|, |LB|))`` when ``total`` and ``LB`` have the same sign (else ``atol``) —
    or when ``ε`` has reached ``eps_final`` (default: ``1e-12`` of the cost scale).

    ``integral=True`` (every entry of ``c`` an integer; ``target_gap``, ``tol``, ``atol`` and ``eps_final``
    are then ignored): the integer auction of Bertsekas (1988, 1992). The costs are multiplied by
    ``n + 1`` and bid on in float64 with whole-number ε down to 1, so every price, bid and certificate term
    is an integer computed exactly (checked: all prices integral and ``n·(max|c'| + max|p|) < 2⁵²``). The
    auction stops at the first phase whose certified gap is at most ``n`` in scaled units, i.e.
    ``< 1`` in the original ones; as every total is an integer, the matching is then optimal
    (``exact=True``; ε-CS at ε = 1 guarantees this by the last phase). Totals, bound and ε are returned
    in the original units.
    """
    n, m = c.shape
    device = c.device
    lo, hi = extremes(c)
    if m == 1 or lo == hi:  # one object (then n == 1) or a constant matrix: every matching is optimal
        total = n * lo
        return AuctionOutcome(
            obj_of=torch.arange(n, device=device),
            prices=torch.zeros(m, dtype=torch.float64, device=device),
            rounds=0,
            eps=0.0,
            lower_bound=total,
            total=total,
            phases=0,
            exact=integral,
        )
    mult = 1.0
    if integral:
        mult = float(n + 1)
        c = c.to(torch.float64) * mult  # integers: exact while |c|·(n + 1) < 2⁵³ (assign checks 2⁴⁰)
        lo, hi = lo * mult, hi * mult
    c64 = c if c.dtype == torch.float64 else None
    scale = max(abs(lo), abs(hi), 1e-300)
    eps = max((hi - lo) * _EPS0_FRACTION, scale * 1e-6, 1e-300)
    floor = max(scale * _EPS_FLOOR, 1e-300)
    stop_eps = max(eps_final, floor) if eps_final is not None else floor
    eps = max(eps, stop_eps)
    if integral:
        eps, stop_eps, target_gap = _integer_eps((hi - lo) * _EPS0_FRACTION), 1.0, float(n)

    work = c
    p = torch.zeros(m, dtype=work.dtype, device=device)
    obj_of = torch.full((n,), -1, dtype=torch.int64, device=device)
    owner = torch.full((m,), -1, dtype=torch.int64, device=device)
    rounds = phases = 0
    rows = torch.arange(n, device=device)
    lists: _Lists | None = None
    while True:
        if work.dtype != torch.float64:
            # bids must move float32 prices by many ulps; otherwise switch to float64 for good
            # (never below the smallest normal float32, so that ε itself stays representable)
            mag = max(scale + float(p.abs().max()), torch.finfo(work.dtype).tiny)
            if eps < _F32_ULPS * mag * torch.finfo(work.dtype).eps:
                c64 = c.to(torch.float64) if c64 is None else c64
                work, p = c64, p.to(torch.float64)
        if lists is None and m >= max(_LIST_MIN_OBJECTS, 2 * _LIST_SIZE):
            lists = _Lists.empty(n, _LIST_SIZE, work.dtype, device)
        elif lists is not None and lists.thr.dtype != work.dtype:
            lists = _Lists.empty(n, _LIST_SIZE, work.dtype, device)
        phases += 1
        rounds = _bid_until_assigned(work, p, obj_of, owner, eps, rounds, lists)
        if n < m:
            before = rounds
            rounds = _reverse(work, p, obj_of, owner, eps, rounds)
            if lists is not None and rounds > before:  # prices may have dropped
                lists.thr.fill_(-math.inf)
        total = float(c[rows, obj_of].to(torch.float64).sum())
        lb, slack = certificate(work, p, obj_of, scale)
        gap = max(0.0, total - lb)
        if target_gap is not None:
            goal = target_gap
        elif total * lb > 0:
            goal = max(atol, tol * min(abs(total), abs(lb)))
        else:
            goal = atol
        if gap <= goal or eps <= stop_eps:
            break
        # The certified gap shrinks about in proportion to ε: when the goal is within _MAX_JUMP, aim at half
        # of it in one phase; otherwise take the regular ε-scaling step.
        want = 0.5 * goal / gap
        shrink = min(0.5, want) if want >= 1.0 / _MAX_JUMP else 1.0 / _SCALING
        eps = _integer_eps(eps * shrink) if integral else max(eps * shrink, stop_eps)
        # warm start: bidders still within the new ε keep their object
        who = torch.nonzero(slack > eps).squeeze(1)
        owner[obj_of[who]] = -1
        obj_of[who] = -1
    exact = integral and gap <= n and _exact_integers(p, scale, n)
    return AuctionOutcome(
        obj_of=obj_of,
        prices=p.to(torch.float64) / mult,
        rounds=rounds,
        eps=eps / mult,
        lower_bound=lb / mult,
        total=total / mult,
        phases=phases,
        exact=exact,
    )


def _exact_integers(p: Tensor, cmax: float, n: int) -> bool:
    """Whether the integer auction's certificate was computed without rounding.

    With integral float64 prices and ``n·(max|c| + max|p|) < 2⁵²`` every ``c_ij + p_j``, row minimum and
    sum of ``n`` of them is an integer below 2⁵³ in magnitude, hence exact in float64.
    """
    if not bool(torch.equal(p, torch.round(p))):
        return False
    return n * (cmax + float(p.abs().max())) < 2.0**52
