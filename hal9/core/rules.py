"""The ±1 rule: layers talk only to themselves and to adjacent layers."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["adjacency_violation", "check_adjacent"]


def check_adjacent(target: int, source: int, n_layers: int) -> None:
    """Raise ``ValueError`` unless ``|target − source| ≤ 1``, both layer indices in ``0..n_layers-1``."""
    for name, k in (("target", target), ("source", source)):
        if not 0 <= k < n_layers:
            raise ValueError(f"{name} layer index must be in 0..{n_layers - 1}, got {k}")
    if abs(target - source) > 1:
        raise ValueError(
            f"±1 rule: a projection L{source + 1} → L{target + 1} connects non-adjacent layers "
            f"(|{target + 1} − {source + 1}| = {abs(target - source)} > 1)"
        )


def _edges(graph: Tensor | tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
    if isinstance(graph, tuple):
        if len(graph) != 3:
            raise ValueError("graph as a tuple must be (targets, sources, weights)")
        tgt, src, w = graph
        if not (tgt.shape == src.shape == w.shape) or tgt.ndim != 1:
            raise ValueError(
                f"graph edge tensors must be 1-D of equal length, got {tuple(tgt.shape)}, "
                f"{tuple(src.shape)}, {tuple(w.shape)}"
            )
        return tgt, src, w
    if not isinstance(graph, Tensor) or graph.ndim != 2:
        raise ValueError(
            "graph must be a 2-D (sparse or dense) tensor or a (targets, sources, weights) tuple"
        )
    if graph.layout == torch.sparse_csr:
        crow, col = graph.crow_indices(), graph.col_indices()
        rows = torch.repeat_interleave(torch.arange(graph.shape[0], device=crow.device), crow.diff().long())
        return rows, col.long(), graph.values()
    if graph.layout == torch.sparse_coo:
        g = graph.coalesce()
        return g.indices()[0], g.indices()[1], g.values()
    nz = graph.nonzero(as_tuple=True)
    return nz[0], nz[1], graph[nz]


def adjacency_violation(graph: Tensor | tuple[Tensor, Tensor, Tensor], labels: Tensor) -> float:
    """Fraction of synaptic weight that violates the ±1 rule.

        V = Σ_{(i,j): |ℓ_i − ℓ_j| > 1} |W_ij|  /  Σ_{(i,j)} |W_ij|

    Parameters
    ----------
    graph : Tensor or (targets, sources, weights)
        ``(N, N)`` weight matrix (sparse CSR, sparse COO or dense; ``W[i, j]`` is the synapse from ``j``
        onto ``i``) or an edge list of three 1-D tensors of length ``E``.
    labels : Tensor
        ``(N,)`` integer layer label of each neuron.

    Returns
    -------
    float
        ``V ∈ [0, 1]``; ``0.0`` for a graph without weight.

    Notes
    -----
    ``O(E)`` time and memory; never forms an ``N × N`` dense matrix from a sparse one.
    """
    if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(
            f"labels must be a 1-D integer tensor, got shape {tuple(labels.shape)} {labels.dtype}"
        )
    if isinstance(graph, Tensor) and graph.ndim == 2 and graph.shape != (labels.numel(), labels.numel()):
        raise ValueError(f"graph shape {tuple(graph.shape)} does not match labels of length {labels.numel()}")
    tgt, src, w = _edges(graph)
    if tgt.numel() and (int(tgt.max()) >= labels.numel() or int(src.max()) >= labels.numel()):
        raise ValueError("graph refers to neurons beyond the length of labels")
    labels = labels.to(tgt.device)
    aw = w.abs().to(torch.float64)
    total = float(aw.sum())
    if total == 0.0:
        return 0.0
    bad = (labels[tgt] - labels[src]).abs() > 1
    return float(aw[bad].sum()) / total
