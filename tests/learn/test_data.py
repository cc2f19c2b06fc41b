"""Small data sets and seeded mini-batches: sizes, stratification, partition, determinism, bad inputs."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hal9.learn.data import DataSplit, batches, load_digits_split, synthetic_clusters, xor_task


@cache
def digits(seed: int = 0, test_fraction: float = 0.25) -> DataSplit:
    return load_digits_split(seed=seed, test_fraction=test_fraction)


@cache
def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.data / 16.0, d.target


def rows(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> np.ndarray:
    """(features, label) rows sorted lexicographically: a canonical form of a multiset of samples."""
    a = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    return a[np.lexsort(a.T[::-1])]


def assert_stratified(s: DataSplit, groups_train: torch.Tensor, groups_test: torch.Tensor) -> None:
    """Each group's count in either side is within one sample of its overall proportion."""
    all_groups = torch.cat([groups_train, groups_test])
    n_all = all_groups.numel()
    for part in (groups_train, groups_test):
        for g in all_groups.unique():
            overall = int((all_groups == g).sum())
            assert abs(int((part == g).sum()) - part.numel() * overall / n_all) <= 1


# ----------------------------------------------------------------------------------------------- digits


def test_digits_sizes_types_and_range() -> None:
    s = digits()
    assert s.n_classes == 10 and s.n_features == 64
    assert s.x_train.shape == (1347, 64) and s.x_test.shape == (450, 64)  # 450 = ⌈0.25 · 1797⌉
    assert s.y_train.shape == (1347,) and s.y_test.shape == (450,)
    assert s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.int64
    for x in (s.x_train, s.x_test):
        assert float(x.min()) == 0.0 and float(x.max()) == 1.0
        assert torch.equal(x * 16, (x * 16).round())  # pixels k/16
    assert set(torch.cat([s.y_train, s.y_test]).tolist()) == set(range(10))


def test_digits_split_is_a_partition_of_sklearns_data() -> None:
    s = digits()
    x_all, y_all = sklearn_digits()
    joined = rows(torch.cat([s.x_train, s.x_test]).double(), torch.cat([s.y_train, s.y_test]))
    np.testing.assert_array_equal(joined, rows(x_all, y_all))  # every sample once: no overlap, none lost


def test_digits_split_is_stratified() -> None:
    for seed in (0, 1, 7):
        s = digits(seed)
        assert_stratified(s, s.y_train, s.y_test)


def test_digits_split_is_fixed_by_the_seed() -> None:
    a, b = load_digits_split(seed=3), load_digits_split(seed=3)
    assert all(torch.equal(u, v) for u, v in zip(a[:4], b[:4], strict=True))
    c = digits(4)
    assert not torch.equal(a.y_test, c.y_test)


