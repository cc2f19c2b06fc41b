"""The measure registry of hal9.metrics.integration: a measure defined here runs through the whole search.

The toy measure is the cross-part coupling energy ``E(P) = Σ_{i, j in different parts} A_ij²`` (zero exactly
for the partitions that cut no coupling): its minimum over the bipartitions is found here by an independent
``itertools`` brute force. Every test that registers a measure removes it again (fixture ``toy``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import get_args

import numpy as np
import pytest
import torch
from scipy.linalg import block_diag

from hal9 import metrics
from hal9.metrics import integration
from hal9.metrics.geometric import phi_geometric, phi_geometric_batch
from hal9.metrics.integration import (
    Measure,
    get_measure,
    integrated_information,
    integrated_information_from_data,
    measure_names,
    register_measure,
    unregister_measure,
)
from hal9.metrics.partitions import bipartition_masks, mask_to_partition
from tests.metrics._systems import spd, stable

F64 = torch.float64
LOG_2PIE = math.log(2 * math.pi * math.e)
BUILTIN = ("mi", "wms", "r", "si", "geometric", "star")
CALLS: list[str] = []


def cut_energy(A: torch.Tensor, noise_cov: torch.Tensor, partition) -> float:
    """Σ A_ij² over node pairs (i, j) in different parts."""
    CALLS.append("fn")
    label = {i: k for k, part in enumerate(partition) for i in part}
    n = A.shape[0]
    return float(sum(float(A[i, j]) ** 2 for i in range(n) for j in range(n) if label[i] != label[j]))


def cut_energy_batch(A: torch.Tensor, noise_cov: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    CALLS.append("batch")
    cross = masks[:, :, None] != masks[:, None, :]
    return (A.square() * cross).sum((-2, -1))


@pytest.fixture
def toy() -> Iterator[str]:
    register_measure("toy", cut_energy, cut_energy_batch, exhaustive_max_n=12)
    try:
        yield "toy"
    finally:
        unregister_measure("toy")
    assert "toy" not in measure_names()


def _brute_force(A: np.ndarray) -> tuple[float, tuple]:
    n = A.shape[0]
    best = (math.inf, ())
    for k in range(1, n):
        for first in itertools.combinations(range(n), k):
            rest = tuple(i for i in range(n) if i not in first)
            value = sum(A[i, j] ** 2 + A[j, i] ** 2 for i in first for j in rest)
            part = tuple(sorted((first, rest)))
            if value < best[0] - 1e-15:
                best = (value, part)
    return best


def test_builtin_names_come_first_and_match_the_literal() -> None:
    assert measure_names()[:6] == BUILTIN == get_args(Measure)
    assert metrics.measure_names is measure_names and metrics.register_measure is register_measure
    assert all(get_measure(m).builtin for m in BUILTIN)
    assert (
        get_measure("geometric").fn is phi_geometric
        and get_measure("geometric").batch_fn is phi_geometric_batch
    )


def test_toy_measure_runs_the_exhaustive_search(toy: str) -> None:
    assert measure_names() == (*BUILTIN, "toy") and not get_measure("toy").builtin
    A, Q = stable(7, 3, 0.8), spd(7, 4)
    ref_value, ref_part = _brute_force(A.numpy())
    CALLS.clear()
    res = integrated_information(A, Q, measure=toy)
    assert res.measure == "toy" and res.method == "exhaustive" and res.n_partitions_evaluated == 63
    assert res.partition == ref_part
    assert res.value == pytest.approx(ref_value, rel=1e-12)
    assert CALLS == ["batch"]  # one chunk of 63 masks through batch_fn


def test_fn_alone_gives_the_same_search(toy: str) -> None:
    register_measure("toy-loop", cut_energy)  # no batch_fn: fn once per bipartition
    try:
        A, Q = stable(6, 5, 0.8), spd(6, 6)
        CALLS.clear()
        loop = integrated_information(A, Q, measure="toy-loop", criterion="normalized")
        assert CALLS == ["fn"] * 31
        batch = integrated_information(A, Q, measure="toy", criterion="normalized")
        assert loop.partition == batch.partition
        assert (loop.value, loop.normalized) == pytest.approx((batch.value, batch.normalized), rel=1e-12)
    finally:
        unregister_measure("toy-loop")


def test_heuristic_search_finds_the_uncut_blocks(toy: str) -> None:
    # Two interleaved disconnected blocks of 8 and 9 nodes: E = 0 exactly at the block cut.
    A = block_diag(stable(8, 1, 0.8).numpy(), stable(9, 2, 0.8).numpy())
    perm = np.random.default_rng(0).permutation(17)
    A = torch.from_numpy(A[np.ix_(perm, perm)])
    block = tuple(
        sorted((tuple(np.flatnonzero(perm < 8).tolist()), tuple(np.flatnonzero(perm >= 8).tolist())))
    )
    res = integrated_information(A, measure=toy)  # n = 17 > exhaustive_max_n = 12
    assert res.method == "heuristic" and res.n_partitions_evaluated < 2**16 - 1
    assert res.partition == block and res.value == 0.0


def test_given_k_part_partition_atomic_and_normalisation(toy: str) -> None:
    A, Q = stable(4, 8, 0.7), spd(4, 9)
    An = A.numpy()
    S = np.linalg.solve(np.eye(16) - np.kron(An, An), Q.numpy().reshape(-1)).reshape(4, 4)  # vec Lyapunov
    atomic = ((0,), (1,), (2,), (3,))
    parts = ((0, 2), (1,), (3,))
    CALLS.clear()
    res = integrated_information(A, Q, measure=toy, partition=[0, 1, 0, 2])
    assert CALLS == ["fn"] and res.partition == parts
    e = sum(An[i, j] ** 2 for i in range(4) for j in range(4) if not {i, j} <= {0, 2} and i != j)
    K = 2 * min(0.5 * (len(p) * LOG_2PIE + np.linalg.slogdet(S[np.ix_(p, p)])[1]) for p in parts)
    assert res.value == pytest.approx(e, rel=1e-12)
    assert res.normalized == pytest.approx(e / K, rel=1e-9)
    # The atomic partition cuts every coupling, so it never wins under "min"; under "normalized" its
    # K = 3 min_i H(X_i) is compared with the bipartitions' by the same brute force.
    off = float(A.square().sum() - A.diagonal().square().sum())
    assert integrated_information(A, Q, measure=toy, partition=atomic).value == pytest.approx(off, rel=1e-12)
    res_min = integrated_information(A, Q, measure=toy, include_atomic=True)
    assert len(res_min.partition) == 2 and res_min.n_partitions_evaluated == 8
    scores = {}
    for m in torch.cat(list(bipartition_masks(4))):
        p = mask_to_partition(m)
        Kp = min(0.5 * (len(q) * LOG_2PIE + np.linalg.slogdet(S[np.ix_(q, q)])[1]) for q in p)
        scores[p] = cut_energy(A, Q, p) / Kp
    scores[atomic] = off / (3 * min(0.5 * (LOG_2PIE + math.log(S[i, i])) for i in range(4)))
    res_norm = integrated_information(A, Q, measure=toy, criterion="normalized", include_atomic=True)
    assert res_norm.partition == min(scores, key=scores.__getitem__)
    assert res_norm.normalized == pytest.approx(min(scores.values()), rel=1e-9)


def test_from_data_passes_the_fitted_var(toy: str) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 3))
    x[1:, 1] += 0.7 * x[:-1, 0]
    past, pres = x[:-1] - x[:-1].mean(0), x[1:] - x[1:].mean(0)
    A_hat = np.linalg.solve(past.T @ past, past.T @ pres).T  # least squares = C Σ_past⁻¹
    res = integrated_information_from_data(x.tolist(), measure=toy, partition=((0,), (1, 2)))
    ref = sum(A_hat[i, j] ** 2 + A_hat[j, i] ** 2 for i in (0,) for j in (1, 2))
    assert res.value == pytest.approx(ref, rel=1e-9)  # type: ignore[union-attr]


def test_builtin_entries_are_consistent_with_the_search() -> None:
    A, Q = stable(5, 2, 0.8), spd(5, 3)
    masks = torch.cat(list(bipartition_masks(5)))
    for name in ("wms", "r", "si"):
        spec = get_measure(name)
        assert spec.batch_fn is not None
        batch = spec.batch_fn(A, Q, masks)
        for m, v in zip(masks[::5], batch[::5], strict=True):
            p = mask_to_partition(m)
            direct = integrated_information(A, Q, measure=name, partition=p).value
            assert spec.fn(A, Q, p) == pytest.approx(direct, rel=1e-12) == pytest.approx(float(v), rel=1e-10)
    assert (
        get_measure("mi").fn(A, Q, ((0,), (1, 2, 3, 4))) == integrated_information(A, Q, measure="mi").value
    )


def test_registration_errors_name_the_argument(toy: str) -> None:
    cases = [
        (("toy", cut_energy), "name 'toy' is already a registered measure"),
        (("wms", cut_energy), "already a registered measure"),
        (("2fast", cut_energy), "name must be a letter"),
        (("", cut_energy), "name must be a letter"),
        ((3, cut_energy), "name must be a letter"),
        (("x", "not callable"), "fn must be callable"),
        (("x", cut_energy, 5), "batch_fn must be callable"),
        (("x", cut_energy, None, 0), "exhaustive_max_n must be a positive integer"),
        (("x", cut_energy, None, 41), "exhaustive_max_n must be <= 40"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            register_measure(*args)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="built-in measure and cannot be unregistered"):
        unregister_measure("star")
    with pytest.raises(ValueError, match="'nope' is not a registered measure"):
        unregister_measure("nope")
    with pytest.raises(ValueError, match=r"measure must be one of .*'toy'"):
        integrated_information(torch.eye(2, dtype=F64) * 0.5, measure="nope")
    assert measure_names() == (*BUILTIN, "toy")


@pytest.mark.parametrize(
    ("batch", "match"),
    [
        (lambda A, Q, m: torch.full((m.shape[0],), math.nan, dtype=F64), "must return 3 non-NaN values"),
        (lambda A, Q, m: torch.zeros(m.shape[0] + 1, dtype=F64), r"got shape \(4,\)"),
        (lambda A, Q, m: [["a"]] * m.shape[0], "the value of measure 'bad' must be an array of numbers"),
    ],
)
def test_bad_measure_output_is_reported(batch, match: str) -> None:
    register_measure("bad", cut_energy, batch)
    try:
        with pytest.raises(ValueError, match=match):
            integrated_information(stable(3, 0, 0.5), measure="bad")
    finally:
        unregister_measure("bad")


def test_module_exports() -> None:
    for name in ("register_measure", "unregister_measure", "measure_names", "get_measure", "MeasureSpec"):
        assert name in metrics.__all__ and getattr(metrics, name) is getattr(integration, name)
