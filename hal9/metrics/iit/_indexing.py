"""Bit-mask bookkeeping for exact IIT 3.0 on ``n`` binary nodes (all tables cached per ``(n, device)``).

Sets of nodes are bit masks (bit ``i`` = node ``i``); states of a set ``S`` are indexed LOLI over the nodes of
``S`` in increasing order. The "3-layout" stores, for every purview at once, a function of the purview's
state: a tensor ``(3,)*n`` flattened in C order, digit ``i`` (weight ``3**i``) being node ``i``'s state (0, 1)
or 2 when node ``i`` is outside the purview. Purview ``P`` in state ``x`` (a mask ⊆ ``P``) sits at ``base2[P]
+ tern[x]``.

The enumeration orders are PyPhi 1.2.0's, because its reported MIP partitions, MIP cuts and tie-breaks follow
them: ``powerset`` (by size, then lexicographic), ``bipartition`` and ``directed_bipartition``
(``pyphi.partition``) and ``mip_bipartitions`` (mechanism bipartitions outer, directed purview bipartitions
inner, dropping those with an empty part).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

__all__ = ["Index", "bipartition_masks", "cut_list", "index_tables", "mask_of", "nodes_of", "powerset_masks"]


def nodes_of(mask: int) -> tuple[int, ...]:
    """Node indices of a bit mask, increasing."""
    return tuple(i for i in range(mask.bit_length()) if (mask >> i) & 1)


def mask_of(nodes: tuple[int, ...] | list[int]) -> int:
    """Bit mask of node indices."""
    out = 0
    for i in nodes:
        out |= 1 << int(i)
    return out


def powerset_masks(n: int) -> list[int]:
    """Non-empty subsets of ``range(n)`` in PyPhi's ``powerset`` order (by size, then lexicographic)."""
    return [mask_of(c) for r in range(1, n + 1) for c in itertools.combinations(range(n), r)]


def bipartition_masks(k: int) -> list[tuple[int, int]]:
    """PyPhi's ``bipartition`` of ``k`` items as local masks ``(part0, part1)``: ``k == 0`` gives ``[]``."""
    full = (1 << k) - 1
    return [(i, full ^ i) for i in range(2 ** (k - 1))] if k > 0 else []


def directed_bipartition_masks(k: int) -> list[tuple[int, int]]:
    """PyPhi's ``directed_bipartition`` of ``k`` items as local masks (trivial ones included)."""
    bip = bipartition_masks(k)
    return bip + [(b, a) for a, b in reversed(bip)]


def cut_list(n: int) -> list[tuple[int, int]]:
    """System cuts ``(from_mask, to_mask)`` of ``n`` nodes, in PyPhi's ``sia_bipartitions`` order."""
    return directed_bipartition_masks(n)[1:-1]


@dataclass(frozen=True)
class Index:
    """Cached index tensors for ``n`` nodes on one device (see the module docstring)."""

    n: int
    popcount: Tensor  # (2^n,) int64
    deposit: Tensor  # (2^n mask, 2^n local) int64: the global subset of `mask` picked by the bits of `local`
    compress: Tensor  # (2^n mask, 2^n subset) int64: inverse of `deposit` (local index of a subset of `mask`)
    tern: Tensor  # (2^n,) int64: sum_i bit_i(x) 3^i
    base2: Tensor  # (2^n,) int64: sum_{i not in P} 2 * 3^i
    rank: Tensor  # (2^n,) int64: position of a purview in PyPhi's powerset order (0 for the empty set)
    bits: Tensor  # (2^n, n) bool
    # mip_bipartitions patterns for every (|M|, |P|), concatenated: local masks n0 (mechanism part 0) and
    # d0 (purview part 0), offsets and counts indexed [|M|, |P|].
    pat_n0: Tensor
    pat_d0: Tensor
    pat_offset: Tensor  # (n+1, n+1)
    pat_count: Tensor  # (n+1, n+1)


def _patterns(n: int) -> tuple[list[int], list[int], list[list[int]], list[list[int]]]:
    n0s: list[int] = []
    d0s: list[int] = []
    offset = [[0] * (n + 1) for _ in range(n + 1)]
    count = [[0] * (n + 1) for _ in range(n + 1)]
    for a in range(1, n + 1):
        for b in range(1, n + 1):
            offset[a][b] = len(n0s)
            for m0, m1 in bipartition_masks(a):
                for p0, p1 in directed_bipartition_masks(b):
                    if (m0 or p0) and (m1 or p1):
                        n0s.append(m0)
                        d0s.append(p0)
            count[a][b] = len(n0s) - offset[a][b]
    return n0s, d0s, offset, count


@lru_cache(maxsize=32)
def index_tables(n: int, device: str = "cpu") -> Index:
    """Build (once per ``(n, device)``) the tables of :class:`Index`."""
    size = 2**n
    masks = torch.arange(size)
    bits = ((masks[:, None] >> torch.arange(n)) & 1).bool()
    popcount = bits.sum(1)
    deposit = torch.zeros(size, size, dtype=torch.long)
    compress = torch.zeros(size, size, dtype=torch.long)
    for m in range(size):
        nodes = nodes_of(m)
        k = len(nodes)
        local = torch.arange(2**k)
        out = torch.zeros(2**k, dtype=torch.long)
        for j, node in enumerate(nodes):
            out |= ((local >> j) & 1) << node
        deposit[m, : 2**k] = out
        compress[m, out] = local
    w3 = torch.tensor([3**i for i in range(n)], dtype=torch.long)
    tern = (bits.long() * w3).sum(1)
    base2 = ((~bits).long() * 2 * w3).sum(1)
    rank = torch.zeros(size, dtype=torch.long)
    for r, m in enumerate(powerset_masks(n)):
        rank[m] = r + 1
    n0s, d0s, offset, count = _patterns(n)
    dev = torch.device(device)
    return Index(
        n=n,
        popcount=popcount.to(dev),
        deposit=deposit.to(dev),
        compress=compress.to(dev),
        tern=tern.to(dev),
        base2=base2.to(dev),
        rank=rank.to(dev),
        bits=bits.to(dev),
        pat_n0=torch.tensor(n0s, dtype=torch.long, device=dev),
        pat_d0=torch.tensor(d0s, dtype=torch.long, device=dev),
        pat_offset=torch.tensor(offset, dtype=torch.long, device=dev),
        pat_count=torch.tensor(count, dtype=torch.long, device=dev),
    )
