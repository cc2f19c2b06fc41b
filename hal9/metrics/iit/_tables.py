"""Cause and effect repertoires of every mechanism over every purview, for a batch of systems at once.

A *system* is a subsystem's TPM ``on[j, s] = P(node j ON at t+1 | s at t)`` (``(n, 2**n)``, LOLI), its
connectivity (with a system cut applied, if any) and its current state. Batches are stacked on a leading axis
``B`` (cuts of one subsystem, or many states or networks of the same size).

Definitions (Oizumi et al. 2014; PyPhi 1.2.0 ``Subsystem``):

* each node's TPM is averaged uniformly over the nodes that are not its inputs in ``cm`` (so a cut input is
  replaced by uniform noise);
* **cause repertoire** of mechanism ``M`` over purview ``P``: ``p(x_P | M = m) ∝ Π_{j ∈ M} E_{x_{¬P}}[P(j =
  m_j | x_P, x_{¬P})]``, the average over the nodes outside ``P`` being uniform, then normalised over ``x_P``
  (left at zero if the sum is zero). ``M = ∅`` gives the uniform distribution; ``P = ∅`` gives ``[1]``;
* **effect repertoire**: ``p(x'_P | M = m) = Π_{p ∈ P} P(p' | M = m)`` with ``P(p' = 1 | M = m) =
  E_{x_{¬M}}[on_p(m, x_{¬M})]`` (uniform average over the nodes outside the mechanism). ``M = ∅`` gives the
  unconstrained effect repertoire.

Returned tables (float, same dtype as the TPM):

* ``cause3``: ``(B, 2**n, 3**n)``: ``cause3[b, M, base2[P] + tern[x]]`` = cause repertoire of ``M`` over ``P``
  at state ``x`` (see :mod:`._indexing`); ``cause_norm``: ``(B, 2**n, 2**n)`` the normalising sums (0 =
  unreachable).
* ``cause_marg``: ``(B, 2**n, 2**n, n)``: ``cause_marg[b, M, P, p]`` = probability that node ``p`` was ON
  under the cause repertoire of ``M`` over ``P`` (meaningful for ``p ∈ P``);
* ``effect_on``: ``(B, n, 2**n)``: ``effect_on[b, p, M] = P(p ON at t+1 | M in its state)``.

Cost: ``O(B · 6**n)`` time and memory for the cause table (n = 7: 280 k numbers per system).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["Tables", "build_tables", "marginalise_non_inputs"]


@dataclass(frozen=True)
class Tables:
    """Repertoire tables of a batch of systems (see the module docstring for shapes)."""

    cause3: Tensor
    cause_norm: Tensor
    cause_marg: Tensor
    effect_on: Tensor


def _state_axis(i: int, n: int, lead: int) -> int:
    """Axis of node ``i`` once a LOLI state index (``2**n``) is reshaped to ``(2,)*n`` after ``lead`` axes."""
    return lead + n - 1 - i


def marginalise_non_inputs(on: Tensor, cm: Tensor) -> Tensor:
    """Average each node's TPM over the nodes that are not its inputs.

    ``on``: ``(B, n, 2**n)``; ``cm``: ``(B, n, n)`` bool, ``cm[b, i, j]`` = ``i`` sends to ``j``. Returns
    ``(B, n, 2**n)``, each row constant along its non-inputs.
    """
    b, n, _ = on.shape
    v = on.reshape(b, n, *([2] * n))
    for i in range(n):
        ax = _state_axis(i, n, 2)
        mean = v.mean(dim=ax, keepdim=True).expand_as(v)
        drop = (~cm[:, i, :]).reshape(b, n, *([1] * n))
        v = torch.where(drop, mean, v)
    return v.reshape(b, n, 2**n)


def build_tables(on: Tensor, cm: Tensor, state: Tensor) -> Tables:
    """Cause and effect tables of a batch of systems.

    ``on``: ``(B, n, 2**n)`` probabilities (already conditioned on the nodes outside the subsystem); ``cm``:
    ``(B, n, n)`` bool connectivity with the cut applied; ``state``: ``(B, n)`` of 0/1.
    """
    b, n, size = on.shape
    node = marginalise_non_inputs(on, cm)
    st = state.to(torch.bool)
    # Cause: g_j(x) = P(j in its current state | x), then "keep or average" per node into the 3-layout.
    g = torch.where(st[:, :, None], node, 1 - node).reshape(b, n, *([2] * n))
    for i in range(n):
        ax = _state_axis(i, n, 2)
        g = torch.cat([g, g.mean(dim=ax, keepdim=True)], dim=ax)
    q = g.reshape(b, n, 3**n)
    prod = torch.ones(b, size, 3**n, dtype=on.dtype, device=on.device)
    for j in range(n):
        lo = 2**j
        prod[:, lo : 2 * lo] = prod[:, :lo] * q[:, j : j + 1]
    # Normalising sums per purview: per node axis, "outside P" = digit 2, "inside P" = digit 0 + digit 1.
    z = prod.reshape(b, size, *([3] * n))
    for i in range(n):
        ax = _state_axis(i, n, 2)
        z = torch.stack([z.select(ax, 2), z.select(ax, 0) + z.select(ax, 1)], dim=ax)
    norm = z.reshape(b, size, size)
    z3 = norm.reshape(b, size, *([2] * n))
    pick = torch.tensor([1, 1, 0], device=on.device)
    for i in range(n):
        z3 = z3.index_select(_state_axis(i, n, 2), pick)
    z3 = z3.reshape(b, size, 3**n)
    cause3 = torch.where(z3 > 0, prod / torch.where(z3 > 0, z3, torch.ones_like(z3)), torch.zeros_like(prod))
    # Node marginals of every cause repertoire: sum the purview's slice with node p held ON.
    margs = []
    for p in range(n):
        t = cause3.reshape(b, size, *([3] * n))
        for i in range(n):
            ax = _state_axis(i, n, 2)
            inside = t.select(ax, 1) if i == p else t.select(ax, 0) + t.select(ax, 1)
            t = torch.stack([t.select(ax, 2), inside], dim=ax)
        margs.append(t.reshape(b, size, size))
    cause_marg = torch.stack(margs, dim=-1)
    # Effect: per node p, "fix to the current state or average" per mechanism node.
    e = node.reshape(b, n, *([2] * n))
    for i in range(n):
        ax = _state_axis(i, n, 2)
        fixed = torch.where(
            st[:, i].reshape(b, *([1] * (n + 1))),
            e.select(ax, 1).unsqueeze(ax),
            e.select(ax, 0).unsqueeze(ax),
        )
        e = torch.cat([e.mean(dim=ax, keepdim=True), fixed], dim=ax)
    effect_on = e.reshape(b, n, size)
    return Tables(cause3=cause3, cause_norm=norm, cause_marg=cause_marg, effect_on=effect_on)
