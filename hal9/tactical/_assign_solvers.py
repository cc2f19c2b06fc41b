"""Exact solvers and ``method="auto"``'s choice for :func:`hal9.tactical.assignment.assign` (private).

* :func:`is_integral`: are all entries whole numbers (cheap for real-valued costs: the first row decides).
* :func:`hungarian`: SciPy's ``linear_sum_assignment`` (a shortest-augmenting-path Jonker–Volgenant
  variant, Crouse 2016), on the CPU.
* :func:`lapjv`: ``lap.lapjv`` from the optional PyPI package ``lap`` (Jonker & Volgenant 1987), on the
  CPU; rectangular matrices are padded to square by ``lap`` itself (``extend_cost=True``).
* :func:`choose`: the solver ``method="auto"`` runs, by device, size, cost type and requested tolerance.

The thresholds below were measured on the project's 2-core CPU (shared with other jobs: load average 3-5,
so ±10 % and worse between runs; SciPy 1.17.1, lap 0.5.13, torch 2.13 CPU). Medians in ms, ratio to SciPy
in brackets, calls interleaved in one process. Auction at ``tol=1e-3``, ad-hoc script, same protocol:

===========  =====  =======  ===========  ============
cost         n      SciPy    auction      (lap)
===========  =====  =======  ===========  ============
uniform      500    10.4     29.6 (2.84)  4.5 (0.43)
uniform      1000   85.6     151 (1.77)   52.7 (0.62)
uniform      1500   222      255 (1.15)
uniform      2000   565      449 (0.79)   486 (0.86)
uniform      3000   1678     878 (0.52)
Euclidean    500    31.3     104 (3.3)    174 (5.6)
Euclidean    1000   120      172 (1.43)   658 (5.5)
Euclidean    1500   409      352 (0.86)
Euclidean    2000   1001     535 (0.53)   3668 (3.7)
Euclidean    3000   1902     1127 (0.59)
===========  =====  =======  ===========  ============

and what ``method="auto"`` then gives, from ``tests/benchmarks/test_bench_assign.py -k vs_scipy`` (hal9's
choice in brackets, ratio hal9 / SciPy; lap's own ratio last):

===========  =====  =======  =====================  ==============
cost         n      SciPy    hal9 auto              lap.lapjv
===========  =====  =======  =====================  ==============
uniform      500    8.9      9.3 (hungarian, 1.05)  4.0 (0.45)
uniform      1000   48.5     50.1 (hungarian, 1.03) 28.3 (0.58)
uniform      2000   340      303 (auction, 0.89)    237 (0.70)
uniform      4000   2885     1294 (auction, 0.45)   3357 (1.16)
Euclidean    500    26.2     28.0 (hungarian, 1.07) 70.2 (2.7)
Euclidean    1000   168      156 (hungarian, 0.93)  610 (3.6)
Euclidean    2000   1158     893 (auction, 0.77)    5284 (4.6)
Euclidean    4000   5221     2753 (auction, 0.53)   31741 (6.1)
int [0,100)  500    7.5      2.8 (lapjv, 0.37)      2.1 (0.28)
int [0,100)  1000   32.4     9.2 (lapjv, 0.29)      8.3 (0.26)
int [0,100)  2000   44.6     20.8 (lapjv, 0.47)     17.2 (0.39)
int [0,100)  4000   120      76.6 (lapjv, 0.64)     65.1 (0.54)
===========  =====  =======  =====================  ==============

Hence: whole-number costs go to ``lap`` when it is installed, the matrix is square and its entries are
small (it was also 1.25-1.7× faster than SciPy on rounded Euclidean distances and on U{0, 1, 2, 3} at
1,000²), else to SciPy; real-valued costs go to SciPy below ``AUCTION_MIN_ENTRIES`` and to the auction
from there on when the tolerance allows it. ``lap`` is never chosen for real costs: 3-6× slower than SciPy
on Euclidean ones. The integer auction is not a CPU candidate: 0.79 s at 2,000² and 8 s at 4,000² on
U{0, …, 99} (many ties: bids rise by ε at a time). On CUDA the auction runs on the device (not
measured: no GPU was available).
"""

