"""Linear assignment of tasks to units: ε-scaled auction (torch, any device), greedy, and the exact reference.

The L4 coordinator matches ``n_tasks`` ready tasks to ``n_units`` L3 units at minimum total cost
(expected completion time, capability mismatch, priority). :func:`assign` solves

    minimise  Σ_(i,j)∈M c_ij   over matchings M of size min(n_tasks, n_units)

(each task and each unit at most once), or maximises with ``maximize=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from hal9.tactical._auction import auction, extremes

__all__ = ["Assignment", "Method", "assign"]

Method = Literal["auction", "greedy", "hungarian"]
_METHODS = ("auction", "greedy", "hungarian")


@dataclass(frozen=True, eq=False)  # eq on tensor fields would be ambiguous: identity equality
class Assignment:
    """A matching of tasks (rows of the cost matrix) to units (columns).

    Attributes:
        rows: ``(k,)`` int64, the assigned task indices in ascending order, on the cost's device.
        cols: ``(k,)`` int64, the unit of each task in ``rows``.
        total_cost: ``Σ cost[rows, cols]`` in float64 arithmetic, in the sign of the input (with
            ``maximize=True`` it is the total benefit).
        method: ``"auction"``, ``"greedy"`` or ``"hungarian"``.
        iterations: bidding rounds of the auction over all ε phases: a bulk (Jacobi) round of all
            unassigned bidders counts one, so does each single bid of the sequential tail (0 for the other
            methods).
        gap_bound: a certified bound on how far ``total_cost`` is from the optimum
            (``total_cost − optimum`` when minimising, ``optimum − total_cost`` when maximising), from
            weak LP duality with the auction's final prices; 0.0 for ``"hungarian"``, ``inf`` for
            ``"greedy"`` (no bound). See :func:`assign` for how forbidden pairs enter.
        eps: the auction's final ε (0.0 for the other methods).
        shape: ``(n_tasks, n_units)`` of the cost matrix.

    ``k = min(n_tasks, n_units)`` unless forbidden (infinite) pairs leave tasks unmatched.
    """

    rows: Tensor
    cols: Tensor
    total_cost: float
    method: str
    iterations: int
    gap_bound: float
    eps: float
    shape: tuple[int, int]

    def __len__(self) -> int:
        return int(self.rows.numel())

    @property
    def unit_of_task(self) -> Tensor:
        """``(n_tasks,)`` int64: the unit of every task, −1 for an unassigned task."""
        out = torch.full((self.shape[0],), -1, dtype=torch.int64, device=self.rows.device)
        out[self.rows] = self.cols
        return out

    @property
    def task_of_unit(self) -> Tensor:
        """``(n_units,)`` int64: the task of every unit, −1 for an idle unit."""
        out = torch.full((self.shape[1],), -1, dtype=torch.int64, device=self.rows.device)
        out[self.cols] = self.rows
        return out


def _as_tensor(cost: Tensor | np.ndarray) -> Tensor:
    if isinstance(cost, np.ndarray):
        if cost.dtype.kind not in "biuf":
            raise ValueError(f"cost must be a real-valued matrix, got dtype {cost.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(cost))
    elif isinstance(cost, Tensor):
        t = cost.detach()
    else:
        raise TypeError(f"cost must be a torch.Tensor or a numpy.ndarray, got {type(cost).__name__}")
    if t.is_complex():
        raise ValueError(f"cost must be a real-valued matrix, got dtype {t.dtype}")
    if t.dim() != 2:
        raise ValueError(f"cost must be a 2-D (n_tasks, n_units) matrix, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.to(torch.float64)
    elif t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t


def _penalised(c: Tensor) -> tuple[Tensor, Tensor | None]:
    """Cost form (minimise) with ``+inf`` replaced by a finite penalty larger than any finite matching.

    Returns the finite matrix and the mask of forbidden pairs (``None`` when there is none). The penalty
    ``P = hi + (hi − lo + 1)·(min(n, m) + 1)`` exceeds the total of any matching without forbidden pairs
    by more than the spread of all finite matchings, so a matching with fewer forbidden pairs always costs
    less, and the optimum of the penalised problem has the fewest forbidden pairs possible.
    """
    if c.numel() == 0:
        return c, None
    if all(map(math.isfinite, extremes(c))):  # the common case; NaN or ±inf show up in the extremes
        return c, None
    if bool(torch.isnan(c).any()):
        raise ValueError("cost contains NaN")
    forbidden = torch.isposinf(c)
    if bool(torch.isneginf(c).any()):
        raise ValueError(
            "cost contains -inf (+inf with maximize=True): an infinitely good pair makes the problem "
            "unbounded; forbidden pairs are +inf (-inf with maximize=True)"
        )
    if not bool(forbidden.any()):
        return c, None
    finite = c[~forbidden]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 0.0)
    penalty = hi + (hi - lo + 1.0) * (min(c.shape) + 1)
    work = c.to(torch.float64) if c.dtype == torch.float32 and penalty > 2**20 else c
    return torch.where(forbidden, torch.full_like(work, penalty), work), forbidden


def _greedy(c: Tensor) -> tuple[Tensor, Tensor]:
    """Greedy matching by rounds of mutually cheapest pairs (equal to "cheapest remaining pair first")."""
    device = c.device
    free_r = torch.arange(c.shape[0], device=device)
    free_c = torch.arange(c.shape[1], device=device)
    rows: list[Tensor] = []
    cols: list[Tensor] = []
    while free_r.numel() and free_c.numel():
        sub = c.index_select(0, free_r).index_select(1, free_c)
        rmin, rarg = sub.min(dim=1)  # first minimum: ties go to the lower column
        carg = sub.argmin(dim=0)  # ... and to the lower row
        mutual = (carg[rarg] == torch.arange(free_r.numel(), device=device)) & torch.isfinite(rmin)
        if not bool(mutual.any()):
            break
        pick_r = torch.nonzero(mutual).squeeze(1)
        pick_c = rarg[pick_r]
        rows.append(free_r[pick_r])
        cols.append(free_c[pick_c])
        keep_r = torch.ones(free_r.numel(), dtype=torch.bool, device=device)
        keep_r[pick_r] = False
        keep_c = torch.ones(free_c.numel(), dtype=torch.bool, device=device)
        keep_c[pick_c] = False
        free_r, free_c = free_r[keep_r], free_c[keep_c]
    if not rows:
        empty = torch.empty(0, dtype=torch.int64, device=device)
        return empty, empty
    return torch.cat(rows), torch.cat(cols)


def _hungarian(c: Tensor) -> tuple[Tensor, Tensor]:
    from scipy.optimize import linear_sum_assignment

    r, k = linear_sum_assignment(c.to(device="cpu", dtype=torch.float64).numpy())
    return torch.from_numpy(r).to(c.device), torch.from_numpy(k).to(c.device)


def assign(
    cost: Tensor | np.ndarray,
    *,
    method: Method = "auction",
    maximize: bool = False,
    tol: float = 1e-3,
    atol: float = 0.0,
    eps: float | None = None,
) -> Assignment:
    r"""Match tasks (rows) to units (columns) at minimum (or maximum) total cost.

    Parameters
    ----------
    cost : Tensor or numpy.ndarray, shape (n_tasks, n_units)
        Real cost matrix, float32/float64 (integers are converted to float64), on any device. ``+inf``
        marks a forbidden pair (``-inf`` with ``maximize=True``).
    method : {"auction", "greedy", "hungarian"}, default "auction"
        ``"auction"``: ε-scaled forward auction in torch on the cost's device (below).
        ``"greedy"``: repeatedly take the globally cheapest remaining (task, unit) pair (ties: lower task,
        then lower unit), computed in torch by rounds of mutually cheapest pairs. It skips forbidden
        pairs but, unlike the other two, does not maximise the number of matched tasks.
        ``"hungarian"``: the exact optimum from :func:`scipy.optimize.linear_sum_assignment` (on the CPU).
    maximize : bool, default False
        Maximise the total instead (the matrix is negated internally).
    tol, atol : float, default 1e-3 and 0.0
        Auction only: stop once the certified gap ``total − LB`` is at most ``max(atol, tol·|optimum|)``
        (``tol`` is relative; it applies when the primal total and the dual bound have the same sign,
        otherwise only ``atol`` does).
    eps : float, optional
        Auction only: final ε instead of ``tol``/``atol``. ε-scaling runs down to ``eps`` and stops there,
        or earlier once the certified gap is at most ``n·eps``; either way ``gap_bound ≤ n·eps`` with
        ``n = min(n_tasks, n_units)`` (for float32 bids up to a rounding margin of at most ``n·eps/16``).

    Returns
    -------
    Assignment
        ``rows`` (ascending), ``cols``, ``total_cost``, ``method``, ``iterations``, ``gap_bound``,
        ``eps``, ``shape``; ``unit_of_task`` gives the unit of each task (−1: none).

    Raises
    ------
    ValueError
        If ``cost`` is not 2-D, holds NaN or ``-inf`` (``+inf`` with ``maximize=True``), is not real, or
        ``method``/``tol``/``atol``/``eps`` is invalid.

    Notes
    -----
    **Auction** (Bertsekas 1988). The smaller side bids: with ``n ≤ m`` bidders (the matrix is
    transposed internally when ``n_tasks > n_units``) and prices ``p`` on the ``m`` objects, every
    unassigned bidder ``i`` finds its best object ``j₁ = argmin_j (c_ij + p_j)`` and the second-best value,
    and bids ``p_j₁ + (second − best) + ε``; each object goes to its highest bid (Jacobi / bulk bidding: all
    unassigned bidders at once; row top-2 by ``torch.topk`` on a GPU and by NumPy ``argmin``/``min`` on
    views of the same memory on a CPU, where ``torch.topk`` was several times slower; conflicts by
    ``scatter_reduce``; exact ties go to the lower index, so results are deterministic on a device).
    Every assigned bidder then holds an object within ε of its best (ε-complementary slackness), and for
    a square problem the final matching costs at most ``optimum + n·ε`` (Bertsekas 1988). Rectangular
    problems additionally need every unassigned object's price at most the lowest assigned price λ;
    ε-scaling can leave stale higher prices on objects nobody bids on any more, so after each forward
    phase a reverse auction (Bertsekas & Castañon 1992) lets each such object either drop its price to λ
    or outbid for a person, which keeps ε-complementary slackness; with both conditions the ``n·ε``
    bound holds for ``n < m`` too.

    ε-scaling runs phases from ``ε₀ = range/64``, shrinking ε by 8 per phase (or by up to 32 in one step
    when the certificate below shows that this reaches the requested gap), with warm-started prices,
    keeping the bidders that still satisfy the new ε. Once at most 32 bidders (8 on a GPU) or stale
    objects are left in a phase, they bid one at a time, a displaced bidder next (Gauss–Seidel): the
    same bids, without a full bulk round per displacement. For very wide rows (``m ≥ 32,768`` objects) a
    bulk round scans each bidder's 16 cheapest objects as of its last full scan instead of the whole row,
    rescanning the row when the list no longer holds its best object; the second-best value is then
    bounded below by the 17th value of that scan, which gives a bid no larger than the full one, so ε-CS
    and the bound hold.

    **Certificate.** For any prices, ``LB(p) = Σ_i min_j (c_ij + p_j) − (sum of the n largest p_j)`` is a
    lower bound on the optimum (weak duality), so ``gap_bound = total − LB(p) ≥ total − optimum`` is
    rigorous whatever the float rounding during bidding; under ε-CS it is at most ``n·ε``. It is computed
    after every phase, and the auction stops at the first phase whose certified gap meets the request —
    usually well before ``ε`` reaches ``target/n``. The true gap to the optimum is usually much smaller
    than ``gap_bound`` (it reaches the optimum in most benchmark runs). A float32 matrix is bid on as is
    while ε is at least 16 float32 ulps of ``max |c| + max |p|``, and on a float64 copy below that; in
    float32 the certificate subtracts a rounding margin of one ulp per row.

    **Forbidden pairs.** Every method treats ``+inf`` the same way: the matrix is made finite with a
    penalty larger than the spread of any finite matching (greedy simply skips infinite pairs), solved, and
    pairs on forbidden entries are dropped from the result. Auction and Hungarian thus return a matching
    with the most allowed pairs possible and, among those, minimum cost; a task that can only be matched
    through forbidden pairs stays unassigned (``unit_of_task == −1``) instead of raising like SciPy. With
    forbidden pairs, ``gap_bound`` is the penalised problem's certified gap; it bounds the gap of the
    returned matching whenever it is smaller than the penalty.

    **Layout.** When ``n_tasks > n_units`` the units bid on rows of the transposed matrix; passing the
    ``(n_tasks, n_units)`` view ``by_unit.T`` of a contiguous unit-major ``by_unit`` skips that copy.
    On a CPU, torch's intra-op threads matter: on a loaded 2-core machine one thread can be faster.

    **Complexity.** Auction: ``O(k·m)`` per bulk round for ``k`` unassigned bidders, ``O(m)`` per
    sequential bid, plus ``O(n·m)`` per phase for the certificate and the warm start. One phase makes at
    most ``O(n·C/ε)`` bids per bidder in the worst case (``C`` the cost range; pseudo-polynomial), and
    ε-scaling brings the worst case to ``O(n·A·log(n·C))`` for ``A = n·m`` pairs (Bertsekas & Eckstein
    1988); measured: hundreds of bulk rounds and a few thousand sequential bids at 2,000 × 2,000
    (``docs/benchmarks.md``). Extra memory: row blocks of 2²⁰ elements on a CPU (2²⁴ on a GPU), a
    float64 copy of a float32 matrix once ε needs it, and a transposed copy when ``n_tasks > n_units``
    and the matrix is task-major. Greedy: ``O(k_r·k_c)`` per round of mutually cheapest pairs, at most
    ``min(n, m)`` rounds: a few dozen on i.i.d. costs, many more on nearly rank-one costs such as
    completion times ``work_i / speed_j``. Hungarian: ``O(n²·m)`` (SciPy's shortest augmenting path,
    Crouse 2016).

    Shape
    -----
    cost: ``(n_tasks, n_units)``; ``rows``, ``cols``: ``(k,)`` with ``k ≤ min(n_tasks, n_units)``;
    ``unit_of_task``: ``(n_tasks,)``. An empty dimension gives an empty assignment.

    References
    ----------
    D. P. Bertsekas, "The auction algorithm: a distributed relaxation method for the assignment problem",
    Annals of Operations Research 14 (1988) 105–123.
    D. P. Bertsekas, "The auction algorithm for assignment and other network flow problems: a tutorial",
    Interfaces 20(4) (1990) 133–149; "Auction algorithms for network flow problems: a tutorial
    introduction", Computational Optimization and Applications 1 (1992) 7–66.
    D. P. Bertsekas, J. Eckstein, "Dual coordinate step methods for linear network flow problems",
    Mathematical Programming 42 (1988) 203–243.
    D. P. Bertsekas, D. A. Castañon, "A forward/reverse auction algorithm for asymmetric assignment
    problems", Computational Optimization and Applications 1 (1992) 277–297.
    D. F. Crouse, "On implementing 2D rectangular assignment algorithms", IEEE Trans. Aerospace and
    Electronic Systems 52(4) (2016) 1679–1696.

    Examples
    --------
    >>> import torch
    >>> a = assign(torch.tensor([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]]))
    >>> a.rows.tolist(), a.cols.tolist(), a.total_cost
    ([0, 1, 2], [1, 0, 2], 5.0)
    """
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(map(repr, _METHODS))}")
    if not (tol >= 0 and atol >= 0):
        raise ValueError(f"tol and atol must be >= 0, got tol={tol!r}, atol={atol!r}")
    if eps is not None and not (eps > 0 and np.isfinite(eps)):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    orig = _as_tensor(cost)
    n_tasks, n_units = orig.shape
    device = orig.device
    signed = -orig if maximize else orig
    c, forbidden = _penalised(signed)

    iterations, gap, final_eps = 0, 0.0, 0.0
    if n_tasks == 0 or n_units == 0:
        rows = cols = torch.empty(0, dtype=torch.int64, device=device)
    elif method == "hungarian":
        rows, cols = _hungarian(c)
    elif method == "greedy":
        rows, cols = _greedy(signed)
        gap = float("inf")
    else:
        transpose = n_tasks > n_units
        work = (c.t() if transpose else c).contiguous()
        n = work.shape[0]
        out = auction(
            work,
            target_gap=None if eps is None else n * eps,
            tol=tol,
            atol=atol,
            eps_final=eps,
        )
        bidders = torch.arange(n, device=device)
        rows, cols = (out.obj_of, bidders) if transpose else (bidders, out.obj_of)
        iterations, final_eps = out.rounds, out.eps
        gap = max(0.0, out.total - out.lower_bound)

    if forbidden is not None and rows.numel():
        keep = ~forbidden[rows, cols]
        rows, cols = rows[keep], cols[keep]
    order = torch.argsort(rows)
    rows, cols = rows[order], cols[order]
    total = float(orig[rows, cols].to(torch.float64).sum()) if rows.numel() else 0.0
    return Assignment(
        rows=rows,
        cols=cols,
        total_cost=total,
        method=method,
        iterations=iterations,
        gap_bound=gap,
        eps=final_eps,
        shape=(n_tasks, n_units),
    )
