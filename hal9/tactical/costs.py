"""Duration and assignment-cost matrices of ready tasks × units, built on the device in one pass per resource.

Duration model (time units) of task ``i`` on unit ``j``::

    d_ij = work_i / speed_j · (1 + μ · shortfall_ij),   shortfall_ij = (1/D) Σ_k max(r_ik − c_jk, 0)

with ``r`` the task's required capability, ``c`` the unit's capability (``D`` dimensions) and ``μ`` the
``mismatch_weight``: a unit lacking capability works proportionally slower. The assignment cost is the
expected completion time minus a priority bonus and an urgency bonus::

    cost_ij = d_ij − w_p · priority_i − w_u / (1 + max(slack_ij, 0)),   slack_ij = deadline_i − now − d_ij

(+∞ where the task's resource demand does not fit the unit's free capacity, or the unit is down). A row
constant such as the priority bonus does not change which unit a task gets, but when tasks outnumber units
it decides which tasks are served this round — that is how priority changes outcomes.

Memory: ``O(K·U)`` for ``K`` tasks and ``U`` units (the ``D`` capability and ``R`` resource dimensions are
accumulated one at a time, never materialising ``K × U × D``). Time: ``O(K·U·(D + R))``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["cost_matrix", "duration_matrix", "fits_matrix"]


def duration_matrix(
    work: Tensor,
    required: Tensor,
    speed: Tensor,
    capability: Tensor,
    mismatch_weight: float,
    *,
    unit_major: bool = False,
) -> Tensor:
    """Expected durations ``d`` (see module docstring).

    Shape
    -----
    * ``work`` ``(K,)``, ``required`` ``(K, D)``, ``speed`` ``(U,)``, ``capability`` ``(U, D)``
      (``D`` may be 0: no capability model).
    * Output ``(K, U)`` — or ``(U, K)`` with ``unit_major=True`` (the layout the auction reads fastest
      when units are the smaller side) — same dtype and device as ``work``.
    """
    if unit_major:
        d = work[None, :] / speed[:, None]
    else:
        d = work[:, None] / speed[None, :]
    dims = required.shape[1]
    if dims and mismatch_weight:
        short = torch.zeros_like(d)
        for k in range(dims):
            if unit_major:
                short += (required[None, :, k] - capability[:, k, None]).clamp_min_(0)
            else:
                short += (required[:, k, None] - capability[None, :, k]).clamp_min_(0)
        d.mul_(short.mul_(mismatch_weight / dims).add_(1))
    return d


def fits_matrix(
    demand: Tensor, free: Tensor, alive: Tensor | None = None, *, unit_major: bool = False
) -> Tensor:
    """``fits[i, j]``: task ``i``'s demand fits unit ``j``'s free capacity on every resource (``j`` is up).

    Shape
    -----
    ``demand`` ``(K, R)``, ``free`` ``(U, R)``, ``alive`` ``(U,)`` bool; output ``(K, U)`` bool
    (``(U, K)`` with ``unit_major=True``). A relative slack of 1e-9 absorbs rounding in the free-capacity
    bookkeeping.
    """
    k, u = demand.shape[0], free.shape[0]
    room = free * (1 + 1e-9) + 1e-12
    if unit_major:
        ok = torch.ones(u, k, dtype=torch.bool, device=demand.device)
        for r in range(demand.shape[1]):
            ok &= demand[None, :, r] <= room[:, r, None]
        if alive is not None:
            ok &= alive[:, None]
        return ok
    ok = torch.ones(k, u, dtype=torch.bool, device=demand.device)
    for r in range(demand.shape[1]):
        ok &= demand[:, r, None] <= room[None, :, r]
    if alive is not None:
        ok &= alive[None, :]
    return ok


def cost_matrix(
    duration: Tensor,
    priority: Tensor,
    fits: Tensor,
    *,
    priority_weight: float,
    urgency_weight: float = 0.0,
    slack: Tensor | None = None,
    unit_major: bool = False,
) -> Tensor:
    """Assignment costs from durations (see module docstring); ``+inf`` where ``fits`` is false.

    Shape
    -----
    ``duration`` ``(K, U)``, ``priority`` ``(K,)``, ``fits`` ``(K, U)``, ``slack`` ``(K,)`` time to
    deadline (``+inf`` without one) or ``None``. Output ``(K, U)``; with ``unit_major=True`` the matrices
    are ``(U, K)`` and so is the output.
    """
    prio = priority[None, :] if unit_major else priority[:, None]
    cost = duration - priority_weight * prio
    if urgency_weight and slack is not None:
        s = slack[None, :] if unit_major else slack[:, None]
        cost = cost - urgency_weight / (1 + (s - duration).clamp_min(0))
    return cost.masked_fill_(~fits, float("inf"))