from __future__ import annotations

import functools
import importlib
import math
from types import ModuleType
from typing import Literal, overload

import numpy as np
import torch
from torch import Tensor

# Real-valued costs: the auction from this many entries (n_tasks · n_units) on, SciPy below. Measured
# crossover: 1500² (2.25·10⁶: auction 1.15× SciPy's time on uniform, 0.86× on Euclidean), 2000² (0.53-0.79×).
AUCTION_MIN_ENTRIES = 3_000_000
# The auction is chosen only when the requested relative tolerance is at least this (or ``eps`` is given):
# a tighter tolerance needs more ε phases, and SciPy is exact anyway.
AUCTION_MIN_TOL = 1e-4
# Whole-number costs up to this magnitude times (n + 1) use the exact integer auction; above, the scaled
# integers and prices would come too close to float64's 2⁵³.
INTEGER_MAX_SCALED = 2.0**40
# ``lap.lapjv`` uses 1e6 (``lap.LARGE``) as its infinity and returned wrong matchings for costs from about
# 1e6 up (11 of 50 random 15 × 15 integer matrices in [-1e9, 1e9), none within ±1e6): matrices with larger
# entries are scaled by a power of two (exact) below this bound first. Auto uses lap only below it.
LAP_MAX_ABS = 2.0**17
# Rows that the cheap integrality guess of method="auto" looks at.
SAMPLE_ROWS = 8
# Blocks of this many elements for the integrality check (a few MB of temporaries).
_BLOCK = 1 << 20


def _whole(b: Tensor) -> bool:
    if b.device.type == "cpu":
        a = b.numpy()
        return bool(np.array_equal(a, np.rint(a)))
    return bool(torch.equal(b, torch.round(b)))


