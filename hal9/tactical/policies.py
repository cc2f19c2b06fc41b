"""Scheduling policies of one round: which ready tasks go to which units, within free capacity.

* ``auto`` (default) / ``auction`` / ``hungarian`` / ``greedy``: the round is an assignment problem (tasks ×
  units with free capacity) with the costs of :mod:`hal9.tactical.costs`, solved by
  :func:`hal9.tactical.assignment.assign` with that method; repeated (up to ``max_passes``) while units
  still have room, since a unit with capacity for several tasks takes one per pass. ``auto`` picks the
  ε-auction for large matrices or on CUDA and the exact Hungarian for small ones
  (:data:`AUTO_AUCTION_MIN_ENTRIES`).
* ``edf``: greedy earliest-deadline-first — tasks by deadline (then priority), each to the feasible unit
  with the shortest expected duration.
* ``round_robin``: tasks in arrival order, each to the next unit in cyclic order that has room.

Complexity per round with ``K`` candidates and ``U`` units: building costs ``O(K·U·(D+R))``; assignment as
the method's; ``edf``/``round_robin`` ``O(K·U)`` with a Python loop over the ``K`` tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from hal9.tactical.costs import cost_matrix, duration_matrix, fits_matrix
from hal9.tactical.models import ASSIGNMENT_SCHEDULERS

__all__ = ["RoundProblem", "plan_round"]


#: ``auto`` uses the ε-auction on a CUDA device or from this many matrix entries on, the exact Hungarian
#: (SciPy) below it: measured on the 2-core CPU (docs/benchmarks.md), SciPy is 5–6× faster on rounds of
#: 400 × 100 and the auction ~3× faster at 4 000 × 1 000.
AUTO_AUCTION_MIN_ENTRIES = 1_000_000


@dataclass
class RoundProblem:
    """One round's inputs (NumPy, float64); ``free`` is updated in place as tasks are placed.

    Shape
    -----
    ``work``/``priority``/``slack`` ``(K,)`` (``slack`` = deadline − now, ``+inf`` without one),
    ``required`` ``(K, D)``, ``demand`` ``(K, R)``; ``speed`` ``(U,)``, ``capability`` ``(U, D)``,
    ``free`` ``(U, R)``, ``alive`` ``(U,)`` bool. Rows are in the policy's preference order.
    """

    work: NDArray
    priority: NDArray
    slack: NDArray
    required: NDArray
    demand: NDArray
    speed: NDArray
    capability: NDArray
    free: NDArray
    alive: NDArray


def plan_round(
    scheduler: str,
    p: RoundProblem,
    *,
    mismatch_weight: float,
    priority_weight: float,
    urgency_weight: float,
    device: torch.device | str = "cpu",
    auction_tol: float = 1e-3,
    max_passes: int = 16,
    rr_start: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[NDArray, NDArray]:
    """Place candidate tasks on units; returns ``(rows, units)`` int64 arrays (row indices into ``p``).

    Every returned pair fits the unit's free capacity at the moment it was placed; ``p.free`` is reduced
    accordingly. ``dtype`` is that of the duration and cost matrices of the assignment schedulers (float32
    by default: half the memory traffic — 0.86 s vs 1.35 s for a 10 000 × 1 000 round on the 2-core CPU —
    at a relative precision of ~6e-8, far below the auction's default tolerance of 1e-3).
    """
    if scheduler in ASSIGNMENT_SCHEDULERS:
        return _assignment_round(
            scheduler,
            p,
            mismatch_weight,
            priority_weight,
            urgency_weight,
            device,
            auction_tol,
            max_passes,
            dtype,
        )
    if scheduler in ("edf", "round_robin"):
        return _sequential_round(scheduler, p, mismatch_weight, rr_start)
    raise ValueError(f"unknown scheduler {scheduler!r}")


def _assignment_round(
    method: str,
    p: RoundProblem,
    mismatch_weight: float,
    priority_weight: float,
    urgency_weight: float,
    device: torch.device | str,
    tol: float,
    max_passes: int,
    dtype: torch.dtype,
) -> tuple[NDArray, NDArray]:
    from hal9.tactical.assignment import assign

    dev = torch.device(device)

    def t(a: NDArray) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dtype, device=dev)

    work, prio, slack, req, dem = t(p.work), t(p.priority), t(p.slack), t(p.required), t(p.demand)
    speed, cap = t(p.speed), t(p.capability)
    alive = torch.as_tensor(p.alive, device=dev)
    # Units-major layout (U, K) when units are the smaller side: the auction then bids from contiguous rows.
    um = len(p.speed) < len(p.work)
    dur_all = duration_matrix(work, req, speed, cap, mismatch_weight, unit_major=um)
    n_rows, n_units = len(p.work), len(p.speed)
    open_rows = np.arange(n_rows)
    rows_out: list[NDArray] = []
    cols_out: list[NDArray] = []
    for _ in range(max_passes):
        if open_rows.size == 0:
            break
        full_rows = open_rows.size == n_rows
        r_idx = torch.as_tensor(open_rows, device=dev)
        fits = fits_matrix(dem if full_rows else dem[r_idx], t(p.free), alive, unit_major=um)
        col_ok = fits.any(1 if um else 0)
        if not bool(col_ok.any()):
            break
        cols = torch.nonzero(col_ok).squeeze(1)
        full_cols = cols.numel() == n_units
        dur = dur_all
        if um:
            dur = dur if full_cols else dur[cols]
            dur = dur if full_rows else dur[:, r_idx]
            fits = fits if full_cols else fits[cols]
        else:
            dur = dur if full_rows else dur[r_idx]
            dur = dur if full_cols else dur[:, cols]
            fits = fits if full_cols else fits[:, cols]
        cost = cost_matrix(
            dur,
            prio if full_rows else prio[r_idx],
            fits,
            priority_weight=priority_weight,
            urgency_weight=urgency_weight,
            slack=slack if full_rows else slack[r_idx],
            unit_major=um,
        )
        task_major = cost.T if um else cost  # (tasks, units), a view when units-major
        how = method
        if method == "auto":
            big = cost.numel() >= AUTO_AUCTION_MIN_ENTRIES or cost.device.type == "cuda"
            how = "auction" if big else "hungarian"
        res = assign(task_major, method=how, tol=tol)  # type: ignore[arg-type]
        rr = res.rows.cpu().numpy()
        cl = res.cols.cpu().numpy()
        keep = np.isfinite(task_major[res.rows, res.cols].cpu().numpy()) if rr.size else rr.astype(bool)
        rr, cc = rr[keep], cols.cpu().numpy()[cl[keep]]
        if rr.size == 0:
            break
        picked = open_rows[rr]
        p.free[cc] -= p.demand[picked]
        rows_out.append(picked)
        cols_out.append(cc)
        open_rows = np.delete(open_rows, rr)
    if not rows_out:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(rows_out).astype(np.int64), np.concatenate(cols_out).astype(np.int64)


def _sequential_round(
    scheduler: str, p: RoundProblem, mismatch_weight: float, rr_start: int
) -> tuple[NDArray, NDArray]:
    dur = duration_matrix(
        torch.as_tensor(p.work),
        torch.as_tensor(p.required),
        torch.as_tensor(p.speed),
        torch.as_tensor(p.capability),
        mismatch_weight,
    ).numpy()
    n_units = len(p.speed)
    rows: list[int] = []
    cols: list[int] = []
    ptr = rr_start % max(n_units, 1)
    slack = 1 + 1e-9
    for i in range(len(p.work)):
        ok = p.alive & np.all(p.demand[i] <= p.free * slack + 1e-12, axis=1)
        if not ok.any():
            continue
        if scheduler == "edf":
            j = int(np.argmin(np.where(ok, dur[i], np.inf)))
        else:
            nxt = np.flatnonzero(np.roll(ok, -ptr))
            j = (ptr + int(nxt[0])) % n_units
            ptr = (j + 1) % n_units
        p.free[j] -= p.demand[i]
        rows.append(i)
        cols.append(j)
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64)
