"""Bipartitions of ``n`` nodes: enumeration as boolean masks, canonical form and validation.

A bipartition ``B = {M¹, M²}`` of nodes ``0..n−1`` is stored as a boolean mask ``m`` of shape ``(n,)``
with ``m[i] = True`` iff node ``i ∈ M¹``. Because ``{M¹, M²} = {M², M¹}``, the enumeration fixes node
``n−1`` in ``M²`` (``m[n−1] = False``); the ``2^(n−1) − 1`` masks with a non-empty ``M¹`` are then each
bipartition exactly once. Mask number ``c ∈ [1, 2^(n−1))`` has ``m[i] = bit i of c``.

The canonical tuple form is ``((i, ...), (j, ...))``: each part sorted ascending, the part holding node
``0`` first.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

__all__ = [
    "bipartition_masks",
    "canonical_partition",
    "mask_to_partition",
    "n_bipartitions",
    "partition_to_mask",
    "validate_partition",
]

Partition = tuple[tuple[int, ...], ...]

#: Enumeration beyond this many nodes is refused (2^(n−1) masks do not fit in memory/time).
MAX_ENUM_N = 40


def n_bipartitions(n: int) -> int:
    """Number of unordered bipartitions into two non-empty parts: ``2^(n−1) − 1``."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    return 2 ** (n - 1) - 1


def bipartition_masks(
    n: int, *, chunk_size: int = 65536, device: torch.device | str | None = None
) -> Iterator[Tensor]:
    """Yield every bipartition of ``n`` nodes once, as chunks of boolean masks.

    Parameters
    ----------
    n : int
        Number of nodes, ``2 ≤ n ≤ 40``.
    chunk_size : int
        Maximum masks per yielded chunk.
    device : torch.device or str, optional
        Device of the yielded masks.

    Yields
    ------
    Tensor
        ``(c, n)`` bool masks, ``c ≤ chunk_size``; ``True`` marks part ``M¹``; column ``n−1`` is
        always ``False``. Chunks come in increasing mask number.

    Shape
    -----
    Concatenated over chunks: ``(2^(n−1) − 1, n)``.
    """
    total = n_bipartitions(n)
    if n > MAX_ENUM_N:
        raise ValueError(f"n={n} is too large to enumerate bipartitions (limit {MAX_ENUM_N})")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    bits = 2 ** torch.arange(n - 1, dtype=torch.int64, device=device)
    pad = torch.zeros((1,), dtype=torch.bool, device=device)
    for start in range(1, total + 1, chunk_size):
        stop = min(start + chunk_size, total + 1)
        codes = torch.arange(start, stop, dtype=torch.int64, device=device)
        m = (codes[:, None] & bits[None, :]) != 0
        yield torch.cat([m, pad.expand(m.shape[0], 1)], dim=1)


def mask_to_partition(mask: Tensor) -> Partition:
    """Canonical tuple form of one ``(n,)`` boolean mask (``True`` = one part, ``False`` = the other)."""
    m = mask.detach().to("cpu", torch.bool).reshape(-1).tolist()
    a = tuple(i for i, v in enumerate(m) if v)
    b = tuple(i for i, v in enumerate(m) if not v)
    return canonical_partition((a, b))


def canonical_partition(parts: Sequence[Sequence[int]]) -> Partition:
    """Sort each part and order parts by their smallest node (no validation; empty parts dropped)."""
    sorted_parts = [tuple(sorted(int(i) for i in p)) for p in parts if len(p) > 0]
    return tuple(sorted(sorted_parts, key=lambda p: p[0]))


def node_index(i: object) -> int | None:
    """``i`` as a Python int if it is an integer (int, numpy or 0-d torch integer), else None (bools too)."""
    if isinstance(i, bool):
        return None
    try:
        return operator.index(i)  # type: ignore[arg-type]
    except TypeError:
        return None


def validate_partition(partition: object, n: int) -> Partition:
    """Check a user bipartition of nodes ``0..n−1`` and return its canonical form.

    The partition must be a sequence of exactly two non-empty sequences of integers that together
    cover ``0..n−1`` exactly once.

    Raises
    ------
    ValueError
        Naming ``partition`` if any of these conditions fails.
    """
    if isinstance(partition, (str, bytes)) or not isinstance(partition, Sequence):
        raise ValueError(f"partition must be a sequence of two sequences of node indices, got {partition!r}")
    if len(partition) != 2:
        raise ValueError(f"partition must have exactly two parts, got {len(partition)}")
    flat: list[int] = []
    for part in partition:
        if isinstance(part, (str, bytes)) or not isinstance(part, Sequence) or len(part) == 0:
            raise ValueError(f"partition parts must be non-empty sequences of node indices, got {part!r}")
        for i in part:
            idx = node_index(i)
            if idx is None:
                raise ValueError(f"partition entries must be integers, got {i!r}")
            flat.append(idx)
    if sorted(flat) != list(range(n)):
        raise ValueError(f"partition must cover nodes 0..{n - 1} exactly once, got {partition!r}")
    return canonical_partition(partition)


def partition_to_mask(partition: Partition, n: int, device: torch.device | str | None = None) -> Tensor:
    """``(n,)`` bool mask of a (validated) bipartition, normalised so node ``n−1`` is ``False``."""
    parts = validate_partition(partition, n)
    m = torch.zeros(n, dtype=torch.bool, device=device)
    first = parts[0] if n - 1 not in parts[0] else parts[1]
    m[list(first)] = True
    return m