def is_integral(c: Tensor, *, sample: bool = False) -> bool:
    """Whether every entry of the float matrix ``c`` is a whole number (``±inf`` counts, NaN does not).

    ``sample=True`` checks only ``SAMPLE_ROWS`` rows (the first, the last and evenly spaced ones between):
    a guess, good enough to pick between two exact solvers, never used where exactness depends on it.

    Cost: ``O(m)`` for a typical real-valued matrix (its first row already has a fraction), else one
    pass over the ``n·m`` entries in row blocks (``x == rint(x)``; NumPy on a CPU, torch elsewhere):
    25 ms at 4,000 × 4,000 float64 on the 2-core CPU.
    """
    if not c.is_floating_point() or c.numel() == 0:
        return True
    n, m = c.shape
    if not _whole(c[:1]):  # the early exit for real costs
        return False
    if sample:
        rows = torch.linspace(0, n - 1, min(n, SAMPLE_ROWS), device=c.device).round().long().unique()
        return _whole(c.index_select(0, rows))
    step = max(1, _BLOCK // max(1, m))
    return all(_whole(c[r0 : r0 + step]) for r0 in range(1, n, step))


@functools.cache
def lap_module() -> ModuleType | None:
    """The optional ``lap`` package, or ``None`` when it is not installed (looked up once)."""
    try:
        return importlib.import_module("lap")
    except ImportError:
        return None


def _indices(rows: np.ndarray, cols: np.ndarray, device: torch.device) -> tuple[Tensor, Tensor]:
    r = torch.from_numpy(np.ascontiguousarray(rows, dtype=np.int64))
    k = torch.from_numpy(np.ascontiguousarray(cols, dtype=np.int64))
    return r.to(device), k.to(device)


@overload
def hungarian(c: Tensor) -> tuple[Tensor, Tensor]: ...
@overload
def hungarian(c: Tensor, *, strict: Literal[False]) -> tuple[Tensor, Tensor] | None: ...
def hungarian(c: Tensor, *, strict: bool = True) -> tuple[Tensor, Tensor] | None:
    """Exact optimum of the ``(n, m)`` cost matrix by SciPy; ``(rows, cols)`` on ``c``'s device.

    SciPy skips ``+inf`` pairs itself and raises ``ValueError`` for NaN, ``-inf`` or when the ``+inf``
    pattern leaves no full matching; ``strict=False`` returns ``None`` then instead.
    """
    from scipy.optimize import linear_sum_assignment

    try:
        r, k = linear_sum_assignment(c.to(device="cpu", dtype=torch.float64).numpy())
    except ValueError:
        if strict:
            raise
        return None
    return _indices(r, k, c.device)


def lapjv(c: Tensor, cmax: float | None = None) -> tuple[Tensor, Tensor]:
    """Exact optimum of the finite ``(n, m)`` cost matrix by ``lap.lapjv`` (Jonker–Volgenant).

    ``rows`` ascending; a rectangular matrix is padded to ``max(n, m)`` square with zeros by ``lap``
    (``extend_cost=True``), which leaves the optimum of the real pairs unchanged. A matrix with
    ``max |c| ≥ LAP_MAX_ABS`` is multiplied by ``2⁻ᵉ`` (exact in binary floating point, same optimal
    matching) so that it is below, as ``lap`` mishandles entries near its internal infinity 1e6.
    ``cmax`` is ``max |c|`` when the caller knows it (else computed: one pass).

    Raises:
        ImportError: if the optional package ``lap`` is not installed.
    """
    lap = lap_module()
    if lap is None:
        raise ImportError("method='lapjv' needs the optional package 'lap' (pip install lap)")
    a = np.ascontiguousarray(c.to(device="cpu", dtype=torch.float64).numpy())
    n, m = a.shape
    if cmax is None:
        cmax = float(np.abs(a).max()) if a.size else 0.0
    if cmax >= LAP_MAX_ABS:
        a = np.ldexp(a, -(math.frexp(cmax)[1] - math.frexp(LAP_MAX_ABS)[1] + 1))
    x, _ = lap.lapjv(a, extend_cost=n != m, return_cost=False)
    rows = np.nonzero((x >= 0) & (x < m))[0]
    return _indices(rows, x[rows], c.device)


def lap_usable(device: torch.device, shape: tuple[int, int]) -> bool:
    """Whether ``"lapjv"`` is a candidate of ``"auto"`` at all: ``lap`` installed, CPU, square matrix."""
    return device.type == "cpu" and shape[0] == shape[1] and lap_module() is not None


def choose(
    device: torch.device,
    shape: tuple[int, int],
    *,
    integral: bool,
    cmax: float,
    tol: float,
    eps: float | None,
) -> str:
    """The solver ``method="auto"`` runs: ``"auction"``, ``"lapjv"`` or ``"hungarian"``.

    Args:
        device: where the cost matrix lives.
        shape: ``(n_tasks, n_units)``.
        integral: all entries are whole numbers (every candidate is then exact, the auction too).
        cmax: ``max |c|`` of the finite (penalised) matrix; only read when :func:`lap_usable`.
        tol, eps: the requested accuracy; with ``tol < AUCTION_MIN_TOL`` and no ``eps`` only an exact
            solver is chosen for real-valued costs.

    Rules (measurements in the module docstring): on CUDA the auction; whole numbers: ``lap`` if it is
    installed, the matrix is square and ``cmax < LAP_MAX_ABS``, else SciPy; real numbers: the auction when
    ``n_tasks·n_units ≥ AUCTION_MIN_ENTRIES`` and ``tol ≥ AUCTION_MIN_TOL`` (or ``eps`` is given),
    else SciPy.
    """
    if device.type != "cpu":
        return "auction"
    n, m = shape
    if integral:
        return "lapjv" if lap_usable(device, shape) and cmax < LAP_MAX_ABS else "hungarian"
    approximate = eps is not None or tol >= AUCTION_MIN_TOL
    return "auction" if approximate and n * m >= AUCTION_MIN_ENTRIES else "hungarian"
