"""Linear assignment of tasks to units: ε-scaled auction (torch, any device), greedy, exact JV solvers, auto.

The L4 coordinator matches ``n_tasks`` ready tasks to ``n_units`` L3 units at minimum total cost
(expected completion time, capability mismatch, priority). :func:`assign` solves

    minimise  Σ_(i,j)∈M c_ij   over matchings M of size min(n_tasks, n_units)

(each task and each unit at most once), or maximises with ``maximize=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple, get_args

import numpy as np
import torch
from torch import Tensor

from hal9.tactical import _assign_solvers as solvers
from hal9.tactical._auction import auction, extremes

__all__ = ["Assignment", "Method", "assign"]

Method = Literal["auto", "auction", "greedy", "hungarian", "lapjv"]
_METHODS: tuple[str, ...] = get_args(Method)


@dataclass(frozen=True, eq=False)  # eq on tensor fields would be ambiguous: identity equality
class Assignment:
    """A matching of tasks (rows of the cost matrix) to units (columns).

    Attributes:
        rows: ``(k,)`` int64, the assigned task indices in ascending order, on the cost's device.
        cols: ``(k,)`` int64, the unit of each task in ``rows``.
        total_cost: ``Σ cost[rows, cols]`` in float64 arithmetic, in the sign of the input (with
            ``maximize=True`` it is the total benefit).
        method: the solver that ran: ``"auction"``, ``"greedy"``, ``"hungarian"`` or ``"lapjv"`` (with
            ``method="auto"`` the one it chose; see ``requested``).
        iterations: bidding rounds of the auction over all ε phases: a bulk (Jacobi) round of all
            unassigned bidders counts one, so does each single bid of the sequential tail (0 for the other
            methods).
        gap_bound: a certified bound on how far ``total_cost`` is from the optimum
            (``total_cost − optimum`` when minimising, ``optimum − total_cost`` when maximising), from
            weak LP duality with the auction's final prices; 0.0 for ``"hungarian"`` and ``"lapjv"`` and
            for the integer auction (proven optimal), ``inf`` for ``"greedy"`` (no bound). See
            :func:`assign` for how forbidden pairs enter.
        eps: the auction's final ε (0.0 for the other methods).
        shape: ``(n_tasks, n_units)`` of the cost matrix.
        requested: the ``method`` argument of :func:`assign` (``"auto"`` by default); ``None`` when the
            object was built by hand.
        integral: whether the costs were treated as whole numbers: verified on every entry for the
            auction (then the exact integer auction while ``max|c|·(k+1) ≤ 2⁴⁰``), from 8 sampled rows
            when ``"auto"`` only used it to pick an exact JV solver (see :func:`assign`);
            always ``False`` when ``method`` is ``"hungarian"``, ``"lapjv"`` or ``"greedy"`` (not checked)
            or ``eps`` is given.

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
    requested: str | None = None
    integral: bool = False

    @property
    def exact(self) -> bool:
        """Whether the matching is certified optimal (``gap_bound == 0``)."""
        return self.gap_bound == 0.0

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


def _as_tensor(cost: Tensor | np.ndarray) -> tuple[Tensor, bool]:
    """The cost as a float32/float64 tensor, and whether its dtype was an integer (or bool) one."""
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
    whole = not t.is_floating_point()
    if whole:
        t = t.to(torch.float64)
    elif t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    return t, whole


class _Penalised(NamedTuple):
    c: Tensor  # the finite matrix
    forbidden: Tensor | None  # mask of the +inf pairs, None when there is none
    lo: float  # smallest finite entry (0.0 when none)
    hi: float  # largest finite entry (0.0 when none)
    cmax: float  # max |c| of the finite matrix, penalty included


