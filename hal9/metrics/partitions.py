"""Partitions of ``n`` nodes: validation of ``K ≥ 2``-part partitions, enumeration of bipartitions as masks.

A partition ``P = {M¹, …, M^K}`` of the nodes ``0..n−1`` is given as a sequence of ``K ≥ 2`` non-empty parts
(each a sequence of node indices) or as a vector of ``n`` group labels (PhiToolbox's ``Z``), see
:func:`validate_partition`; the *atomic* partition has every node in its own part (``K = n``).

A bipartition ``B = {M¹, M²}`` of nodes ``0..n−1`` is stored as a boolean mask ``m`` of shape ``(n,)``
with ``m[i] = True`` iff node ``i ∈ M¹``. Because ``{M¹, M²} = {M², M¹}``, the enumeration fixes node
``n−1`` in ``M²`` (``m[n−1] = False``); the ``2^(n−1) − 1`` masks with a non-empty ``M¹`` are then each
bipartition exactly once. Mask number ``c ∈ [1, 2^(n−1))`` has ``m[i] = bit i of c``.

The canonical tuple form is ``((i, ...), (j, ...), ...)``: each part sorted ascending, parts ordered by
their smallest node (the part holding node ``0`` first).
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from hal9.core import as_tensor

__all__ = [
    "atomic_partition",
    "bipartition_masks",
    "canonical_partition",
    "mask_to_partition",
    "n_bipartitions",
    "partition_labels",
    "partition_to_mask",
    "validate_partition",
]

Partition = tuple[tuple[int, ...], ...]
#: What :func:`validate_partition` accepts: parts (sequences of node indices) or ``n`` group labels.
PartitionLike = Sequence[Sequence[int]] | Sequence[int] | np.ndarray | Tensor

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


def mask_to_partition(mask: object) -> Partition:
    """Canonical tuple form of one ``(n,)`` boolean mask (``True`` = one part, ``False`` = the other).

    ``mask`` may be a bool tensor, a numpy bool array or a list of bools.
    """
    m = as_tensor(mask, "mask", dtype=torch.bool).detach().to("cpu", torch.bool).reshape(-1).tolist()
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


def _as_parts(partition: object, n: int) -> list[object]:
    """The parts of a sequence of parts or of a vector of ``n`` group labels (:func:`validate_partition`)."""
    if isinstance(partition, Tensor | np.ndarray):
        if partition.ndim == 1:
            partition = partition.tolist()
        elif partition.ndim == 2:
            return list(partition.tolist())
        else:
            raise ValueError(f"partition must be 1-D labels or 2-D parts, got shape {tuple(partition.shape)}")
    if isinstance(partition, str | bytes) or not isinstance(partition, Sequence):
        raise ValueError(
            "partition must be a sequence of parts (sequences of node indices) or a sequence of n group "
            f"labels, got {partition!r}"
        )
    if len(partition) > 0 and all(node_index(i) is not None for i in partition):  # group labels
        if len(partition) != n:
            raise ValueError(
                f"partition as group labels must have one label per node (n={n}), got {len(partition)}"
            )
        groups: dict[int | None, list[int]] = {}
        for node, lab in enumerate(partition):
            groups.setdefault(node_index(lab), []).append(node)
        return list(groups.values())
    return list(partition)


def validate_partition(partition: object, n: int) -> Partition:
    """Check a partition of nodes ``0..n−1`` into ``K ≥ 2`` parts and return its canonical form.

    Two forms are accepted:

    * a sequence of ``K ≥ 2`` non-empty sequences of node indices that together cover ``0..n−1`` exactly
      once, e.g. ``((0, 2), (1,), (3,))`` (a ``(K, k)`` integer array is read as ``K`` parts of ``k``);
    * a vector of ``n`` integer group labels, one per node, as PhiToolbox's ``Z``: nodes with equal labels
      form a part, e.g. ``[1, 2, 1, 3]`` → ``((0, 2), (1,), (3,))``. The label values are arbitrary
      integers (any order, 0- or 1-based); at least two distinct labels are needed.

    Integers may be Python, numpy or 0-d torch integers (not ``bool``). A flat sequence whose entries are
    all integers is read as labels, anything else as parts.

    Parameters
    ----------
    partition : sequence of sequences of int, or sequence / 1-D array of int labels
        The partition.
    n : int
        Number of nodes.

    Returns
    -------
    tuple of tuple of int
        Canonical form: each part sorted, parts ordered by their smallest node.

    Raises
    ------
    ValueError
        Naming ``partition`` if any of these conditions fails.

    Examples
    --------
    >>> validate_partition([[3, 1], (0, 2)], 4)
    ((0, 2), (1, 3))
    >>> validate_partition([1, 2, 1, 3], 4)
    ((0, 2), (1,), (3,))
    """
    parts = _as_parts(partition, n)
    if len(parts) < 2:
        raise ValueError(f"partition must have at least two parts, got {len(parts)}: {partition!r}")
    seen = [False] * n
    clean: list[list[int]] = []
    for k, part in enumerate(parts):
        if isinstance(part, str | bytes) or not isinstance(part, Sequence) or len(part) == 0:
            raise ValueError(f"partition part {k} must be a non-empty sequence of node indices, got {part!r}")
        clean.append([])
        for raw in part:
            i = node_index(raw)
            if i is None or not 0 <= i < n:
                raise ValueError(f"partition index {raw!r} is not an integer in 0..{n - 1}")
            if seen[i]:
                raise ValueError(
                    f"partition must cover nodes 0..{n - 1} exactly once; node {i} is listed twice"
                )
            seen[i] = True
            clean[-1].append(i)
    missing = [i for i, covered in enumerate(seen) if not covered]
    if missing:
        raise ValueError(f"partition must cover nodes 0..{n - 1} exactly once; missing {missing}")
    return canonical_partition(clean)


def partition_labels(partition: object, n: int) -> Tensor:
    """``(n,)`` int64 part index of every node (parts numbered in canonical order) of a validated partition.

    Examples
    --------
    >>> partition_labels(((2,), (0, 3), (1,)), 4).tolist()
    [0, 1, 2, 0]
    """
    labels = torch.empty(n, dtype=torch.int64)
    for k, part in enumerate(validate_partition(partition, n)):
        labels[list(part)] = k
    return labels


def atomic_partition(n: int) -> Partition:
    """The atomic partition ``((0,), (1,), …, (n−1,))`` of ``n ≥ 2`` nodes (every node its own part)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    return tuple((i,) for i in range(n))


def partition_to_mask(partition: object, n: int, device: torch.device | str | None = None) -> Tensor:
    """``(n,)`` bool mask of a bipartition (validated, two parts), normalised so node ``n−1`` is ``False``."""
    parts = validate_partition(partition, n)
    if len(parts) != 2:
        raise ValueError(f"partition must have exactly two parts for a mask, got {len(parts)}")
    m = torch.zeros(n, dtype=torch.bool, device=device)
    first = parts[0] if n - 1 not in parts[0] else parts[1]
    m[list(first)] = True
    return m
