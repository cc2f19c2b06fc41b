"""From an emergent hierarchy to a runnable :class:`hal9.core.Network` (issue item: "into the substrate")."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hal9.core import Network, as_tensor, csr_matrix
from hal9.selforg.graph import KnnGraph

__all__ = ["SubstrateConversion", "to_network"]


@dataclass(frozen=True)
class SubstrateConversion:
    """Result of :func:`to_network`.

    Attributes
    ----------
    network : Network
        Neurons renumbered layer by layer (L1 first); ``weight[i, j]`` is the discovered edge
        ``i → j`` ("``i`` keeps ``j`` as a partner") read as a synapse from ``j`` onto ``i``.
    order : Tensor
        ``(N,)`` int64: ``order[new] = old`` neuron index.
    position : Tensor
        ``(N,)`` int64: ``position[old] = new`` neuron index.
    removed_weight_fraction : float
        Share of the discovered edge weight that violated the ±1 rule and was dropped,
        ``Σ_{|ℓ_i − ℓ_j| > 1} w_ij / Σ w_ij`` (0 for a graph without weight).
    removed_edges, kept_edges : int
        Edge counts dropped / kept.
    """

    network: Network
    order: Tensor
    position: Tensor
    removed_weight_fraction: float
    removed_edges: int
    kept_edges: int


def to_network(
    graph: KnnGraph, labels: Tensor, *, weight_scale: float = 1.0, dtype: torch.dtype = torch.float32
) -> SubstrateConversion:
    """Turn a discovered graph + emergent layer labels into a :class:`hal9.core.Network` obeying ±1.

    Every directed discovery edge ``i → j`` becomes a synapse from ``j`` onto ``i`` with weight
    ``weight_scale · w_ij`` if ``|ℓ_i − ℓ_j| ≤ 1``; edges between non-adjacent layers are removed and
    their share of the total weight is reported.

    Parameters
    ----------
    graph : KnnGraph
        ``N`` neurons, ``k`` partners each.
    labels : Tensor
        ``(N,)`` int64 layer index (0 = L1) of each neuron; every layer ``0..K−1`` non-empty, ``K ≤ 9``.
    weight_scale : float
        Multiplies the compatibilities (in [0, 1]) to give synaptic weights.
    dtype : torch.dtype
        Floating dtype of the network's weights.

    Notes
    -----
    ``O(N·k log(N·k))`` time (one sort of the kept edges), ``O(N·k)`` memory.
    """
    labels = as_tensor(labels, "labels", dtype=torch.int64, device=graph.neighbors.device)
    n = graph.n
    if labels.shape != (n,) or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be a ({n},) integer tensor, got {tuple(labels.shape)} {labels.dtype}")
    labels = labels.to(device=graph.neighbors.device, dtype=torch.int64)
    k_layers = int(labels.max()) + 1 if n else 0
    sizes = torch.bincount(labels, minlength=k_layers)
    if int(labels.min()) < 0 or k_layers > 9 or bool((sizes == 0).any()):
        raise ValueError(f"labels must use every layer 0..K−1 with K ≤ 9; layer sizes {sizes.tolist()}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be floating point, got {dtype}")
    src, dst, w = graph.edges()
    ok = (labels[src] - labels[dst]).abs() <= 1
    total = float(w.double().sum())
    removed = float(w[~ok].double().sum())
    order = torch.argsort(labels, stable=True)
    position = torch.empty_like(order)
    position[order] = torch.arange(n, device=order.device)
    rows, cols, vals = position[src[ok]], position[dst[ok]], (w[ok] * weight_scale).to(dtype)
    perm = torch.argsort(rows * n + cols)
    rows, cols, vals = rows[perm], cols[perm], vals[perm]
    crow = torch.zeros(n + 1, dtype=torch.int64, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    net = Network(tuple(int(s) for s in sizes), csr_matrix(crow, cols, vals, n), labels[order])
    return SubstrateConversion(
        net,
        order,
        position,
        removed / total if total > 0 else 0.0,
        int((~ok).sum()),
        int(ok.sum()),
    )