def _penalised(c: Tensor) -> _Penalised:
    """Cost form (minimise) with ``+inf`` replaced by a finite penalty larger than any finite matching.

    Returns the finite matrix, the mask of forbidden pairs and the extremes. The penalty
    ``P = hi + (hi − lo + 1)·(min(n, m) + 1)`` exceeds the total of any matching without forbidden pairs
    by more than the spread of all finite matchings, so a matching with fewer forbidden pairs always costs
    less, and the optimum of the penalised problem has the fewest forbidden pairs possible.
    """
    if c.numel() == 0:
        return _Penalised(c, None, 0.0, 0.0, 0.0)
    lo, hi = extremes(c)
    if math.isfinite(lo) and math.isfinite(hi):  # the common case; NaN or ±inf show up in the extremes
        return _Penalised(c, None, lo, hi, max(abs(lo), abs(hi)))
    if bool(torch.isnan(c).any()):
        raise ValueError("cost contains NaN")
    forbidden = torch.isposinf(c)
    if bool(torch.isneginf(c).any()):
        raise ValueError(
            "cost contains -inf (+inf with maximize=True): an infinitely good pair makes the problem "
            "unbounded; forbidden pairs are +inf (-inf with maximize=True)"
        )
    finite = c[~forbidden]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.numel() else (0.0, 0.0)
    penalty = hi + (hi - lo + 1.0) * (min(c.shape) + 1)
    work = c.to(torch.float64) if c.dtype == torch.float32 and penalty > 2**20 else c
    out = torch.where(forbidden, torch.full_like(work, penalty), work)
    return _Penalised(out, forbidden, lo, hi, max(abs(lo), abs(penalty)))


def _total(c: Tensor, rows: Tensor, cols: Tensor) -> float:
    """``Σ c[rows, cols]`` in float64 (NumPy gather on a CPU: torch's took ~8 ms at 4,000 × 4,000)."""
    if not rows.numel():
        return 0.0
    if c.device.type == "cpu":
        return float(c.numpy()[rows.numpy(), cols.numpy()].sum(dtype=np.float64))
    return float(c[rows, cols].to(torch.float64).sum())


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


