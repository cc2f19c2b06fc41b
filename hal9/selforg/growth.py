"""Incremental growth: add neurons to a discovered graph, scoring only the pairs that involve them."""

from __future__ import annotations

import torch
from torch import Tensor

from hal9.core import as_tensor
from hal9.selforg.discovery import _pack, _unpack
from hal9.selforg.graph import KnnGraph
from hal9.selforg.kernels import Kernel, check_kernel_output, hal9_kernel

__all__ = ["extend_graph"]

_TILE_PAIRS = 1 << 17  # kernel evaluations per call (see hal9.selforg.discovery)


def _merge_topk(run: Tensor | None, key: Tensor, k: int) -> Tensor:
    cat = key if run is None else torch.cat([run, key], dim=1)
    return cat.topk(min(k, cat.shape[1]), dim=1, sorted=False).values


def extend_graph(
    graph: KnnGraph, old_features: Tensor, new_features: Tensor, *, kernel: Kernel = hal9_kernel
) -> KnnGraph:
    """Add ``M`` neurons to a top-``k`` graph of ``N`` neurons without re-scoring old–old pairs.

    New neurons get their exact top-``k`` over all ``N + M`` neurons; each old neuron keeps its current
    partners unless a new neuron is more compatible than its ``k``-th (same order and tie rule as
    :func:`~hal9.selforg.discovery.discover`: weight descending, then lower index). If ``graph`` is the
    exact discovery graph of the old neurons, the result equals exact discovery on all ``N + M``.

    Shape
    -----
    ``old_features``: ``(N, F)``; ``new_features``: ``(M, F)``; returns a graph of ``N + M`` neurons
    (new neurons are numbered ``N .. N + M − 1``).

    Notes
    -----
    ``O((N + M)·M)`` kernel evaluations (vs ``O((N + M)²)`` for rediscovery) in tiles of ``2¹⁷`` pairs;
    memory ``O((N + M)·k)``.
    """
    dev = graph.neighbors.device
    old_features = as_tensor(old_features, "old_features", ndim=2, device=dev)
    new_features = as_tensor(new_features, "new_features", ndim=2, device=dev)
    n, k = graph.n, graph.k
    if old_features.ndim != 2 or old_features.shape[0] != n:
        raise ValueError(f"old_features must be ({n}, F), got {tuple(old_features.shape)}")
    if new_features.ndim != 2 or new_features.shape[1] != old_features.shape[1] or new_features.shape[0] < 1:
        raise ValueError(
            f"new_features must be (M ≥ 1, {old_features.shape[1]}), got {tuple(new_features.shape)}"
        )
    if not bool(torch.isfinite(new_features).all()):
        raise ValueError("new_features contains NaN or Inf")
    x = torch.cat([old_features, new_features.to(old_features)], dim=0)
    total, dev = x.shape[0], x.device
    keys = torch.empty((total, k), dtype=torch.int64, device=dev)
    # old rows: current partners, merged with the new neurons as candidates
    old_keys = _pack(graph.weights, graph.neighbors.clamp(min=0)).masked_fill_(graph.neighbors < 0, -1)
    rb = max(1, _TILE_PAIRS // max(1, total - n))
    for r0 in range(0, n, rb):
        r1 = min(n, r0 + rb)
        w = check_kernel_output(kernel(x[r0:r1], x[n:]), (r1 - r0, total - n))
        key = _pack(w, torch.arange(n, total, device=dev)[None, :])
        keys[r0:r1] = _merge_topk(old_keys[r0:r1], key, k).sort(dim=1, descending=True).values
    # new rows: exact top-k over everyone (never themselves)
    cb = min(total, 4096)
    rb = max(1, _TILE_PAIRS // (cb + k))
    for r0 in range(n, total, rb):
        r1 = min(total, r0 + rb)
        run: Tensor | None = None
        for c0 in range(0, total, cb):
            c1 = min(total, c0 + cb)
            w = check_kernel_output(kernel(x[r0:r1], x[c0:c1]), (r1 - r0, c1 - c0))
            key = _pack(w, torch.arange(c0, c1, device=dev)[None, :])
            lo, hi = max(r0, c0), min(r1, c1)
            if lo < hi:
                diag = torch.arange(lo, hi, device=dev)
                key[diag - r0, diag - c0] = -1
            run = _merge_topk(run, key, k)
        assert run is not None
        keys[r0:r1] = run.sort(dim=1, descending=True).values
    idx, w = _unpack(keys)
    return KnnGraph(idx, w.to(graph.weights.dtype))
