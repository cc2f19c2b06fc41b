"""hal9.metrics.partitions: enumeration is complete and duplicate-free; validation of K-part partitions and
group labels names `partition`."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hal9.metrics.partitions import (
    atomic_partition,
    bipartition_masks,
    canonical_partition,
    mask_to_partition,
    n_bipartitions,
    partition_labels,
    partition_to_mask,
    validate_partition,
)


def _reference_bipartitions(n: int) -> set[tuple[tuple[int, ...], ...]]:
    """All unordered bipartitions via itertools.combinations of the first part."""
    out = set()
    for k in range(1, n):
        for first in itertools.combinations(range(n), k):
            rest = tuple(i for i in range(n) if i not in first)
            out.add(tuple(sorted((first, rest))))
    return out


@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_enumeration_matches_itertools(n: int) -> None:
    masks = torch.cat(list(bipartition_masks(n, chunk_size=7)))
    assert masks.shape == (2 ** (n - 1) - 1, n) == (n_bipartitions(n), n)
    assert masks.dtype == torch.bool
    assert not bool(masks[:, -1].any())  # node n−1 always in part 2
    assert bool(masks.any(-1).all())  # part 1 never empty
    parts = [mask_to_partition(m) for m in masks]
    assert len(set(parts)) == len(parts)
    assert set(parts) == _reference_bipartitions(n)


def test_chunking_does_not_change_order() -> None:
    whole = torch.cat(list(bipartition_masks(9, chunk_size=10_000)))
    chunked = list(bipartition_masks(9, chunk_size=50))
    assert max(c.shape[0] for c in chunked) == 50
    assert torch.equal(torch.cat(chunked), whole)


def test_canonical_and_mask_round_trip() -> None:
    assert canonical_partition([[4, 2], [3, 0, 1]]) == ((0, 1, 3), (2, 4))
    p = validate_partition(([3, 1], (0, 2, 4)), 5)
    assert p == ((0, 2, 4), (1, 3))
    m = partition_to_mask(p, 5)
    assert m.tolist() == [False, True, False, True, False]  # node 4 lands in part 2
    assert mask_to_partition(m) == p
    assert mask_to_partition(~m) == p


@pytest.mark.parametrize(
    "bad",
    [
        ((0, 1, 2),),  # one part
        (),  # no part
        [0, 0, 0],  # labels: one part
        [0, 1],  # labels: one per node is needed
        ((0,), (1,), ()),  # three parts, one empty
        ((0,), (1,), (1, 2)),  # three parts, node 1 twice
        np.zeros((2, 2, 1), dtype=int),  # neither labels nor parts
        ((0, 1), ()),  # empty part
        ((0, 1), (1, 2)),  # overlap and missing
        ((0,), (1, 3)),  # out of range, missing 2
        ((0, 1.0), (2,)),  # non-integer
        "012",
        None,
    ],
)
def test_validate_partition_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="partition"):
        validate_partition(bad, 3)


def test_bad_n_and_chunk() -> None:
    with pytest.raises(ValueError, match="n must be"):
        n_bipartitions(1)
    with pytest.raises(ValueError, match="chunk_size"):
        next(bipartition_masks(4, chunk_size=0))


def test_numpy_and_torch_integer_indices_accepted() -> None:
    import numpy as np
    import torch

    from hal9.metrics.geometric import phi_geometric
    from hal9.metrics.integration import integrated_information

    a = torch.tensor([[0.0, 0.0], [0.8, 0.0]], dtype=torch.float64)
    part = ((np.int64(0),), (torch.tensor(1),))
    assert validate_partition(part, 2) == ((0,), (1,))
    r = integrated_information(a, measure="wms", partition=part)  # type: ignore[arg-type]
    assert r.partition == ((0,), (1,))
    assert phi_geometric(a, partition=part) > 0  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="partition"):
        validate_partition(((True,), (1,)), 2)


def test_k_part_partitions_and_labels() -> None:
    # Parts in any order, as lists, tuples, numpy or torch integers; canonical: sorted, by smallest node.
    assert validate_partition([[4], (2, 0), [np.int64(3), torch.tensor(1)]], 5) == ((0, 2), (1, 3), (4,))
    assert validate_partition(np.array([[3, 2], [0, 1]]), 4) == ((0, 1), (2, 3))  # (K, k) array of parts
    # Group labels (PhiToolbox's Z, 1-based here) as a list, a numpy vector and a torch vector.
    for labels in ([2, 1, 2, 3], np.array([2, 1, 2, 3]), torch.tensor([7, 0, 7, -1])):
        assert validate_partition(labels, 4) == ((0, 2), (1,), (3,))
    assert validate_partition(list(range(4)), 4) == atomic_partition(4) == ((0,), (1,), (2,), (3,))
    assert partition_labels([[3], [0, 2], [1]], 4).tolist() == [0, 1, 0, 2]
    with pytest.raises(ValueError, match="n must be"):
        atomic_partition(1)
    with pytest.raises(ValueError, match="exactly two parts"):
        partition_to_mask(((0,), (1,), (2,)), 3)


def test_validation_messages_name_the_problem() -> None:
    with pytest.raises(
        ValueError, match=r"partition must cover nodes 0\.\.2 exactly once; node 1 is listed twice"
    ):
        validate_partition(((0, 1), (1, 2)), 3)
    with pytest.raises(ValueError, match=r"partition must cover nodes 0\.\.3 exactly once; missing \[2, 3\]"):
        validate_partition(((0,), (1,)), 4)
    with pytest.raises(ValueError, match="at least two parts"):
        validate_partition([5, 5, 5], 3)
    with pytest.raises(ValueError, match=r"one label per node \(n=3\)"):
        validate_partition([0, 1, 2, 3], 3)


def test_mask_to_partition_accepts_array_likes() -> None:
    assert mask_to_partition(np.array([True, False, True])) == ((0, 2), (1,))
    assert mask_to_partition([False, True, False]) == ((0, 2), (1,))
    with pytest.raises(ValueError, match="mask must be boolean"):
        mask_to_partition([0.0, 1.0, 0.0])