def test_digits_test_fraction_dtype_and_device() -> None:
    s = load_digits_split(test_fraction=0.5, dtype=torch.float64, device="cpu")
    assert s.x_test.shape == (899, 64) and s.x_train.shape == (898, 64)
    assert s.x_train.dtype == torch.float64 and s.x_train.device.type == "cpu"
    assert_stratified(s, s.y_train, s.y_test)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"test_fraction": float("nan")}, "test_fraction"),
        ({"test_fraction": 0.001}, "test_fraction"),  # 2 test samples < 10 classes
        ({"test_fraction": 0.999}, "test_fraction"),  # 2 train samples
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"dtype": torch.int64}, "dtype"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_digits_bad_inputs(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_digits_split(**kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- clusters


def nearest_centroid_accuracy(s: DataSplit) -> float:
    centroids = torch.stack([s.x_train[s.y_train == k].mean(0) for k in range(s.n_classes)])
    pred = torch.cdist(s.x_test.double(), centroids.double()).argmin(1)
    return float((pred == s.y_test).double().mean())


def test_clusters_shape_balance_and_range() -> None:
    s = synthetic_clusters(400, 5, 4, seed=1)
    assert s.x_train.shape == (300, 5) and s.x_test.shape == (100, 5)
    assert s.n_classes == 4 and s.n_features == 5
    for x in (s.x_train, s.x_test):
        assert float(x.min()) > 0.0 and float(x.max()) < 1.0
    assert torch.bincount(s.y_test).tolist() == [25] * 4 and torch.bincount(s.y_train).tolist() == [75] * 4


def test_clusters_follow_the_documented_model() -> None:
    sep = 1.5
    s = synthetic_clusters(8000, 3, 2, separation=sep, seed=2, dtype=torch.float64)
    x, y = torch.cat([s.x_train, s.x_test]), torch.cat([s.y_train, s.y_test])
    z = torch.logit(x) * math.sqrt(1 + sep**2)  # undo the squashing
    for k in range(2):
        zk = z[y == k]
        assert torch.allclose(zk.std(0), torch.ones(3, dtype=torch.float64), atol=0.06)  # ε ~ N(0, I)
    # centres ~ N(0, s² I): with one draw of 2·3 coordinates the sample s.d. is near s
    centres = torch.stack([z[y == k].mean(0) for k in range(2)])
    assert 0.4 * sep < float(centres.std()) < 2.0 * sep


def test_separation_controls_difficulty() -> None:
    easy = synthetic_clusters(600, 8, 3, separation=4.0, seed=0)
    hard = synthetic_clusters(600, 8, 3, separation=0.0, seed=0)
    assert nearest_centroid_accuracy(easy) > 0.97
    assert nearest_centroid_accuracy(hard) < 0.55  # chance is 1/3


def test_clusters_are_fixed_by_the_seed_on_every_dtype() -> None:
    a = synthetic_clusters(50, 4, 3, seed=5)
    b = synthetic_clusters(50, 4, 3, seed=5)
    c = synthetic_clusters(50, 4, 3, seed=6)
    d = synthetic_clusters(50, 4, 3, seed=5, dtype=torch.float64)
    assert all(torch.equal(u, v) for u, v in zip(a[:4], b[:4], strict=True))
    assert not torch.equal(a.x_train, c.x_train)
    assert torch.equal(d.x_train.float(), a.x_train) and torch.equal(d.y_test, a.y_test)


@settings(max_examples=25, deadline=None)
@given(
    n_classes=st.integers(2, 5), extra=st.integers(0, 40), frac=st.floats(0.05, 0.95), seed=st.integers(0, 99)
)
def test_clusters_split_is_a_stratified_partition(n_classes: int, extra: int, frac: float, seed: int) -> None:
    n = 2 * n_classes + extra
    s = synthetic_clusters(n, 2, n_classes, seed=seed, test_fraction=frac, dtype=torch.float64)
    assert s.x_train.shape[0] + s.x_test.shape[0] == n
    full = synthetic_clusters(n, 2, n_classes, seed=seed, test_fraction=0.5, dtype=torch.float64)
    both = rows(torch.cat([s.x_train, s.x_test]), torch.cat([s.y_train, s.y_test]))
    np.testing.assert_array_equal(
        both, rows(torch.cat([full.x_train, full.x_test]), torch.cat([full.y_train, full.y_test]))
    )
    for k in range(n_classes):  # every class on both sides
        assert (s.y_train == k).any() and (s.y_test == k).any()
    assert_stratified(s, s.y_train, s.y_test)


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((7, 2, 4), {}, "n_samples"),  # < 2 · n_classes
        ((20, 0, 2), {}, "n_features"),
        ((20, 2, 1), {}, "n_classes"),
        ((20, 2.0, 2), {}, "n_features"),
        ((20, 2, 2), {"separation": -1.0}, "separation"),
        ((20, 2, 2), {"separation": float("inf")}, "separation"),
        ((20, 2, 2), {"seed": -3}, "seed"),
        ((20, 2, 2), {"test_fraction": 1.2}, "test_fraction"),
        ((20, 2, 2), {"dtype": torch.int32}, "dtype"),
    ],
)
def test_clusters_bad_inputs(args: tuple[object, ...], kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        synthetic_clusters(*args, **kwargs)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- XOR


def test_xor_labels_are_the_xor_of_the_corners() -> None:
    s = xor_task(200, noise=0.05, seed=3)
    assert s.n_classes == 2 and s.n_features == 2
    assert s.x_train.shape == (148, 2) and s.x_test.shape == (52, 2)  # 50 per corner, 13 of each in test
    for x, y in ((s.x_train, s.y_train), (s.x_test, s.y_test)):
        assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
        bits = (x > 0.5).long()
        assert torch.equal(y, bits[:, 0] ^ bits[:, 1])  # a crossing at noise 0.05 needs a 10σ draw
        assert torch.bincount(bits[:, 0] * 2 + bits[:, 1]).tolist() == [y.numel() // 4] * 4


def test_xor_is_not_linearly_separable_at_the_corners() -> None:
    s = xor_task(400, noise=0.0, seed=0)  # noise 0: exactly the four corners
    assert set(map(tuple, s.x_train.tolist())) == {(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)}
    x, y = s.x_train.double(), s.y_train.double()
    design = torch.cat([x, torch.ones((x.shape[0], 1), dtype=torch.float64)], 1)
    w = torch.linalg.lstsq(design, y.unsqueeze(1)).solution
    assert torch.allclose(design @ w, torch.full_like(y.unsqueeze(1), 0.5))  # best linear fit: constant 1/2


def test_xor_determinism_and_bad_inputs() -> None:
    assert torch.equal(xor_task(40, seed=1).x_train, xor_task(40, seed=1).x_train)
    assert not torch.equal(xor_task(40, seed=1).x_train, xor_task(40, seed=2).x_train)
    for kwargs, match in (
        ({"noise": -0.1}, "noise"),
        ({"seed": -1}, "seed"),
        ({"test_fraction": 0}, "test_fraction"),
    ):
        with pytest.raises(ValueError, match=match):
            xor_task(40, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_samples"):
        xor_task(7)


# ----------------------------------------------------------------------------------------------- batches


def gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), batch_size=st.integers(1, 70), drop_last=st.booleans(), seed=st.integers(0, 99))
def test_batches_cover_every_sample_once_per_epoch(
    n: int, batch_size: int, drop_last: bool, seed: int
) -> None:
    x = torch.arange(n)
    y = 10 * torch.arange(n)
    out = list(batches(x, y, batch_size, generator=gen(seed), drop_last=drop_last))
    sizes = [len(xb) for xb, _ in out]
    full, rest = divmod(n, batch_size)
    assert sizes == [batch_size] * full + ([rest] if rest and not drop_last else [])
    seen = torch.cat([xb for xb, _ in out]) if out else torch.empty(0, dtype=torch.int64)
    assert len(set(seen.tolist())) == seen.numel()  # no repeats
    if not drop_last:
        assert sorted(seen.tolist()) == list(range(n))
    for xb, yb in out:
        assert torch.equal(yb, 10 * xb)  # targets stay with their samples


def test_batches_order_is_seeded_and_advances_per_epoch() -> None:
    x = torch.arange(100).reshape(50, 2)
    y = torch.arange(50)
    a = torch.cat([yb for _, yb in batches(x, y, 8, generator=gen(0))])
    b = torch.cat([yb for _, yb in batches(x, y, 8, generator=gen(0))])
    assert torch.equal(a, b) and not torch.equal(a, torch.arange(50))
    g = gen(0)
    epoch1 = torch.cat([yb for _, yb in batches(x, y, 8, generator=g)])
    epoch2 = torch.cat([yb for _, yb in batches(x, y, 8, generator=g)])
    assert torch.equal(epoch1, a) and not torch.equal(epoch1, epoch2)
    assert torch.equal(epoch1, torch.randperm(50, generator=gen(0)))  # exactly randperm of the generator


def test_batches_order_is_drawn_at_call_time() -> None:
    x, y = torch.arange(30), torch.arange(30)
    g = gen(1)
    first = batches(x, y, 5, generator=g)
    second = batches(x, y, 5, generator=g)
    order2 = torch.cat([yb for _, yb in second])  # consumed first: must still be the second draw
    order1 = torch.cat([yb for _, yb in first])
    g1 = gen(1)
    assert torch.equal(order1, torch.randperm(30, generator=g1))
    assert torch.equal(order2, torch.randperm(30, generator=g1))


def test_batches_without_shuffle_keep_the_order() -> None:
    x, y = torch.arange(7), torch.arange(7)
    out = [yb.tolist() for _, yb in batches(x, y, 3, generator=None, shuffle=False)]
    assert out == [[0, 1, 2], [3, 4, 5], [6]]
    assert [yb.tolist() for _, yb in batches(x, y, 3, generator=None, shuffle=False, drop_last=True)] == [
        [0, 1, 2],
        [3, 4, 5],
    ]


@pytest.mark.parametrize(
    ("x", "y", "bs", "kwargs", "match"),
    [
        (torch.arange(5), torch.arange(4), 2, {}, "first dimension"),
        (torch.arange(5), torch.arange(5), 0, {}, "batch_size"),
        (torch.arange(5), torch.arange(5), 2.0, {}, "batch_size"),
        (torch.arange(5), torch.arange(5), 2, {"generator": None}, "generator"),
        (torch.arange(5), torch.arange(5), 2, {"generator": 3}, "generator"),
        (torch.tensor(1.0), torch.arange(5), 2, {}, "x"),
        (torch.arange(5), [0, 1, 2, 3, 4], 2, {}, "y"),
        (torch.arange(5), torch.arange(5), 2, {"shuffle": 1}, "shuffle"),
        (torch.arange(5), torch.arange(5), 2, {"drop_last": "no"}, "drop_last"),
    ],
)
def test_batches_bad_inputs(x: object, y: object, bs: object, kwargs: dict[str, object], match: str) -> None:
    kw: dict[str, object] = {"generator": gen(0), **kwargs}
    with pytest.raises(ValueError, match=match):
        batches(x, y, bs, **kw)  # type: ignore[arg-type]
