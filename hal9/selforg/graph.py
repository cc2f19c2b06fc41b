"""The sparse discovery graph shared by discovery, layering and the null models."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["KnnGraph"]


@dataclass(frozen=True)
class KnnGraph:
    """Each neuron's ``k`` most compatible partners: a directed top-k graph in ``O(N·k)`` memory.

    Shape
    -----
    * ``neighbors``: ``(N, k)`` int64, partner indices, ``-1`` where a row has fewer than ``k`` partners;
      a neuron is never its own partner.
    * ``weights``: ``(N, k)`` floating, compatibility in ``[0, 1]`` (0 where ``neighbors`` is ``-1``),
      each row sorted in decreasing order.
    """

    neighbors: Tensor
    weights: Tensor

    def __post_init__(self) -> None:
        if self.neighbors.ndim != 2 or self.neighbors.shape != self.weights.shape:
            raise ValueError(
                f"neighbors and weights must both be (N, k), got {tuple(self.neighbors.shape)} and "
                f"{tuple(self.weights.shape)}"
            )
        if self.neighbors.dtype != torch.int64:
            raise ValueError(f"neighbors must be int64, got {self.neighbors.dtype}")
        if not self.weights.dtype.is_floating_point:
            raise ValueError(f"weights must be floating point, got {self.weights.dtype}")

    @property
    def n(self) -> int:
        return int(self.neighbors.shape[0])

    @property
    def k(self) -> int:
        return int(self.neighbors.shape[1])

    def edges(self) -> tuple[Tensor, Tensor, Tensor]:
        """Directed edges ``(source, target, weight)``, each ``(E,)``, without the ``-1`` padding."""
        src = torch.arange(self.n, device=self.neighbors.device).repeat_interleave(self.k)
        dst = self.neighbors.reshape(-1)
        w = self.weights.reshape(-1)
        keep = dst >= 0
        return src[keep], dst[keep], w[keep]

    def symmetric_csr(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """Undirected weighted adjacency ``(N, N)`` sparse CSR: ``w_ij = max(w_i→j, w_j→i)``, no self-loops.

        ``O(N·k log(N·k))`` time (one sort of the ``2E`` directed entries), ``O(N·k)`` memory.
        """
        src, dst, w = self.edges()
        rows = torch.cat([src, dst])
        cols = torch.cat([dst, src])
        vals = torch.cat([w, w]).to(dtype)
        key = rows * self.n + cols
        order = torch.argsort(key, stable=True)
        key, vals = key[order], vals[order]
        uniq, inverse = torch.unique_consecutive(key, return_inverse=True)
        out = torch.zeros(uniq.numel(), dtype=dtype, device=vals.device)
        out.scatter_reduce_(0, inverse, vals, reduce="amax", include_self=False)
        r, c = uniq // self.n, uniq % self.n
        crow = torch.zeros(self.n + 1, dtype=torch.int64, device=vals.device)
        crow[1:] = torch.cumsum(torch.bincount(r, minlength=self.n), 0)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
            return torch.sparse_csr_tensor(crow, c, out, (self.n, self.n), check_invariants=False)
