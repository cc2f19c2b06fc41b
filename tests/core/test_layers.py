import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hal9.core import LAYER_NAMES, designed_sizes, layer_name, sizes_for_total


def test_designed_sizes_hand_computed_ratio_e() -> None:
    # 1000 / e^k for k = 0..8 = 1000, 367.9, 135.3, 49.8, 18.3, 6.74, 2.48, 0.91, 0.34 → round, then max(1, ·)
    assert designed_sizes(1000) == (1000, 368, 135, 50, 18, 7, 2, 1, 1)


def test_designed_sizes_ratio_two() -> None:
    assert designed_sizes(1000, 4, 2.0) == (1000, 500, 250, 125)


def test_layer_names() -> None:
    assert len(LAYER_NAMES) == 9
    assert layer_name(0) == "L1 reflexive"
    assert layer_name(3) == "L4 tactical"
    assert layer_name(8) == "L9 universal"
    with pytest.raises(ValueError, match="layer index"):
        layer_name(9)


@given(
    base=st.integers(1, 10**6),
    k=st.integers(1, 9),
    r=st.floats(1.01, 20.0, allow_nan=False),
)
def test_designed_sizes_properties(base: int, k: int, r: float) -> None:
    sizes = designed_sizes(base, k, r)
    assert len(sizes) == k
    assert sizes[0] == base
    assert all(s >= 1 for s in sizes)
    assert all(a >= b for a, b in itertools.pairwise(sizes))
    for i, s in enumerate(sizes):
        assert s == max(1, round(base / r**i))


@given(total=st.integers(9, 2 * 10**6), r=st.floats(1.2, 5.0))
def test_sizes_for_total_is_close(total: int, r: float) -> None:
    sizes = sizes_for_total(total, 9, r)
    assert len(sizes) == 9
    # sums of designed sizes move in steps of at most ~1 + Σ 1/r^k per unit of n_1, plus rounding of 9 terms
    assert abs(sum(sizes) - total) <= 1 + 1 / (1 - 1 / r) + 9


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base_size": 10, "n_layers": 0}, "n_layers"),
        ({"base_size": 10, "n_layers": 10}, "n_layers"),
        ({"base_size": 10, "ratio": 1.0}, "ratio"),
        ({"base_size": 10, "ratio": 0.5}, "ratio"),
        ({"base_size": 10, "ratio": math.nan}, "ratio"),
        ({"base_size": 0}, "base_size"),
        ({"base_size": -3}, "base_size"),
    ],
)
def test_designed_sizes_bad_input(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        designed_sizes(**kwargs)


def test_sizes_for_total_bad_input() -> None:
    with pytest.raises(ValueError, match="total"):
        sizes_for_total(5, 9)
