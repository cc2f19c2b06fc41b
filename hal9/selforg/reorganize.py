"""Self-reorganization: removal/failure of neurons with self-healing, and layering stability (ARI)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hal9.core import as_tensor
from hal9.selforg.graph import KnnGraph

__all__ = ["HealResult", "adjusted_rand_index", "remove_and_heal"]


def adjusted_rand_index(a: Tensor, b: Tensor) -> float:
    """Adjusted Rand index of two labelings (Hubert & Arabie 1985).

    ``ARI = (Σ_ij C(n_ij, 2) − E) / (½(Σ_i C(a_i, 2) + Σ_j C(b_j, 2)) − E)`` with
    ``E = Σ_i C(a_i, 2) Σ_j C(b_j, 2) / C(n, 2)``, from the contingency table ``n_ij`` (one bincount,
    ``O(N + K_a K_b)``). 1 for identical partitions (up to relabelling), ≈ 0 for independent ones.
    """
    a = as_tensor(a, "a", dtype=torch.int64)
    b = as_tensor(b, "b", dtype=torch.int64, device=a.device)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D of equal length, got {tuple(a.shape)} and {tuple(b.shape)}")
    n = a.numel()
    if n < 2:
        raise ValueError("a and b need at least 2 elements")
    _, ia = torch.unique(a, return_inverse=True)
    _, ib = torch.unique(b, return_inverse=True)
    ka, kb = int(ia.max()) + 1, int(ib.max()) + 1
    table = torch.bincount(ia * kb + ib, minlength=ka * kb).reshape(ka, kb).double()

    def comb2(x: Tensor) -> Tensor:
        return x * (x - 1) / 2

    sum_ij = float(comb2(table).sum())
    sum_a = float(comb2(table.sum(1)).sum())
    sum_b = float(comb2(table.sum(0)).sum())
    expected = sum_a * sum_b / (n * (n - 1) / 2)
    denom = 0.5 * (sum_a + sum_b) - expected
    if denom == 0:  # both partitions trivial (one cluster each, or all singletons)
        return 1.0 if sum_ij == expected else 0.0
    return (sum_ij - expected) / denom


@dataclass(frozen=True)
class HealResult:
    """Result of :func:`remove_and_heal`.

    Attributes
    ----------
    graph : KnnGraph
        Graph of the ``N − R`` survivors, renumbered in their original order.
    labels : Tensor
        ``(N − R,)`` layer labels of the survivors.
    survivors : Tensor
        ``(N − R,)`` original indices of the survivors (``new → old``).
    lost_edges : int
        Survivor edges that pointed at a removed neuron.
    bypass_edges : int
        Of those, how many were replaced by a bypass edge.
    """

    graph: KnnGraph
    labels: Tensor
    survivors: Tensor
    lost_edges: int
    bypass_edges: int


def remove_and_heal(graph: KnnGraph, labels: Tensor, removed: Tensor) -> HealResult:
    """Remove neurons; each survivor that lost a partner ``j`` reconnects through ``j`` (a bypass).

    For a lost edge ``i → j`` the bypass is ``i → m`` with ``m`` the partner of ``j`` that maximises the
    path strength ``min(w_ij, w_jm)`` among those that survive, are not ``i``, are not already partners of
    ``i`` and satisfy the ±1 rule ``|ℓ_i − ℓ_m| ≤ 1``; its weight is that path strength. When no such
    ``m`` exists the slot stays empty (``-1``). Two lost edges of one row never bypass to the same ``m``.

    Parameters
    ----------
    graph : KnnGraph
    labels : Tensor
        ``(N,)`` integer layer labels.
    removed : Tensor
        ``(N,)`` bool mask or ``(R,)`` int64 indices of the neurons to remove.

    Notes
    -----
    Vectorised over all lost edges: ``O(L·k²)`` for ``L`` lost edges (membership tests against the row),
    no Python loop over neurons or edges.
    """
    dev = graph.neighbors.device
    labels = as_tensor(labels, "labels", dtype=torch.int64, device=dev)
    removed = as_tensor(removed, "removed", dtype=torch.int64, device=dev)
    n, k = graph.n, graph.k
    if labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    dev = graph.neighbors.device
    if removed.dtype == torch.bool:
        if removed.shape != (n,):
            raise ValueError(f"removed as a mask must have shape ({n},), got {tuple(removed.shape)}")
        gone = removed.to(dev)
    else:
        if removed.numel() and (int(removed.min()) < 0 or int(removed.max()) >= n):
            raise ValueError(f"removed indices must be in 0..{n - 1}")
        gone = torch.zeros(n, dtype=torch.bool, device=dev)
        gone[removed.to(dev)] = True
    if int(gone.sum()) >= n - 1:
        raise ValueError("removed must leave at least 2 neurons")
    nb, w = graph.neighbors.clone(), graph.weights.clone()
    valid = nb >= 0
    lost = valid & gone[nb.clamp(min=0)] & ~gone[:, None]  # survivor slots pointing at a removed neuron
    rows, slots = lost.nonzero(as_tuple=True)
    n_lost = int(rows.numel())
    nb[gone] = -1
    w[gone] = 0
    if n_lost:
        j = graph.neighbors[rows, slots]
        cand = graph.neighbors[j]  # (L, k) partners of the removed partner
        cand_w = torch.minimum(graph.weights[rows, slots][:, None], graph.weights[j])
        ok = (cand >= 0) & (cand != rows[:, None])
        ok &= ~gone[cand.clamp(min=0)]
        ok &= (labels[cand.clamp(min=0)] - labels[rows][:, None]).abs() <= 1
        already = (cand[:, :, None] == graph.neighbors[rows][:, None, :]).any(-1)
        ok &= ~already
        score = torch.where(ok, cand_w, torch.full_like(cand_w, -1.0))
        # a row with several lost slots: pick bypasses greedily, one slot rank at a time
        order = torch.argsort(rows * k + slots)
        rows, slots, cand, score = rows[order], slots[order], cand[order], score[order]
        first = torch.ones_like(rows, dtype=torch.bool)
        first[1:] = rows[1:] != rows[:-1]
        grp = torch.cumsum(first.long(), 0) - 1
        start = torch.nonzero(first).flatten()
        rank = torch.arange(rows.numel(), device=dev) - start[grp]
        chosen = torch.full_like(rows, -1)
        chosen_w = torch.zeros(rows.numel(), dtype=w.dtype, device=dev)
        for r in range(int(rank.max()) + 1):  # loop over slot ranks (≤ k), not over edges
            sel = (rank == r).nonzero().flatten()
            if r > 0:
                prev = chosen[sel[:, None] - torch.arange(1, r + 1, device=dev)[None, :]]
                clash = (cand[sel][:, :, None] == prev[:, None, :]).any(-1)
                score[sel] = torch.where(clash, torch.full_like(score[sel], -1.0), score[sel])
            best = score[sel].argmax(dim=1)
            best_score = score[sel, best]
            good = best_score >= 0
            chosen[sel[good]] = cand[sel[good], best[good]]
            chosen_w[sel[good]] = best_score[good].to(w.dtype)
        nb[rows, slots] = chosen
        w[rows, slots] = chosen_w
    bypass = int((nb[lost] >= 0).sum()) if n_lost else 0
    survivors = (~gone).nonzero().flatten()
    new_index = torch.full((n,), -1, dtype=torch.int64, device=dev)
    new_index[survivors] = torch.arange(survivors.numel(), device=dev)
    nb_s = nb[survivors]
    w_s = w[survivors]
    nb_s = torch.where(nb_s >= 0, new_index[nb_s.clamp(min=0)], nb_s)
    # keep rows sorted by decreasing weight, empty slots last
    key = torch.where(nb_s >= 0, w_s.double(), torch.full_like(w_s, -1.0, dtype=torch.float64))
    idx = torch.argsort(key, dim=1, descending=True, stable=True)
    graph_new = KnnGraph(torch.gather(nb_s, 1, idx), torch.gather(w_s, 1, idx))
    return HealResult(graph_new, labels[survivors], survivors, n_lost, bypass)