def assign(
    cost: Tensor | np.ndarray,
    *,
    method: Method = "auto",
    maximize: bool = False,
    tol: float = 1e-3,
    atol: float | None = None,
    eps: float | None = None,
    integral: bool | None = None,
) -> Assignment:
    r"""Match tasks (rows) to units (columns) at minimum (or maximum) total cost.

    Parameters
    ----------
    cost : Tensor or numpy.ndarray, shape (n_tasks, n_units)
        Real cost matrix, float32/float64 (integers are converted to float64), on any device. ``+inf``
        marks a forbidden pair (``-inf`` with ``maximize=True``).
    method : {"auto", "auction", "greedy", "hungarian", "lapjv"}, default "auto"
        ``"auto"``: the fastest of the others for this device, size and cost type that meets the request
        (rules and measurements in :func:`hal9.tactical._assign_solvers.choose`): whole-number costs get
        an exact solver (``"lapjv"`` if the optional ``lap`` package is installed, the matrix is square
        and its entries are below 2¹⁷ in magnitude, else ``"hungarian"``); real costs get
        ``"hungarian"`` below 3·10⁶ entries or when ``tol < 1e-4``, else ``"auction"`` (certified within
        ``tol``); CUDA gets ``"auction"`` (not measured).
        ``Assignment.method`` names the solver that ran, ``Assignment.requested`` says ``"auto"``.
        ``"auction"``: ε-scaled forward auction in torch on the cost's device (below); exact for
        whole-number costs (integer auction).
        ``"greedy"``: repeatedly take the globally cheapest remaining (task, unit) pair (ties: lower task,
        then lower unit), computed in torch by rounds of mutually cheapest pairs. It skips forbidden
        pairs but, unlike the others, does not maximise the number of matched tasks.
        ``"hungarian"``: the exact optimum from :func:`scipy.optimize.linear_sum_assignment` (on the CPU;
        a Jonker–Volgenant-type shortest augmenting path).
        ``"lapjv"``: the exact optimum from ``lap.lapjv`` (Jonker & Volgenant 1987; on the CPU; needs the
        optional package ``lap``, else ``ImportError``).
    maximize : bool, default False
        Maximise the total instead (the matrix is negated internally).
    tol : float, default 1e-3
        Auction on real costs only: relative part of the stopping rule below.
    atol : float or None, default None
        Auction on real costs only: absolute part of the stopping rule; ``None`` means
        ``tol · (max − min)`` of the finite entries (``tol`` times one entry's spread). The auction stops
        once the certified gap is ``total − LB ≤ max(atol, tol·min(|total|, |LB|))``, the relative term
        counting only when the primal total and the dual bound ``LB ≤ optimum`` have the same sign, so
        ``gap_bound ≤ max(atol, tol·|optimum|)``. With an optimum at or near 0 the relative term can never
        be certified, and the absolute one ends the auction (with ``atol=0`` it would run ε down to
        ``1e-12`` of the cost scale).
    eps : float, optional
        Auction only: final ε instead of ``tol``/``atol``. ε-scaling runs down to ``eps`` and stops there,
        or earlier once the certified gap is at most ``n·eps``; either way ``gap_bound ≤ n·eps`` with
        ``n = min(n_tasks, n_units)`` (for float32 bids up to a rounding margin of at most ``n·eps/16``).
        Turns the integer auction off.
    integral : bool or None, default None
        For ``"auto"`` and ``"auction"``: whether the costs are whole numbers. ``None`` detects it: free
        for integer dtypes; otherwise ``x == rint(x)`` on the first row, and only if that row is whole,
        on the whole matrix where exactness depends on it (the integer auction) or on 8 sampled rows
        where it only picks between exact solvers (``"auto"`` → ``"lapjv"`` or ``"hungarian"``).
        ``True`` declares it (checked on the whole matrix: ``ValueError`` if not), ``False`` treats the
        costs as real numbers. Whole numbers up to ``2⁴⁰/(n+1)`` in magnitude get the exact integer
        auction, which ignores ``tol``/``atol``.

    Returns
    -------
    Assignment
        ``rows`` (ascending), ``cols``, ``total_cost``, ``method``, ``iterations``, ``gap_bound``,
        ``eps``, ``shape``, ``requested``, ``integral``; ``unit_of_task`` gives the unit of each task
        (−1: none), ``exact`` whether ``gap_bound == 0``.

    Raises
    ------
    ValueError
        If ``cost`` is not 2-D, holds NaN or ``-inf`` (``+inf`` with ``maximize=True``), is not real, or
        ``method``/``tol``/``atol``/``eps``/``integral`` is invalid, or ``integral=True`` and an entry is
        not a whole number.
    ImportError
        If ``method="lapjv"`` and ``lap`` is not installed.

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

    **Integer auction** (Bertsekas 1988, §5; 1992). With whole-number costs the auction bids on
    ``(n + 1)·c`` with whole-number ε down to ε = 1, so every bid, price and certificate term is an integer
    computed exactly in float64. Once the certified gap of the scaled problem is at most ``n`` — by the
    ``n·ε`` bound at the latest in the ε = 1 phase, usually earlier — the original gap is below 1, and
    as totals are integers the matching is optimal: ``gap_bound = 0``.

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
    pairs on forbidden entries are dropped from the result. All but greedy thus return a matching
    with the most allowed pairs possible and, among those, minimum cost; a task that can only be matched
    through forbidden pairs stays unassigned (``unit_of_task == −1``) instead of raising like SciPy. With
    forbidden pairs, ``gap_bound`` is the penalised problem's certified gap; it bounds the gap of the
    returned matching whenever it is smaller than the penalty. (``"hungarian"`` first hands the raw matrix
    to SciPy, which skips ``+inf`` pairs itself — the same result when a matching of size ``min(n, m)``
    avoids them — and saves the pass over the matrix that the penalty needs; it falls back to the
    penalised matrix when SciPy refuses, i.e. for NaN, ``-inf`` or no such matching.)

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
    Crouse 2016); lapjv: ``O(N³)`` for ``N = max(n, m)`` (the matrix is padded to square). Integrality
    check (``"auto"``/``"auction"``): ``O(m)`` for real costs, one pass over the matrix for whole numbers.

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
    R. Jonker, A. Volgenant, "A shortest augmenting path algorithm for dense and sparse linear assignment
    problems", Computing 38 (1987) 325–340.

    Examples
    --------
    >>> import torch
    >>> a = assign(torch.tensor([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]]))
    >>> a.rows.tolist(), a.cols.tolist(), a.total_cost
    ([0, 1, 2], [1, 0, 2], 5.0)
    """
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(map(repr, _METHODS))}")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0, got tol={tol!r}")
    if atol is not None and not atol >= 0:
        raise ValueError(f"atol must be >= 0 or None, got atol={atol!r}")
    if eps is not None and not (eps > 0 and np.isfinite(eps)):
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")
    if integral is not None and not isinstance(integral, bool):
        raise ValueError(f"integral must be True, False or None, got {integral!r}")
    orig, whole = _as_tensor(cost)
    n_tasks, n_units = orig.shape
    device = orig.device
    signed = -orig if maximize else orig
    k = min(n_tasks, n_units)

    # Whole numbers? A guess from a few rows picks between exact solvers; where exactness depends on it
    # (the integer auction) or it was declared, every entry is checked.
    is_int = False
    if method in ("auto", "auction") and eps is None and integral is not False and k:
        is_int = whole or solvers.is_integral(signed, sample=True)
    prep: _Penalised | None = None
    solver: str = method
    if method == "auto":
        if is_int and solvers.lap_usable(device, (n_tasks, n_units)):
            prep = _penalised(signed)  # lap needs max |c|
        cmax = prep.cmax if prep is not None else 0.0
        solver = solvers.choose(device, (n_tasks, n_units), integral=is_int, cmax=cmax, tol=tol, eps=eps)
    if is_int and not whole and (integral is True or solver == "auction"):
        is_int = solvers.is_integral(signed)
    if integral is True and not is_int:
        raise ValueError("integral=True but cost has entries that are not whole numbers")

    iterations, gap, final_eps = 0, 0.0, 0.0
    forbidden: Tensor | None = None
    fast = solver == "hungarian" and prep is None and k > 0
    # SciPy takes the raw matrix when it can (it skips +inf pairs itself): no extra pass over it. It
    # refuses NaN, -inf and +inf patterns without a full matching; the penalised path below handles those.
    raw = solvers.hungarian(signed, strict=False) if fast else None
    if raw is not None:
        rows, cols = raw
    elif k == 0:
        rows = cols = torch.empty(0, dtype=torch.int64, device=device)
    else:
        prep = _penalised(signed) if prep is None else prep
        c, forbidden = prep.c, prep.forbidden
        if solver == "hungarian":
            rows, cols = solvers.hungarian(c)
        elif solver == "lapjv":
            rows, cols = solvers.lapjv(c, prep.cmax)
        elif solver == "greedy":
            rows, cols = _greedy(signed)
            gap = float("inf")
        else:
            transpose = n_tasks > n_units
            work = (c.t() if transpose else c).contiguous()
            out = auction(
                work,
                target_gap=None if eps is None else k * eps,
                tol=tol,
                atol=tol * (prep.hi - prep.lo) if atol is None else atol,
                eps_final=eps,
                integral=is_int and prep.cmax * (k + 1) <= solvers.INTEGER_MAX_SCALED,
            )
            bidders = torch.arange(k, device=device)
            rows, cols = (out.obj_of, bidders) if transpose else (bidders, out.obj_of)
            iterations, final_eps = out.rounds, out.eps
            gap = 0.0 if out.exact else max(0.0, out.total - out.lower_bound)

    if forbidden is not None and rows.numel():
        keep = ~forbidden[rows, cols]
        rows, cols = rows[keep], cols[keep]
    if solver == "greedy" or (solver == "auction" and n_tasks > n_units):  # the others: rows ascending
        order = torch.argsort(rows)
        rows, cols = rows[order], cols[order]
    total = _total(orig, rows, cols)
    return Assignment(
        rows=rows,
        cols=cols,
        total_cost=total,
        method=solver,
        iterations=iterations,
        gap_bound=gap,
        eps=final_eps,
        shape=(n_tasks, n_units),
        requested=method,
        integral=is_int,
    )
